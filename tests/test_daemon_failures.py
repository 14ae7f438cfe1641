"""Real Postfix 3.7 / Dovecot 2.3 failures behind the validation rules.

Each test writes a bad value with `postconf -e` (or a bad dovecot.conf) into a private
instance built by tests/harness.py and shows what the real daemons do: the fatal log
line, the SMTP reply, or the refusal to start.  `# RULE:` names the validation rule the
test backs.  Details and verbatim logs: docs/daemon-findings.md.

Skipped only when the daemons are not installed here (daemons_available()).
"""
from __future__ import annotations

import os
import sys
import time

import pytest

try:
    from tests.harness import MailPair, daemons_available
except ImportError:  # pytest run from inside tests/ without the repo root on sys.path
    sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
    from harness import MailPair, daemons_available

_ok, _why = daemons_available()
pytestmark = pytest.mark.skipif(not _ok, reason=_why or "daemons not available")

NO_MECH = r"smtpd\[\d+\]: fatal: no SASL authentication mechanisms"
THROTTLE = r"master\[\d+\]: warning: /usr/lib/postfix/sbin/(\w+): bad command startup -- throttling"

RHEL_SASL = {
    "smtpd_sasl_security_options": "noanonymous, noplaintext",
    "smtpd_sasl_tls_security_options": "noanonymous",
}


def expect_log(pair: MailPair, pattern: str, timeout: float = 6) -> str:
    line = pair.wait_for_log(pattern, timeout)
    assert line, f"no log line matching {pattern!r}" + pair.format_logs()
    return line


def assert_smtpd_dead(pair: MailPair, fatal: str) -> None:
    """The first client gets no greeting (EOF or nothing), smtpd logs `fatal`,
    master throttles smtpd, and the next client gets no greeting either."""
    first = pair.probe(timeout=1.5)   # a dying smtpd closes after its 1 s fatal sleep
    assert not first, f"expected no SMTP greeting, got {first!r}" + pair.format_logs()
    expect_log(pair, fatal)
    assert "smtpd" in expect_log(pair, THROTTLE)
    second = pair.probe(timeout=0.4)
    assert not second, f"smtpd should be throttled, got {second!r}" + pair.format_logs()


# ---------------------------------------------------------------------------
# the good path: RHEL recipe with smtpd_tls_auth_only = yes
# ---------------------------------------------------------------------------

@pytest.mark.parametrize("sasl", ["unix", "tcp"])
def test_rhel_recipe_with_tls_auth_only_authenticates_after_starttls(tmp_path, sasl):
    with MailPair(tmp_path, sasl=sasl, auth_mechanisms="plain login",
                  main_cf_extra=dict(RHEL_SASL, smtpd_tls_auth_only="yes")) as p:
        # before TLS: no AUTH, but mail to a local recipient is still accepted
        with p.smtp() as s:
            s.ehlo()
            assert not s.has_extn("auth")
            assert p.auth_plain(s, p.user, p.password)[0] == 503
            res = p.send_test_mail(s)
            assert res["data"][0] == 250, res
        with p.smtp_tls() as s:
            assert s.esmtp_features["auth"].split() == ["PLAIN", "LOGIN"]
            code, text = p.auth_plain(s, p.user, p.password)
            assert code == 235, (code, text, p.format_logs())
        with p.smtp_tls() as s:
            code, text = p.auth_plain(s, p.user, "wrong-password")
            assert code == 535, (code, text, p.format_logs())
        assert p.wait_for_log(r"SASL PLAIN authentication failed")
        assert not [l for l in p.fatal_lines() if "fatal" in l], p.format_logs()


# ---------------------------------------------------------------------------
# 1, 2, 10: SASL security options that leave no mechanism
# ---------------------------------------------------------------------------

@pytest.mark.parametrize("sasl", ["unix", "tcp"])
def test_noplaintext_without_tls_auth_only_kills_smtpd_on_connect(tmp_path, sasl):
    # RULE: sasl_no_mechanism_before_tls
    # (smtpd_sasl_security_options filters every Dovecot mechanism and
    #  smtpd_tls_auth_only = no -> smtpd fatal before the banner, whole service throttled)
    with MailPair(tmp_path, sasl=sasl, auth_mechanisms="plain login", autostart=False) as p:
        p.set_main(RHEL_SASL, smtpd_tls_auth_only="no")
        p.start()
        assert_smtpd_dead(p, NO_MECH)


def test_noplaintext_in_tls_options_kills_smtpd_after_starttls(tmp_path):
    # RULE: sasl_no_mechanism_after_tls
    with MailPair(tmp_path, sasl="unix", auth_mechanisms="plain login", autostart=False) as p:
        p.set_main(smtpd_sasl_security_options="noanonymous, noplaintext",
                   smtpd_sasl_tls_security_options="noanonymous, noplaintext",
                   smtpd_tls_auth_only="yes")
        p.start()
        with p.smtp() as s:  # the plain-text session still works ...
            assert s.ehlo()[0] == 250
        import smtplib
        with pytest.raises(smtplib.SMTPServerDisconnected):
            p.smtp_tls(timeout=3)   # ... STARTTLS + EHLO kills smtpd
        expect_log(p, NO_MECH)
        expect_log(p, r"master\[\d+\]: warning: process /usr/lib/postfix/sbin/smtpd pid \d+ exit status 1")
        # (master throttles only when the dying smtpd had not finished a session yet)


@pytest.mark.parametrize("param", ["smtpd_sasl_security_options",
                                   "smtpd_sasl_tls_security_options"])
def test_unknown_sasl_security_option_is_fatal(tmp_path, param):
    # RULE: sasl_security_options_unknown_value
    with MailPair(tmp_path, sasl="unix", autostart=False) as p:
        p.set_main({param: "noanonymouse"})
        p.start()
        fatal = r'fatal: unknown xsasl_dovecot_server_create value "noanonymouse" in "noanonymouse"'
        if param == "smtpd_sasl_security_options":
            assert_smtpd_dead(p, fatal)
        else:
            import smtplib
            with pytest.raises(smtplib.SMTPServerDisconnected):
                p.smtp_tls(timeout=3)
            expect_log(p, fatal)


# ---------------------------------------------------------------------------
# 3, 4: the Dovecot socket is not reachable
# ---------------------------------------------------------------------------

@pytest.mark.parametrize("sasl,how", [("unix", "stopped"), ("tcp", "never_started")])
def test_sasl_with_dovecot_down_kills_smtpd(tmp_path, sasl, how):
    # RULE: sasl_auth_socket_unreachable (runtime: start Dovecot before Postfix)
    with MailPair(tmp_path, sasl=sasl, autostart=False) as p:
        if how == "stopped":
            p.start()
            p.stop_dovecot(grace=0.3)
            detail = r"failed: (Connection refused|No such file or directory)"
        else:
            p.start_postfix()
            detail = r"failed: Connection refused"
        assert_smtpd_dead(p, NO_MECH)
        expect_log(p, r"warning: SASL: Connect to Dovecot auth socket '[^']+' " + detail)


def test_absolute_sasl_path_with_chrooted_smtpd_is_fatal(tmp_path):
    # RULE: sasl_path_absolute_with_chroot
    with MailPair(tmp_path, sasl="unix", chroot=True, autostart=False) as p:
        p.set_main(smtpd_sasl_path=str(p.auth_socket))
        p.start()
        assert_smtpd_dead(p, NO_MECH)
        expect_log(p, r"Connect to Dovecot auth socket '/[^']+/private/auth' failed: "
                      r"No such file or directory")
        # the same absolute path works once smtpd is not chrooted
        p.stop_postfix()
        p.set_master("smtpd/chroot", "n")
        mark = p.mark()
        p.start_postfix()
        with p.smtp_tls() as s:
            assert p.auth_plain(s, p.user, p.password)[0] == 235, p.format_logs(mark)


# ---------------------------------------------------------------------------
# 5: size limits vs the delivery agents
# ---------------------------------------------------------------------------

@pytest.mark.parametrize("params,rcpt,fatal", [
    # RULE: mailbox_size_limit_below_message_size_limit
    ({"mailbox_size_limit": "1000000"}, "local",
     r"local\[\d+\]: fatal: configuration error: mailbox_size_limit is smaller than message_size_limit"),
    # RULE: virtual_mailbox_limit_below_message_size_limit
    ({"virtual_mailbox_limit": "1000000"}, "virtual",
     r"virtual\[\d+\]: fatal: configuration error: virtual_mailbox_limit is smaller than message_size_limit"),
    # RULE: message_size_limit_unlimited_with_mailbox_limit
    ({"message_size_limit": "0"}, "local",
     r"local\[\d+\]: fatal: configuration error: mailbox_size_limit is limited but message_size_limit is unlimited"),
    # RULE: message_size_limit_unlimited_with_mailbox_limit (virtual)
    ({"message_size_limit": "0"}, "virtual",
     r"virtual\[\d+\]: fatal: configuration error: virtual_mailbox_limit is limited but message_size_limit is unlimited"),
    # RULE: size_parameter_with_unit (only local(8) parses it)
    ({"mailbox_size_limit": "10M"}, "local",
     r"local\[\d+\]: fatal: bad numerical configuration: mailbox_size_limit = 10M"),
], ids=["mailbox<message", "virtual<message", "message=0/local", "message=0/virtual",
        "mailbox=10M"])
def test_delivery_agent_dies_and_mail_stays_queued(tmp_path, params, rcpt, fatal):
    with MailPair(tmp_path, sasl=None, main_cf_extra=params) as p:
        to = p.local_rcpt if rcpt == "local" else p.virtual_rcpt
        res = p.send_test_mail(rcpt=to)
        assert res["data"][0] == 250, res          # smtpd accepts ...
        qid = res["data"][1].decode().rsplit(" ", 1)[-1]
        expect_log(p, fatal)                       # ... the delivery agent dies
        agent = expect_log(p, THROTTLE)
        assert ("local" in agent) == (rcpt == "local"), agent
        assert qid in p.queue_ids()                # ... and the message is not delivered
        assert not p.wait_for_log(qid + r": to=.*status=sent", timeout=0.2), p.format_logs()


def test_equal_size_limits_are_fine(tmp_path):
    with MailPair(tmp_path, sasl=None, main_cf_extra={
            "mailbox_size_limit": "10240000", "virtual_mailbox_limit": "10240000",
            "message_size_limit": "10240000"}) as p:
        for to in (p.local_rcpt, p.virtual_rcpt):
            assert p.send_test_mail(rcpt=to)["data"][0] == 250
        assert p.wait_for_log(r"to=<devnull@.*status=sent")
        assert p.wait_for_log(r"to=<vuser@.*status=sent")


# ---------------------------------------------------------------------------
# 6: queue_minfree / message_size_limit refusing every MAIL FROM
# ---------------------------------------------------------------------------

@pytest.mark.parametrize("params", [
    {"queue_minfree": "99999999999999"},   # RULE: queue_minfree_above_filesystem_size
    {"queue_minfree": "-1"},               # RULE: size_parameter_negative
    {"message_size_limit": "-1"},          # RULE: size_parameter_negative
], ids=["queue_minfree>disk", "queue_minfree=-1", "message_size_limit=-1"])
def test_every_mail_from_gets_452(tmp_path, params):
    with MailPair(tmp_path, sasl=None, main_cf_extra=params) as p:
        res = p.send_test_mail()
        assert res["mail"] == (452, b"4.3.1 Insufficient system storage"), (res, p.format_logs())
        expect_log(p, r"NOQUEUE: reject: MAIL from .*: 452 4.3.1 Insufficient system storage")
        expect_log(p, r"warning: not enough free space in mail queue: \d+ bytes < "
                      r"1.5\*message size limit")


def test_queue_minfree_below_one_and_a_half_message_size_warns(tmp_path):
    # RULE: queue_minfree_below_1_5_message_size_limit (WARNING only)
    with MailPair(tmp_path, sasl=None, main_cf_extra={"queue_minfree": "1000000"}) as p:
        assert p.send_test_mail()["data"][0] == 250
        expect_log(p, r"warning: queue_minfree\(1000000\) should be at least "
                      r"1.5\*message_size_limit\(10240000\)")


# ---------------------------------------------------------------------------
# 7: bad numbers and times
# ---------------------------------------------------------------------------

@pytest.mark.parametrize("name,value,msg", [
    # RULE: default_process_limit_min_1
    ("default_process_limit", "0", "fatal: invalid default_process_limit parameter value 0 < 1"),
    # RULE: header_size_limit_min_1
    ("header_size_limit", "0", "fatal: invalid header_size_limit parameter value 0 < 1"),
    # RULE: size_parameter_with_unit
    ("message_size_limit", "10M", "fatal: bad numerical configuration: message_size_limit = 10M"),
    # RULE: int_parameter_out_of_range
    ("header_size_limit", "2147483648",
     "fatal: bad numerical configuration: header_size_limit = 2147483648"),
])
def test_postfix_check_refuses(tmp_path, name, value, msg):
    with MailPair(tmp_path, sasl=None, autostart=False) as p:
        p.set_main({name: value})
        rc, out = p.postfix_check()
        assert rc != 0 and msg in out, (rc, out)


@pytest.mark.parametrize("value,msg", [
    # RULE: anvil_rate_time_unit_positive
    ("0", "fatal: invalid anvil_rate_time_unit: 0 (min 1)"),
    # RULE: time_value_syntax (no fractions)
    ("1.5m", "fatal: parameter anvil_rate_time_unit: bad time value or unit: 1.5m"),
    # RULE: time_value_syntax (unit letters s m h d w only)
    ("10x", "fatal: parameter anvil_rate_time_unit: bad time value or unit: 10x"),
])
def test_bad_anvil_rate_time_unit_kills_anvil_and_hangs_smtpd(tmp_path, value, msg):
    # anvil is only used for clients that are not in smtpd_client_event_limit_exceptions
    with MailPair(tmp_path, sasl=None, main_cf_extra={
            "anvil_rate_time_unit": value,
            "smtpd_client_event_limit_exceptions": ""}) as p:
        rc, out = p.postfix_check()
        assert rc == 0, out            # postfix check does not notice
        assert p.probe(timeout=1.5) is None, p.format_logs()   # no greeting: smtpd waits for anvil
        expect_log(p, r"anvil\[\d+\]: " + msg.replace("(", r"\(").replace(")", r"\)"))
        assert "anvil" in expect_log(p, THROTTLE)


@pytest.mark.parametrize("name,value", [
    # RULE: int_parameter_out_of_range
    ("smtpd_client_connection_rate_limit", "4294967296"),
    # RULE: integer_parameter_syntax
    ("smtpd_client_message_rate_limit", "abc"),
    # RULE: size_parameter_out_of_range
    ("queue_minfree", "20000000000000000000"),
])
def test_bad_smtpd_number_is_fatal_at_run_time(tmp_path, name, value):
    with MailPair(tmp_path, sasl=None, main_cf_extra={name: value}) as p:
        assert p.postfix_check()[0] == 0
        assert_smtpd_dead(p, rf"smtpd\[\d+\]: fatal: bad numerical configuration: {name} = {value}")


def test_service_throttle_time_zero_stops_master(tmp_path):
    # RULE: time_parameter_positive (service_throttle_time)
    with MailPair(tmp_path, sasl=None, main_cf_extra={"service_throttle_time": "0"},
                  autostart=False) as p:
        assert not p.start_postfix(check=False)
        expect_log(p, r"master\[\d+\]: fatal: invalid service_throttle_time: 0 \(min 1\)")
        # and `postfix start` misreports it
        rc, out = p.postfix_command("start")
        assert rc == 1 and "the Postfix mail system is already running" in out, out


# ---------------------------------------------------------------------------
# 8: address lists
# ---------------------------------------------------------------------------

def test_unbracketed_ipv6_in_exceptions_kills_smtpd(tmp_path):
    # RULE: address_list_ipv6_needs_brackets
    with MailPair(tmp_path, sasl=None, main_cf_extra={
            "smtpd_client_connection_rate_limit": "2",
            "smtpd_client_event_limit_exceptions": "127.0.0.1, ::1"}) as p:
        assert_smtpd_dead(p, r'fatal: open dictionary: expecting "type:name" form instead of "::1"')


@pytest.mark.parametrize("exceptions,warning", [
    ("127.0.0.1/8, 127.0.0.1",
     r'non-null host address bits in "127.0.0.1/8", perhaps you should use "127.0.0.0/8" instead'),
    ("1.2.3.4/33, 127.0.0.1", r'bad mask length in "1.2.3.4/33"'),
    ("2001:db8::/32, 127.0.0.1", r"smtpd_client_event_limit_exceptions: 2001:db8::/32: table lookup problem"),
    ("hash:/nonexistent, 127.0.0.1", r"smtpd_client_event_limit_exceptions: hash:/nonexistent: table lookup problem"),
], ids=["host-bits", "mask33", "ipv6-unbracketed", "missing-table"])
def test_bad_exception_entry_voids_the_whole_list(tmp_path, exceptions, warning):
    # RULE: address_list_invalid_entry
    # smtpd stays up, but the broken entry stops the match: 127.0.0.1, listed
    # explicitly afterwards, is still rate limited.
    with MailPair(tmp_path, sasl=None, main_cf_extra={
            "smtpd_client_connection_rate_limit": "2",
            "smtpd_client_event_limit_exceptions": exceptions}) as p:
        replies = [p.probe(timeout=3, send=["QUIT"]) or "" for _ in range(3)]
        assert replies[0].startswith("220") and replies[1].startswith("220"), replies
        assert replies[2].startswith("421 4.7.0 mail.test.example Error: too many connections"), \
            (replies, p.format_logs())
        expect_log(p, warning)


def test_valid_bracketed_exceptions_work(tmp_path):
    with MailPair(tmp_path, sasl=None, main_cf_extra={
            "smtpd_client_connection_rate_limit": "2",
            "smtpd_client_event_limit_exceptions": "[::1]/128, 127.0.0.1"}) as p:
        replies = [p.probe(timeout=3, send=["QUIT"]) or "" for _ in range(4)]
        assert all(r.startswith("220") for r in replies), (replies, p.format_logs())


# ---------------------------------------------------------------------------
# 9: Dovecot listener / mechanism mistakes
# ---------------------------------------------------------------------------

def test_dovecot_listener_user_missing_refuses_to_start(tmp_path):
    # RULE: dovecot_listener_user_exists
    with MailPair(tmp_path, sasl="unix", autostart=False) as p:
        p.write_dovecot_conf(listener=p.dovecot_listener(user="nosuchuser"))
        assert p.doveconf_check()[0] == 0          # doveconf -n does not notice
        assert not p.start_dovecot(check=False)
        expect_log(p, r"Fatal: service\(auth\) User doesn't exist: nosuchuser")
        p.start_postfix()
        assert_smtpd_dead(p, NO_MECH)
        expect_log(p, r"Connect to Dovecot auth socket 'private/auth' failed: No such file or directory")


@pytest.mark.parametrize("opts,error", [
    # RULE: dovecot_listener_mode_nonzero (mode 0 silently disables the listener)
    ({"mode": "0000"}, "No such file or directory"),
    # RULE: dovecot_listener_mode_postfix_rw
    ({"mode": "0600", "user": "root", "group": "root"}, "Permission denied"),
], ids=["mode0000", "mode0600-root"])
def test_dovecot_listener_mode_locks_out_postfix(tmp_path, opts, error):
    with MailPair(tmp_path, sasl="unix", autostart=False) as p:
        p.write_dovecot_conf(listener=p.dovecot_listener(**opts))
        assert p.doveconf_check()[0] == 0
        p.start_dovecot(check=False, timeout=1.0)
        assert p.dovecot_running()
        p.start_postfix()
        assert_smtpd_dead(p, NO_MECH)
        expect_log(p, rf"Connect to Dovecot auth socket 'private/auth' failed: {error}")


def test_dovecot_inet_listener_port_in_use_refuses_to_start(tmp_path):
    # RULE: dovecot_listener_port_conflict
    with MailPair(tmp_path, sasl="tcp", autostart=False) as p:
        p.start_postfix()
        p.write_dovecot_conf(listener=p.dovecot_listener(port=str(p.smtp_port)))
        assert not p.start_dovecot(check=False)
        expect_log(p, rf"service\(auth\): listen\(127.0.0.1, {p.smtp_port}\) failed: Address already in use")
        expect_log(p, r"Fatal: Failed to start listeners")


@pytest.mark.parametrize("mechs,fatal", [
    # RULE: dovecot_auth_mechanisms_known
    ("plain fooo", r"auth: Fatal: Unknown authentication mechanism 'FOOO'"),
    # RULE: dovecot_auth_mechanisms_nonempty
    ("", r"auth: Fatal: No authentication mechanisms configured"),
], ids=["unknown", "empty"])
def test_dovecot_bad_auth_mechanisms_kill_auth_and_smtpd(tmp_path, mechs, fatal):
    with MailPair(tmp_path, sasl="unix", auth_mechanisms=mechs) as p:
        assert p.doveconf_check()[0] == 0
        assert_smtpd_dead(p, NO_MECH)
        expect_log(p, fatal)


# ---------------------------------------------------------------------------
# 12: smtpd_tls_auth_only without a certificate
# ---------------------------------------------------------------------------

def test_tls_auth_only_without_certificate_never_offers_auth(tmp_path):
    # RULE: tls_auth_only_without_tls
    with MailPair(tmp_path, sasl="unix", main_cf_extra={
            "smtpd_tls_auth_only": "yes", "smtpd_tls_cert_file": "",
            "smtpd_tls_key_file": ""}) as p:
        with p.smtp() as s:
            s.ehlo()
            assert not s.has_extn("auth")
            assert s.docmd("STARTTLS") == (454, b"4.7.0 TLS not available due to local problem")
            assert p.auth_plain(s, p.user, p.password)[0] == 503
        expect_log(p, r"warning: No server certs available. TLS won't be enabled")


# ---------------------------------------------------------------------------
# 13: found on the way
# ---------------------------------------------------------------------------

@pytest.mark.parametrize("path,fatal", [
    # RULE: sasl_path_default_with_dovecot
    ("smtpd", r"Connect to Dovecot auth socket 'smtpd' failed: No such file or directory"),
    # RULE: sasl_path_inet_needs_port
    ("inet:127.0.0.1", r"smtpd\[\d+\]: fatal: 127.0.0.1: garbage after numerical service"),
], ids=["default-smtpd", "inet-no-port"])
def test_bad_sasl_path_kills_smtpd(tmp_path, path, fatal):
    with MailPair(tmp_path, sasl="unix", main_cf_extra={"smtpd_sasl_path": path}) as p:
        first = p.probe(timeout=1.5)
        assert not first, first
        expect_log(p, fatal)
        assert "smtpd" in expect_log(p, THROTTLE)


def test_tls_encrypt_without_certificate_refuses_all_mail(tmp_path):
    # RULE: tls_encrypt_without_certificate
    with MailPair(tmp_path, sasl=None, main_cf_extra={
            "smtpd_tls_security_level": "encrypt", "smtpd_tls_cert_file": "",
            "smtpd_tls_key_file": ""}) as p:
        with p.smtp() as s:
            s.ehlo()
            assert s.docmd("STARTTLS") == (454, b"4.7.0 TLS not available due to local problem")
            res = p.send_test_mail(s)
        assert res["mail"] == (530, b"5.7.0 Must issue a STARTTLS command first"), res
        expect_log(p, r"warning: No server certs available. TLS won't be enabled")
