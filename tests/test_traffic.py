"""Issue 12: reading Postfix's logs and replaying anvil's counting (wizard/traffic/).

Synthetic logs with known answers, written in every timestamp shape the reader takes, rotated
and gzipped, with junk mixed in; and every real log in shared/corpus/maillog, each connection
counted. Every test runs with each log scanner (the C extension and pyscan.py: conftest's
each_scanner).
"""
from __future__ import annotations

import calendar
import gzip
import json
import os
import re
import time
from pathlib import Path

import subprocess
import sys

import pytest
import wizard_process

from wizard.traffic.reading import LineReader, read_paths
from wizard.traffic.replay import PARAMETERS, Replay
from wizard.traffic.analysis import RATE_OF, Exceptions, summarize

CORPUS = Path(__file__).resolve().parents[2] / "shared" / "corpus" / "maillog"
START = calendar.timegm((2026, 3, 9, 10, 0, 0))
ROOT = Path(__file__).resolve().parents[1]

pytestmark = pytest.mark.usefixtures("each_scanner")


# Synthetic traffic with known answers ------------------------------------------------------------

def session(when: int, pid: int, address: str, mail: int = 0, rcpt: int = 0, auth: int = 0,
            length: int = 2, program: str = "postfix/smtpd") -> list[tuple[int, str, str]]:
    stats = " ".join(f"{name}={count}" for name, count in
                     (("ehlo", 1), ("auth", auth), ("mail", mail), ("rcpt", rcpt)) if count)
    return [(when, f"{program}[{pid}]", f"connect from host.example[{address}]"),
            (when + length, f"{program}[{pid}]",
             f"disconnect from host.example[{address}] {stats} commands={1 + mail + rcpt}")]


def known_traffic() -> list[tuple[int, str, str]]:
    """A: 5 connections in 20 s, each MAIL 2 and RCPT 3, two of them open at once; then a quiet
    minute and one more. B: one connection with 2 AUTH. C (IPv6, submission): 3 connections a
    second apart, each 2 s long (two open at once)."""
    events = []
    for index in range(5):
        events += session(START + 5 * index, 100 + index, "192.0.2.10", mail=2, rcpt=3,
                          length=6 if index == 1 else 2)
    events += session(START + 200, 110, "192.0.2.10", mail=1, rcpt=1)
    events += session(START + 30, 120, "198.51.100.7", auth=2)
    for index in range(3):
        events += session(START + 40 + index, 130 + index, "2001:db8::25", mail=1, rcpt=1,
                          program="postfix/submission/smtpd")
    return sorted(events, key=lambda e: e[0])


EXPECTED = {  # (service, client): connections, conn/w, open, mail/w, rcpt/w, auth/w
    ("smtp", "192.0.2.10"): (6, 5, 2, 10, 15, 0),
    ("smtp", "198.51.100.7"): (1, 1, 1, 0, 0, 2),
    ("submission", "2001:db8::25"): (3, 3, 2, 3, 3, 0),
}


def classic(when: int, program: str, message: str) -> str:
    return time.strftime("%b %e %H:%M:%S", time.gmtime(when)) + f" mx {program}: {message}\n"


def zero_padded(when: int, program: str, message: str) -> str:       # maillog_file, journal short
    return time.strftime("%b %d %H:%M:%S", time.gmtime(when)) + f" mx {program}: {message}\n"


def rfc3339(when: int, program: str, message: str) -> str:           # Debian 12's rsyslog
    return time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(when + 3600)) + \
        f".055503+01:00 mx {program}: {message}\n"


def iso_z(when: int, program: str, message: str) -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(when)) + f".150Z mx {program}: {message}\n"


def short_iso(when: int, program: str, message: str) -> str:         # journalctl -o short-iso
    return time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(when - 7200)) + \
        f"-0200 mx {program}: {message}\n"


def solaris(when: int, program: str, message: str) -> str:
    return classic(when, program, f"[ID 197553 mail.info] {message}")


def container(when: int, program: str, message: str) -> str:
    return "postfix-mailcow_1    | " + classic(when, program, message)


def journal_json(when: int, program: str, message: str) -> str:
    name, pid = program[:-1].split("[")
    return json.dumps({"__REALTIME_TIMESTAMP": str(when * 1_000_000 + 123),
                       "SYSLOG_IDENTIFIER": name, "_PID": pid, "MESSAGE": message}) + "\n"


SHAPES = [classic, zero_padded, rfc3339, iso_z, short_iso, solaris, container, journal_json]
JUNK = ["Mar  9 10:00:01 mx kernel: [ 12.345] eth0: link up\n",
        "Mar  9 10:00:01 mx postfix/smtpd[1]: connect from cut-off-here\n",
        "\x00\x01\x02 binary \xff\n", "x" * 20000 + "\n", "not a log line at all\n",
        "Mar  9 10:00:02 mx dovecot: auth: Error: something\n"]


def write_log(path: Path, shape, events, junk: bool = True) -> Path:
    lines = [shape(*event) for event in events]
    if junk and shape is not journal_json:
        for index, text in enumerate(JUNK):
            lines.insert(index * 3, text)
    path.write_text("".join(lines), encoding="utf-8", errors="surrogateescape")
    os.utime(path, (START + 3600, START + 3600))
    return path


def read(paths: list[Path]):
    replay = Replay(60)
    reader = LineReader(replay)
    read_paths(reader, [str(p) for p in paths])
    return summarize(replay, reader.tally, Exceptions([])), reader.tally


def figures(traffic) -> dict:
    return {(c["service"], c["client"]): (c["connections"], c["connection_rate_peak"],
                                          c["concurrency_peak"], c["message_rate_peak"],
                                          c["recipient_rate_peak"], c["auth_rate_peak"])
            for c in traffic.to_json()["clients"]}


@pytest.mark.parametrize("shape", SHAPES, ids=lambda s: s.__name__)
def test_every_shape_gives_the_known_answers(tmp_path, shape):
    traffic, tally = read([write_log(tmp_path / "mail.log", shape, known_traffic())])
    assert figures(traffic) == EXPECTED
    if shape is not journal_json:
        assert tally.skipped == len(JUNK)         # each counted, none a crash


def test_a_rotated_gzipped_set_reads_as_one_log(tmp_path):
    events = known_traffic()
    cut = [events[:7], events[7:15], events[15:]]
    write_log(tmp_path / "mail.log.2", classic, cut[0])
    with open(tmp_path / "mail.log.2", "rb") as plain, \
            gzip.open(tmp_path / "mail.log.2.gz", "wb") as packed:
        packed.write(plain.read())
    os.utime(tmp_path / "mail.log.2.gz", (START + 3600, START + 3600))
    (tmp_path / "mail.log.2").unlink()
    write_log(tmp_path / "mail.log.1", rfc3339, cut[1])
    write_log(tmp_path / "mail.log", classic, cut[2])
    given = [tmp_path / "mail.log", tmp_path / "mail.log.2.gz", tmp_path / "mail.log.1"]
    traffic, _ = read(given)
    assert figures(traffic) == EXPECTED


def test_rsyslog_repeats_are_counted_as_often_as_they_happened(tmp_path):
    line = classic(START, "postfix/smtpd[7]", "connect from a[192.0.2.1]")
    repeat = classic(START + 1, "postfix/smtpd[8]",
                     "message repeated 4 times: [ connect from a[192.0.2.1]]")
    (tmp_path / "log").write_text(line + repeat)
    traffic, _ = read([tmp_path / "log"])
    assert figures(traffic)[("smtp", "192.0.2.1")][0] == 5


def test_a_log_across_new_year_keeps_its_order(tmp_path):
    december = calendar.timegm((2025, 12, 31, 23, 59, 30))
    events = session(december, 1, "192.0.2.1", length=5) + session(december + 45, 2, "192.0.2.1")
    path = write_log(tmp_path / "log", classic, events, junk=False)
    os.utime(path, (december + 3600, december + 3600))          # written in January
    traffic, _ = read([path])
    client = traffic.clients[0]
    assert traffic.first == december and traffic.last == december + 47
    assert client.peak("connection") == 2                     # one window, not a year apart


@pytest.mark.parametrize("gap, windows", [(60, 1), (61, 2)])
def test_the_window_is_fixed_and_whole_seconds_as_anvil_counts(tmp_path, gap, windows):
    """anvil resets when start + unit < now: an event at exactly start + 60 is still in."""
    events = session(START, 1, "192.0.2.1", length=1) + session(START + gap, 2, "192.0.2.1",
                                                                length=1)
    traffic, _ = read([write_log(tmp_path / "log", classic, events, junk=False)])
    assert traffic.clients[0].peak("connection") == (2 if windows == 1 else 1)


def test_limits_refuse_what_anvil_would(tmp_path):
    traffic, _ = read([write_log(tmp_path / "log", classic, known_traffic(), junk=False)])
    refused = {(r["parameter"], r["client"]): r["times"] for r in traffic.would_refuse({
        "smtpd_client_connection_rate_limit": 3, "smtpd_client_message_rate_limit": 8,
        "smtpd_client_connection_count_limit": 1, "smtpd_client_auth_rate_limit": 2})}
    assert refused == {("smtpd_client_connection_rate_limit", "192.0.2.10"): 2,
                       ("smtpd_client_message_rate_limit", "192.0.2.10"): 2,
                       ("smtpd_client_connection_count_limit", "192.0.2.10"): 1,
                       ("smtpd_client_connection_count_limit", "2001:db8::25"): 2}


def test_excepted_clients_are_shown_but_never_limited(tmp_path):
    path = write_log(tmp_path / "log", classic, known_traffic(), junk=False)
    replay = Replay(60)
    reader = LineReader(replay)
    read_paths(reader, [str(path)])
    traffic = summarize(replay, reader.tally, Exceptions(["192.0.2.0/24", "[2001:db8::]/32",
                                                          "!198.51.100.7", "hash:/etc/x"]))
    clients = {c["client"]: c["excepted"] for c in traffic.to_json()["clients"]}
    assert clients == {"192.0.2.10": True, "2001:db8::25": True, "198.51.100.7": False}
    assert not traffic.would_refuse({"smtpd_client_connection_rate_limit": 1})
    assert traffic.suggestions()["smtpd_client_auth_rate_limit"] == 10     # from 198.51.100.7
    assert "smtpd_client_message_rate_limit" not in traffic.suggestions()
    assert any("hash:/etc/x" in note for note in traffic.notes)


def test_the_json_keeps_its_documented_names(tmp_path):
    traffic, _ = read([write_log(tmp_path / "log", classic, known_traffic())])
    data = traffic.to_json({"smtpd_client_connection_rate_limit": 3})
    assert {"window_seconds", "clients", "suggestions", "would_refuse"} <= set(data)
    assert data["window_seconds"] == 60
    assert {"client", "service", "excepted", "connections", "connection_rate_peak",
            "concurrency_peak", "message_rate_peak", "recipient_rate_peak",
            "auth_rate_peak"} <= set(next(data["clients"]))
    assert data["would_refuse"] == [{"parameter": "smtpd_client_connection_rate_limit",
                                     "client": "192.0.2.10", "service": "smtp", "times": 2}]
    assert data["suggestions"]["smtpd_client_connection_rate_limit"] == 10
    assert data["suggestions"]["smtpd_client_recipient_rate_limit"] == 30


# Real logs --------------------------------------------------------------------------------------

CONNECT = re.compile(r"^\S.*? postfix[^ ]*/smtpd\[\d+\]: (?:\[ID \d+ \S+\] )?connect from ")
corpus_files = sorted(p for p in CORPUS.rglob("*") if p.is_file() and p.suffix in
                      (".log", ".lines", ".txt")) if CORPUS.is_dir() else []


@pytest.mark.skipif(not corpus_files, reason=f"no corpus at {CORPUS}")
@pytest.mark.parametrize("path", corpus_files, ids=lambda p: str(p.relative_to(CORPUS)))
def test_every_real_log_parses_and_counts_every_connection(path):
    traffic, tally = read([path])
    text = path.read_text(encoding="utf-8", errors="replace").splitlines()
    expected = sum(1 for line in text if CONNECT.match(line))
    assert sum(c.connections for c in traffic.clients) == expected
    assert tally.lines == len(text)


@pytest.mark.parametrize("ipv6_prefix, clients", [
    (128, {"2001:db8:1:2:3:4abc::1": 1, "2001:db8:1:2:3:4fff::2": 1, "192.0.2.7": 1}),
    (84, {"2001:db8:1:2:3:4000::/84": 2, "192.0.2.7": 1})])
def test_ipv6_clients_count_per_network_as_anvil_does_since_3_8(tmp_path, ipv6_prefix, clients):
    events = (session(START, 1, "2001:db8:1:2:3:4abc::1") + session(START + 1, 2, "2001:db8:1:2:3:4fff::2")
              + session(START + 2, 3, "192.0.2.7"))
    path = write_log(tmp_path / "log", classic, sorted(events), junk=False)
    replay = Replay(60, 32, ipv6_prefix)
    reader = LineReader(replay)
    read_paths(reader, [str(path)])
    traffic = summarize(replay, reader.tally, Exceptions(["2001:db8::/32"]))
    assert {c.address: c.connections for c in traffic.clients} == clients
    assert all(c["excepted"] for c in traffic.to_json()["clients"] if ":" in c["client"])


def test_multi_instance_names_are_services_of_their_own(tmp_path):
    events = session(START, 1, "192.0.2.1", program="postfix-out/smtpd") + \
        session(START, 2, "192.0.2.1", program="postfix-in/submission/smtpd")
    traffic, _ = read([write_log(tmp_path / "log", classic, sorted(events), junk=False)])
    assert {c.service for c in traffic.clients} == {"postfix-out/smtp", "postfix-in/submission"}


def test_since_passes_over_older_lines(tmp_path):
    path = write_log(tmp_path / "log", classic, known_traffic(), junk=False)
    replay = Replay(60)
    reader = LineReader(replay)
    reader.since = START + 100
    read_paths(reader, [str(path)])
    traffic = summarize(replay, reader.tally, Exceptions([]))
    assert [(c.address, c.connections) for c in traffic.clients] == [("192.0.2.10", 1)]


def test_the_largest_message_comes_from_qmgr_through_the_queue_id(tmp_path):
    lines = [(START, "postfix/smtpd[5]", "connect from a[192.0.2.9]"),
             (START, "postfix/smtpd[5]", "4A778212A56: client=a[192.0.2.9], sasl_method=PLAIN"),
             (START + 1, "postfix/qmgr[9]", "4A778212A56: from=<s@x>, size=852804, nrcpt=1 "
                                           "(queue active)"),
             (START + 2, "postfix/smtpd[5]", "disconnect from a[192.0.2.9] mail=1 rcpt=1")]
    traffic, _ = read([write_log(tmp_path / "log", classic, lines, junk=False)])
    assert traffic.clients[0].largest_message == 852804
    assert traffic.suggestions()["message_size_limit"] == 10240000        # never below default
    assert traffic.would_refuse({"message_size_limit": 800000}) == [
        {"parameter": "message_size_limit", "client": "192.0.2.9", "service": "smtp", "times": 1}]


def test_each_starttls_counts_as_a_new_tls_session(tmp_path):
    lines = []
    for index in range(3):
        lines += [(START + index, f"postfix/smtpd[{index}]", "connect from a[192.0.2.5]"),
                  (START + index + 1, f"postfix/smtpd[{index}]",
                   "disconnect from a[192.0.2.5] ehlo=2 starttls=1 quit=1 commands=4")]
    traffic, _ = read([write_log(tmp_path / "log", classic, sorted(lines), junk=False)])
    assert next(traffic.to_json()["clients"])["tls_session_rate_peak"] == 3
    assert traffic.would_refuse({"smtpd_client_new_tls_session_rate_limit": 2}) == [
        {"parameter": "smtpd_client_new_tls_session_rate_limit", "client": "192.0.2.5",
         "service": "smtp", "times": 1}]


def test_each_connection_to_a_wrapper_mode_service_is_a_new_tls_session(tmp_path):
    """smtps (smtpd_tls_wrappermode=yes) starts every session with TLS: no STARTTLS is logged,
    yet anvil counts each as a new TLS session."""
    lines = []
    for index in range(3):
        lines += [(START + index, f"postfix/submissions/smtpd[{index}]",
                   "connect from a[192.0.2.5]"),
                  (START + index + 1, f"postfix/submissions/smtpd[{index}]",
                   "disconnect from a[192.0.2.5] ehlo=1 auth=1 quit=1 commands=3")]
    path = write_log(tmp_path / "log", classic, sorted(lines), junk=False)
    for wrapped, peak in ((frozenset({"submissions"}), 3), (frozenset(), 0)):
        replay = Replay(60, wrapped=wrapped)
        reader = LineReader(replay)
        read_paths(reader, [str(path)])
        traffic = summarize(replay, reader.tally, Exceptions([]))
        assert traffic.clients[0].peak("tls") == peak


def test_the_wrapper_mode_services_come_from_master_cf(tmp_path):
    from wizard.server.state import Server
    from wizard.traffic.server_logs import wrapped
    from wizard import resources
    sample = resources.sample_dir("debian12")
    postfix_dir = tmp_path / "postfix"
    postfix_dir.mkdir()
    (postfix_dir / "main.cf").write_bytes((sample / "postfix" / "main.cf").read_bytes())
    master = (sample / "postfix" / "master.cf").read_text()
    master = master.replace("#submissions     inet  n       -       y       -       -       smtpd\n"
                            "#  -o syslog_name=postfix/submissions\n"
                            "#  -o smtpd_tls_wrappermode=yes\n",
                            "submissions     inet  n       -       y       -       -       smtpd\n"
                            "  -o syslog_name=postfix/submissions\n"
                            "  -o smtpd_tls_wrappermode=yes\n")
    (postfix_dir / "master.cf").write_text(master)
    server = Server.load(postfix_dir, tmp_path / "no-dovecot")
    assert wrapped(server) == {"submissions"}


# The reader's buffer ------------------------------------------------------------------------------

@pytest.mark.parametrize("chunk", [1, 7, 64, 300])
def test_a_line_cut_by_the_buffer_reads_as_one(tmp_path, monkeypatch, chunk):
    """Files are read a buffer at a time (a megabyte); a line the buffer's end cuts, or one
    longer than the buffer, is still one line."""
    path = write_log(tmp_path / "mail.log", classic, known_traffic())
    whole, whole_tally = read([path])
    monkeypatch.setattr("wizard.traffic.reading.CHUNK", chunk)
    cut, cut_tally = read([path])
    assert figures(cut) == figures(whole) == EXPECTED
    assert (cut_tally.lines, cut_tally.skipped) == (whole_tally.lines, whole_tally.skipped)


def test_a_last_line_without_a_newline_is_read(tmp_path):
    path = write_log(tmp_path / "mail.log", classic, known_traffic(), junk=False)
    path.write_bytes(path.read_bytes().rstrip(b"\n"))
    traffic, tally = read([path])
    assert figures(traffic) == EXPECTED
    assert tally.lines == len(known_traffic())


@pytest.mark.parametrize("limit", [0, 1, 2, 3, 5, 10, 852804, 900000])
def test_what_a_typed_value_would_refuse_matches_the_clients_one_by_one(tmp_path, limit):
    """The wizard judges a field as the admin types from per-figure sums; the same answer as
    going through the clients one by one (what `traffic` and `check` list)."""
    lines = known_traffic() + [
        (START + 300, "postfix/smtpd[5]", "connect from a[192.0.2.9]"),
        (START + 300, "postfix/smtpd[5]", "4A778212A56: client=a[192.0.2.9]"),
        (START + 301, "postfix/qmgr[9]", "4A778212A56: from=<s@x>, size=852804, nrcpt=1"),
        (START + 302, "postfix/smtpd[5]", "disconnect from a[192.0.2.9] mail=1 rcpt=1")]
    traffic, _ = read([write_log(tmp_path / "log", classic, sorted(lines), junk=False)])
    for parameter in [*PARAMETERS.values(), "message_size_limit"]:
        judged = traffic.judge(parameter, limit)
        listed = [r for r in traffic.would_refuse({parameter: limit})]
        assert (judged.refused_clients, judged.refused_times) == \
            (len(listed), sum(r["times"] for r in listed)), parameter
        clients, value = traffic.pool(RATE_OF.get(parameter, parameter))
        assert judged.peaks == sorted(map(value, clients), reverse=True)
        assert judged.peak == max(map(value, clients))
    assert traffic.judge("smtpd_client_connection_rate_limit", 3).busiest == "192.0.2.10 on smtp"
    assert traffic.judge("smtpd_helo_required", 3) is None


# Which scanner ran ----------------------------------------------------------------------------

def test_traffic_says_which_scanner_read_the_log(each_scanner):
    """The report names the scanner (and why it is the slower one); --json has it as "scanner"."""
    command = [*wizard_process.python(), "-m", "wizard", "--demo", "debian12", "traffic", "--log",
               str(ROOT / "samples" / "traffic" / "mail.log")]
    report = subprocess.run(command, capture_output=True, text=True, cwd=ROOT)
    document = subprocess.run([*command, "--json"], capture_output=True, text=True, cwd=ROOT)
    assert report.returncode == document.returncode == 0, report.stderr + document.stderr
    named = {"c": "C extension",
             "python": "Python (POSTFIX_WIZARD_SCANNER=python: slower)"}[each_scanner]
    assert f"\nLog scanner: {named}\n" in report.stdout
    assert json.loads(document.stdout)["scanner"] == each_scanner
