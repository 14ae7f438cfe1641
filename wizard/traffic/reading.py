"""Reading Postfix's logs: the sources, the lines, and what smtpd, qmgr and anvil said.

Sources: files (plain or gzip: a rotated set mail.log.2.gz mail.log.1 mail.log reads as one,
oldest first), standard input, journalctl's `-o json` output (detected by its first byte), and,
when none is given, what the server uses: `maillog_file`, /var/log/mail.log* or maillog*, else the
journal.

Lines: classic syslog (`Jan  5 09:14:08`, no year: inferred from the file's date and each
Dec→Jan turn), RFC 3339 with fractions and offset (Debian's rsyslog), Postfix's own
`maillog_file` and journalctl's short formats, Solaris' `[ID n facility]` tag, container prefixes
(`name | …`), rsyslog's `message repeated N times: [ … ]`, multi-instance and per-service syslog
names (postfix-out/smtpd, postfix/submission/smtpd). A line that is not Postfix's, or is cut,
binary or huge, is counted and skipped.

The lines themselves are parsed, and counted, by the scanner (the C extension _scan.c, else
pyscan.py: wizard.traffic.scanner chooses): this module opens the sources and hands it their
bytes a megabyte at a time. Everything streams: what is
kept grows with the clients seen (and the sessions open at once), never with the length of the
log.
"""

from __future__ import annotations

import gzip
import io
import json
import os
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, TYPE_CHECKING, Callable, Iterable, Iterator

from wizard.errors import WizardError
from wizard.traffic import scanner

if TYPE_CHECKING:
    from wizard.traffic.replay import Replay

LIMIT_WARNINGS = {
    "Connection rate limit exceeded": "smtpd_client_connection_rate_limit",
    "Connection concurrency limit exceeded": "smtpd_client_connection_count_limit",
    "Message delivery request rate limit exceeded": "smtpd_client_message_rate_limit",
    "Recipient address rate limit exceeded": "smtpd_client_recipient_rate_limit",
    "AUTH command rate limit exceeded": "smtpd_client_auth_rate_limit",
    "New TLS session rate limit exceeded": "smtpd_client_new_tls_session_rate_limit",
}
# The disconnect line's counters, in the order the scanner takes them: MAIL, RCPT, AUTH, VRFY
# (counted with RCPT, as anvil does), STARTTLS.
COUNTED = ("mail", "rcpt", "auth", "vrfy", "starttls")
CHUNK = 1 << 20


@dataclass
class Tally:
    """How much was read, and what was skipped."""
    lines: int = 0
    postfix: int = 0
    skipped: int = 0          # not Postfix's, cut, binary or too long
    sources: list[str] = field(default_factory=list)
    scanner: str = "c"        # which read the lines: "c" (the extension) or "python"


class LineReader:
    """Feeds lines to the scanner (wizard.traffic.scanner), which parses them and counts as
    anvil does for the Replay given. `services` maps a syslog name (postfix/submission) to the master.cf
    service anvil counts under; without it, the name's middle part, else smtp."""

    def __init__(self, replay: Replay, services: dict[str, str] | None = None,
                 year: int | None = None) -> None:
        self.services = dict(services or {})
        self.sources: list[str] = []
        self.kind, Scanner = scanner()
        self.scanner = Scanner(replay.unit, self.service, replay.network, LIMIT_WARNINGS,
                               COUNTED, replay.wrapped)
        self.scanner.set_year(year or time.gmtime().tm_year)
        self._since: int | None = None
        replay.scanner = self.scanner

    @property
    def tally(self) -> Tally:
        figures = self.scanner.figures()
        return Tally(figures["lines"], figures["postfix"], figures["skipped"], self.sources,
                     self.kind)

    @property
    def since(self) -> int | None:
        """Lines before this time (epoch seconds) are passed over."""
        return self._since

    @since.setter
    def since(self, when: int | None) -> None:
        self._since = when
        self.scanner.set_since(when)

    def start_source(self, name: str, modified: float) -> None:
        """The year of lines without one comes from the first file's date: its first line is
        no later than that; each Dec→Jan turn after it adds a year."""
        self.sources.append(name)
        written = time.gmtime(modified)
        self.scanner.date(written.tm_year, written.tm_mon)

    def read(self, lines: Iterable[str]) -> None:
        for batch in _batches(lines):
            self.scanner.feed("".join(line if line.endswith("\n") else line + "\n"
                                      for line in batch).encode("utf-8", "surrogateescape"))

    def read_binary(self, stream: IO[bytes], tick: Callable[[], None] | None = None) -> None:
        """A file's bytes, a megabyte at a time into one buffer (a new bytes object for each
        would cost page faults); a line cut by the buffer's end is moved to its start."""
        buffer, kept = bytearray(CHUNK), 0
        while True:
            with memoryview(buffer) as view:
                got = stream.readinto(view[kept:])
                if not got:
                    break
                end = kept + got
                last = buffer.rfind(b"\n", 0, end) + 1
                if last:
                    self.scanner.feed(buffer, last)
                    view[:end - last] = view[last:end]
                kept = end - last
            if kept == len(buffer):                 # one line longer than the buffer
                buffer.extend(bytes(len(buffer)))
            if tick:
                tick()
        if kept:
            self.scanner.feed(bytes(buffer[:kept]))

    def service(self, syslog_name: str) -> str:
        """postfix/submission → submission; postfix-out → postfix-out/smtp."""
        found = self.services.get(syslog_name)
        if found is None:
            instance, _, middle = syslog_name.partition("/")
            found = middle or "smtp"
            if instance != "postfix":
                found = f"{instance}/{found}"
            self.services[syslog_name] = found
        return found


def _batches(lines: Iterable[str]) -> Iterator[list[str]]:
    batch: list[str] = []
    for line in lines:
        batch.append(line)
        if len(batch) == 4096:
            yield batch
            batch = []
    if batch:
        yield batch


# Sources ----------------------------------------------------------------------------------------

def rotated_order(paths: list[Path]) -> list[Path]:
    """mail.log.2.gz, mail.log.1, mail.log: the oldest first (a higher number is older)."""
    def age(path: Path) -> tuple:
        name = path.name[:-3] if path.name.endswith(".gz") else path.name
        stem, _, number = name.rpartition(".")
        return (stem, -int(number)) if number.isdigit() and stem else (name, 0)
    return sorted(paths, key=age)


def open_binary(path: Path) -> IO[bytes]:
    with open(path, "rb") as probe:
        magic = probe.read(2)
    return gzip.open(path, "rb") if magic == b"\x1f\x8b" else open(path, "rb")


def journal_lines(stream: Iterable[str]) -> Iterator[str]:
    """journalctl -o json: one object a line; made into `short-iso` lines the reader knows."""
    for text in stream:
        try:
            entry = json.loads(text)
            when = int(entry["__REALTIME_TIMESTAMP"]) // 1_000_000
            program = entry.get("SYSLOG_IDENTIFIER", "")
            message = entry["MESSAGE"]
        except (ValueError, KeyError, TypeError):
            yield text              # counted as skipped
            continue
        if isinstance(message, list):                 # journald's form for non-UTF-8 data
            message = bytes(message).decode("utf-8", "replace")
        stamp = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(when))
        yield f"{stamp} host {program}[{entry.get('_PID', entry.get('SYSLOG_PID', 0))}]: " \
              f"{message}\n"


def read_stream(reader: LineReader, stream: IO[bytes], name: str, modified: float,
                tick: Callable[[], None] | None = None) -> None:
    """One source: journalctl's JSON (its first byte is "{") or log lines."""
    reader.start_source(name, modified)
    if stream.peek(1)[:1] == b"{":
        text = io.TextIOWrapper(stream, encoding="utf-8", errors="replace")
        reader.read(journal_lines(text))
    else:
        reader.read_binary(stream, tick)


Progress = Callable[[int, int], None]     # bytes of the files read so far, of all of them


def _position(stream: IO[bytes]) -> int:
    """How far into the file (compressed, for gzip) the stream has read."""
    return stream.fileobj.tell() if isinstance(stream, gzip.GzipFile) else stream.tell()


def read_paths(reader: LineReader, paths: list[str], progress: Progress | None = None) -> None:
    """`--log PATH` values in order (rotated sets sorted oldest first); "-" is standard input."""
    files = rotated_order([Path(p) for p in paths if p != "-"])
    for path in files:
        if not os.access(path, os.R_OK) or not path.is_file():
            why = "no such file" if not path.exists() else "not a readable file"
            raise WizardError(f"cannot read the log {path} ({why}); give a mail log with --log")
    total, done = sum(path.stat().st_size for path in files), 0
    for path in files:
        with open_binary(path) as stream:
            tick = (lambda: progress(done + _position(stream), total)) if progress else None
            read_stream(reader, stream, str(path), path.stat().st_mtime, tick)
        done += path.stat().st_size
    if "-" in paths:
        read_stream(reader, sys.stdin.buffer, "standard input", time.time())
