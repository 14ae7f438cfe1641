"""Issue 11, without daemons: which listeners the probe talks to and what each must say
(wizard/daemons/probe.py), and which log lines count as a failure. tests/test_probe.py runs the probe
against the real daemons."""
from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from wizard.daemons import handshake, probe
from wizard.server import versions
from wizard.server.state import Server

SAMPLE = Path(__file__).resolve().parent.parent / "samples" / "debian12"
MASTER_EXTRA = """\
127.0.0.1:10025 inet n  -       n       -       -       smtpd
  -o smtpd_sasl_auth_enable=no -o message_size_limit=0
[::1]:2525 inet n      -       n       -       -       smtpd
submission inet n       -       y       -       -       smtpd
  -o smtpd_tls_security_level=encrypt
  -o smtpd_sasl_auth_enable=yes -o smtpd_sasl_type=dovecot -o smtpd_sasl_path=private/auth
submissions inet n       -       y       -       -       smtpd
  -o smtpd_tls_wrappermode=yes -o smtpd_sasl_auth_enable=yes -o smtpd_sasl_type=dovecot
  -o smtpd_sasl_security_options=noanonymous,noplaintext
"""
# as Dovecot 2.4.5 answers: its own `dovecot-token` last, flagged private
DOVECOT = handshake.Handshake("1.2", ("plain", "login", "cram-md5", "anonymous", "dovecot-token"), {
    "plain": frozenset({"plaintext"}), "login": frozenset({"plaintext"}),
    "cram-md5": frozenset({"dictionary"}), "anonymous": frozenset({"anonymous"}),
    "dovecot-token": frozenset({"private"})})


def test_a_private_mechanism_is_not_one_dovecot_serves_to_clients():
    assert DOVECOT.public == ("plain", "login", "cram-md5", "anonymous")


@pytest.fixture
def server(tmp_path, monkeypatch) -> Server:
    shutil.copytree(SAMPLE, tmp_path, dirs_exist_ok=True)
    master = tmp_path / "postfix" / "master.cf"
    master.write_text(master.read_text() + MASTER_EXTRA)
    monkeypatch.setattr(probe, "_dovecot_mechanisms", lambda server, path: DOVECOT)
    return Server.load(tmp_path / "postfix", tmp_path / "dovecot", versions.recorded(SAMPLE))


def by_name(server) -> dict:
    found, skipped = probe.endpoints(server)
    assert not skipped
    return {e.service.name: e for e in found}


def test_every_smtpd_listener_master_cf_declares_is_probed_where_it_listens(server):
    found = {name: (e.host, e.port) for name, e in by_name(server).items()}
    assert found == {"smtp": ("127.0.0.1", 25), "127.0.0.1:10025": ("127.0.0.1", 10025),
                     "[::1]:2525": ("::1", 2525), "submission": ("127.0.0.1", 587),
                     "submissions": ("127.0.0.1", 465)}


def test_each_listener_must_say_what_its_own_overrides_make_it(server):
    listeners = by_name(server)
    relay = probe.expected(server, listeners["127.0.0.1:10025"])
    assert relay.size == "" and relay.auth_before == set() and relay.auth_after == set()
    submission = probe.expected(server, listeners["submission"])
    assert submission.size == "10240000" and not submission.wrapper
    assert submission.auth_before == set()                   # encrypt implies AUTH after TLS only
    assert submission.auth_after == {"plain", "login", "cram-md5"}    # noanonymous, the default
    wrapped = probe.expected(server, listeners["submissions"])
    assert wrapped.wrapper and wrapped.auth_before == wrapped.auth_after == {"cram-md5"}
    assert probe.expected(server, listeners["smtp"]).auth_after == set()    # SASL off here


@pytest.mark.parametrize("options, offered", [
    ("noanonymous", {"plain", "login", "cram-md5"}),
    ("noanonymous, noplaintext", {"cram-md5"}),
    ("noanonymous nodictionary", {"plain", "login"}),
    ("", {"plain", "login", "cram-md5", "anonymous"}),
    ("mutual_auth", set()),
])
def test_mechanisms_are_filtered_as_postfix_filters_them(options, offered):
    assert probe.offered(DOVECOT, options) == offered


def test_the_listener_address_follows_inet_interfaces(server):
    server.main = server.main.parse("inet_interfaces = 192.0.2.10, [2001:db8::1]\n")
    assert by_name(server)["smtp"].host == "192.0.2.10"
    server.main = server.main.parse("inet_interfaces = 192.0.2.10, 127.0.0.1\n")
    assert by_name(server)["smtp"].host == "127.0.0.1"
    server.main = server.main.parse("inet_interfaces = all\ninet_protocols = ipv6\n")
    assert by_name(server)["smtp"].host == "::1"


def test_each_connection_comes_from_its_own_loopback_address():
    sources = {probe._source("127.0.0.1")[0] for _ in range(50)}
    assert len(sources) > 45 and all(s.startswith("127.") for s in sources)
    assert probe._source("::1") is None and probe._source("192.0.2.1") is None


@pytest.mark.parametrize("line", [
    "Dec  2 19:49:40 mx postfix/master[4792]: warning: /usr/lib/postfix/sbin/anvil-missing: "
    "bad command startup -- throttling",
    "Dec  2 19:49:40 mx postfix-out/smtpd[12]: fatal: no SASL authentication mechanisms",
    "2026-12-02T19:49:40.1+00:00 mx postfix/submission/smtpd[12]: panic: myfree: corrupt",
    "Dec  2 19:49:40 mx postfix/anvil[3]: fatal: out of memory",
    "Dec 02 19:47:16 auth: Fatal: Unknown authentication mechanism 'GSSAPI'",
    "Dec  2 19:47:16 mx dovecot: auth: Fatal: CRAM-MD5 mechanism can't be supported",
    "Dec  2 19:47:16 mx dovecot: master: Error: service(auth): command startup failed, "
    "throttling for 2.000 secs",
])
def test_failure_lines_are_found(line):
    assert probe.FAILURE.search(line)


@pytest.mark.parametrize("line", [
    "Dec  2 19:49:40 mx postfix/smtpd[12]: warning: hostname does not resolve",
    "Dec  2 19:49:40 mx postfix/smtp[12]: fatal: a client-side problem, not the listener",
    "Dec  2 19:49:40 mx postfix/smtpd[12]: NOQUEUE: reject: RCPT from x: 554 fatal: text",
    "Dec 02 19:47:16 imap(alice): Error: a mailbox problem",
])
def test_other_lines_are_not(line):
    assert not probe.FAILURE.search(line)
