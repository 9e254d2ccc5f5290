"""Backup files on disk: names, the private directory, keeping the newest N.

Plain blocking functions, run in the executor. A backup is written to a
`.part` file and renamed only when complete, so a file with a final name is
always a whole backup. Only files named as we name them are ever deleted.
"""

from __future__ import annotations

from contextlib import suppress
from dataclasses import dataclass
from datetime import datetime
import os
from pathlib import Path
import re
from typing import BinaryIO, Final

# Longest first: `x.tar.gz` is a `tar.gz`, not a `gz`.
SAFE_EXTENSIONS: Final = ("tar.gz", "tar.bz2", "tar.xz", "tgz", "tar", "zip", "gz")
FALLBACK_EXTENSION: Final = "bin"
_TYPE_EXTENSIONS: Final = {
    "application/gzip": "gz",
    "application/x-gzip": "gz",
    "application/x-compressed-tar": "tgz",
    "application/x-gtar": "tar",
    "application/x-tar": "tar",
    "application/zip": "zip",
    "application/x-zip-compressed": "zip",
}
_EXTENSION_PATTERN = "|".join(
    re.escape(ext) for ext in (*SAFE_EXTENSIONS, FALLBACK_EXTENSION)
)
# `20261202-031500.tgz`, or `20261202-031500-2.tgz` for a second one that second.
BACKUP_NAME: Final = re.compile(
    rf"^(?P<stamp>\d{{8}}-\d{{6}})(?:-(?P<seq>\d{{1,4}}))?\.(?:{_EXTENSION_PATTERN})$"
)
PART_SUFFIX: Final = ".part"
# A `.part` file left by a backup cut short when Home Assistant stopped.
_PART_NAME: Final = re.compile(r"^\d{8}-\d{6}(?:-\d{1,4})?\.part$")
STAMP_FORMAT: Final = "%Y%m%d-%H%M%S"
DIRECTORY_MODE: Final = 0o700
FILE_MODE: Final = 0o600


@dataclass(frozen=True, slots=True)
class BackupFile:
    """A finished backup on disk."""

    path: Path
    size: int
    # When it was finished (last written), aware.
    finished: datetime


def safe_directory_name(pbx_id: str) -> str:
    """The PBX id as one safe path segment: only [A-Za-z0-9_-]."""
    name = re.sub(r"[^A-Za-z0-9_-]+", "_", pbx_id).strip("_")
    return name[:64] or "pbx"


def backup_extension(filename: str | None, content_type: str | None) -> str:
    """The extension to save under, never a path from the PBX.

    The PBX's own if it is a known one, else one from the content type, else
    `bin`.
    """
    if filename:
        lowered = filename.strip().lower()
        for ext in SAFE_EXTENSIONS:
            if lowered.endswith(f".{ext}"):
                return ext
    media = (content_type or "").partition(";")[0].strip().lower()
    return _TYPE_EXTENSIONS.get(media, FALLBACK_EXTENSION)


def _sort_key(path: Path) -> tuple[str, int]:
    match = BACKUP_NAME.match(path.name)
    return (match["stamp"], int(match["seq"] or 0)) if match else ("", 0)


def our_backups(directory: Path) -> list[Path]:
    """Our finished backups in `directory`, oldest first; nothing else."""
    try:
        entries = list(os.scandir(directory))
    except FileNotFoundError:
        return []
    found = [
        Path(entry.path)
        for entry in entries
        if BACKUP_NAME.match(entry.name) and entry.is_file(follow_symlinks=False)
    ]
    return sorted(found, key=_sort_key)


def newest_backup(directory: Path) -> BackupFile | None:
    """The newest finished backup, or None: what the disk holds now."""
    for path in reversed(our_backups(directory)):
        try:
            stat = path.stat()
        except FileNotFoundError:
            continue
        return BackupFile(
            path, stat.st_size, datetime.fromtimestamp(stat.st_mtime).astimezone()
        )
    return None


def open_part(directory: Path, stamp: str) -> tuple[Path, BinaryIO]:
    """Create the private directory and a new `.part` file, readable by us only.

    Held under the PBX's lock: any other `.part` file there is a leftover.
    """
    directory.mkdir(mode=DIRECTORY_MODE, parents=True, exist_ok=True)
    # `mkdir` leaves an existing directory's mode, and the umask may narrow it.
    directory.chmod(DIRECTORY_MODE)
    for entry in os.scandir(directory):
        if _PART_NAME.match(entry.name) and entry.is_file(follow_symlinks=False):
            Path(entry.path).unlink(missing_ok=True)
    taken = {_stem(path) for path in our_backups(directory)}
    stem = next(
        name
        for name in (stamp if seq == 0 else f"{stamp}-{seq}" for seq in range(10_000))
        if name not in taken
    )
    part = directory / f"{stem}{PART_SUFFIX}"
    # Never through a file or link someone put there.
    fd = os.open(part, os.O_WRONLY | os.O_CREAT | os.O_EXCL, FILE_MODE)
    return part, os.fdopen(fd, "wb")


def finish(part: Path, file: BinaryIO, extension: str) -> BackupFile:
    """Flush to disk, close and give the `.part` file its final name."""
    try:
        file.flush()
        os.fsync(file.fileno())
    finally:
        file.close()
    # The stem is free of finished backups: no other extension can be there.
    target = part.with_name(f"{part.name.removesuffix(PART_SUFFIX)}.{extension}")
    part.rename(target)
    stat = target.stat()
    return BackupFile(
        target, stat.st_size, datetime.fromtimestamp(stat.st_mtime).astimezone()
    )


def discard(part: Path, file: BinaryIO | None) -> None:
    """A failed backup: close and delete its `.part` file."""
    if file is not None:
        with suppress(OSError):
            file.close()
    part.unlink(missing_ok=True)


def prune(directory: Path, keep: int) -> list[Path]:
    """Delete our backups beyond the newest `keep`; the deleted ones."""
    backups = our_backups(directory)
    gone = backups[: max(len(backups) - keep, 0)]
    for path in gone:
        path.unlink(missing_ok=True)
    return gone


def _stem(path: Path) -> str:
    # Our names have one dot or more, none in the stamp.
    return path.name.partition(".")[0]
