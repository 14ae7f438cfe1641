"""The change plan on the bundled Debian 12 configuration, judged by the real postconf and doveconf."""

import difflib
import shutil
import subprocess
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from conftest import GUIDE
from wizard.settings.model import Limits, Sasl, Settings
from wizard.change.plan import FileChange, make_plan
from wizard.server.state import Server

UNIX, EIGHT = GUIDE.sasl, GUIDE.limits          # the shipped rhel9-guide preset
TCP = Sasl(enabled=True, type="dovecot", socket="tcp", address="127.0.0.1", port=12345)

needs_postconf = pytest.mark.skipif(not shutil.which("postconf"), reason="Postfix is not installed")
needs_doveconf = pytest.mark.skipif(not shutil.which("doveconf"), reason="Dovecot is not installed")


def apply(plan) -> None:
    for change in plan.changes:
        change.path.write_text(change.new)


def postconf_n(postfix_dir: Path) -> dict[str, str]:
    result = subprocess.run(["postconf", "-c", str(postfix_dir), "-n"], capture_output=True,
                            text=True, check=True)
    assert "warning" not in result.stderr, result.stderr
    return dict(line.split(" = ", 1) if " = " in line else (line.rstrip(" ="), "")
                for line in result.stdout.splitlines())


def doveconf_n(dovecot_dir: Path) -> str:
    result = subprocess.run(["doveconf", "-c", str(dovecot_dir / "dovecot.conf"), "-n"],
                            capture_output=True, text=True)
    assert result.returncode == 0, result.stderr
    return result.stdout


def test_nothing_to_change_means_no_diff(sample_dirs):
    server = Server.load(*sample_dirs)
    assert make_plan(server, Settings()).changes == []
    same = Settings(limits=Limits(message_size_limit=10240000, default_process_limit=100))
    assert make_plan(server, same).changes == []


def test_current_values_survive_a_save_and_reload(sample_dirs):
    server = Server.load(*sample_dirs)
    assert make_plan(server, server.current()).changes == []


@needs_postconf
@needs_doveconf
def test_guide_recipe_over_unix_socket(sample_dirs):
    postfix_dir, dovecot_dir = sample_dirs
    before_postfix, before_dovecot = postconf_n(postfix_dir), doveconf_n(dovecot_dir)
    plan = make_plan(Server.load(*sample_dirs), Settings(limits=EIGHT, sasl=UNIX))
    assert not plan.blocked, plan.findings
    assert sorted(c.path.name for c in plan.changes) == ["10-auth.conf", "10-master.conf", "main.cf"]
    assert all(c.diff.startswith("---") for c in plan.changes)
    apply(plan)

    after = postconf_n(postfix_dir)
    assert after["smtpd_sasl_path"] == "private/auth"
    assert after["smtpd_sasl_security_options"] == "noanonymous, noplaintext"
    assert after["smtpd_client_connection_rate_limit"] == "30"
    assert {k: v for k, v in after.items() if k in before_postfix} == before_postfix | {
        k: after[k] for k in before_postfix if k in plan.main_cf}
    dovecot = doveconf_n(dovecot_dir)
    assert "unix_listener /var/spool/postfix/private/auth {" in dovecot
    assert "auth_mechanisms = plain login" in dovecot
    assert dovecot.count("unix_listener") == before_dovecot.count("unix_listener") + 1


@needs_doveconf
def test_switching_to_tcp_removes_only_our_unix_listener(sample_dirs):
    postfix_dir, dovecot_dir = sample_dirs
    master = dovecot_dir / "conf.d" / "10-master.conf"
    master.write_text(master.read_text().replace(
        "service auth {\n", "service auth {\n  unix_listener auth-userdb {\n    mode = 0600\n  }\n", 1))
    apply(make_plan(Server.load(*sample_dirs), Settings(sasl=UNIX)))
    plan = make_plan(Server.load(*sample_dirs), Settings(sasl=TCP))
    apply(plan)
    dovecot = doveconf_n(dovecot_dir)
    assert "/var/spool/postfix/private/auth" not in dovecot
    assert "unix_listener auth-userdb" in dovecot          # Dovecot's own listener stays
    assert "inet_listener postfix-sasl {\n    address = 127.0.0.1\n    port = 12345" in dovecot
    assert Server.load(*sample_dirs).raw("smtpd_sasl_path") == "inet:127.0.0.1:12345"

    back = make_plan(Server.load(*sample_dirs), Settings(sasl=UNIX))
    apply(back)
    dovecot = doveconf_n(dovecot_dir)
    assert "inet_listener postfix-sasl" not in dovecot
    assert "unix_listener /var/spool/postfix/private/auth" in dovecot


def test_changing_the_port_updates_the_listener_in_place(sample_dirs):
    apply(make_plan(Server.load(*sample_dirs), Settings(sasl=TCP)))
    plan = make_plan(Server.load(*sample_dirs), Settings(sasl=Sasl(port=12346)))
    master = next(c for c in plan.changes if c.path.name == "10-master.conf")
    assert [line for line in master.diff.splitlines() if line[:1] in "+-" and line[:3] not in
            ("+++", "---")] == ["-    port = 12345", "+    port = 12346"]
    assert plan.main_cf == {"smtpd_sasl_path": "inet:127.0.0.1:12346"}


def test_blocked_plan_still_shows_diff_and_errors(sample_dirs):
    plan = make_plan(Server.load(*sample_dirs), Settings(sasl=Sasl(
        enabled=True, type="dovecot", security_options=["noanonymous"])))
    assert plan.blocked
    assert any(f.code == "plaintext-exposed" for f in plan.findings)
    assert plan.changes


def test_main_cf_edit_keeps_every_comment(sample_dirs):
    main = sample_dirs[0] / "main.cf"
    comments = [line for line in main.read_text().splitlines() if line.startswith("#")]
    plan = make_plan(Server.load(*sample_dirs), Settings(limits=EIGHT))
    new = next(c.new for c in plan.changes if c.path == main)
    assert [line for line in new.splitlines() if line.startswith("#")] == comments


def test_a_default_that_refers_to_a_changed_parameter_is_written_out(sample_dirs):
    # smtpd_sasl_tls_security_options defaults to $smtpd_sasl_security_options: keeping TLS
    # sessions at "noanonymous" while plain sessions get noplaintext needs an explicit line.
    server = Server.load(*sample_dirs)
    plan = make_plan(server, Settings(sasl=Sasl(security_options=["noanonymous", "noplaintext"],
                                                tls_security_options=["noanonymous"])))
    assert plan.main_cf == {"smtpd_sasl_security_options": "noanonymous, noplaintext",
                            "smtpd_sasl_tls_security_options": "noanonymous"}
    unchanged = make_plan(server, Settings(sasl=Sasl(tls_security_options=["noanonymous"])))
    assert unchanged.main_cf == {}


@given(st.lists(st.integers(0, 10**6), unique=True, max_size=40),
       st.lists(st.tuples(st.sampled_from("adc"), st.integers(0, 60), st.integers(0, 10**6)),
                max_size=5))
def test_trimmed_diff_equals_difflib_on_the_whole_file(keys, edits):
    old = [f"line {k}\n" for k in keys]
    new = list(old)
    for op, where, value in edits:
        if op == "a":
            new.insert(where % (len(new) + 1), f"new {value}\n")
        elif new:
            del new[where % len(new)]
            if op == "c":
                new.insert(where % (len(new) + 1), f"changed {value}\n")
    expected = "".join(difflib.unified_diff(old, new, "f (now)", "f (after)"))
    assert FileChange(Path("f"), "".join(old), "".join(new)).unified("f") == expected


def test_switching_socket_kind_keeps_the_old_listener_until_postfix_has_moved(sample_dirs):
    apply(make_plan(Server.load(*sample_dirs), Settings(sasl=UNIX)))
    plan = make_plan(Server.load(*sample_dirs), Settings(sasl=TCP))
    master = next(c for c in plan.changes if c.path.name == "10-master.conf")
    unix, inet = "unix_listener /var/spool/postfix/private/auth {", "inet_listener postfix-sasl {"
    assert live(master.old, unix) and not live(master.old, inet)
    assert live(master.interim, unix) and live(master.interim, inet)
    assert not live(master.new, unix) and live(master.new, inet)


def test_a_change_that_removes_no_listener_has_no_interim(sample_dirs):
    plan = make_plan(Server.load(*sample_dirs), Settings(limits=EIGHT, sasl=UNIX))
    assert all(change.interim is None for change in plan.changes)


def live(text: str, start: str) -> bool:
    """Whether a line that is not a comment starts with `start`."""
    return any(line.strip().startswith(start) for line in text.splitlines())
