"""Writing configuration files: atomically, each original kept in a backup set first.

Every file is written through a temporary file in its own directory (created exclusively, mode
0600), fsynced, given the original's owner, group and mode, renamed over the original, and the
directory fsynced. The original is never renamed away, so at every instant the path holds either
all of its old bytes or all of its new bytes.
"""

from __future__ import annotations

import hashlib
import json
import os
import time
from dataclasses import dataclass
from pathlib import Path

from .errors import WizardError

DEFAULT_BACKUP_DIR = Path("/var/backups/postfix-wizard")
MANIFEST = "manifest.json"


class WriteError(WizardError):
    """The write itself failed; files already written have been put back."""


class ChangedOnDisk(WriteError):
    """A file changed between the wizard reading it and writing it."""


def write_file_atomically(path: Path, text: str) -> None:
    data = text.encode("utf-8", errors="surrogateescape")
    original = path.stat() if path.exists() else None
    temporary = _create_temporary(path)
    try:
        with open(temporary, "wb") as file:
            file.write(data)
            file.flush()
            os.fsync(file.fileno())
        if original is not None:
            _copy_metadata(original, temporary)
        else:
            os.chmod(temporary, 0o644)
        os.rename(temporary, path)
    except BaseException:
        temporary.unlink(missing_ok=True)
        raise
    _fsync_directory(path.parent)


def _create_temporary(path: Path) -> Path:
    for attempt in range(100):
        candidate = path.with_name(f".{path.name}.postfix-wizard.{os.getpid()}.{attempt}")
        try:
            os.close(os.open(candidate, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600))
            return candidate
        except FileExistsError:
            continue
    raise WriteError(f"{path.parent}: could not create a temporary file")


def _copy_metadata(original: os.stat_result, path: Path) -> None:
    if os.geteuid() == 0:
        os.chown(path, original.st_uid, original.st_gid)
    os.chmod(path, original.st_mode & 0o7777)


def _fsync_directory(directory: Path) -> None:
    descriptor = os.open(directory, os.O_RDONLY | os.O_DIRECTORY)
    try:
        os.fsync(descriptor)
    finally:
        os.close(descriptor)


def sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


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


def back_up(paths: list[Path], backup_dir: Path, reason: str) -> BackupSet:
    """Copy each file, with its permissions, into a new timestamped backup set."""
    backup_dir.mkdir(parents=True, exist_ok=True, mode=0o700)
    stamp = time.strftime("%Y%m%d-%H%M%S", time.gmtime())
    directory = _new_set_directory(backup_dir, stamp)
    entries = []
    for index, path in enumerate(paths):
        data = path.read_bytes()
        info = path.stat()
        stored = directory / f"{index}-{path.name}"
        fd = os.open(stored, os.O_WRONLY | os.O_CREAT | os.O_EXCL, info.st_mode & 0o777)
        with os.fdopen(fd, "wb") as file:
            file.write(data)
            file.flush()
            os.fsync(file.fileno())
        entries.append({"path": str(path.resolve()), "stored": stored.name, "size": len(data),
                        "sha256": sha256(data), "uid": info.st_uid, "gid": info.st_gid,
                        "mode": oct(info.st_mode & 0o7777), "reason": reason,
                        "created": time.strftime("%Y-%m-%d %H:%M:%S UTC", time.gmtime())})
    write_file_atomically(directory / MANIFEST, json.dumps(entries, indent=2) + "\n")
    os.chmod(directory / MANIFEST, 0o600)
    return BackupSet(directory, entries)


def _new_set_directory(backup_dir: Path, stamp: str) -> Path:
    for attempt in range(1000):
        directory = backup_dir / (stamp if attempt == 0 else f"{stamp}-{attempt}")
        try:
            directory.mkdir(mode=0o700)
            return directory
        except FileExistsError:
            continue
    raise WriteError(f"{backup_dir}: could not create a backup set")


def backup_sets(backup_dir: Path) -> list[BackupSet]:
    """Backup sets, oldest first."""
    if not backup_dir.is_dir():
        return []
    found = []
    for directory in sorted(backup_dir.iterdir()):
        manifest = directory / MANIFEST
        if manifest.is_file():
            found.append(BackupSet(directory, json.loads(manifest.read_text())))
    return found


def write_all(files: dict[Path, tuple[str, str]], backup_dir: Path,
              reason: str = "apply") -> BackupSet:
    """Write each file's new text if it still holds the old text; back up the originals first.

    `files` maps a path to (old text as read, new text). When a write fails, the files already
    written are restored from the backup set and WriteError says what happened.
    """
    for path, (old, _new) in files.items():
        if path.read_bytes() != old.encode("utf-8", errors="surrogateescape"):
            raise ChangedOnDisk(f"{path} changed on disk since the wizard read it (another admin "
                                "or postconf -e?); nothing was written. Run the wizard again.")
    backup = back_up(list(files), backup_dir, reason)
    written: list[Path] = []
    try:
        for path, (_old, new) in files.items():
            write_file_atomically(path, new)
            written.append(path)
    except OSError as error:
        _restore(backup, written)
        raise WriteError(f"writing {error.filename or 'a file'} failed ({error.strerror}); "
                         f"{len(written)} file(s) already written were put back") from None
    return backup


def _restore(backup: BackupSet, paths: list[Path]) -> None:
    for entry in backup.entries:
        if Path(entry["path"]) in {p.resolve() for p in paths}:
            data = (backup.directory / entry["stored"]).read_bytes()
            write_file_atomically(Path(entry["path"]), data.decode("utf-8", "surrogateescape"))


def rollback(backup_dir: Path, set_id: str | None = None) -> tuple[BackupSet, BackupSet]:
    """Restore a backup set (the latest by default), backing up the current files first."""
    sets = backup_sets(backup_dir)
    if not sets:
        raise WizardError(f"{backup_dir} holds no backup sets; there is nothing to roll back to.")
    chosen = sets[-1] if set_id is None else next((s for s in sets if s.id == set_id), None)
    if chosen is None:
        raise WizardError(f"no backup set '{set_id}' in {backup_dir}; "
                          f"see 'postfix-wizard backups'.")
    files = {}
    for entry in chosen.entries:
        data = (chosen.directory / entry["stored"]).read_bytes()
        if sha256(data) != entry["sha256"]:
            raise WizardError(f"backup {chosen.id}: {entry['stored']} does not match its "
                              "manifest checksum; refusing to restore it.")
        path = Path(entry["path"])
        files[path] = (path.read_bytes().decode("utf-8", "surrogateescape"), data.decode("utf-8", "surrogateescape"))
    safety = write_all(files, backup_dir, reason=f"rollback to {chosen.id}")
    for entry in chosen.entries:
        path = Path(entry["path"])
        if os.geteuid() == 0:
            os.chown(path, entry["uid"], entry["gid"])
        os.chmod(path, int(entry["mode"], 8))
    return chosen, safety
