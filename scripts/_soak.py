"""The engine of `scripts/soak`: tests/test_soak.py, for as long as asked.

The soak needs a Home Assistant instance, which the test harness provides,
so it runs as that one test with its length and seed in the environment.
"""

from __future__ import annotations

import argparse
import os
from pathlib import Path
import subprocess
import sys

ROOT = Path(__file__).resolve().parent.parent


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument(
        "--hours", type=float, default=24, help="simulated hours (default 24)"
    )
    parser.add_argument("--seed", type=int, default=1, help="chaos seed (default 1)")
    parser.add_argument(
        "--top", type=int, default=0, help="list the N biggest memory growths"
    )
    parser.add_argument(
        "--frames", type=int, default=1, help="stack depth traced per allocation"
    )
    args = parser.parse_args()
    env = {
        **os.environ,
        "KALLIOPE_SOAK_HOURS": str(args.hours),
        "KALLIOPE_SOAK_SEED": str(args.seed),
        "KALLIOPE_SOAK_TOP": str(args.top),
        "KALLIOPE_SOAK_FRAMES": str(args.frames),
    }
    command = [
        sys.executable,
        "-m",
        "pytest",
        "tests/test_soak.py::test_soak",
        "-q",
        "-s",
        "--no-header",
        "-p",
        "no:cacheprovider",
        "-o",
        "log_cli=false",
        "--show-capture=no",
    ]
    return subprocess.call(command, cwd=ROOT, env=env)


if __name__ == "__main__":
    sys.exit(main())
