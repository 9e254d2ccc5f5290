"""The bytes of a simulated backup: made up on the fly, never held whole.

Deterministic, so a test can check what arrived against `backup_chunks`;
each block carries its index, so a block duplicated, dropped or out of
order shows.
"""

from __future__ import annotations

from collections.abc import Iterator
import random
import struct

CHUNK_BYTES = 64 * 1024
_INDEX = struct.Struct(">Q")
# One pseudo-random block after the index, shared by all: a 200 MB backup
# costs 64 KiB here, and one copy per block to make.
_BODY = random.Random(20261202).randbytes(CHUNK_BYTES - _INDEX.size)


def backup_block(index: int) -> bytes:
    """Block `index` (from 0) of every simulated backup: its index, then the body."""
    return _INDEX.pack(index) + _BODY


def block_index(block: bytes) -> int:
    """The index a block of a simulated backup carries."""
    return int(_INDEX.unpack_from(block)[0])


def backup_chunks(size: int) -> Iterator[bytes]:
    """`size` bytes of backup, `CHUNK_BYTES` at a time."""
    whole, rest = divmod(size, CHUNK_BYTES)
    for index in range(whole):
        yield backup_block(index)
    if rest:
        yield backup_block(whole)[:rest]
