"""Backup sets: the originals a change replaces, kept so that it can be undone or rolled back.

Before a transaction writes anything, each file it replaces is copied, with its owner, mode and
extended attributes, into a new set directory in the backup directory (named by the UTC time,
so that ids sort in creation order), and `manifest.json` records each file's path, size,
checksum, owner and mode. A set without a manifest holds no record and is removed. `COMPLETED`
in a set marks a transaction that finished; an undone one's set is kept but not marked.
"""

from __future__ import annotations

import json
import os
import shutil
import time
from dataclasses import dataclass
from pathlib import Path

from wizard.errors import WriteError
from wizard.files.atomic import (copy_metadata, encode, fsync_directory, sha256,
                                  write_file_atomically)

MANIFEST = "manifest.json"
COMPLETED = "COMPLETED"


@dataclass
class BackupSet:
    directory: Path
    entries: list[dict]

    @property
    def id(self) -> str:
        return self.directory.name

    @property
    def created(self) -> str:
        return self.entries[0]["created"] if self.entries else ""

    @property
    def reason(self) -> str:
        return self.entries[0]["reason"] if self.entries else ""

    @property
    def completed(self) -> bool:
        """The transaction that made this set finished; an undone one's set is kept but marked."""
        return (self.directory / COMPLETED).exists()

    def mark_completed(self, done: bool = True) -> None:
        marker = self.directory / COMPLETED
        if done:
            marker.touch()
        else:
            marker.unlink(missing_ok=True)
        fsync_directory(self.directory)

    def stored(self, entry: dict) -> Path:
        return self.directory / entry["stored"]


def back_up(paths: list[Path], backup_dir: Path, reason: str) -> BackupSet:
    """Copy each file, with its owner, mode and extended attributes, into a new backup set."""
    directory = _new_set_directory(backup_dir)
    entries = []
    for index, path in enumerate(paths):
        data = path.read_bytes()
        info = path.stat()
        stored = directory / f"{index}-{path.name}"
        descriptor = os.open(stored, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(descriptor, "wb") as file:
            file.write(data)
            file.flush()
            os.fsync(file.fileno())
        copy_metadata(path, stored)
        entries.append({"path": str(path), "stored": stored.name, "size": len(data),
                        "sha256": sha256(data), "uid": info.st_uid, "gid": info.st_gid,
                        "mode": f"{info.st_mode & 0o7777:04o}", "reason": reason,
                        "created": time.strftime("%Y-%m-%d %H:%M:%S UTC", time.gmtime())})
    manifest = json.dumps(entries, indent=2) + "\n"
    write_file_atomically(directory / MANIFEST, encode(manifest))
    os.chmod(directory / MANIFEST, 0o600)
    fsync_directory(directory)
    return BackupSet(directory, entries)


def prepare_backup_dir(backup_dir: Path) -> None:
    try:
        backup_dir.mkdir(parents=True, exist_ok=True, mode=0o700)
    except OSError as error:
        raise WriteError(f"cannot create the backup directory {backup_dir} "
                         f"({error.strerror}); nothing was written") from None
    if not backup_dir.is_dir():
        raise WriteError(f"{backup_dir} is not a directory; give --backup-dir a directory")


def _new_set_directory(backup_dir: Path) -> Path:
    stamp = time.strftime("%Y%m%d-%H%M%S", time.gmtime())
    for attempt in range(1000):
        # zero-padded so that ids sort in creation order as text
        directory = backup_dir / (stamp if attempt == 0 else f"{stamp}-{attempt:03d}")
        try:
            directory.mkdir(mode=0o700)
            return directory
        except FileExistsError:
            continue
    raise WriteError(f"{backup_dir}: could not create a backup set")


def remove_incomplete_sets(backup_dir: Path) -> None:
    """Remove set directories a failed backup left without a manifest (they hold no record)."""
    for directory in backup_dir.iterdir():
        if directory.is_dir() and not directory.name.startswith(".") and \
                not (directory / MANIFEST).exists():
            shutil.rmtree(directory, ignore_errors=True)


def backup_sets(backup_dir: Path) -> list[BackupSet]:
    """Complete backup sets, oldest first."""
    if not backup_dir.is_dir():
        return []
    found = []
    for directory in sorted(backup_dir.iterdir()):
        manifest = directory / MANIFEST
        if directory.is_dir() and manifest.is_file():
            found.append(BackupSet(directory, json.loads(manifest.read_text())))
    return found
