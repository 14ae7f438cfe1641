"""Low-level writing: atomic file replacement with metadata, backup sets, the lock and the journal.

A file is written through a temporary file in its own directory (created exclusively, mode 0600),
fsynced, given the original's owner, group, mode and extended attributes (SELinux label, ACLs),
renamed over the original, and the directory fsynced. The original is never renamed away, so at
every instant the path holds all of its old bytes or all of its new bytes.
"""

from __future__ import annotations

import errno
import fcntl
import hashlib
import json
import os
import shutil
import time
from dataclasses import dataclass
from pathlib import Path

from wizard.errors import WriteError

MANIFEST = "manifest.json"
COMPLETED = "COMPLETED"
JOURNAL = "journal.json"
LOCK = ".lock"
TEMP_MARK = ".postfix-wizard."


class ChangedOnDisk(WriteError):
    """A file changed between the wizard reading it and writing it."""


def crash_point(name: str) -> None:
    """Test-only hook: POSTFIX_WIZARD_CRASH_AT=name makes the process kill itself here."""
    if os.environ.get("POSTFIX_WIZARD_CRASH_AT") == name:
        os.kill(os.getpid(), 9)


def encode(text: str) -> bytes:
    return text.encode("utf-8", errors="surrogateescape")


def sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


# Atomic replacement --------------------------------------------------------------------------

def write_file_atomically(path: Path, data: bytes, like: Path | None = None,
                          crash_prefix: str = "") -> None:
    """Replace `path` with `data`, keeping the metadata of `like` (default: `path` itself)."""
    like = like if like is not None else path
    temporary = _create_temporary(path)
    try:
        with open(temporary, "wb") as file:
            file.write(data)
            file.flush()
            os.fsync(file.fileno())
        if like.exists():
            copy_metadata(like, temporary)
        else:
            os.chmod(temporary, 0o644)
        if crash_prefix:
            crash_point(f"{crash_prefix}-before-rename")
        os.rename(temporary, path)
    except OSError as error:
        temporary.unlink(missing_ok=True)
        raise OSError(error.errno, error.strerror, str(path)) from None
    except BaseException:
        temporary.unlink(missing_ok=True)
        raise
    fsync_directory(path.parent)


def _create_temporary(path: Path) -> Path:
    for attempt in range(100):
        candidate = path.with_name(f".{path.name}{TEMP_MARK}{os.getpid()}.{attempt}")
        try:
            os.close(os.open(candidate, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600))
            return candidate
        except FileExistsError:
            continue
    raise WriteError(f"{path.parent}: could not create a temporary file")


def copy_metadata(source: Path, target: Path) -> None:
    info = source.stat()
    if os.geteuid() == 0:
        os.chown(target, info.st_uid, info.st_gid)
    os.chmod(target, info.st_mode & 0o7777)
    for name in _xattrs(source):
        try:
            os.setxattr(target, name, os.getxattr(source, name))
        except OSError as error:
            if error.errno not in (errno.ENOTSUP, errno.EOPNOTSUPP):
                raise


def _xattrs(path: Path) -> list[str]:
    try:
        return os.listxattr(path)
    except OSError:
        return []


def fsync_directory(directory: Path) -> None:
    descriptor = os.open(directory, os.O_RDONLY | os.O_DIRECTORY)
    try:
        os.fsync(descriptor)
    finally:
        os.close(descriptor)


def stray_temporaries(directory: Path) -> list[Path]:
    return [p for p in directory.glob(f".*{TEMP_MARK}*") if p.is_file()]


# Backup sets -----------------------------------------------------------------------------------

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


def restore_metadata(path: Path, entry: dict) -> None:
    if os.geteuid() == 0:
        os.chown(path, entry["uid"], entry["gid"])
    os.chmod(path, int(entry["mode"], 8))


# Lock --------------------------------------------------------------------------------------------

class Lock:
    """One wizard at a time per backup directory; a second waits, then names the holder."""

    def __init__(self, backup_dir: Path, wait_seconds: float = 10.0):
        self.path = backup_dir / LOCK
        self.wait_seconds = wait_seconds
        self.descriptor: int | None = None

    def __enter__(self) -> Lock:
        self.descriptor = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o600)
        deadline = time.monotonic() + self.wait_seconds
        while True:
            try:
                fcntl.flock(self.descriptor, fcntl.LOCK_EX | fcntl.LOCK_NB)
                break
            except BlockingIOError:
                if time.monotonic() >= deadline:
                    holder = os.pread(self.descriptor, 200, 0).decode(errors="replace").strip()
                    os.close(self.descriptor)
                    raise WriteError(f"another postfix-wizard ({holder or 'unknown process'}) is "
                                     f"changing this server; nothing was written. Wait for it to "
                                     f"finish, then run again") from None
                time.sleep(0.1)
        os.ftruncate(self.descriptor, 0)
        os.pwrite(self.descriptor, f"pid {os.getpid()}, since {time.strftime('%H:%M:%S')}".encode(), 0)
        return self

    def __exit__(self, *exc) -> None:
        os.ftruncate(self.descriptor, 0)
        os.close(self.descriptor)


# Journal -----------------------------------------------------------------------------------------

def write_journal(backup_dir: Path, record: dict) -> None:
    write_file_atomically(backup_dir / JOURNAL, encode(json.dumps(record, indent=2) + "\n"))
    os.chmod(backup_dir / JOURNAL, 0o600)


def read_journal(backup_dir: Path) -> dict | None:
    path = backup_dir / JOURNAL
    if not path.is_file():
        return None
    return json.loads(path.read_text())


def clear_journal(backup_dir: Path) -> None:
    (backup_dir / JOURNAL).unlink(missing_ok=True)
    fsync_directory(backup_dir)
