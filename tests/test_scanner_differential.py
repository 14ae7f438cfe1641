"""Issue 21: the two log scanners, the C extension (wizard/traffic/_scan.c) and the pure-Python one
(wizard/traffic/pyscan.py, for servers without a C compiler), read every log alike.

`postfix-wizard traffic --json` (run in this process, on the Debian 12 demo configuration, under
a preset whose limits are all tiny so that `would_refuse` sums every histogram) must print the
same document with either, but for its "scanner" key: on every log of the corpus
(shared/corpus/maillog) and the bundled samples, and on logs Hypothesis writes in every line shape
the reader takes (classic syslog, zero-padded, RFC 3339 with offset, ISO with Z, short-iso,
Solaris' tag, container prefixes, journalctl's JSON), with lines cut anywhere, binary and
invalid UTF-8 bytes, NULs, overlong lines and CRLF endings. The scanners' whole state (every
client's histograms, the figures) is compared too, with and without --since's cut-off.
"""
from __future__ import annotations

import calendar
import contextlib
import io
import json
import os
import time
from pathlib import Path
from unittest import mock

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from conftest import c_scanner_missing
from wizard import cli
from wizard.traffic import FORCE
from wizard.traffic.analysis import Exceptions, summarize
from wizard.traffic.reading import LIMIT_WARNINGS, LineReader, read_paths
from wizard.traffic.replay import RATES, Replay

pytestmark = pytest.mark.skipif(bool(c_scanner_missing()), reason=c_scanner_missing() or "-")

ROOT = Path(__file__).resolve().parents[1]
CORPUS = Path(os.environ.get("POSTFIX_WIZARD_CORPUS")
              or Path(__file__).resolve().parents[2] / "shared" / "corpus") / "maillog"
SAMPLE_LOGS = sorted(p for p in (ROOT / "samples" / "traffic").iterdir() if p.is_file())
CORPUS_LOGS = sorted(p for p in CORPUS.rglob("*") if p.is_file()) if CORPUS.is_dir() else []
TIGHT = """[preset]
name = "tight"
format = 1
[limits]
smtpd_client_connection_rate_limit = 1
smtpd_client_connection_count_limit = 1
smtpd_client_message_rate_limit = 1
smtpd_client_recipient_rate_limit = 2
smtpd_client_auth_rate_limit = 1
smtpd_client_new_tls_session_rate_limit = 1
message_size_limit = 1000
"""


@pytest.fixture(scope="module")
def work(tmp_path_factory) -> Path:
    """A directory for the tight preset and the generated logs (module-wide, for Hypothesis)."""
    where = tmp_path_factory.mktemp("differential")
    (where / "tight.toml").write_text(TIGHT)
    return where


def traffic_json(log: Path, kind: str, preset: Path) -> dict:
    """`postfix-wizard --demo debian12 traffic --log LOG --json --preset PRESET` with one
    scanner forced, parsed; its "scanner" key checked and taken out."""
    out, err = io.StringIO(), io.StringIO()
    with mock.patch.dict(os.environ, {FORCE: kind}), contextlib.redirect_stdout(out), \
            contextlib.redirect_stderr(err):
        status = cli.main(["--demo", "debian12", "traffic", "--log", str(log), "--json",
                           "--preset", str(preset)])
    assert status == 0, err.getvalue()
    data = json.loads(out.getvalue())
    assert data.pop("scanner") == kind
    return data


def same_json(log: Path, preset: Path) -> dict:
    c = traffic_json(log, "c", preset)
    assert traffic_json(log, "python", preset) == c
    return c


@pytest.mark.parametrize("log", SAMPLE_LOGS + (CORPUS_LOGS or [pytest.param(
    None, marks=pytest.mark.skip(reason=f"no mail log corpus at {CORPUS} (set "
                                        f"POSTFIX_WIZARD_CORPUS)"))]),
    ids=lambda p: str(p.relative_to(CORPUS if CORPUS in p.parents else ROOT)) if p else "corpus")
def test_every_real_log_gives_the_same_json_with_either_scanner(log, work):
    data = same_json(log, work / "tight.toml")
    assert data["lines"] > 0


def test_the_comparison_sees_a_difference(work, monkeypatch):
    """The check above can fail: a Python scanner that loses one connection is caught."""
    from wizard.traffic import pyscan
    original = pyscan.Scanner.connected

    def forgetful(self, name, session, message, now):
        if b"[203.0.113.66]" not in message:
            original(self, name, session, message, now)
    monkeypatch.setattr(pyscan.Scanner, "connected", forgetful)
    with pytest.raises(AssertionError):
        same_json(ROOT / "samples" / "traffic" / "mail.log", work / "tight.toml")


# Generated logs ---------------------------------------------------------------------------------

START = calendar.timegm((2025, 12, 31, 23, 58, 0))       # a classic log turns the year


def _at(format: str, when: int) -> str:
    return time.strftime(format, time.gmtime(when))


STAMPS = {   # each shape of stamp the reader takes, and some it must refuse
    "classic": lambda t: _at("%b %e %H:%M:%S", t),
    "zero-padded": lambda t: _at("%b %d %H:%M:%S", t),
    "spaced": lambda t: _at("%b  %e %H:%M:%S", t),                   # one space too many
    "rfc3339": lambda t: _at("%Y-%m-%dT%H:%M:%S", t + 3600) + ".055503+01:00",
    "iso-z": lambda t: _at("%Y-%m-%dT%H:%M:%S", t) + ".150Z",
    "iso-bare-z": lambda t: _at("%Y-%m-%dT%H:%M:%S", t) + "Z",
    "short-iso": lambda t: _at("%Y-%m-%dT%H:%M:%S", t - 7200) + "-0200",
    "no-zone": lambda t: _at("%Y-%m-%dT%H:%M:%S", t),
    "bad-month": lambda t: _at("Foo %e %H:%M:%S", t),
    "month-13": lambda t: _at("%Y-13-%dT%H:%M:%S", t) + "Z",
}
ADDRESSES = ["192.0.2.1", "192.0.2.2", "198.51.100.7", "2001:db8::1", "2001:db8:0:0:1::9",
             "unknown", "", "192.0.2.1]:25", "\udcff\udcfe"]
PROGRAMS = ["postfix/smtpd", "postfix/submission/smtpd", "postfix/smtps/smtpd",
            "postfix-out/smtpd", "postfix/qmgr", "postfix-out/qmgr", "postfix/smtp",
            "postfix/cleanup", "postfix", "postfix/smtpd/", "dovecot", "postfix/\udcffsmtpd"]
QUEUE_IDS = ["4A7B", "4A7C", "12F"]
COUNTERS = ["ehlo", "helo", "mail", "rcpt", "data", "auth", "vrfy", "starttls", "quit",
            "commands", "unknown", "mail/x", "rcpt="]
COUNTS = ["0", "1", "2", "3", "0/1", "1/2", "2/9", "1/2/3", "", "x", "99999999999999999999",
          "1000000001", "7/"]
SERVICES = ["smtp", "submission", "smtps", "", "  smtp", "postfix-out/smtp", "x"]

address = st.one_of(st.sampled_from(ADDRESSES[:2]), st.sampled_from(ADDRESSES))  # clients meet
host = st.sampled_from(["mail.example", "unknown", "h\udcff", ""])
stats = st.one_of(
    st.lists(st.builds("{}={}".format, st.sampled_from(COUNTERS), st.sampled_from(COUNTS)),
             max_size=8).map(" ".join),
    st.builds("ehlo=1 mail={0} rcpt={1}/{2} data={0} quit=1 commands={4} auth={3}".format,
              *(st.integers(0, 9) for _ in range(5))),
    st.builds("ehlo=1 starttls=1 mail={} rcpt={} vrfy={}".format,
              *(st.integers(0, 9) for _ in range(3))))
warning = st.sampled_from([*LIMIT_WARNINGS, "Illegal address syntax", "Connection rate limit"])
message = st.one_of(
    st.builds("connect from {}[{}]".format, host, address),
    st.builds("disconnect from {}[{}] {}".format, host, address, stats),
    st.builds("{}: client={}[{}]{}".format, st.sampled_from(QUEUE_IDS), host, address,
              st.sampled_from(["", ", sasl_method=PLAIN", ":25"])),
    st.builds("{}: from=<a@b.example>, size={}, nrcpt=1 (queue active)".format,
              st.sampled_from(QUEUE_IDS), st.sampled_from(["852804", "12", "", "x", "9" * 20])),
    st.builds("{}: from=<a@b.example>, size={}".format, st.sampled_from(QUEUE_IDS),
              st.sampled_from(["1", "70000,"])),
    st.builds("warning: {}: {} from {}[{}] for service {}".format, warning,
              st.integers(0, 99), host, address, st.sampled_from(SERVICES)),
    st.builds("warning: {}: 3 from {}[{}]".format, warning, host, address),
    st.builds("message repeated {} times: [ {}]".format,
              st.sampled_from(["0", "1", "3", "99999999999999999999", "0" * 20 + "2"]),
              st.sampled_from(["connect from a[192.0.2.1]", "disconnect from a[192.0.2.1] mail=1",
                               "4A7B: client=a[192.0.2.2]"])),
    st.text(max_size=30),
)
DAY = 86400
when = st.one_of(st.integers(-1, 13).map(lambda n: 30 * n),  # around a new year, or months away
                 st.sampled_from([d * DAY for d in (-200, -185, -170, -150, 120, 140, 150, 155,
                                                    170, 185, 200)]))
style = {   # how a line is written: its stamp, any wrapper, a cut, its ending
    "stamp": st.sampled_from(sorted(STAMPS)),
    "wrapper": st.sampled_from(["", "", "", "solaris", "container", "far", "too-far"]),
    "cut": st.one_of(st.none(), st.none(), st.none(), st.integers(0, 200)),
    "end": st.sampled_from(["\n", "\n", "\n", "\r\n", "\r\r\n", "\r"]),
}
event = st.fixed_dictionaries({"when": when,
                               "program": st.sampled_from(PROGRAMS), "pid": st.integers(1, 4),
                               "message": message, **style})
LONG = b"Jan  1 00:00:01 mx postfix/smtpd[9]: connect from a[192.0.2.1] "
junk = st.one_of(st.binary(max_size=80), st.sampled_from(
    [b"", b"\x00\x01 binary \xff\xfe", b"postfix-mailcow_1 | not a line",
     b"Mar  9 10:00:01 mx postfix/smtpd[1]: connect from a[192.0.2.1]\x00",
     *(LONG.ljust(size, b"x") + end for size in (8191, 8192, 8193) for end in (b"", b"\r"))]))


@st.composite
def session(draw, start: int | None = None, program: str | None = None,
            peer: str | None = None) -> list[dict]:
    """One smtpd session as Postfix logs it (connect, client=, qmgr's size, perhaps a limit
    warning, disconnect with its counters), each line in a style of its own."""
    start = draw(when) if start is None else start
    pid = draw(st.integers(1, 4))
    program = program or draw(st.one_of(st.just(PROGRAMS[0]), st.sampled_from(PROGRAMS[:4])))
    peer = peer or f"{draw(host)}[{draw(address)}]"
    queue_id = draw(st.sampled_from(QUEUE_IDS))
    said = [(program, draw(st.sampled_from(["", "", "", "message repeated 2 times: [ ",
                                            "message repeated 000000000000000000002 times: [ "]))
             + f"connect from {peer}")]
    if draw(st.booleans()):
        said += [(program, f"{queue_id}: client={peer}"),
                 ("postfix/qmgr", f"{queue_id}: from=<a@b.example>, size="
                                  f"{draw(st.integers(0, 3_000_000))}, nrcpt=1 (queue active)")]
    if draw(st.booleans()):
        said.append((program, f"warning: {draw(warning)}: 9 from {peer} for service "
                              f"{draw(st.sampled_from(SERVICES))}"))
    said.append((program, f"disconnect from {peer} {draw(stats)}"))
    steps = draw(st.lists(st.sampled_from([0, 1, 2, 30, 59, 60, 61, 120]), min_size=len(said),
                          max_size=len(said)))          # anvil's window: start + 60 < now
    return [{"when": start + sum(steps[:n + 1]), "program": name, "pid": pid, "message": text,
             **draw(st.fixed_dictionaries(style))} for n, (name, text) in enumerate(said)]


def line_bytes(e: dict) -> bytes:
    text = e["message"]
    if e["wrapper"] == "solaris":
        text = f"[ID 197553 mail.info] {text}"
    text = f"{STAMPS[e['stamp']](START + e['when'])} mx {e['program']}[{e['pid']}]: {text}"
    if e["wrapper"] == "container":
        text = f"postfix-mailcow_1    | {text}"
    elif e["wrapper"] in ("far", "too-far"):          # "| " within the first 120 bytes, or not
        text = f"{'c' * (114 if e['wrapper'] == 'far' else 119)}| {text}"
    data = text.encode("utf-8", "surrogateescape")
    if e["cut"] is not None:
        data = data[:e["cut"]]
    return data + e["end"].encode()


def journal_bytes(e: dict) -> bytes:
    """journalctl -o json: MESSAGE as text, or as journald's list of bytes for invalid UTF-8."""
    raw = e["message"].encode("utf-8", "surrogateescape")
    try:
        shown = raw.decode("utf-8")
    except UnicodeDecodeError:
        shown = list(raw)
    entry = {"__REALTIME_TIMESTAMP": str((START + e["when"]) * 1_000_000 + 123),
             "SYSLOG_IDENTIFIER": e["program"].encode("utf-8", "surrogateescape").decode(
                 "utf-8", "replace"), "_PID": str(e["pid"]), "MESSAGE": shown}
    if e["cut"] is not None and e["cut"] < 20:
        del entry["MESSAGE"]                                 # not an entry the reader takes
    return json.dumps(entry).encode() + b"\n"


@st.composite
def burst(draw) -> list[dict]:
    """Sessions of one client a step apart, the steps on either side of anvil's window edge
    (start + 60 < now): its peaks and histograms depend on where each window starts."""
    start, program, peer = draw(when), draw(st.sampled_from(PROGRAMS[:4])), "c[192.0.2.9]"
    steps = draw(st.lists(st.sampled_from([0, 1, 30, 59, 60, 61]), min_size=1, max_size=6))
    return [e for n in range(len(steps) + 1)
            for e in draw(session(start + sum(steps[:n]), program, peer))]


@st.composite
def logs(draw) -> bytes:
    """Sessions (interleaved by their times, or not) and single lines of any kind; a quarter of
    them as journalctl's JSON, the rest as log lines with junk among them."""
    events = [e for group in draw(st.lists(st.one_of(session(), burst(),
                                                     event.map(lambda e: [e])), max_size=12))
              for e in group]
    if draw(st.booleans()):
        events.sort(key=lambda e: e["when"])
    shape = draw(st.sampled_from([None, *sorted(STAMPS)]))   # one shape for the whole log, or not
    if shape:
        events = [{**e, "stamp": shape} for e in events]
    if draw(st.integers(0, 3)) == 0:
        return b"".join(journal_bytes(e) for e in events) + draw(st.sampled_from(
            [b"", b"not json\n", b"{\"broken\": \n"]))
    lines = [line_bytes(e) for e in events]
    for at, text in draw(st.lists(st.tuples(st.integers(0, 60), junk), max_size=4)):
        lines.insert(at, text + b"\n")
    data = b"".join(lines)
    return data[:-1] if draw(st.booleans()) else data      # a last line without its newline


def scanner_state(path: Path, kind: str, since: int | None) -> tuple:
    """Everything the scanner counted, read the way `traffic` reads: the clients' figures and
    every histogram, the sums the wizard's fields use, and the line counts."""
    with mock.patch.dict(os.environ, {FORCE: kind}):
        replay = Replay(60, 32, 84, frozenset({"smtps"}))
        reader = LineReader(replay, year=2025)
        reader.since = since
        read_paths(reader, [str(path)])
    assert reader.kind == kind
    traffic = summarize(replay, reader.tally, Exceptions([]))
    kinds = (*RATES, "concurrency")
    clients = [(c.service, c.address, c.connections, c.largest_message, c.peaks, c.refusals,
                [c.histogram(rate) for rate in kinds]) for c in traffic.clients]
    numbers = [c.number for c in traffic.clients]
    summed = [replay.scanner.summed(numbers, k) for k in range(len(kinds))] if numbers else []
    tally = reader.tally
    return clients, summed, tally.lines, tally.postfix, tally.skipped, traffic.first, traffic.last


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(data=logs(), written=st.sampled_from([START + 3600, START - 40 * 86400]),
       since=st.one_of(st.none(), st.integers(START - 60, START + 400)))
def test_generated_logs_give_the_same_json_and_state_with_either_scanner(work, data, written,
                                                                         since):
    log = work / "mail.log"
    log.write_bytes(data)
    os.utime(log, (written, written))               # the first file's date gives classic years
    same_json(log, work / "tight.toml")
    assert scanner_state(log, "python", since) == scanner_state(log, "c", since)


def test_the_generated_logs_reach_every_branch(work):
    """The strategies above do make clients, refusals, sizes and skipped lines: one fixed
    example, in the shapes the generator draws from, read by both."""
    events = [dict(when=when, stamp=stamp, program=program, pid=1, message=text, wrapper="",
                   cut=None, end="\r\n")
              for when, stamp, program, text in [
                  (0, "classic", "postfix/smtpd", "connect from a[192.0.2.1]"),
                  (1, "rfc3339", "postfix/smtpd", "4A7B: client=a[192.0.2.1]"),
                  (2, "short-iso", "postfix/qmgr", "4A7B: from=<a@b.example>, size=852804, "
                                                   "nrcpt=1 (queue active)"),
                  (3, "iso-z", "postfix/smtpd", "warning: Connection rate limit exceeded: 3 "
                                                "from a[192.0.2.1] for service smtp"),
                  (130, "zero-padded", "postfix/smtpd", "disconnect from a[192.0.2.1] mail=2 "
                                                        "rcpt=1/3 auth=0/2 starttls=1")]]
    log = work / "branches.log"
    log.write_bytes(b"".join(map(line_bytes, events)) + b"\xff junk\n")
    os.utime(log, (START + 3600, START + 3600))
    data = same_json(log, work / "tight.toml")
    (client,) = data["clients"]
    assert (client["connections"], client["largest_message"], client["recipient_rate_peak"],
            client["refusals_logged"], data["skipped_lines"]) == \
        (1, 852804, 3, {"smtpd_client_connection_rate_limit": 1}, 1)
