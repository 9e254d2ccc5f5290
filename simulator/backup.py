"""The bytes of a simulated backup: made up on the fly, never held whole.

Deterministic, so a test can check what arrived against `backup_chunks`.
"""

from __future__ import annotations

from collections.abc import Iterator
import random

CHUNK_BYTES = 64 * 1024
# One pseudo-random block, repeated: a 200 MB backup costs 64 KiB here.
_BLOCK = random.Random(20261202).randbytes(CHUNK_BYTES)


def backup_chunks(size: int) -> Iterator[bytes]:
    """`size` bytes of backup, `CHUNK_BYTES` at a time."""
    whole, rest = divmod(size, CHUNK_BYTES)
    for _ in range(whole):
        yield _BLOCK
    if rest:
        yield _BLOCK[:rest]
