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

Everything streams: what is kept grows with the clients seen (and the sessions open at once),
never with the length of the log.
"""

from __future__ import annotations

import calendar
import gzip
import io
import itertools
import json
import os
import re
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Callable, Iterable, Iterator, Protocol

from ..errors import WizardError

MONTHS = {name: index for index, name in enumerate(
    ("Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"), 1)}
MAX_LINE = 8192
HEADER = re.compile(
    r"(?:(?P<mon>[A-Z][a-z]{2}) {1,2}(?P<day>\d{1,2}) (?P<hms>\d\d:\d\d:\d\d)"
    r"|(?P<iso>\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d)(?:\.\d+)?(?P<zone>Z|[+-]\d\d:?\d\d)?)"
    r" \S+ (?P<prog>postfix[\w.+-]*(?:/[\w.+-]+)*)\[\d+\]: (?:\[ID \d+ [\w.]+\] )?")
PID = re.compile(r"\[(\d+)\]: ")
REPEATED = re.compile(r"message repeated (\d+) times: \[ ?(.*?)\]?$")
LIMIT_WARNINGS = {
    "Connection rate limit exceeded": "smtpd_client_connection_rate_limit",
    "Connection concurrency limit exceeded": "smtpd_client_connection_count_limit",
    "Message delivery request rate limit exceeded": "smtpd_client_message_rate_limit",
    "Recipient address rate limit exceeded": "smtpd_client_recipient_rate_limit",
    "AUTH command rate limit exceeded": "smtpd_client_auth_rate_limit",
    "New TLS session rate limit exceeded": "smtpd_client_new_tls_session_rate_limit",
}
COUNTED = ("mail", "rcpt", "auth", "vrfy", "starttls")   # in the order _smtpd unpacks them


class Sink(Protocol):
    """What the reader tells (wizard/traffic/replay.py listens)."""
    def connect(self, when: int, session: str, service: str, client: str) -> None: ...
    def disconnect(self, when: int, session: str, mail: int, rcpt: int, auth: int,
                   tls: int) -> None: ...
    def refused(self, when: int, parameter: str, client: str, service: str) -> None: ...
    def message_size(self, client: str, service: str, size: int) -> None: ...


@dataclass
class Tally:
    """How much was read, and what was skipped."""
    lines: int = 0
    postfix: int = 0
    skipped: int = 0          # not Postfix's, cut, binary or too long
    sources: list[str] = field(default_factory=list)


def _total(stats: str, name: str) -> int:
    """` mail=1 rcpt=0/1 ` → the total T of `name=S/T` (or of `name=T`); 0 when absent."""
    start = stats.find(f" {name}=")
    if start < 0:
        return 0
    start += len(name) + 2
    value = stats[start:stats.find(" ", start)].rpartition("/")[2]
    return int(value) if value.isdigit() else 0


def client_address(text: str) -> str:
    """`name[addr]` or `name[addr]:port` (and any junk after) → addr."""
    start = text.find("[")
    end = text.find("]", start + 1)
    return text[start + 1:end] if start >= 0 and end > start else ""


class LineReader:
    """Turns lines into Sink calls. `services` maps a syslog name (postfix/submission) to the
    master.cf service anvil counts under; without it, the name's middle part, else smtp."""

    def __init__(self, sink: Sink, services: dict[str, str] | None = None,
                 year: int | None = None) -> None:
        self.sink = sink
        self.services = services or {}
        self.tally = Tally()
        self.year = year or time.gmtime().tm_year
        self.dated: tuple[int, int] | None = None   # (year, month) the first file was written
        self.last_month = 0
        self.times: dict[str, int] = {}
        self.queue: dict[str, tuple[str, str]] = {}      # queue id → (client, service)
        self.since: int | None = None                     # lines before this are passed over

    def start_source(self, modified: float) -> None:
        """The year of lines without one comes from the first file's date: its first line is
        no later than that; each Dec→Jan turn after it adds a year."""
        if self.dated is None:
            written = time.gmtime(modified)
            self.dated = (written.tm_year, written.tm_mon)

    def read(self, lines: Iterable[str]) -> None:
        for line in lines:
            self.line(line)

    def line(self, line: str) -> None:
        self.tally.lines += 1
        if len(line) > MAX_LINE or "\x00" in line:
            self.tally.skipped += 1
            return
        match = HEADER.match(line)
        if match is None:
            bar = line.find("| ", 0, 120)          # docker compose: "name    | Jan  4 …"
            match = HEADER.match(line, bar + 2) if bar >= 0 else None
            if match is None:
                self.tally.skipped += 1
                return
        self.tally.postfix += 1
        month, day, hms, iso, zone, program = match.groups()
        if not program.endswith(("/smtpd", "/qmgr")):      # counted, nothing more to learn
            return
        when = self._classic(month, day, hms) if month else self._iso(iso, zone)
        if when is None:
            self.tally.skipped += 1
            return
        if self.since is not None and when < self.since:
            return
        message = line[match.end():].rstrip("\r\n")
        repeats = 1
        if message.startswith("message repeated "):
            repeated = REPEATED.match(message)
            if repeated:
                repeats, message = int(repeated.group(1)), repeated.group(2)
        pid = line[match.end("prog"):match.end()]
        for _ in range(repeats):
            self._message(when, program, pid, message)

    # Timestamps ---------------------------------------------------------------------------------

    def _classic(self, month: str, day: str, hms: str) -> int | None:
        number = MONTHS.get(month)
        if number is None:
            return None
        if self.last_month == 0 and self.dated is not None:
            self.year = self.dated[0] - (number > self.dated[1])
        elif number < self.last_month - 6:      # Dec → Jan: a new year (not a line out of order)
            self.year += 1
        self.last_month = number
        key = f"{self.year} {month} {day} {hms}"
        when = self.times.get(key)
        if when is None:
            hours, minutes, seconds = hms.split(":")
            try:
                when = calendar.timegm((self.year, number, int(day), int(hours), int(minutes),
                                        int(seconds)))
            except (ValueError, OverflowError):
                return None
            self._remember(key, when)
        return when

    def _iso(self, stamp: str, zone: str | None) -> int | None:
        key = stamp + (zone or "")
        when = self.times.get(key)
        if when is None:
            try:
                when = calendar.timegm((int(stamp[0:4]), int(stamp[5:7]), int(stamp[8:10]),
                                        int(stamp[11:13]), int(stamp[14:16]), int(stamp[17:19])))
            except ValueError:
                return None
            if zone and zone != "Z":
                sign = -1 if zone[0] == "+" else 1
                digits = zone[1:].replace(":", "")
                when += sign * (int(digits[:2]) * 3600 + int(digits[2:4]) * 60)
            self._remember(key, when)
        return when

    def _remember(self, key: str, when: int) -> None:
        if len(self.times) > 100_000:          # a cache, not a record of the log
            self.times.clear()
        self.times[key] = when

    # Messages -----------------------------------------------------------------------------------

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

    def _message(self, when: int, program: str, pid: str, message: str) -> None:
        daemon = program.rpartition("/")[2]
        if daemon == "smtpd":
            self._smtpd(when, program, pid, message)
        elif daemon == "qmgr" and ", size=" in message:
            self._queued(message)

    def _smtpd(self, when: int, program: str, pid: str, message: str) -> None:
        session = program + pid
        if message.startswith("connect from "):
            address = client_address(message)
            if not address:                          # cut short
                self.tally.skipped += 1
                return
            self.sink.connect(when, session, self.service(program[:program.rfind("/")]), address)
        elif message.startswith("disconnect from "):
            stats = message[message.find("]") + 1:] + " "
            mail, rcpt, auth, vrfy, tls = (_total(stats, name) for name in COUNTED)
            self.sink.disconnect(when, session, mail, rcpt + vrfy, auth, tls)
        elif message.startswith("warning: "):
            self._warning(when, message[len("warning: "):])
        elif ": client=" in message:
            queue_id, _, rest = message.partition(": client=")
            if len(self.queue) > 200_000:            # ids whose qmgr line never came
                self.queue.clear()
            self.queue[queue_id] = (client_address(rest),
                                    self.service(program[:program.rfind("/")]))

    def _warning(self, when: int, text: str) -> None:
        what, _, rest = text.partition(": ")
        parameter = LIMIT_WARNINGS.get(what)
        if parameter is None:
            return
        service = rest.rpartition(" for service ")[2].split()[0] if " for service " in rest else ""
        self.sink.refused(when, parameter, client_address(rest), service)

    def _queued(self, message: str) -> None:
        queue_id, _, rest = message.partition(": from=")
        where = self.queue.pop(queue_id, None)
        if where is None:
            return
        size = rest.partition(", size=")[2].partition(",")[0]
        if size.isdigit():
            self.sink.message_size(where[0], where[1], int(size))


# Sources ----------------------------------------------------------------------------------------

def _position(stream) -> int:
    """How far into the file (compressed, for gzip) the text stream has read."""
    binary = stream.buffer
    return binary.fileobj.tell() if isinstance(binary, gzip.GzipFile) else binary.tell()


def _reporting(stream: IO[str], report: Callable[[], None]) -> Iterator[str]:
    for number, line in enumerate(stream, 1):
        if number % PROGRESS_LINES == 0:
            report()
        yield line


def rotated_order(paths: list[Path]) -> list[Path]:
    """mail.log.2.gz, mail.log.1, mail.log: the oldest first (a higher number is older)."""
    def age(path: Path) -> tuple:
        name = path.name[:-3] if path.name.endswith(".gz") else path.name
        stem, _, number = name.rpartition(".")
        return (stem, -int(number)) if number.isdigit() and stem else (name, 0)
    return sorted(paths, key=age)


def open_text(path: Path) -> IO[str]:
    with open(path, "rb") as probe:
        magic = probe.read(2)
    raw = gzip.open(path, "rb") if magic == b"\x1f\x8b" else open(path, "rb")
    return io.TextIOWrapper(raw, encoding="utf-8", errors="replace", newline="")


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


def read_stream(reader: LineReader, lines: Iterable[str], name: str, modified: float) -> None:
    reader.tally.sources.append(name)
    reader.start_source(modified)
    lines = iter(lines)
    first = next(lines, None)
    if first is None:
        return
    chained = itertools.chain([first], lines)
    reader.read(journal_lines(chained) if first.startswith("{") else chained)


Progress = Callable[[int, int], None]     # bytes of the files read so far, of all of them
PROGRESS_LINES = 20_000


def read_paths(reader: LineReader, paths: list[str], progress: Progress | None = None) -> None:
    """`--log PATH` values in order (rotated sets sorted oldest first); "-" is standard input."""
    files = rotated_order([Path(p) for p in paths if p != "-"])
    for path in files:
        if not os.access(path, os.R_OK) or not path.is_file():
            why = "no such file" if not path.exists() else "not a readable file"
            raise WizardError(f"cannot read the log {path} ({why}); give a mail log with --log")
    total, done = sum(path.stat().st_size for path in files), 0
    for path in files:
        with open_text(path) as stream:
            lines = _reporting(stream, lambda: progress(done + _position(stream), total)) \
                if progress else stream
            read_stream(reader, lines, str(path), path.stat().st_mtime)
        done += path.stat().st_size
    if "-" in paths:
        stdin = io.TextIOWrapper(sys.stdin.buffer, encoding="utf-8", errors="replace")
        read_stream(reader, stdin, "standard input", time.time())
