"""SELinux: the mode, file labels kept and given, port labels, and the rule on Dovecot's TCP port.

No SELinux host is reachable here. Labels are real extended attributes on this machine's
filesystem: `security.selinux` itself where the machine lets it be set (a kernel without SELinux
lets a file's owner set it), and always a `user.` attribute passed through the same functions. The tools
this machine lacks (semanage, matchpathcon, getenforce, restorecon) are stand-in scripts that
print what the real tools print, written from the RHEL 9 policy and the tools' source
(tests/fixtures/selinux/README.md); each records how it was called.
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from conftest import SELINUX_FIXTURES
from test_cli import Box, environment, run, snapshot
from wizard import rules
from wizard.change import backups
from wizard.files import atomic, selinux
from wizard.server.state import Server
from wizard.settings.model import Sasl, Settings

LISTING = (SELINUX_FIXTURES / "semanage-port-l.txt").read_text()
# what matchpathcon -n prints for a file under /etc/postfix on RHEL 9 (postfix.fc:
# /etc/postfix.* -> postfix_etc_t)
POSTFIX_ETC = "system_u:object_r:postfix_etc_t:s0"
SEAM = "user.postfix-wizard-test-label"     # a label attribute any user may set here
NOT_MANAGED = "ValueError: SELinux policy is not managed or store cannot be accessed.\n"


def can_set_security_label() -> bool:
    probe = Path(os.environ.get("TMPDIR", "/tmp")) / f".selinux-probe-{os.getpid()}"
    probe.write_bytes(b"")
    try:
        os.setxattr(probe, selinux.LABEL, POSTFIX_ETC.encode() + b"\0")
        return True
    except OSError:
        return False
    finally:
        probe.unlink()


NO_REAL_LABEL = pytest.mark.skipif(
    not can_set_security_label(),
    reason="this machine does not let security.selinux be set here (SELinux loaded, or a "
           "filesystem without it); the user. attribute case runs the same code")
REAL_LABEL = pytest.param(selinux.LABEL, marks=NO_REAL_LABEL)


def fake_tool(bin_dir: Path, name: str, args: str, out: str = "", err: str = "",
              status: int = 0) -> Path:
    """A stand-in for an SELinux tool: prints `out` and `err` when called with `args` (and
    fails otherwise); each call's arguments go to bin_dir/NAME.calls."""
    bin_dir.mkdir(exist_ok=True)
    (bin_dir / f"{name}.out").write_text(out)
    (bin_dir / f"{name}.err").write_text(err)
    script = bin_dir / name
    script.write_text(
        "#!/bin/sh\n"
        f'printf "%s\\n" "$*" >> "{bin_dir}/{name}.calls"\n'
        f'[ "$*" = "{args}" ] || {{ echo "{name}: unexpected arguments: $*" >&2; exit 2; }}\n'
        f'cat "{bin_dir}/{name}.out"; cat "{bin_dir}/{name}.err" >&2\n'
        f"exit {status}\n")
    script.chmod(0o755)
    return script


def calls(bin_dir: Path, name: str) -> list[str]:
    log = bin_dir / f"{name}.calls"
    return log.read_text().splitlines() if log.exists() else []


@pytest.fixture
def tools(tmp_path, monkeypatch) -> Path:
    """A directory of stand-in tools, first on PATH."""
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    monkeypatch.setenv("PATH", f"{bin_dir}{os.pathsep}{os.environ['PATH']}")
    return bin_dir


def selinux_mode(monkeypatch, name: str) -> None:
    monkeypatch.setenv(selinux.SELINUXFS_ENV, str(SELINUX_FIXTURES / f"selinuxfs-{name}"))


def absent(name: str) -> None:
    if selinux.tool(name):
        pytest.skip(f"this machine has a real {name} ({selinux.tool(name)}), and this test is "
                    f"about a machine without it")


# The mode --------------------------------------------------------------------------------------

@pytest.mark.parametrize("name", ["enforcing", "permissive", "disabled"])
def test_mode_is_read_from_selinuxfs(monkeypatch, name):
    selinux_mode(monkeypatch, name)
    assert selinux.mode() == name


def test_tests_never_see_this_machines_selinux():
    assert os.environ[selinux.SELINUXFS_ENV].endswith("selinuxfs-disabled")
    assert selinux.mode() == "disabled"


@pytest.mark.parametrize("said, mode", [("Enforcing\n", "enforcing"),
                                        ("Permissive\n", "permissive"),
                                        ("Disabled\n", "disabled")])
def test_without_selinuxfs_getenforce_says(monkeypatch, tools, tmp_path, said, mode):
    monkeypatch.delenv(selinux.SELINUXFS_ENV)
    monkeypatch.setattr(selinux, "SELINUXFS", tmp_path / "not-mounted")
    fake_tool(tools, "getenforce", "", out=said)
    assert selinux.mode() == mode
    assert calls(tools, "getenforce") == [""]


def test_without_selinuxfs_or_getenforce_selinux_is_disabled(monkeypatch, tmp_path):
    absent("getenforce")
    monkeypatch.delenv(selinux.SELINUXFS_ENV)
    monkeypatch.setattr(selinux, "SELINUXFS", tmp_path / "not-mounted")
    assert selinux.mode() == "disabled"


# Labels kept on replace ---------------------------------------------------------------------

@pytest.mark.parametrize("attribute", [SEAM, REAL_LABEL])
def test_a_replaced_file_keeps_its_label(tmp_path, attribute):
    path = tmp_path / "main.cf"
    path.write_text("old\n")
    os.setxattr(path, attribute, POSTFIX_ETC.encode() + b"\0")
    before = path.stat().st_ino
    atomic.write_file_atomically(path, b"new\n", label=attribute)
    assert path.read_text() == "new\n" and path.stat().st_ino != before     # a new file
    assert os.getxattr(path, attribute) == POSTFIX_ETC.encode() + b"\0"


def test_the_label_goes_through_copy_label_not_the_other_xattrs(tmp_path, monkeypatch):
    """The label's attribute is copied by selinux.copy_label alone: break it, and it is lost."""
    path = tmp_path / "main.cf"
    path.write_text("old\n")
    os.setxattr(path, SEAM, b"label\0")
    os.setxattr(path, "user.other", b"kept")
    monkeypatch.setattr(selinux, "copy_label", lambda source, target, attribute: False)
    atomic.write_file_atomically(path, b"new\n", label=SEAM)
    assert SEAM not in os.listxattr(path)
    assert os.getxattr(path, "user.other") == b"kept"


def test_a_file_without_a_label_is_replaced_without_one(tmp_path):
    path = tmp_path / "main.cf"
    path.write_text("old\n")
    atomic.write_file_atomically(path, b"new\n", label=SEAM)      # ENODATA: nothing to copy
    assert path.read_text() == "new\n" and SEAM not in os.listxattr(path)


def test_an_attribute_the_filesystem_cannot_keep_fails_nothing(tmp_path, monkeypatch, tools):
    """The kernel answers EOPNOTSUPP for a namespace no filesystem knows, as a filesystem
    without extended attributes does for security.selinux."""
    unknown = "nonamespace.label"
    path = tmp_path / "main.cf"
    path.write_text("old\n")
    assert selinux.read_label(path, unknown) is None
    assert selinux.write_label(path, b"x\0", unknown) is False
    atomic.write_file_atomically(path, b"new\n", label=unknown)
    selinux_mode(monkeypatch, "enforcing")
    new = tmp_path / "new.cf"
    fake_tool(tools, "matchpathcon", f"-n {new}", out=POSTFIX_ETC + "\n")
    atomic.write_file_atomically(new, b"made\n", label=unknown)
    assert path.read_text() == "new\n" and new.read_text() == "made\n"


@pytest.mark.parametrize("attribute", [SEAM, REAL_LABEL])
def test_copy_metadata_as_backups_use_it_keeps_the_label(tmp_path, attribute):
    source, target = tmp_path / "main.cf", tmp_path / "0-main.cf"
    source.write_text("x\n")
    target.write_text("x\n")
    os.setxattr(source, attribute, POSTFIX_ETC.encode() + b"\0")
    atomic.copy_metadata(source, target, attribute)
    assert os.getxattr(target, attribute) == POSTFIX_ETC.encode() + b"\0"


@NO_REAL_LABEL
def test_a_backup_set_and_its_restore_keep_the_real_label(tmp_path):
    path = tmp_path / "main.cf"
    path.write_text("old\n")
    label = POSTFIX_ETC.encode() + b"\0"
    os.setxattr(path, selinux.LABEL, label)
    (tmp_path / "backups").mkdir()
    backup = backups.back_up([path], tmp_path / "backups", "test")
    stored = backup.stored(backup.entries[0])
    assert os.getxattr(stored, selinux.LABEL) == label
    os.setxattr(path, selinux.LABEL, b"system_u:object_r:etc_t:s0\0")   # relabelled since
    atomic.write_file_atomically(path, stored.read_bytes(), like=stored)   # as _undo does
    assert path.read_text() == "old\n" and os.getxattr(path, selinux.LABEL) == label


@NO_REAL_LABEL
def test_apply_and_rollback_keep_the_real_labels(sample_dirs, tmp_path):
    box = Box(tmp_path, *sample_dirs, tmp_path / "backups")
    labels = {box.postfix / "main.cf": b"system_u:object_r:postfix_etc_t:s0\0",
              box.dovecot / "conf.d" / "10-auth.conf": b"system_u:object_r:dovecot_etc_t:s0\0"}
    old = {}
    for path, label in labels.items():
        os.setxattr(path, selinux.LABEL, label)
        old[path] = path.read_text()
    result = box.run("apply", "--preset", "rhel9-guide", "--yes", "--no-reload")
    assert result.returncode == 0, result.stdout + result.stderr
    (backup,) = box.backup_sets()
    for path, label in labels.items():
        assert path.read_text() != old[path]
        assert os.getxattr(path, selinux.LABEL) == label, path
        (stored,) = backup.glob(f"*-{path.name}")
        assert os.getxattr(stored, selinux.LABEL) == label, stored
        os.setxattr(path, selinux.LABEL, b"system_u:object_r:etc_t:s0\0")   # relabelled since
    restored = box.run("rollback", backup.name, "--yes", "--no-reload")
    assert restored.returncode == 0, restored.stdout + restored.stderr
    for path, label in labels.items():
        assert path.read_text() == old[path]
        assert os.getxattr(path, selinux.LABEL) == label, path     # the backup's label, back


# Labels for new files -------------------------------------------------------------------------

def test_a_new_file_gets_its_paths_policy_label(tmp_path, monkeypatch, tools):
    selinux_mode(monkeypatch, "enforcing")
    path = tmp_path / "main.cf"
    fake_tool(tools, "matchpathcon", f"-n {path}", out=POSTFIX_ETC + "\n")
    atomic.write_file_atomically(path, b"new\n", label=SEAM)
    assert os.getxattr(path, SEAM) == POSTFIX_ETC.encode() + b"\0"
    assert calls(tools, "matchpathcon") == [f"-n {path}"]     # the final path, not the temporary
    assert path.stat().st_mode & 0o777 == 0o644


def test_a_new_file_where_the_policy_has_no_label_gets_none(tmp_path, monkeypatch, tools):
    selinux_mode(monkeypatch, "permissive")
    path = tmp_path / "main.cf"
    fake_tool(tools, "matchpathcon", f"-n {path}", status=1,
              err=f"matchpathcon({path}) failed: No such file or directory\n")
    atomic.write_file_atomically(path, b"new\n", label=SEAM)
    assert path.read_text() == "new\n" and SEAM not in os.listxattr(path)


def test_with_selinux_disabled_a_new_file_is_not_labelled(tmp_path, tools):
    path = tmp_path / "main.cf"
    fake_tool(tools, "matchpathcon", f"-n {path}", out=POSTFIX_ETC + "\n")
    fake_tool(tools, "restorecon", str(path))
    atomic.write_file_atomically(path, b"new\n", label=SEAM)
    assert SEAM not in os.listxattr(path)
    assert calls(tools, "matchpathcon") == [] and calls(tools, "restorecon") == []


def test_without_matchpathcon_restorecon_labels_the_new_file_in_place(tmp_path, monkeypatch,
                                                                     tools):
    absent("matchpathcon")
    selinux_mode(monkeypatch, "enforcing")
    path = tmp_path / "main.cf"
    fake_tool(tools, "restorecon", str(path))
    atomic.write_file_atomically(path, b"new\n", label=SEAM)
    assert calls(tools, "restorecon") == [str(path)]
    assert path.read_text() == "new\n"


# semanage port -l ------------------------------------------------------------------------------

def test_the_rhel9_port_listing_is_read():
    ports = selinux.parse_port_list(LISTING)
    assert ports["mail_port_t"] == {("tcp", (2000, 2000)), ("tcp", (3905, 3905))}
    assert ports["unreserved_port_t"] >= {("tcp", (1024, 32767)), ("tcp", (61000, 65535))}
    assert ("tcp", (10001, 10010)) in ports["http_cache_port_t"]
    assert ("udp", (3130, 3130)) in ports["http_cache_port_t"]
    assert "SELinux" not in ports and len(ports) > 250


@pytest.mark.parametrize("port, proto, types", [
    (12345, "tcp", ["unreserved_port_t"]),           # the guide's example port
    (4190, "tcp", ["sieve_port_t"]),
    (25, "tcp", ["smtp_port_t"]),                     # not reserved_port_t 1-511: narrower wins
    (10005, "tcp", ["http_cache_port_t"]),            # inside a range of one type
    (40000, "tcp", ["ephemeral_port_t"]),
    (3130, "tcp", ["unreserved_port_t"]),             # http_cache_port_t is udp only there
])
def test_a_ports_type_is_its_narrowest_listed_range(port, proto, types):
    assert selinux.port_types(selinux.parse_port_list(LISTING), port, proto) == types


def test_defined_means_a_record_for_that_one_port():
    ports = selinux.parse_port_list(LISTING)
    assert selinux.defined(ports, 8080) == "http_cache_port_t"
    assert selinux.defined(ports, 12345) is None
    assert selinux.defined(ports, 10005) is None     # only inside a range: -a adds it


@pytest.mark.parametrize("text", ["mail_port_t    tcp    2000, x\n",
                                  "mail_port_t    tcp    2000-\n",
                                  "mail_port_t    tcp    1-2-3\n"])
def test_a_listing_that_is_not_ports_is_refused(text):
    with pytest.raises(ValueError, match="not a port"):
        selinux.parse_port_list(text)


# The rule: Dovecot's TCP auth port under SELinux enforcing ----------------------------------

TCP = Sasl(enabled=True, type="dovecot", socket="tcp", address="127.0.0.1", port=12345,
           mechanisms=["plain", "login"], security_options=["noanonymous"],
           tls_security_options=["noanonymous"], tls_auth_only=True)


def findings(sample_dirs, sasl: Sasl = TCP) -> dict:
    server = Server.load(*sample_dirs)
    return {f.code: f for f in rules.check(server, Settings(sasl=sasl))}


def semanage(tools: Path, extra: str = "", **kwargs) -> None:
    fake_tool(tools, "semanage", "port -l", out=LISTING + extra, **kwargs)


def test_unlabelled_port_is_an_error_with_the_add_command(sample_dirs, monkeypatch, tools):
    selinux_mode(monkeypatch, "enforcing")
    semanage(tools)
    found = findings(sample_dirs)
    finding = found["selinux-port-denied"]
    assert finding.severity == "error" and rules.errors([finding])
    assert "12345/tcp is labelled unreserved_port_t" in finding.message
    assert "mail_port_t, pop_port_t, lmtp_port_t, sieve_port_t, smtp_port_t" in finding.message
    assert "'semanage port -a -t mail_port_t -p tcp 12345'" in finding.fix


def test_a_port_defined_with_another_type_needs_modify(sample_dirs, monkeypatch, tools):
    selinux_mode(monkeypatch, "enforcing")
    semanage(tools)
    finding = findings(sample_dirs, TCP.model_copy(update={"port": 8080}))["selinux-port-denied"]
    assert "labelled http_cache_port_t" in finding.message
    assert "'semanage port -m -t mail_port_t -p tcp 8080'" in finding.fix
    assert "defined as http_cache_port_t" in finding.fix


@pytest.mark.parametrize("port, extra", [
    (12345, "mail_port_t                    tcp      12345\n"),   # after the fix: semanage -a
    (2000, ""), (4190, ""), (24, ""), (110, "")])
def test_a_port_dovecot_may_bind_passes(sample_dirs, monkeypatch, tools, port, extra):
    selinux_mode(monkeypatch, "enforcing")
    semanage(tools, extra)
    found = findings(sample_dirs, TCP.model_copy(update={"port": port}))
    assert not {"selinux-port-denied", "selinux-port-unchecked"} & set(found)
    assert calls(tools, "semanage") == ["port -l"]


@pytest.mark.parametrize("mode", ["permissive", "disabled"])
def test_only_enforcing_blocks_and_semanage_is_not_run(sample_dirs, monkeypatch, tools, mode):
    selinux_mode(monkeypatch, mode)
    semanage(tools)
    assert "selinux-port-denied" not in findings(sample_dirs)
    assert calls(tools, "semanage") == []


def test_a_unix_socket_or_a_remote_dovecot_is_not_this_rules(sample_dirs, monkeypatch, tools):
    selinux_mode(monkeypatch, "enforcing")
    semanage(tools)
    unix = Sasl(enabled=True, type="dovecot", socket="unix", path="private/auth", mode="0660",
                user="postfix", group="postfix")
    assert "selinux-port-denied" not in findings(sample_dirs, unix)
    remote = TCP.model_copy(update={"address": "192.0.2.10"})
    assert "selinux-port-denied" not in findings(sample_dirs, remote)
    assert calls(tools, "semanage") == []


def test_semanage_runs_once_per_server(sample_dirs, monkeypatch, tools):
    selinux_mode(monkeypatch, "enforcing")
    semanage(tools)
    server = Server.load(*sample_dirs)
    for port in (12345, 8080, 2000):
        rules.check(server, Settings(sasl=TCP.model_copy(update={"port": port})))
    assert calls(tools, "semanage") == ["port -l"]


def test_without_semanage_a_warning_says_how_to_check(sample_dirs, monkeypatch, tools):
    absent("semanage")
    selinux_mode(monkeypatch, "enforcing")
    finding = findings(sample_dirs)["selinux-port-unchecked"]
    assert finding.severity == "warning"
    assert "could not check port 12345" in finding.message
    assert "policycoreutils-python-utils" in finding.message
    assert "semanage port -l | grep -w 12345" in finding.fix
    assert "semanage port -a -t mail_port_t -p tcp 12345" in finding.fix


def test_semanage_refusing_to_list_is_a_warning_quoting_it(sample_dirs, monkeypatch, tools):
    selinux_mode(monkeypatch, "enforcing")
    fake_tool(tools, "semanage", "port -l", err=NOT_MANAGED, status=1)
    finding = findings(sample_dirs)["selinux-port-unchecked"]
    assert "semanage port -l failed: ValueError: SELinux policy is not managed" in \
        finding.message


# Through the command line: refused before anything is written -------------------------------

def selinux_env(tools: Path, mode: str = "enforcing") -> dict:
    return environment(PATH=f"{tools}{os.pathsep}{os.environ['PATH']}",
                       POSTFIX_WIZARD_SELINUXFS=str(SELINUX_FIXTURES / f"selinuxfs-{mode}"))


@pytest.fixture
def box(sample_dirs, tmp_path) -> Box:
    return Box(tmp_path, *sample_dirs, tmp_path / "backups")


def test_check_reports_the_error_and_changes_nothing(box, tools):
    semanage(tools)
    before = box.config()
    result = box.run("check", "--preset", "sasl-tcp", env=selinux_env(tools))
    assert result.returncode == 1, result.stdout
    assert "ERROR:" in result.stdout and "12345/tcp is labelled unreserved_port_t" in result.stdout
    assert "semanage port -a -t mail_port_t -p tcp 12345" in result.stdout
    assert box.config() == before


def test_apply_refuses_before_writing_anything(box, tools):
    semanage(tools)
    before = snapshot(box.root, (tools,))
    result = box.run("apply", "--preset", "sasl-tcp", "--yes", "--no-reload",
                     env=selinux_env(tools))
    assert result.returncode == 1, result.stdout + result.stderr
    assert "semanage port -a -t mail_port_t -p tcp 12345" in result.stdout
    assert "Nothing was written" in result.stdout
    assert snapshot(box.root, (tools,)) == before
    assert not box.backups.exists()


def test_apply_once_the_port_is_labelled_goes_ahead(box, tools):
    semanage(tools, "mail_port_t                    tcp      12345\n")
    result = box.run("apply", "--preset", "sasl-tcp", "--dry-run", env=selinux_env(tools))
    assert result.returncode == 0, result.stdout
    assert "selinux" not in result.stdout.lower()
    assert "+smtpd_sasl_path = inet:127.0.0.1:12345" in result.stdout


def test_check_without_semanage_warns_and_passes(box, tools):
    absent("semanage")
    result = box.run("check", "--preset", "sasl-tcp", env=selinux_env(tools))
    assert result.returncode == 0, result.stdout
    assert "WARNING:" in result.stdout and "could not check port 12345" in result.stdout


def test_a_demo_judges_its_debian_sample_without_this_hosts_selinux(tmp_path, tools):
    semanage(tools)
    result = run("--demo", "check", "--preset", "sasl-tcp", cwd=tmp_path, env=selinux_env(tools))
    assert result.returncode == 0, result.stdout
    assert "labelled" not in result.stdout and calls(tools, "semanage") == []
