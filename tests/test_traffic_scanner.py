"""The log scanners (the C extension wizard/traffic/_scan.c and pyscan.py, each test with each:
conftest's each_scanner) on input nobody planned: whatever the bytes, they never crash, count
every line, and read the same whichever way the bytes are cut."""
from __future__ import annotations

import io

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from wizard.traffic.reading import LineReader
from wizard.traffic.replay import Replay
from wizard.traffic.analysis import Exceptions, summarize

pytestmark = pytest.mark.usefixtures("each_scanner")

STAMPS = ["Mar  9 10:00:01", "Dec 31 23:59:59", "Jan  1 00:00:00", "Foo 1 10:00:00",
          "2026-03-09T10:00:01.055503+01:00", "2026-03-09T10:00:01Z", "2026-13-09T10:00:01",
          "2026-03-09T10:00:01-0200", "2026-03-09T10:00:01.+01:00", ""]
PROGRAMS = ["postfix/smtpd[12]", "postfix/submission/smtpd[7]", "postfix-out/smtpd[3]",
            "postfix/qmgr[9]", "postfix/smtp[4]", "postfix/smtpd[]", "postfix/[1]", "postfix",
            "dovecot[2]"]
MESSAGES = ["connect from a[192.0.2.1]", "connect from a[2001:db8::1]", "connect from a[",
            "connect from unknown[unknown]", "disconnect from a[192.0.2.1] ehlo=1 mail=2/3 "
            "rcpt=1/99999999999999999999 auth=0/1 starttls=1 commands=5",
            "disconnect from a[192.0.2.1]", "disconnect from", "4A7: client=a[192.0.2.1]",
            "4A7: from=<s@x>, size=852804, nrcpt=1", "4A7: from=<s@x>, size=,",
            "warning: Connection rate limit exceeded: 31 from a[192.0.2.1] for service smtp",
            "warning: AUTH command rate limit exceeded: 3 from a[192.0.2.1] for service ",
            "warning: Recipient address rate limit exceeded",
            "message repeated 3 times: [ connect from a[192.0.2.1]]",
            "message repeated 99999999999999 times: [",
            "[ID 197553 mail.info] connect from a[192.0.2.9]"]

line = st.builds(lambda stamp, program, message, junk: f"{stamp} mx {program}: {message}{junk}",
                 st.sampled_from(STAMPS), st.sampled_from(PROGRAMS), st.sampled_from(MESSAGES),
                 st.sampled_from(["", "\r", " ", "]", "\x00", "é", "\udcff"])) \
    .map(lambda text: text.encode("utf-8", "surrogateescape"))
lines = st.lists(st.one_of(line, st.binary(max_size=60)), max_size=40)


def scan(data: bytes, cuts: list[int]) -> tuple:
    replay = Replay(60, 32, 84, frozenset({"smtps"}))
    reader = LineReader(replay, year=2026)
    reader.start_source("test", 1773050400)
    points = sorted({0, len(data), *(c % (len(data) + 1) for c in cuts)})
    reader.read_binary(_Cut(data, points))
    traffic = summarize(replay, reader.tally, Exceptions(["192.0.2.0/24"]))
    clients = sorted((c.service, c.address, c.connections, c.largest_message, c.peaks,
                      tuple(sorted((c.refusals or {}).items())),
                      tuple(tuple(sorted(c.histogram(rate).items())) for rate in
                            ("connection", "message", "recipient", "auth", "tls", "concurrency")))
                     for c in traffic.clients)
    tally = reader.tally
    return clients, tally.lines, tally.postfix, tally.skipped, traffic.first, traffic.last


class _Cut(io.RawIOBase):
    """A stream that hands out its bytes in the pieces given, as a pipe or a slow disk might."""

    def __init__(self, data: bytes, points: list[int]) -> None:
        self.pieces = [data[a:b] for a, b in zip(points, points[1:])]

    def readable(self) -> bool:
        return True

    def readinto(self, buffer) -> int:
        if not self.pieces:
            return 0
        piece = self.pieces.pop(0)
        taken = piece[:len(buffer)]
        if len(taken) < len(piece):
            self.pieces.insert(0, piece[len(taken):])
        buffer[:len(taken)] = taken
        return len(taken)


# each_scanner is function-scoped, and the same scanner for every example: as meant
@settings(max_examples=300, deadline=None,
          suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture])
@given(lines, st.lists(st.integers(min_value=0, max_value=5000), max_size=8))
def test_any_bytes_read_alike_however_they_are_cut(chosen, cuts):
    data = b"\n".join(chosen)
    whole = scan(data, [])
    assert scan(data, cuts) == whole
    assert whole[1] == (data.count(b"\n") + (not data.endswith(b"\n")) if data else 0)
    assert whole[3] <= whole[1]


def test_an_error_in_a_callback_reaches_the_caller_and_nothing_breaks():
    class Failing(Replay):
        def network(self, address: str) -> str:
            raise RuntimeError(f"no network for {address}")

    reader = LineReader(Failing(60))
    with pytest.raises(RuntimeError, match="192.0.2.1"):
        reader.read(["Mar  9 10:00:01 mx postfix/smtpd[1]: connect from a[192.0.2.1]\n"])
    assert reader.tally.lines == 1
