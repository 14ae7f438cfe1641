"""The lock and the journal of a transaction, both kept in the backup directory.

`.lock`: one wizard at a time per backup directory; a second waits, then names the holder (the
pid and time written into the lock file). `journal.json`: written once the originals are backed
up and before the first file is replaced, naming the backup set, the directories and which daemons
were reloaded so far; cleared when the transaction ends. A journal left behind means a crash
interrupted a transaction: the next run puts the journaled files back (transaction.recover).
"""

from __future__ import annotations

import fcntl
import json
import os
import time
from pathlib import Path

from wizard.errors import WriteError
from wizard.files.atomic import encode, fsync_directory, write_file_atomically

JOURNAL = "journal.json"
LOCK = ".lock"


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
