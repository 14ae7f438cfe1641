"""What Dovecot logged since a moment: to quote its own words when its auth process fails.

Dovecot writes errors to `log_path` (doveconf -h log_path): a file, or "syslog", which on a
systemd machine ends in the journal. A mark taken before a reload remembers the file's size or
the time; `errors_since` returns the Fatal, Panic and Error lines written after it.
"""

from __future__ import annotations

import re
import shutil
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path

from .generation import doveconf_setting

PROBLEM = re.compile(r"\b(Fatal|Panic|Error):")
MAX_LINES = 3


@dataclass(frozen=True)
class Mark:
    path: Path | None       # the log file; None: syslog (read from the journal)
    offset: int
    when: float


def mark(dovecot_dir: Path) -> Mark:
    where = doveconf_setting(dovecot_dir, "log_path")
    path = Path(where) if where and where.startswith("/") else None
    try:
        offset = path.stat().st_size if path else 0
    except OSError:
        offset = 0
    return Mark(path, offset, time.time())


def errors_since(since: Mark | None) -> str:
    """Dovecot's problem lines since the mark, joined; "" when none can be found."""
    if since is None:
        return ""
    lines = _file_lines(since) if since.path else _journal_lines(since)
    problems = [line.strip() for line in lines if PROBLEM.search(line)]
    return " | ".join(problems[-MAX_LINES:])


def _file_lines(since: Mark) -> list[str]:
    try:
        with open(since.path, "rb") as log:
            log.seek(since.offset)
            return log.read(1 << 20).decode("utf-8", "replace").splitlines()
    except OSError:
        return []


def _journal_lines(since: Mark) -> list[str]:
    if not shutil.which("journalctl"):
        return []
    result = subprocess.run(["journalctl", "--no-pager", "-q", "-o", "cat",
                             f"--since=@{since.when - 1:.0f}", "SYSLOG_IDENTIFIER=dovecot"],
                            capture_output=True, text=True, timeout=30)
    return result.stdout.splitlines() if result.returncode == 0 else []
