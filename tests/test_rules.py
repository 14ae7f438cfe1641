"""Every validation rule: good input passes, bad input fails, and the message says what and how."""

import importlib
import inspect
import os
import pkgutil
import timeit

import pytest

from conftest import GUIDE
from wizard import rules
from wizard.findings import Finding
from wizard.settings.model import Limits, Sasl, Settings
from wizard.server.state import Server

# The shipped rhel9-guide preset's SASL: the guide's recipe plus tls_auth_only
# (see test_guide_recipe_as_written_kills_smtpd).
GUIDE_SASL = GUIDE.sasl.model_dump(exclude_none=True)


@pytest.fixture
def server(sample_dirs):
    def load(main_extra: str = "", master_extra: str = "") -> Server:
        postfix_dir, dovecot_dir = sample_dirs
        for name, extra in (("main.cf", main_extra), ("master.cf", master_extra)):
            if extra:
                with open(postfix_dir / name, "a") as file:
                    file.write(extra)
        return Server.load(postfix_dir, dovecot_dir)
    return load


def codes(server, **sections) -> dict[str, Finding]:
    settings = Settings(limits=Limits(**sections.get("limits", {})),
                        sasl=Sasl(**sections.get("sasl", {})))
    return {f.code: f for f in rules.check(server, settings)}


def only(found: dict, code: str) -> Finding:
    assert code in found, f"expected {code}, got {sorted(found)}"
    return found[code]


# Field rules -------------------------------------------------------------------------------

@pytest.mark.parametrize("key, text, value", [
    ("limits.anvil_rate_time_unit", "60s", "60s"),
    ("limits.anvil_rate_time_unit", "5m", "5m"),
    ("limits.message_size_limit", "10M", 10 * 1024 * 1024),
    ("limits.message_size_limit", "10MB", 10_000_000),
    ("limits.queue_minfree", "30720000", 30720000),
    ("limits.smtpd_client_event_limit_exceptions", "$mynetworks, [2001:db8::]/32", None),
    ("sasl.port", "12345", 12345),
    ("sasl.mechanisms", "plain login", ["plain", "login"]),
    ("sasl.security_options", "noanonymous, noplaintext", ["noanonymous", "noplaintext"]),
])
def test_field_accepts_valid_input(key, text, value):
    parsed, findings = rules.check_field(key, text)
    assert findings == []
    assert parsed == (value if value is not None else text)


@pytest.mark.parametrize("key, text, words", [
    ("limits.anvil_rate_time_unit", "1.5m", "no fractions"),
    ("limits.anvil_rate_time_unit", "0", "below the smallest"),
    ("limits.anvil_rate_time_unit", "10x", "unit s, m, h, d or w"),
    ("limits.default_process_limit", "0", "below the smallest allowed value, 1"),
    ("limits.smtpd_client_connection_rate_limit", "-1", "not a whole number"),
    ("limits.smtpd_client_connection_rate_limit", "3000000000", "above the largest"),
    ("limits.header_size_limit", "0", "below the smallest"),
    ("limits.smtpd_client_event_limit_exceptions", "::1", "Write it as [::1]"),
    ("limits.smtpd_client_event_limit_exceptions", "2001:db8::/32", "[2001:db8::]/32"),
    ("limits.smtpd_client_event_limit_exceptions", "192.168.1.1/24", "192.168.1.0/24"),
    ("limits.smtpd_client_event_limit_exceptions", "1.2.3.4/33", "not a valid IP"),
    ("limits.smtpd_client_event_limit_exceptions", "$mynetworks # mine", "'#'"),
    ("limits.smtpd_client_event_limit_exceptions", "127.0.0.1\nmynetworks = 0.0.0.0/0",
     "line break"),
    ("limits.smtpd_client_event_limit_exceptions", " $mynetworks", None),
    ("sasl.path", "../../etc/shadow", "without '..'"),
    ("sasl.path", "private/auth }", "single word"),
    ("sasl.mode", "0999", "octal"),
    ("sasl.user", "post fix", "single word"),
    ("sasl.user", "postfix\n}", "line break"),
    ("sasl.address", "localhost", "not an IP address"),
    ("sasl.port", "0", "below the smallest"),
    ("sasl.port", "70000", "above the largest"),
    ("sasl.mechanisms", "plain fooo", "'fooo' is not one of"),
    ("sasl.security_options", "noanonymouse", "not one of"),
])
def test_field_refuses_invalid_input(key, text, words):
    value, findings = rules.check_field(key, text)
    assert value is None
    [finding] = findings
    assert finding.severity == "error" and finding.fields == (key,)
    assert rules.param_for(key).name in finding.message
    if words:
        assert words in finding.message
    assert finding.fix


def test_leading_space_inside_value_is_refused_by_the_model():
    with pytest.raises(ValueError, match="starts or ends with a space"):
        Limits(smtpd_client_event_limit_exceptions=" $mynetworks")


def test_one_field_validates_well_under_a_millisecond():
    runs = 2000
    seconds = timeit.timeit(lambda: rules.check_field(
        "limits.smtpd_client_event_limit_exceptions", "$mynetworks 10.0.0.0/8 [::1]/128"),
        number=runs)
    # Not a speed gate (see bench/): a guard against an accidental O(seconds) regression.
    assert seconds / runs < 0.001


# Cross-field rules -------------------------------------------------------------------------

def test_order_runs_every_rule_once():
    """rules.ORDER is written by hand: a rule defined in a subject module but left out of it
    would never run. A rule is a public function of one Context."""
    modules = [importlib.import_module(m.name)
               for m in pkgutil.iter_modules(rules.__path__, "wizard.rules.")]
    defined = {function for module in modules for name, function in vars(module).items()
               if inspect.isfunction(function) and function.__module__ == module.__name__
               and not name.startswith("_")
               and [p.annotation for p in inspect.signature(function).parameters.values()]
               == ["Context"]}
    assert len(rules.ORDER) == len(set(rules.ORDER))
    assert set(rules.ORDER) == defined


def test_stock_debian_with_guide_recipe_has_no_errors(server):
    found = codes(server(), sasl=GUIDE_SASL, limits=dict(
        smtpd_client_connection_rate_limit=30, smtpd_client_event_limit_exceptions="$mynetworks"))
    assert not [f for f in found.values() if f.severity == "error"], found


def test_guide_recipe_as_written_kills_smtpd(server):
    # docs/daemon-findings.md section 1: with smtpd_tls_auth_only = no, every mechanism is
    # filtered out before STARTTLS and smtpd dies on connect.
    finding = only(codes(server(), sasl={**GUIDE_SASL, "tls_auth_only": False}),
                   "no-mechanism-before-tls")
    assert finding.severity == "error"
    assert "fatal: no SASL authentication mechanisms" in finding.message
    assert "smtpd_tls_auth_only = yes" in finding.fix
    assert "no-mechanism-before-tls" not in codes(server(), sasl=GUIDE_SASL)
    assert "no-mechanism-before-tls" not in codes(server(), sasl={
        **GUIDE_SASL, "tls_auth_only": False, "security_options": ["noanonymous"],
        "mechanisms": ["cram-md5"]})


def test_queue_minfree_below_one_and_a_half_message_size_warns(server):
    srv = server()
    assert "queue-minfree-small" not in codes(srv, limits=dict(queue_minfree=30720000))
    finding = only(codes(srv, limits=dict(queue_minfree=1000, message_size_limit=10240000)),
                   "queue-minfree-small")
    assert finding.severity == "warning"
    assert "15360000" in finding.message and "15360000" in finding.fix


def test_queue_minfree_above_free_space_is_an_error(server, tmp_path):
    srv = server(main_extra=f"queue_directory = {tmp_path}\n")
    free = os.statvfs(tmp_path).f_bavail * os.statvfs(tmp_path).f_frsize
    assert "queue-space" not in codes(srv, limits=dict(queue_minfree=1024))
    finding = only(codes(srv, limits=dict(queue_minfree=free * 2, message_size_limit=0)),
                   "queue-space")
    assert finding.severity == "error" and "452 4.3.1" in finding.message


def test_message_size_above_mailbox_limit_is_an_error(server):
    srv = server(main_extra="mailbox_size_limit = 51200000\n")
    assert "mailbox_size_limit-too-small" not in codes(srv, limits=dict(message_size_limit=51200000))
    finding = only(codes(srv, limits=dict(message_size_limit=60000000)),
                   "mailbox_size_limit-too-small")
    assert finding.severity == "error"
    assert "local(8)" in finding.message and "51200000" in finding.fix


def test_unlimited_mailbox_allows_any_message_size(server):
    # The Debian sample sets mailbox_size_limit = 0 (no limit).
    assert "mailbox_size_limit-too-small" not in codes(server(), limits=dict(
        message_size_limit=50_000_000))


def test_unlimited_message_size_with_limited_mailbox_is_an_error_where_virtual_runs(server):
    # virtual(8): "virtual_mailbox_limit is limited but message_size_limit is unlimited"
    srv = server(main_extra="virtual_mailbox_domains = example.net\n")
    finding = only(codes(srv, limits=dict(message_size_limit=0)), "virtual_mailbox_limit-too-small")
    assert "unlimited" in finding.message and finding.severity == "error"
    assert "Set virtual_mailbox_limit to 0" in finding.fix


def test_a_limit_for_an_agent_that_gets_no_mail_is_a_warning_saying_when_it_matters(server):
    # Stock Debian 12: virtual_mailbox_domains is empty and no transport names virtual.
    finding = only(codes(server(), limits=dict(message_size_limit=104857600,
                                               queue_minfree=209715200)),
                   "virtual_mailbox_limit-too-small")
    assert finding.severity == "warning"
    assert "virtual_mailbox_domains" in finding.message and "nothing fails yet" in finding.message
    assert "Raise virtual_mailbox_limit to at least 104857600" in finding.fix


@pytest.mark.parametrize("main_extra, files", [
    ("virtual_mailbox_domains = example.net\n", {}),
    ("virtual_mailbox_domains = hash:/etc/postfix/vdomains\n", {}),
    ("transport_maps = inline:{{ example.org=virtual }}\n", {}),
    ("transport_maps = hash:{dir}/transport\n", {"transport": "# c\nexample.org  virtual:\n"}),
    ("transport_maps = pcre:{dir}/transport.pcre\n", {"transport.pcre": "/x/ virtual\n"}),
    ("transport_maps = mysql:/etc/postfix/mysql-transport.cf\n", {}),   # cannot be read
    ("transport_maps = hash:{dir}/missing\n", {}),                      # cannot be read
    ("default_transport = virtual\n", {}),
], ids=["domains", "domains-table", "inline-map", "hash-map", "pcre-map", "sql-map",
        "missing-map", "default_transport"])
def test_virtual_is_reachable_through_domains_or_any_transport(server, sample_dirs, main_extra,
                                                               files):
    postfix_dir = sample_dirs[0]
    for name, text in files.items():
        (postfix_dir / name).write_text(text)
    srv = server(main_extra=main_extra.format(dir=postfix_dir))
    finding = only(codes(srv, limits=dict(message_size_limit=60000000)),
                   "virtual_mailbox_limit-too-small")
    assert finding.severity == "error", finding


def test_a_transport_map_that_routes_elsewhere_keeps_virtual_unused(server, sample_dirs):
    postfix_dir = sample_dirs[0]
    (postfix_dir / "transport").write_text("example.org  smtp:[relay.example]\n"
                                           "example.com  :[mx.example]\n")
    srv = server(main_extra=f"transport_maps = hash:{postfix_dir}/transport\n")
    finding = only(codes(srv, limits=dict(message_size_limit=60000000)),
                   "virtual_mailbox_limit-too-small")
    assert finding.severity == "warning"


def test_local_disabled_makes_mailbox_size_limit_a_warning(server):
    srv = server(main_extra="mailbox_size_limit = 51200000\n"
                            "local_transport = error:local delivery is disabled\n")
    finding = only(codes(srv, limits=dict(message_size_limit=60000000)),
                   "mailbox_size_limit-too-small")
    assert finding.severity == "warning" and "local(8)" in finding.message


def test_raising_the_mailbox_limits_in_the_same_change_clears_the_error(server):
    srv = server(main_extra="mailbox_size_limit = 51200000\n"
                            "virtual_mailbox_domains = example.net\n")
    big = dict(message_size_limit=104857600, queue_minfree=209715200)
    found = codes(srv, limits=big)
    assert found["mailbox_size_limit-too-small"].severity == "error"
    assert found["virtual_mailbox_limit-too-small"].severity == "error"
    found = codes(srv, limits=dict(big, mailbox_size_limit=104857600, virtual_mailbox_limit=0))
    assert not {"mailbox_size_limit-too-small", "virtual_mailbox_limit-too-small"} & set(found)


def test_virtual_mailbox_limit_checked_only_when_virtual_runs(server):
    srv = server(main_extra="virtual_mailbox_limit = 1000\nvirtual_mailbox_domains = a.example\n")
    found = codes(srv, limits=dict(message_size_limit=2000))
    assert found["virtual_mailbox_limit-too-small"].severity == "error"
    srv_without = server(main_extra="")
    srv_without.services = [s for s in srv_without.services if s.command != "virtual"]
    srv_without.main = srv.main
    assert "virtual_mailbox_limit-too-small" not in codes(srv_without, limits=dict(
        message_size_limit=2000))


def test_an_unreadable_mailbox_limit_is_an_error_only_where_its_agent_runs(server):
    finding = only(codes(server(main_extra="virtual_mailbox_limit = 10M\n")), "unreadable-current")
    assert finding.severity == "warning" and "virtual(8)" in finding.message
    srv = server(main_extra="virtual_mailbox_domains = a.example\n")
    assert only(codes(srv), "unreadable-current").severity == "error"


def test_rate_limits_on_own_networks_warn(server):
    srv = server()
    assert "own-networks-limited" not in codes(srv, limits=dict(
        smtpd_client_connection_rate_limit=30, smtpd_client_event_limit_exceptions="$mynetworks"))
    finding = only(codes(srv, limits=dict(smtpd_client_connection_rate_limit=30,
                                          smtpd_client_event_limit_exceptions="192.0.2.0/24")),
                   "own-networks-limited")
    assert finding.severity == "warning" and "127.0.0.0/8" in finding.message
    assert "$mynetworks" in finding.fix


def test_connection_count_limit_at_process_limit_warns(server):
    srv = server()
    assert "count-limit-fills-smtpd" not in codes(srv, limits=dict(
        smtpd_client_connection_count_limit=50, default_process_limit=100))
    finding = only(codes(srv, limits=dict(smtpd_client_connection_count_limit=100,
                                          default_process_limit=100)), "count-limit-fills-smtpd")
    assert "100 smtpd processes" in finding.message


def test_soft_error_limit_above_hard_warns(server):
    srv = server()
    assert "soft-above-hard" not in codes(srv, limits=dict(smtpd_soft_error_limit=10))
    assert "soft-above-hard" in codes(srv, limits=dict(smtpd_soft_error_limit=30,
                                                       smtpd_hard_error_limit=20))


def test_master_cf_override_that_defeats_a_setting_warns(server):
    srv = server(master_extra="submission inet n       -       y       -       -       smtpd\n"
                              "  -o smtpd_sasl_auth_enable=no\n"
                              "  -o smtpd_client_connection_rate_limit=30\n")
    found = codes(srv, sasl=GUIDE_SASL, limits=dict(smtpd_client_connection_rate_limit=30))
    finding = only(found, "master-override")
    assert "submission" in finding.message and "smtpd_sasl_auth_enable=no" in finding.message
    assert sum(f.code == "master-override" for f in rules.check(srv, Settings(
        sasl=Sasl(**GUIDE_SASL), limits=Limits(smtpd_client_connection_rate_limit=30)))) == 1


def test_absolute_sasl_path_in_chroot_is_an_error(server):
    srv = server()
    assert srv.smtpd_chrooted == ["smtp"]
    finding = only(codes(srv, sasl={**GUIDE_SASL, "path": "/var/spool/postfix/private/auth"}),
                   "absolute-path-chroot")
    assert finding.severity == "error" and "private/auth" in finding.fix
    assert "absolute-path-chroot" not in codes(srv, sasl=GUIDE_SASL)


def test_absolute_sasl_path_without_chroot_is_fine(server, sample_dirs):
    master = sample_dirs[0] / "master.cf"
    master.write_text(master.read_text().replace(
        "smtp      inet  n       -       y", "smtp      inet  n       -       n"))
    assert "absolute-path-chroot" not in codes(server(), sasl={
        **GUIDE_SASL, "path": "/var/spool/postfix/private/auth"})


TCP = dict(GUIDE_SASL, socket="tcp", address="127.0.0.1", port=12345)


def test_tcp_listener_off_loopback_warns_and_wildcard_is_an_error(server):
    srv = server()
    found = codes(srv, sasl=TCP)
    assert "tcp-not-loopback" not in found and "tcp-wildcard" not in found
    warning = only(codes(srv, sasl={**TCP, "address": "192.0.2.10"}), "tcp-not-loopback")
    assert warning.severity == "warning" and "clear text" in warning.message
    wildcard = only(codes(srv, sasl={**TCP, "address": "0.0.0.0"}), "tcp-wildcard")
    assert wildcard.severity == "warning" and "every interface" in wildcard.message


def test_tcp_port_used_by_a_postfix_service_is_an_error(server):
    srv = server()
    finding = only(codes(srv, sasl={**TCP, "port": 25}), "tcp-port-taken")
    assert "smtp" in finding.message
    assert "tcp-port-taken" not in codes(srv, sasl=TCP)


def test_listener_mode_must_let_postfix_in(server):
    srv = server()
    assert "listener-unreachable" not in codes(srv, sasl=GUIDE_SASL)
    finding = only(codes(srv, sasl={**GUIDE_SASL, "mode": "0600", "user": "dovecot"}),
                   "listener-unreachable")
    assert "no SASL authentication mechanisms" in finding.message
    warning = only(codes(srv, sasl={**GUIDE_SASL, "mode": "0666"}), "listener-world")
    assert warning.severity == "warning"


def test_listener_owner_must_exist(server):
    finding = only(codes(server(), sasl={**GUIDE_SASL, "user": "nosuchuser4711"}),
                   "listener-user-missing")
    assert "nosuchuser4711" in finding.message and "refuses to start" in finding.message


def test_plaintext_before_starttls_is_an_error(server):
    srv = server()
    exposed = {**GUIDE_SASL, "security_options": ["noanonymous"], "tls_auth_only": False}
    finding = only(codes(srv, sasl=exposed), "plaintext-exposed")
    assert finding.severity == "error" and "smtpd_tls_auth_only" in finding.fix
    assert "plaintext-exposed" not in codes(srv, sasl={**exposed, "tls_auth_only": True})
    assert "plaintext-exposed" not in codes(srv, sasl=GUIDE_SASL)
    encrypt = server(main_extra="smtpd_tls_security_level = encrypt\n")
    assert "plaintext-exposed" not in codes(encrypt, sasl=exposed)


def test_every_mechanism_filtered_after_tls_is_an_error(server):
    finding = only(codes(server(), sasl={**GUIDE_SASL,
                                         "tls_security_options": ["noanonymous", "noplaintext"]}),
                   "no-mechanism-after-tls")
    assert finding.severity == "error"


def test_auth_only_after_tls_without_certificate_warns(server, sample_dirs):
    main = sample_dirs[0] / "main.cf"
    main.write_text("\n".join(line for line in main.read_text().splitlines()
                              if not line.startswith("smtpd_tls_")) + "\n")
    finding = only(codes(server(), sasl=GUIDE_SASL), "auth-needs-tls")
    assert finding.severity == "warning" and "smtpd_tls_chain_files" in finding.fix


def test_anonymous_mechanism_without_noanonymous_is_an_open_relay(server):
    finding = only(codes(server(), sasl={**GUIDE_SASL, "mechanisms": ["plain", "anonymous"],
                                         "tls_security_options": ["noplaintext"]}),
                   "anonymous-relay")
    assert "open relay" in finding.message and "after STARTTLS" in finding.message


def test_empty_mechanisms_is_an_error(server):
    assert only(codes(server(), sasl={**GUIDE_SASL, "mechanisms": []}), "no-mechanisms")


def test_sasl_without_permit_sasl_authenticated_warns(server):
    assert "sasl-cannot-relay" not in codes(server(), sasl=GUIDE_SASL)
    srv = server(main_extra="smtpd_relay_restrictions = permit_mynetworks, reject_unauth_destination\n")
    finding = only(codes(srv, sasl=GUIDE_SASL), "sasl-cannot-relay")
    assert "permit_sasl_authenticated" in finding.fix


def test_dovecot_missing_blocks_sasl(server, sample_dirs):
    (sample_dirs[1] / "dovecot.conf").unlink()
    srv = server()
    finding = only(codes(srv, sasl=GUIDE_SASL), "dovecot-unavailable")
    assert "dovecot.conf" in finding.message and finding.severity == "error"
    assert "dovecot-unavailable" not in codes(srv, limits=dict(message_size_limit=1000000))


def test_dovecot_24_files_block_sasl(server, sample_dirs):
    conf = sample_dirs[1] / "dovecot.conf"
    conf.write_text("dovecot_config_version = 2.4.0\n" + conf.read_text())
    finding = only(codes(server(), sasl=GUIDE_SASL), "dovecot-unavailable")
    assert "2.4" in finding.message


def test_unreadable_current_value_is_reported(server):
    srv = server(main_extra="message_size_limit = 10M\n")
    finding = only(codes(srv), "unreadable-current")
    assert "message_size_limit = 10M" in finding.message
    assert "unreadable-current" not in codes(srv, limits=dict(message_size_limit=10240000))


def test_dovecot_on_another_host_configures_only_postfix(server, sample_dirs):
    from wizard.change.plan import make_plan
    srv = server()
    remote = Settings(sasl=Sasl(**{**TCP, "address": "192.0.2.25"}))
    found = {f.code: f for f in rules.check(srv, remote)}
    assert "192.0.2.25" in only(found, "dovecot-remote").fix
    assert "tcp-not-loopback" in found and not rules.errors(list(found.values()))
    plan = make_plan(srv, remote)
    assert [c.path.name for c in plan.changes] == ["main.cf"]
    assert plan.main_cf["smtpd_sasl_path"] == "inet:192.0.2.25:12345"
    local = make_plan(srv, Settings(sasl=Sasl(**TCP)))
    assert "10-master.conf" in [c.path.name for c in local.changes]


def test_encrypt_level_without_certificate_is_an_error(server, tmp_path):
    srv = server(main_extra=f"smtpd_tls_security_level = encrypt\n"
                            f"smtpd_tls_chain_files = {tmp_path}/missing.pem\n")
    finding = only(codes(srv), "encrypt-without-certificate")
    assert "530 5.7.0" in finding.message
    pem = tmp_path / "missing.pem"
    pem.write_text("x")
    assert "encrypt-without-certificate" not in codes(srv)


def test_missing_table_in_exception_list_is_an_error(server, tmp_path):
    srv = server()
    table = tmp_path / "clients"
    limits = dict(smtpd_client_event_limit_exceptions=f"$mynetworks, hash:{table}")
    finding = only(codes(srv, limits=limits), "exception-table-missing")
    assert f"postmap {table}" in finding.fix and "stops matching" in finding.message
    (tmp_path / "clients.db").write_bytes(b"")
    assert "exception-table-missing" not in codes(srv, limits=limits)


def test_smtpd_failures_are_warnings_where_no_service_runs_smtpd(server, tmp_path):
    srv = server(main_extra=f"queue_directory = {tmp_path}\nsmtpd_tls_security_level = encrypt\n"
                            "smtpd_tls_cert_file = /nonexistent.pem\n")
    limits = dict(queue_minfree=2 ** 62, smtpd_client_event_limit_exceptions="hash:/nonexistent")
    found = codes(srv, limits=limits)
    for code in ("queue-space", "encrypt-without-certificate", "exception-table-missing"):
        assert found[code].severity == "error", code
    srv.services = [s for s in srv.services if s.command != "smtpd"]
    found = codes(srv, limits=limits)
    for code in ("queue-space", "encrypt-without-certificate", "exception-table-missing"):
        assert found[code].severity == "warning" and "runs smtpd" in found[code].message, code
