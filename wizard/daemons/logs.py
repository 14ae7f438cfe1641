"""What Postfix and Dovecot logged since a moment: to quote the daemons' own words when a change
breaks them, and to let the probe find the failures no client sees (a fatal anvil, a throttled
service).

Each daemon logs to a file or to syslog:
- Dovecot to `log_path` (doveconf -h log_path), or "syslog";
- Postfix to `maillog_file` (postlogd) when main.cf sets it, else syslog.

Syslog is read from the journal where systemd runs the machine (journald receives all of it),
else from /var/log/mail.log or /var/log/maillog. A mark taken before a change remembers the
file's size or the time; `lines_since` returns what was written after it.
"""

from __future__ import annotations

import re
import shutil
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path

from wizard.server.versions import doveconf_setting

DOVECOT_PROBLEM = re.compile(r"\b(Fatal|Panic|Error):")
MAX_LINES = 3
MAX_READ_BYTES = 4 << 20
SYSLOG_FILES = (Path("/var/log/mail.log"), Path("/var/log/maillog"))
JOURNAL_RUNNING = Path("/run/systemd/journal")


@dataclass(frozen=True)
class Mark:
    path: Path | None       # the log file; None: the journal
    offset: int
    when: float
    journal_match: str      # which journal lines are the daemon's


def _mark(where: Path | None, journal_match: str) -> Mark:
    try:
        offset = where.stat().st_size if where else 0
    except OSError:
        offset = 0
    return Mark(where, offset, time.time(), journal_match)


def _syslog_file() -> Path | None:
    """None when syslog is best read from the journal."""
    if JOURNAL_RUNNING.is_dir() and shutil.which("journalctl"):
        return None
    return next((path for path in SYSLOG_FILES if path.exists()), None)


def dovecot_mark(dovecot_dir: Path) -> Mark:
    where = doveconf_setting(dovecot_dir, "log_path")
    path = Path(where) if where and where.startswith("/") else _syslog_file()
    return _mark(path, "SYSLOG_IDENTIFIER=dovecot")


def postfix_mark(maillog_file: str) -> Mark:
    """`maillog_file`: main.cf's value ("" when Postfix logs to syslog)."""
    path = Path(maillog_file) if maillog_file.startswith("/") else _syslog_file()
    return _mark(path, "SYSLOG_FACILITY=2")


def readable(mark: Mark) -> bool:
    if mark.path is not None:
        return mark.path.exists()
    return JOURNAL_RUNNING.is_dir() and shutil.which("journalctl") is not None


def lines_since(since: Mark | None) -> list[str]:
    if since is None:
        return []
    return _file_lines(since) if since.path else _journal_lines(since)


def errors_since(since: Mark | None) -> str:
    """Dovecot's problem lines since the mark, joined; "" when none can be found."""
    problems = [line.strip() for line in lines_since(since) if DOVECOT_PROBLEM.search(line)]
    return " | ".join(problems[-MAX_LINES:])


def _file_lines(since: Mark) -> list[str]:
    try:
        with open(since.path, "rb") as log:
            size = log.seek(0, 2)
            log.seek(since.offset if since.offset <= size else 0)   # rotated: read it all
            return log.read(MAX_READ_BYTES).decode("utf-8", "replace").splitlines()
    except OSError:
        return []


def _journal_lines(since: Mark) -> list[str]:
    if not shutil.which("journalctl"):
        return []
    result = subprocess.run(["journalctl", "--no-pager", "-q", "-o", "short",
                             f"--since=@{since.when - 1:.0f}", since.journal_match],
                            capture_output=True, text=True, timeout=30)
    return result.stdout.splitlines() if result.returncode == 0 else []
