"""The engine of `scripts/fuzz`: the suite's fuzz properties, run for longer.

The properties live in tests/api/test_fuzz.py, where the suite runs a few
hundred cases of each; here every property gets an equal share of `--cases`.
"""

from __future__ import annotations

import argparse
from collections.abc import Callable
import importlib
import math
import os
from pathlib import Path
import platform
import sys
import time
import traceback

ROOT = Path(__file__).resolve().parent.parent


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument(
        "--cases", type=int, default=100_000, help="cases in all (default 100000)"
    )
    parser.add_argument("--seed", type=int, default=None, help="hypothesis seed")
    args = parser.parse_args()

    # The property module reads its case count when it is imported.
    sys.path.insert(0, str(ROOT))
    from tests.api import test_fuzz as module

    properties: list[tuple[str, Callable[[], None]]] = [
        (name, getattr(module, name))
        for name in dir(module)
        if name.startswith("test_") and hasattr(getattr(module, name), "hypothesis")
    ]
    per_property = math.ceil(args.cases / len(properties))
    os.environ["KALLIOPE_FUZZ_EXAMPLES"] = str(per_property)
    module = importlib.reload(module)

    from hypothesis import seed

    print(
        f"fuzzing the XML layer: {len(properties)} properties x {per_property} cases"
        f" (Python {platform.python_version()}, seed {args.seed or 'random'})"
    )
    findings = 0
    started = time.perf_counter()
    for name, _ in properties:
        test = getattr(module, name)
        if args.seed is not None:
            test = seed(args.seed)(test)
        before = sum(module.CASES.values())
        start = time.perf_counter()
        try:
            test()
        except Exception:
            findings += 1
            outcome = "FINDING"
            traceback.print_exc()
        else:
            outcome = "ok"
        cases = sum(module.CASES.values()) - before
        elapsed = time.perf_counter() - start
        print(f"  {name:45} {cases:>9} cases {elapsed:8.1f} s  {outcome}", flush=True)
    module.test_hostile_payload_examples_are_refused()
    total = sum(module.CASES.values())
    elapsed = time.perf_counter() - started
    print(
        f"total: {total} cases in {elapsed:.1f} s ({total / elapsed:.0f} cases/s),"
        f" {findings} finding(s)"
    )
    return 1 if findings else 0


if __name__ == "__main__":
    sys.exit(main())
