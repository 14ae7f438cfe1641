"""The traffic reader's scanner in plain Python, for servers where the C one cannot be built.

The C extension (_scan.c) is the fast path; it is optional (setup.py), because a server may have
no C compiler or no Python headers, and `pip install` must still give a working `traffic`. This
module is that fallback: the same class, `Scanner`, with the same methods, arguments, errors and
results, parsing each line and counting as anvil does exactly as _scan.c does (each function
here is named after the one it follows there; what a line may look like is documented in
reading.py, the counting in replay.py). It takes about 14 times the C one's time and twice its
memory (the README's benchmark: 19 s for 2,000,000 lines);
wizard/traffic/__init__.py chooses between the two, and tests/test_scanner_differential.py holds
them to the same `traffic --json` on real and generated logs.
"""

from __future__ import annotations

import operator
import re

RATES = 5                   # connection, message, recipient (with VRFY), auth, tls
CONCURRENCY = RATES         # the histogram after the rates'
MAX_LINE = 8192
CACHE_LIMIT = 200000        # entries in a lookup cache before it is cleared
STAMPS_KEPT = 10000         # parsed stamps kept (a log's lines share their seconds)
MAX_REPEATS = 100000        # "message repeated N times": N is capped here
MAX_COUNTED = 1000000000    # a disconnect line's counter is capped here
UINT32 = 0xFFFFFFFF         # a histogram's values and times (uint32_t in _scan.c)
MONTHS = {name: number for number, name in enumerate(
    (b"Jan", b"Feb", b"Mar", b"Apr", b"May", b"Jun", b"Jul", b"Aug", b"Sep", b"Oct", b"Nov",
     b"Dec"), 1)}
_MISSING = object()

# `header` in _scan.c: a stamp (group 1: RFC 3339, groups 2-10, or classic syslog, groups 11-15),
# " host ", the program (group 16: postfix[\w.+-]*(/[\w.+-]+)*), "[pid]: " and Solaris'
# "[ID n facility] ". Each part is matched greedily, as the C code scans it, so no backtracking
# finds another parse.
_ISO = rb"(\d{4})-(\d\d)-(\d\d)T(\d\d):(\d\d):(\d\d)(?:\.\d+)?(?:Z|([+-])(\d\d):?(\d\d))?"
_CLASSIC = rb"([A-Z][a-z][a-z])  ?(\d\d?) (\d\d):(\d\d):(\d\d)"
HEADER = re.compile(rb"(" + _ISO + rb"|" + _CLASSIC + rb") [^\s]+ "
                    rb"(postfix[\w.+-]*(?:/[\w.+-]+)*)\[\d+\]: (?:\[ID \d+ [\w.]+\] )?")
REPEATED = re.compile(rb"message repeated (\d+) times: \[ ?")
DIGITS = re.compile(rb"\d{1,18}")


def number(text: bytes) -> int:
    """An unsigned decimal of all of text (at most 18 digits), or -1."""
    return int(text) if DIGITS.fullmatch(text) else -1


def client_address(text: bytes) -> bytes:
    """`name[addr]` or `name[addr]:port` (and any junk after) → addr; empty when there is none."""
    start = text.find(b"[")
    if start < 0:
        return b""
    end = text.find(b"]", start + 1)
    return text[start + 1:end] if end > start else b""


def days_from_civil(year: int, month: int) -> int:
    """Days from 1970-01-01 to the first of the month (proleptic Gregorian)."""
    year -= month <= 2
    era = year // 400
    yoe = year - era * 400
    doy = (153 * (month + (-3 if month > 2 else 9)) + 2) // 5
    return era * 146097 + yoe * 365 + yoe // 4 - yoe // 100 + doy - 719468


class _Client:
    """One (service, network), as anvil counts it (`Client` in _scan.c)."""
    __slots__ = ("service", "network", "refusals", "start", "largest", "seen", "connections",
                 "open", "counts", "peaks", "histograms", "same_network", "wrapped")

    def __init__(self, service, network, same_network: int, wrapped: bool) -> None:
        self.service, self.network = service, network
        self.refusals: dict | None = None
        self.start = -1                         # the current window's start; -1 before the first
        self.largest = self.seen = self.connections = self.open = 0
        self.counts = [0] * RATES
        self.peaks = [0] * (RATES + 1)
        self.histograms: list[dict[int, int]] = [{} for _ in range(RATES + 1)]
        self.same_network = same_network        # the next client with this network, or -1
        self.wrapped = wrapped


def parse_stamp(header: re.Match) -> tuple[int | None, int, int] | None:
    """A header's stamp as year (None for a classic stamp, which has none), month, and seconds
    from the month's start (the zone's offset in them); None for a month that is none."""
    if header.group(11) is not None:                          # classic: no year, no zone
        month = MONTHS.get(header.group(11), 0)
        year, offset = None, 0
        day, hour, minute, second = (int(header.group(g)) for g in (12, 13, 14, 15))
    else:
        month = int(header.group(3))
        year, day, hour, minute, second = (int(header.group(g)) for g in (2, 4, 5, 6, 7))
        zone = header.group(8)
        offset = 0 if zone is None else \
            (int(header.group(9)) * 3600 + int(header.group(10)) * 60) * (-1 if zone == b"+"
                                                                          else 1)
    if not 1 <= month <= 12:
        return None
    return year, month, (day - 1) * 86400 + hour * 3600 + minute * 60 + second + offset


def tally(histogram: dict[int, int], value: int, times: int) -> None:
    value = value if value < UINT32 else UINT32
    histogram[value] = (histogram.get(value, 0) + times) & UINT32


def close_window(client: _Client) -> None:
    counts, peaks, histograms = client.counts, client.peaks, client.histograms
    for kind in range(RATES):
        n = counts[kind]
        if n:
            tally(histograms[kind], n, 1)
            if n > peaks[kind]:
                peaks[kind] = n
            counts[kind] = 0


class Scanner:
    """Postfix log lines in (feed), anvil's counting per client out (finish)."""

    def __init__(self, unit, service_of, network_of, warnings, counted, wrapped) -> None:
        if not isinstance(warnings, dict) or not isinstance(counted, tuple):
            raise TypeError("Scanner: warnings must be a dict and counted a tuple")
        self.unit = operator.index(unit)
        self.service_of, self.network_of = service_of, network_of
        self.wrapped = frozenset(wrapped)
        if len(counted) != 5:
            raise ValueError("counted: five names")
        names = []
        for name in counted:
            encoded = str.encode(name, "utf-8") if isinstance(name, str) else None
            if encoded is None or len(encoded) >= 16:
                raise ValueError("counted: names of 1 to 15 bytes")
            names.append(encoded)
        self.counted = names
        # `totals`: a counter is a space, its name, "=" and a value up to the next space; a name
        # with a space or "=" in it can never be one.
        usable = [re.escape(name) for name in names if name and b" " not in name and
                  b"=" not in name]
        self.counters = re.compile(rb" (" + b"|".join(usable) + rb")=([^ ]*)") if usable else None
        self.warnings = {str.encode(what, "utf-8"): parameter for what, parameter in
                         warnings.items()}
        self.services: dict[bytes, object] = {}     # syslog name → service (a cache)
        self.clients: list[_Client] = []
        self.by_key: dict[tuple[bytes, bytes], int] = {}   # (service, network) → client
        self.networks: dict[bytes, int] = {}        # network → its newest client
        self.by_raw: dict[tuple[bytes, bytes], int] = {}   # (syslog name, address) → client
        self.sessions: dict[bytes, int] = {}        # "program[pid]: " → the session's client
        self.queue: dict[bytes, int] = {}           # queue id → the client that sent it
        self.tick = 0
        self.since: int | None = None
        self.first = self.last = 0
        self.has_first = self.finished = False
        self.year = self.dated_year = self.dated_month = self.last_month = 0
        self.lines = self.postfix = self.skipped = 0
        self.days: dict[tuple[int, int], int] = {}   # (year, month) → days_from_civil
        self.stamps: dict[bytes, tuple | None] = {}      # stamp → parsed (`parse_stamp`)

    # The lines ------------------------------------------------------------------------------

    def feed(self, data, end: int = -1) -> None:
        """Read the lines in data[:end]: bytes, or a bytearray (the reader's buffer)."""
        if self.finished:
            raise RuntimeError("the scanner has finished: no more lines")
        end = operator.index(end)
        if isinstance(data, bytearray):
            data = bytes(memoryview(data)[:end] if 0 <= end < len(data) else data)
        elif isinstance(data, bytes):
            data = data[:end] if 0 <= end < len(data) else data
        else:
            raise TypeError("feed: bytes or a bytearray")
        lines = data.split(b"\n")
        if not lines[-1]:
            lines.pop()                 # after the last newline: no line
        cr = b"\r" in data
        line = self.line
        for text in lines:
            line(text[:-1] if cr and text[-1:] == b"\r" else text)

    def line(self, text: bytes) -> None:
        self.lines += 1
        if len(text) > MAX_LINE or b"\0" in text:
            self.skipped += 1
            return
        header = HEADER.match(text)
        if header is None:                                   # docker compose: "name | line"
            bar = text.find(b"| ", 0, 120)
            if bar >= 0 and bar + 2 < len(text):
                header = HEADER.match(text, bar + 2)
            if header is None:
                self.skipped += 1
                return
        self.postfix += 1
        program = header.group(16)
        if program.endswith(b"/smtpd"):
            said = self.smtpd
        elif program.endswith(b"/qmgr"):
            said = self.qmgr
        else:
            return                                           # counted, nothing more to learn
        stamp = header.group(1)
        parsed = self.stamps.get(stamp, _MISSING)
        if parsed is _MISSING:
            if len(self.stamps) > STAMPS_KEPT:
                self.stamps.clear()
            parsed = self.stamps[stamp] = parse_stamp(header)
        now = self.when(*parsed) if parsed is not None else None
        if now is None:
            self.skipped += 1
            return
        if self.since is not None and now < self.since:
            return
        end = header.end()
        session = text[header.start(16):end]
        message = text[end:].rstrip(b"\r\n")
        times = 1
        if message.startswith(b"message repeated "):
            times, message = self.repeats(message)
        name = program[:program.rfind(b"/")]
        for _ in range(times):
            said(name, session, message, now)

    @staticmethod
    def repeats(message: bytes) -> tuple[int, bytes]:
        """"message repeated 3 times: [ text]" → 3 and text; else 1 and the message."""
        repeated = REPEATED.match(message)
        if repeated is None:
            return 1, message
        digits, start = repeated.group(1), repeated.end()
        times = int(digits) if len(digits) <= 18 else MAX_REPEATS
        stop = len(message) - 1 if len(message) > start and message.endswith(b"]") else \
            len(message)
        return min(times, MAX_REPEATS), message[start:stop]

    # Time -----------------------------------------------------------------------------------

    def when(self, year: int | None, month: int, seconds: int) -> int:
        """A parsed stamp's time in epoch seconds: a classic one's year (None) inferred."""
        if year is None:
            year = self.classic_year(month)
        days = self.days.get((year, month))
        if days is None:
            days = self.days[year, month] = days_from_civil(year, month)
        return days * 86400 + seconds

    def classic_year(self, month: int) -> int:
        """The first file's date gives the first line's year; each Dec → Jan turn after it
        adds one (a line out of order by a month or two does not)."""
        if self.last_month == 0 and self.dated_year:
            self.year = self.dated_year - (month > self.dated_month)
        elif month < self.last_month - 6:
            self.year += 1
        self.last_month = month
        return self.year

    # What smtpd and qmgr said ---------------------------------------------------------------

    def smtpd(self, name: bytes, session: bytes, message: bytes, now: int) -> None:
        if message.startswith(b"connect from "):
            self.connected(name, session, message, now)
        elif message.startswith(b"disconnect from "):
            self.disconnected(session, message, now)
        elif message.startswith(b"warning: "):
            self.warned(message[9:])
        else:
            at = message.find(b": client=")
            if at >= 0:
                index = self.client_named(name, client_address(message[at + 9:]))
                cache_put(self.queue, message[:at], index)

    def qmgr(self, name: bytes, session: bytes, message: bytes, now: int) -> None:
        if b", size=" not in message:
            return
        at = message.find(b": from=")
        index = self.queue.pop(message if at < 0 else message[:at], None)
        if index is None:
            return
        rest = b"" if at < 0 else message[at + 7:]
        at = rest.find(b", size=")
        size = b"" if at < 0 else rest[at + 7:]
        size = size.partition(b",")[0]
        client = self.clients[index]
        client.largest = max(client.largest, number(size))

    def connected(self, name: bytes, session: bytes, message: bytes, now: int) -> None:
        address = client_address(message)
        if not address:                                       # cut short
            self.skipped += 1
            return
        if not self.has_first:
            self.first, self.has_first = now, True
        self.last = now
        earlier = self.sessions.get(session)
        if earlier is not None:                               # its disconnect line is missing
            self.clients[earlier].open = max(self.clients[earlier].open - 1, 0)
        index = self.client_named(name, address)
        client = self.clients[index]
        client.connections += 1
        self.count(client, now, 0, 1)
        if client.wrapped:
            self.count(client, now, RATES - 1, 1)
        client.open += 1
        if client.open > client.peaks[CONCURRENCY]:
            client.peaks[CONCURRENCY] = client.open
        tally(client.histograms[CONCURRENCY], client.open, 1)
        self.sessions[session] = index

    def disconnected(self, session: bytes, message: bytes, now: int) -> None:
        self.last = now
        index = self.sessions.pop(session, None)
        if index is None:                                     # its connect came before the log
            return
        client = self.clients[index]
        client.open = max(client.open - 1, 0)
        mail, rcpt, auth, vrfy, starttls = self.totals(message[message.find(b"]") + 1:])
        for kind, events in ((1, mail), (2, rcpt + vrfy), (3, auth), (4, starttls)):
            if events:
                self.count(client, now, kind, events)

    def totals(self, stats: bytes) -> list[int]:
        """" ehlo=1 mail=1 rcpt=0/1 ..." → the total T of each `name=S/T` (or `name=T`) of
        `counted`, the first of each; 0 when absent."""
        found: dict[bytes, int] = {}
        if self.counters is not None:
            for name, value in self.counters.findall(stats):
                if name not in found:
                    n = number(value[value.rfind(b"/") + 1:])
                    found[name] = 0 if n < 0 else min(n, MAX_COUNTED)
        return [found.get(name, 0) for name in self.counted]

    def warned(self, text: bytes) -> None:
        """"Connection rate limit exceeded: 31 from name[addr] for service smtp". The warning
        names master.cf's service, which the syslog name may not show: the client is the one of
        that service and network, else the last seen at the network, else a new one."""
        what, colon, rest = text.partition(b": ")
        parameter = self.warnings.get(what, _MISSING)
        if parameter is _MISSING:
            return
        named = b""
        at = rest.rfind(b" for service ")
        if at >= 0:
            named = (rest[at + 13:].split(None, 1) or [b""])[0]
        address = client_address(rest).decode("utf-8", "replace")
        net: bytes | None = str.encode(self.network_of(address), "utf-8")
        index = -1
        if len(net) > 2 * MAX_LINE - len(named):
            net = None                                        # a network no line could name
        if net is not None:
            index = self.by_key.get((named, net), -1)
            if index < 0:
                index = self.last_at(net)
            if index < 0:
                index = self.client(named.decode("utf-8", "replace") if named else "smtp",
                                    address)
        if index >= 0:
            client = self.clients[index]
            if client.refusals is None:
                client.refusals = {}
            client.refusals[parameter] = client.refusals.get(parameter, 0) + 1

    # Clients and anvil's counting -----------------------------------------------------------

    def count(self, client: _Client, now: int, kind: int, n: int) -> None:
        """An event at `now` first closes the window when start + unit < now, then counts."""
        if client.start < 0 or client.start + self.unit < now:
            close_window(client)
            client.start = now
        client.counts[kind] += n

    def client(self, service, address: str) -> int:
        """The client anvil counts for (service, address): created when new."""
        network = self.network_of(address)
        name, net = str.encode(service, "utf-8"), str.encode(network, "utf-8")
        if len(name) + len(net) > 2 * MAX_LINE:
            raise ValueError("a service or network name too long")
        index = self.by_key.get((name, net))
        if index is None:
            index = len(self.clients)
            wrapped = service in self.wrapped
            self.by_key[name, net] = index
            self.clients.append(_Client(service, network, self.networks.get(net, -1), wrapped))
            self.networks[net] = index
        self.tick += 1
        self.clients[index].seen = self.tick
        return index

    def service(self, name: bytes):
        found = self.services.get(name, _MISSING)
        if found is _MISSING:
            found = self.services[name] = self.service_of(name.decode("utf-8", "replace"))
        return found

    def client_named(self, name: bytes, address: bytes) -> int:
        """The client of a syslog name (postfix/submission) and an address, as logged."""
        index = self.by_raw.get((name, address))
        if index is not None:
            self.tick += 1
            self.clients[index].seen = self.tick
            return index
        index = self.client(self.service(name), address.decode("utf-8", "replace"))
        cache_put(self.by_raw, (name, address), index)
        return index

    def last_at(self, net: bytes) -> int:
        """The client last seen at a network, or -1."""
        index, found = self.networks.get(net, -1), -1
        while index >= 0:
            if found < 0 or self.clients[index].seen > self.clients[found].seen:
                found = index
            index = self.clients[index].same_network
        return found

    # The end, and what is asked of it -------------------------------------------------------

    def finish(self) -> list[tuple]:
        """Close every window; the clients, each as a tuple: service, network, connections,
        largest message, peaks (connection, message, recipient, auth, tls, concurrency),
        refusals (a dict or None), and its number for `histogram`."""
        for lookup in (self.by_key, self.networks, self.by_raw, self.sessions, self.queue):
            lookup.clear()
        self.finished = True
        found = []
        for index, client in enumerate(self.clients):
            close_window(client)
            found.append((client.service, client.network, client.connections, client.largest,
                          tuple(client.peaks), client.refusals, index))
        return found

    def histogram(self, index: int, kind: int) -> dict[int, int]:
        """One client's histogram: kind 0-4 the rates' windows (events → windows), 5 the
        sessions open at its connects (open → times)."""
        if not 0 <= index < len(self.clients) or not 0 <= kind <= RATES:
            raise IndexError("no such client or histogram")
        return dict(self.clients[index].histograms[kind])

    def summed(self, numbers, kind: int) -> dict[int, int]:
        """The histograms of kind `kind` of the clients numbered in `numbers`, summed."""
        if not 0 <= kind <= RATES:
            raise IndexError("no such histogram")
        total: dict[int, int] = {}
        for index in numbers:
            if not 0 <= index < len(self.clients):
                raise IndexError("no such client")
            for value, times in self.clients[index].histograms[kind].items():
                tally(total, value, times)
        return total

    def date(self, year: int, month: int) -> None:
        """The first file's (year, month)."""
        if not self.dated_year:
            self.dated_year, self.dated_month = operator.index(year), operator.index(month)

    def figures(self) -> dict:
        """Lines read, skipped; first, last."""
        return {"lines": self.lines, "postfix": self.postfix, "skipped": self.skipped,
                "first": self.first if self.has_first else None,
                "last": self.last if self.has_first else None}

    def set_since(self, when: int | None) -> None:
        """Pass over lines before this time."""
        self.since = None if when is None else operator.index(when)

    def set_year(self, year: int) -> None:
        """The year before any file's date."""
        self.year = operator.index(year)


def cache_put(cache: dict, key, value: int) -> None:
    """A cache is emptied when it grows past CACHE_LIMIT: it holds lookups, not the log."""
    if len(cache) > CACHE_LIMIT:
        cache.clear()
    cache[key] = value
