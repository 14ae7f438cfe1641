"""Issue 5: what the wizard writes works on the real daemons.

Every configuration here is written by the REAL command line, in a subprocess:
`python -m wizard apply --preset FILE --yes --postfix-dir .. --dovecot-dir .. --backup-dir ..`
(and `rollback`), onto a private Postfix 3.7 + Dovecot 2.3 pair built by tests/harness.py
(stock Debian master.cf and main.cf.debian, own queue/data/base dirs, loopback only,
self-signed certificate for STARTTLS, a passwd-file user).  The pairs start WITHOUT any SASL
(`configure_sasl=False`: no smtpd_sasl_* in main.cf, an empty `service auth {}` in
dovecot.conf), so the wizard's apply is what sets SMTP AUTH up, over both socket kinds:

  unix -- derived from the shipped rhel9-guide preset: smtpd_sasl_path = private/auth, and
          Dovecot's unix_listener at <private queue_directory>/private/auth;
  tcp  -- derived from the shipped sasl-tcp preset with `port` changed to a free loopback
          port: smtpd_sasl_path = inet:127.0.0.1:PORT, Dovecot inet_listener on it.

Preset files are written per test (tomlkit, from the shipped ones: everything kept except the
keys a test changes).  anvil counts rates per client address and all of 127/8 is loopback, so
each check connects from its own 127.x.y.z address (fresh_ip()): checks sharing one pair
cannot use up each other's rate limits.

Fixtures:
  make_pair(kind, preset=None, start=True, configure_sasl=False, main_cf_extra=None)
      -> a started MailPair; preset: a preset file, a shipped name, or None.  Stopped and
      removed after the test, whatever happens; logs attached to the failure.
  guarded[kind]    module-scoped pair: kind's SASL preset + rate limits (3 connections,
                   2 messages) with the admin's own address excepted ($mynetworks), and
                   message_size_limit = 100000.  Read-only tests only.
  unguarded[kind]  module-scoped pair: same rate limits, exceptions = 192.0.2.0/24
                   (127.0.0.1 not excepted).

Skipped only when the daemons cannot run here (harness.daemons_available()).
"""
from __future__ import annotations

import contextlib
import itertools
import os
import re
import sys

import pytest

try:
    import tests.harness as harness
except ImportError:  # pytest run from inside tests/ without the repo root on sys.path
    sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
    import harness

MailPair, attach_logs = harness.MailPair, harness.attach_logs

_ok, _why = harness.daemons_available()
pytestmark = [pytest.mark.daemons,
              pytest.mark.skipif(not _ok, reason=_why or "daemons not available")]

KINDS = ["unix", "tcp"]
FATAL = re.compile(r"\b(fatal|panic)\b", re.I)
SIZE_LIMIT = 100000

_ips = itertools.count(1)


def fresh_ip() -> str:
    """A loopback client address no other check in this run has used."""
    n = next(_ips)
    return f"127.1.{n // 250}.{n % 250 + 1}"


# ---------------------------------------------------------------------------
# helpers
# ---------------------------------------------------------------------------

def assert_no_fatal(pair: MailPair, since: dict = None) -> None:
    bad = [ln for ln in pair.logs(since).splitlines() if FATAL.search(ln)]
    assert not bad, "fatal/panic in the daemon logs:\n" + "\n".join(bad)


def ehlo_features(pair: MailPair, tls: bool, source: str = None) -> dict:
    with (pair.smtp_tls(source=source) if tls else pair.smtp(source=source)) as s:
        if not tls:
            code, _ = s.ehlo()
            assert code == 250, f"EHLO answered {code}"
        return dict(s.esmtp_features)


def auth(pair: MailPair, password: str, source: str = None) -> "tuple[int, bytes]":
    with pair.smtp_tls(source=source) as s:
        assert "auth" in s.esmtp_features, f"no AUTH after STARTTLS: {s.esmtp_features}"
        return pair.auth_plain(s, pair.user, password)


def mail_from_replies(pair: MailPair, count: int, source: str) -> "list[int]":
    """`count` MAIL FROM commands (RSET in between) in one session."""
    codes = []
    with pair.smtp(source=source) as s:
        s.ehlo()
        for _ in range(count):
            codes.append(s.docmd("MAIL", "FROM:<sender@test.example>")[0])
            s.docmd("RSET")
    return codes


def banners(pair: MailPair, count: int, source: str) -> "list[str]":
    return [(pair.probe(timeout=3, source=source) or "<none>").strip() for _ in range(count)]


def wait_delivered(pair: MailPair, rcpt_file, since: dict, timeout: float = 10) -> None:
    line = pair.wait_for_log(r"status=(sent|bounced|deferred)", timeout, since=since)
    assert line and "status=sent" in line, f"local delivery did not succeed: {line!r}"
    assert rcpt_file.exists()


def sasl_preset(pair: MailPair, name: str, limits: dict = None, kind: str = None):
    return pair.sasl_preset(pair.root / f"{name}.toml", limits=limits, kind=kind)


RATE_LIMITS = {"smtpd_client_connection_rate_limit": 3,
               "smtpd_client_message_rate_limit": 2,
               "anvil_rate_time_unit": "60s"}


# ---------------------------------------------------------------------------
# fixtures
# ---------------------------------------------------------------------------

@pytest.fixture(autouse=True, scope="module")
def _daemon_logs_on_failure(request):
    """Register the harness's makereport hook: it adds the logs of every pair a test
    attached (attach_logs) to that test's failure."""
    pm = request.config.pluginmanager
    if not pm.is_registered(harness):
        pm.register(harness, "mailpair-harness-logs")
    yield


@contextlib.contextmanager
def _live_pair(logdir, kind, preset=None, start=True, configure_sasl=False,
               main_cf_extra=None, on_node=None, **pair_args):
    """A private pair; `preset` (file or shipped name, or a callable(pair) -> file) applied
    through the CLI before the daemons start.  Stopped and removed on exit."""
    with MailPair(logdir, sasl=kind, autostart=False, configure_sasl=configure_sasl,
                  main_cf_extra=main_cf_extra, **pair_args) as pair:
        if on_node is not None:
            attach_logs(on_node, pair)
        if preset is not None:
            pair.apply_preset(preset(pair) if callable(preset) else preset, reload=False)
        if start:
            pair.start()
        yield pair


@pytest.fixture
def make_pair(request, tmp_path):
    """Factory: make_pair(kind, preset=None, start=True, configure_sasl=False,
    main_cf_extra=None, **MailPair_args) -> MailPair (started unless start=False), with the
    preset applied through the CLI first; stopped and removed after the test."""
    with contextlib.ExitStack() as stack:
        count = itertools.count()

        def make(kind, preset=None, start=True, configure_sasl=False, main_cf_extra=None,
                 **pair_args):
            logdir = tmp_path / f"pair{next(count)}"
            return stack.enter_context(_live_pair(
                logdir, kind, preset, start, configure_sasl, main_cf_extra, request.node,
                **pair_args))
        yield make


def _module_pair(request, tmp_path_factory, name, limits):
    kind = request.param
    logdir = tmp_path_factory.mktemp(f"{name}-{kind}")
    with _live_pair(logdir, kind, preset=lambda p: sasl_preset(p, name, limits)) as pair:
        yield pair


@pytest.fixture(scope="module", params=KINDS)
def _guarded(request, tmp_path_factory):
    yield from _module_pair(request, tmp_path_factory, "guarded", dict(
        RATE_LIMITS, smtpd_client_event_limit_exceptions="$mynetworks",
        message_size_limit=SIZE_LIMIT))


@pytest.fixture(scope="module", params=KINDS)
def _unguarded(request, tmp_path_factory):
    yield from _module_pair(request, tmp_path_factory, "unguarded", dict(
        RATE_LIMITS, smtpd_client_event_limit_exceptions="192.0.2.0/24"))


def _shared(request, pair):
    assert pair.postfix_running() and pair.dovecot_running(), \
        "a shared pair's daemon died in an earlier test" + pair.format_logs()
    since = pair.mark()
    attach_logs(request.node, pair, since)
    pair.since = since
    return pair


@pytest.fixture
def guarded(request, _guarded):
    """Shared (module) pair: SASL + rate limits, own addresses excepted, 100 kB size limit."""
    return _shared(request, _guarded)


@pytest.fixture
def unguarded(request, _unguarded):
    """Shared (module) pair: SASL + rate limits, 127.0.0.0/8 NOT excepted."""
    return _shared(request, _unguarded)


# ---------------------------------------------------------------------------
# SMTP AUTH through what the wizard wrote (shared pairs, read-only)
# ---------------------------------------------------------------------------

def test_auth_after_starttls_accepts_the_right_password(guarded):
    features = ehlo_features(guarded, tls=True, source=fresh_ip())
    assert features["auth"].split() == ["PLAIN", "LOGIN"]
    code, text = auth(guarded, guarded.password, source=fresh_ip())
    assert code == 235, (code, text)
    assert_no_fatal(guarded, guarded.since)


def test_auth_after_starttls_refuses_a_wrong_password(guarded):
    code, text = auth(guarded, "wrong-password", source=fresh_ip())
    assert code == 535, (code, text)
    assert guarded.wait_for_log(r"SASL PLAIN authentication failed", since=guarded.since)
    assert_no_fatal(guarded, guarded.since)


def test_before_starttls_no_auth_but_mail_accepted(guarded):
    ip = fresh_ip()
    features = ehlo_features(guarded, tls=False, source=ip)
    assert "auth" not in features, "AUTH offered before STARTTLS although tls_auth_only"
    assert "starttls" in features
    with guarded.smtp(source=ip) as s:
        s.ehlo()
        assert guarded.auth_plain(s, guarded.user, guarded.password)[0] == 503
        res = guarded.send_test_mail(s, rcpt=guarded.file_rcpt)
    assert res["data"][0] == 250, res
    wait_delivered(guarded, guarded.mail_dir / "testuser", guarded.since)
    assert_no_fatal(guarded, guarded.since)


def test_dovecot_listener_is_where_postfix_looks(guarded):
    path = guarded.get_main("smtpd_sasl_path")
    if guarded.sasl == "unix":
        assert path == "private/auth"
        st = os.stat(guarded.auth_socket)
        assert (oct(st.st_mode & 0o777), st.st_uid) == ("0o660", harness.pwd.getpwnam("postfix").pw_uid)
    else:
        assert path == f"inet:127.0.0.1:{guarded.auth_port}"
        assert harness._port_open(guarded.auth_port)


# ---------------------------------------------------------------------------
# limits
# ---------------------------------------------------------------------------

def test_connection_rate_limit_hits_a_client_not_excepted(unguarded):
    got = banners(unguarded, 4, fresh_ip())
    assert [b[:3] for b in got] == ["220", "220", "220", "421"], got
    assert "too many connections" in got[3]


def test_connection_rate_limit_spares_an_excepted_client(guarded):
    got = banners(guarded, 6, fresh_ip())
    assert all(b.startswith("220") for b in got), got


def test_message_rate_limit_refuses_the_mail_from_after_the_limit(unguarded):
    codes = mail_from_replies(unguarded, 3, fresh_ip())
    assert codes == [250, 250, 450], codes
    assert unguarded.wait_for_log(r"Message delivery request rate limit exceeded",
                                  since=unguarded.since)


def test_message_rate_limit_spares_an_excepted_client(guarded):
    assert mail_from_replies(guarded, 5, fresh_ip()) == [250] * 5


def test_message_size_limit(guarded):
    ip = fresh_ip()
    with guarded.smtp(source=ip) as s:
        s.ehlo()
        assert s.esmtp_features.get("size") == str(SIZE_LIMIT)
        small = guarded.send_test_mail(s, size=SIZE_LIMIT // 2)
        s.docmd("RSET")
        big = guarded.send_test_mail(s, size=SIZE_LIMIT * 2)
    assert small["data"][0] == 250, small
    assert big["data"][0] == 552, big
    assert_no_fatal(guarded, guarded.since)


@pytest.mark.parametrize("kind", KINDS)
def test_message_size_above_mailbox_limit_is_refused_by_the_wizard(make_pair, kind):
    pair = make_pair(kind, start=False)
    before = (pair.postfix_dir / "main.cf").read_bytes(), pair.dovecot_conf.read_bytes()
    r = pair.apply_preset(sasl_preset(pair, "huge", {"message_size_limit": 60000000}), expect=1)
    assert "mailbox_size_limit" in r.stdout and "Nothing was written" in r.stdout, r.stdout
    assert ((pair.postfix_dir / "main.cf").read_bytes(), pair.dovecot_conf.read_bytes()) == before


@pytest.mark.parametrize("kind", KINDS)
def test_queue_minfree_above_free_space(make_pair, kind):
    pair = make_pair(kind)
    pair.apply_preset(sasl_preset(pair, "sasl"))
    st = os.statvfs(pair.queue_dir)
    too_much = st.f_blocks * st.f_frsize * 2          # above the whole file system
    main_cf = (pair.postfix_dir / "main.cf").read_bytes()
    sets = sorted(os.listdir(pair.backup_dir))

    # 1. the wizard refuses it (rule queue-space) and writes nothing
    r = pair.apply_preset(pair.write_preset(pair.root / "minfree.toml", None,
                                            limits={"queue_minfree": too_much}), expect=1)
    assert "Insufficient system storage" in r.stdout and "Nothing was written" in r.stdout, \
        r.stdout
    assert (pair.postfix_dir / "main.cf").read_bytes() == main_cf
    assert sorted(os.listdir(pair.backup_dir)) == sets

    # 2. the rule is right: written behind the wizard's back, smtpd refuses all mail
    ip = fresh_ip()
    assert pair.send_test_mail()["data"][0] == 250            # still fine before
    since = pair.mark()
    pair.set_main(queue_minfree=str(too_much))
    pair.postfix_command("reload")
    with pair.smtp(source=ip) as s:
        s.ehlo()
        code, text = s.docmd("MAIL", "FROM:<sender@test.example>")
    assert (code, text[:5]) == (452, b"4.3.1"), (code, text)
    assert pair.wait_for_log(r"not enough free space in mail queue", since=since)


# ---------------------------------------------------------------------------
# every shipped preset, through the CLI
# ---------------------------------------------------------------------------

# limits-only presets go onto a pair whose SASL the harness set up (AUTH only after TLS),
# to show they leave it working; the SASL presets onto a pair without SASL.
HARNESS_SASL = {"smtpd_sasl_security_options": "noanonymous, noplaintext",
                "smtpd_sasl_tls_security_options": "noanonymous",
                "smtpd_tls_auth_only": "yes"}


@pytest.mark.parametrize("kind,preset", [
    ("unix", "rhel9-guide"), ("tcp", "sasl-tcp"),
    ("unix", "baseline"), ("tcp", "baseline"), ("unix", "busy-relay"), ("tcp", "busy-relay")])
def test_shipped_preset_daemons_start_and_answer(make_pair, kind, preset):
    sasl_preset_ = preset in ("rhel9-guide", "sasl-tcp")
    pair = make_pair(kind, start=False, configure_sasl=not sasl_preset_,
                     main_cf_extra=None if sasl_preset_ else HARNESS_SASL)
    if preset == "sasl-tcp":        # the shipped file, with only its port made private
        target = pair.write_preset(pair.root / "sasl-tcp.toml", "sasl-tcp")
    else:
        target = preset             # the shipped file itself, by name
    pair.apply_preset(target, reload=False)
    import tomlkit
    shipped = tomlkit.parse((harness.PRESETS_DIR / f"{preset}.toml").read_text()).unwrap()
    for name, value in shipped.get("limits", {}).items():
        # as Postfix reads it (the wizard leaves out what already holds, e.g. $mynetworks)
        effective = pair.postconf("-xh", name).stdout.strip()
        wanted = str(value)
        if wanted.startswith("$"):
            wanted = pair.postconf("-xh", wanted[1:]).stdout.strip()
        assert effective == wanted, (name, effective, wanted)
    pair.start()
    assert pair.postfix_running() and pair.dovecot_running()
    features = ehlo_features(pair, tls=False)
    assert "auth" not in features
    code, text = auth(pair, pair.password)
    assert code == 235, (code, text)
    since = pair.mark()
    res = pair.send_test_mail(rcpt=pair.file_rcpt)
    assert res["data"][0] == 250, res
    wait_delivered(pair, pair.mail_dir / "testuser", since)
    assert_no_fatal(pair)


# ---------------------------------------------------------------------------
# apply and rollback on RUNNING daemons
# ---------------------------------------------------------------------------

def _pids(pair: MailPair) -> tuple:
    return pair._master.pid, pair._dovecot.pid


@pytest.mark.parametrize("kind", KINDS)
def test_apply_reloads_running_daemons(make_pair, kind):
    pair = make_pair(kind)
    pids = _pids(pair)
    assert "auth" not in ehlo_features(pair, tls=True)
    r = pair.apply_preset(sasl_preset(pair, "live", {"message_size_limit": SIZE_LIMIT}))
    assert "Reloaded: dovecot, postfix" in r.stdout, r.stdout
    assert _pids(pair) == pids and pair.postfix_running() and pair.dovecot_running(), \
        "a daemon was restarted or died instead of reloaded"
    assert auth(pair, pair.password, source=fresh_ip())[0] == 235
    with pair.smtp(source=fresh_ip()) as s:
        s.ehlo()
        assert pair.send_test_mail(s, size=SIZE_LIMIT * 2)["data"][0] == 552
    assert_no_fatal(pair)


@pytest.mark.parametrize("kind", KINDS)
def test_rollback_on_running_daemons(make_pair, kind):
    pair = make_pair(kind)
    pids = _pids(pair)
    files = {p: p.read_bytes() for p in (pair.postfix_dir / "main.cf", pair.dovecot_conf)}
    # before: no AUTH, no rate limit
    assert "auth" not in ehlo_features(pair, tls=True, source=fresh_ip())
    limited = fresh_ip()
    assert all(b.startswith("220") for b in banners(pair, 1, limited))

    r = pair.apply_preset(sasl_preset(pair, "live", dict(
        RATE_LIMITS, smtpd_client_event_limit_exceptions="192.0.2.0/24")))
    assert "Reloaded: dovecot, postfix" in r.stdout, r.stdout
    assert ehlo_features(pair, tls=True, source=fresh_ip())["auth"].split() == ["PLAIN", "LOGIN"]
    got = banners(pair, 4, limited)
    assert got[-1].startswith("421"), got

    r = pair.rollback()
    # back to no SASL: main.cf (and Postfix) first, so smtpd never uses a removed socket
    assert "Restored backup set" in r.stdout and "Reloaded: postfix, dovecot" in r.stdout, \
        r.stdout
    assert {p: p.read_bytes() for p in files} == files
    assert _pids(pair) == pids and pair.postfix_running() and pair.dovecot_running()
    assert "auth" not in ehlo_features(pair, tls=True, source=fresh_ip())
    got = banners(pair, 5, limited)                 # the address limited a moment ago
    assert all(b.startswith("220") for b in got), got
    res = pair.send_test_mail()
    assert res["data"][0] == 250, res
    assert_no_fatal(pair)


@pytest.mark.parametrize("kind", KINDS)
def test_switch_socket_kind_on_running_daemons(make_pair, kind):
    other = {"unix": "tcp", "tcp": "unix"}[kind]
    pair = make_pair(kind, preset=lambda p: sasl_preset(p, "first"))
    assert auth(pair, pair.password, source=fresh_ip())[0] == 235
    r = pair.apply_preset(sasl_preset(pair, "second", kind=other))
    # Dovecot with both listeners, Postfix moves, Dovecot drops the old listener
    assert "Reloaded: dovecot, postfix, dovecot" in r.stdout, r.stdout
    path = pair.get_main("smtpd_sasl_path")
    conf = pair.doveconf_check()[1]
    if other == "unix":
        assert path == "private/auth"
        assert "inet_listener" not in conf, conf
    else:
        assert path == f"inet:127.0.0.1:{pair.auth_port}"
        assert str(pair.auth_socket) not in conf, conf
    assert auth(pair, pair.password, source=fresh_ip())[0] == 235
    assert_no_fatal(pair)

    # and back: the rollback moves Postfix while both listeners exist, too
    r = pair.rollback()
    assert "Reloaded: dovecot, postfix, dovecot" in r.stdout, r.stdout
    assert pair.get_main("smtpd_sasl_path") != path
    assert auth(pair, pair.password, source=fresh_ip())[0] == 235
    assert_no_fatal(pair)


# ---------------------------------------------------------------------------
# found on the way
# ---------------------------------------------------------------------------

def test_apply_with_a_socket_in_the_dovecot_dir(make_pair):
    # Dovecot's base_dir (its sockets and master.pid) inside the configuration directory
    pair = make_pair("unix", dovecot_base_dir="{root}/dc/run")
    assert (pair.dovecot_dir / "run" / "auth-client").exists()
    r = pair.apply_preset(sasl_preset(pair, "sasl"), expect=None)
    assert "Traceback" not in r.stderr, r.stderr[-2000:]
    # sockets are not configuration: staging should skip them, and the apply work
    assert r.returncode == 0, r.stdout[-500:] + r.stderr
    assert "Reloaded: dovecot, postfix" in r.stdout
    assert auth(pair, pair.password)[0] == 235
