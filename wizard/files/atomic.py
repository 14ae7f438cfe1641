"""Atomic file replacement with metadata: how every file the wizard writes reaches the disk.

A file is written through a temporary file in its own directory (created exclusively, mode 0600),
fsynced, given the original's owner, group, mode and extended attributes (SELinux label, ACLs),
renamed over the original, and the directory fsynced. The original is never renamed away, so at
every instant the path holds all of its old bytes or all of its new bytes. A new file gets mode
0644 and, where SELinux is on, the label the policy gives its path (wizard/files/selinux.py).
`label` names the label's attribute: security.selinux, or in tests a user. one.

It lives with the files, below the settings and the change, because both write through it: a
change's configuration files, backup sets and journal (wizard/change/) and a saved preset
(wizard/settings/presets.py). `crash_point` is the test hook that kills the process between
such steps (POSTFIX_WIZARD_CRASH_AT).
"""

from __future__ import annotations

import errno
import hashlib
import os
from pathlib import Path

from wizard.errors import WriteError
from wizard.files import selinux

TEMP_MARK = ".postfix-wizard."


def crash_point(name: str) -> None:
    """Test-only hook: POSTFIX_WIZARD_CRASH_AT=name makes the process kill itself here."""
    if os.environ.get("POSTFIX_WIZARD_CRASH_AT") == name:
        os.kill(os.getpid(), 9)


def encode(text: str) -> bytes:
    return text.encode("utf-8", errors="surrogateescape")


def sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def write_file_atomically(path: Path, data: bytes, like: Path | None = None,
                          crash_prefix: str = "", label: str = selinux.LABEL) -> None:
    """Replace `path` with `data`, keeping the metadata of `like` (default: `path` itself)."""
    like = like if like is not None else path
    temporary = _create_temporary(path)
    labelled = True
    try:
        with open(temporary, "wb") as file:
            file.write(data)
            file.flush()
            os.fsync(file.fileno())
        if like.exists():
            copy_metadata(like, temporary, label)
        else:
            os.chmod(temporary, 0o644)
            labelled = selinux.label_new(temporary, path, label)
        if crash_prefix:
            crash_point(f"{crash_prefix}-before-rename")
        os.rename(temporary, path)
    except OSError as error:
        temporary.unlink(missing_ok=True)
        raise OSError(error.errno, error.strerror, str(path)) from None
    except BaseException:
        temporary.unlink(missing_ok=True)
        raise
    if not labelled:             # no matchpathcon: restorecon, which needs the final path
        selinux.restore_label(path)
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


def copy_metadata(source: Path, target: Path, label: str = selinux.LABEL) -> None:
    """Owner (as root), mode and extended attributes; the SELinux label through
    selinux.copy_label, which no filesystem or file without labels makes fail."""
    info = source.stat()
    if os.geteuid() == 0:
        os.chown(target, info.st_uid, info.st_gid)
    os.chmod(target, info.st_mode & 0o7777)
    selinux.copy_label(source, target, label)
    for name in _xattrs(source):
        if name == label:
            continue
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
