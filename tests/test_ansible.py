"""Issue 13: the Ansible collection (ansible/), built and installed as a user would
(`ansible-galaxy collection build` and `install`), run by ansible-playbook (ansible-core from
PyPI, pinned in pyproject's test extra) against targets on this machine, each a private
Postfix and Dovecot tree of its own.

Check mode with diff shows each host's own diff and changes no byte; the real run changes
both; a second run changes nothing; a bad preset fails the task on every host with the
wizard's own message and changes nothing; inline settings and a controller-side preset file
work like a shipped preset.
"""
from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
from dataclasses import dataclass
from pathlib import Path

import pytest
from test_cli import PLAINTEXT_SASL, snapshot

import debian13

ROOT = Path(__file__).resolve().parent.parent
SAMPLE = ROOT / "samples" / "debian12"
BIN = Path(sys.executable).parent
WIZARD_IN_ROOT = "/opt/postfix-wizard/venv/bin/postfix-wizard"     # .ci/in-root ROOT setup


@dataclass
class Target:
    name: str
    outside: Path             # its Postfix and Dovecot trees, as this test sees them
    inside: str               # ... and as the target does
    host: dict                # its inventory entry

    def main_cf(self) -> Path:
        return self.outside / "postfix" / "main.cf"


@pytest.fixture(scope="module")
def collections(tmp_path_factory) -> Path:
    """The collection, built into a tarball and installed from it."""
    if not (BIN / "ansible-playbook").exists():
        pytest.skip("ansible-core is not installed (pip install -e '.[test]')")
    work = tmp_path_factory.mktemp("collection")
    subprocess.run([BIN / "ansible-galaxy", "collection", "build", ROOT / "ansible",
                    "--output-path", work], check=True, capture_output=True)
    tarball = next(work.glob("postfix_wizard-hardening-*.tar.gz"))
    subprocess.run([BIN / "ansible-galaxy", "collection", "install", tarball, "-p",
                    work / "installed"], check=True, capture_output=True)
    return work / "installed"


@pytest.fixture
def fleet(tmp_path, collections):
    """Two targets at once, each with its own generation: this machine (connection local,
    Debian 12's files in a private directory) and the Debian 13 root (community.general's
    chroot connection, Debian 13's own files copied to a private directory inside it)."""
    why = debian13.why_unavailable()
    if why is None and not (debian13.ROOT / WIZARD_IN_ROOT.lstrip("/")).exists():
        why = ("the wizard is not installed in the Debian 13 root "
               f"(.ci/in-root {debian13.ROOT} setup)")
    if why:
        pytest.skip(why)
    here = tmp_path / "mx1"
    shutil.copytree(SAMPLE / "postfix", here / "postfix")
    shutil.copytree(SAMPLE / "dovecot", here / "dovecot")
    inside = Path(tempfile.mkdtemp(prefix="pw-ansible-", dir=debian13.ROOT / "tmp"))
    for name in ("postfix", "dovecot"):
        shutil.copytree(debian13.ROOT / "etc" / name, inside / name, symlinks=True)
    targets = [
        Target("mx1", here, str(here), {"ansible_connection": "local",
                                        "ansible_python_interpreter": sys.executable,
                                        "wizard": str(BIN / "postfix-wizard")}),
        Target("mx13", inside, "/" + str(inside.relative_to(debian13.ROOT)),
               {"ansible_connection": "community.general.chroot",
                "ansible_host": str(debian13.ROOT),
                "ansible_python_interpreter": "/usr/bin/python3", "wizard": WIZARD_IN_ROOT})]
    hosts = {t.name: {**t.host, "postfix_dir": f"{t.inside}/postfix",
                      "dovecot_dir": f"{t.inside}/dovecot", "backup_dir": f"{t.inside}/backups"}
             for t in targets}
    (tmp_path / "inventory.json").write_text(json.dumps({"all": {"hosts": hosts}}))
    yield Fleet(tmp_path, collections, targets)
    shutil.rmtree(inside, ignore_errors=True)


APPLY = """
- hosts: all
  gather_facts: false
  tasks:
    - name: harden
      postfix_wizard.hardening.apply:
        {what}
        postfix_dir: "{{{{ postfix_dir }}}}"
        dovecot_dir: "{{{{ dovecot_dir }}}}"
        backup_dir: "{{{{ backup_dir }}}}"
        reload: false
        executable: "{{{{ wizard }}}}"
"""


class Fleet:
    def __init__(self, work: Path, collections: Path, targets: list[Target]) -> None:
        self.work, self.collections, self.targets = work, collections, targets

    def play(self, what: str = "preset: rhel9-guide", *options: str) -> tuple[int, dict, str]:
        return run_playbook(self.work, self.collections, APPLY.format(what=what), *options)

    def trees(self) -> dict:
        return {t.name: snapshot(t.outside) for t in self.targets}


def run_playbook(work: Path, collections: Path, playbook: str, *options: str
                 ) -> tuple[int, dict, str]:
    """ansible-playbook with work/inventory.json; its exit status, each host's result of the
    last task it ran there (ansible-core's tree callback writes it as JSON), and what it
    printed."""
    (work / "play.yml").write_text(playbook)
    tree = work / "results"
    shutil.rmtree(tree, ignore_errors=True)
    env = dict(os.environ, ANSIBLE_COLLECTIONS_PATH=str(collections),
               ANSIBLE_CALLBACKS_ENABLED="ansible.builtin.tree",
               ANSIBLE_CALLBACK_TREE_DIR=str(tree), ANSIBLE_NOCOLOR="1",
               ANSIBLE_LOCAL_TEMP=str(work / "tmp"), ANSIBLE_REMOTE_TEMP=str(work / "remote-tmp"),
               PATH=os.pathsep.join([str(BIN), os.environ.get("PATH", ""), "/usr/sbin", "/sbin"]))
    result = subprocess.run([BIN / "ansible-playbook", "-i", "inventory.json", "play.yml",
                             *options], cwd=work, env=env, capture_output=True, text=True,
                            timeout=300)
    hosts = {path.name: json.loads(path.read_text()) for path in tree.glob("*")} \
        if tree.is_dir() else {}
    return result.returncode, hosts, result.stdout + result.stderr


def test_check_and_diff_then_apply_then_again_changes_nothing(fleet):
    before = fleet.trees()
    status, hosts, printed = fleet.play("preset: rhel9-guide", "--check", "--diff")
    assert status == 0 and fleet.trees() == before               # check mode: no byte changed
    for target in fleet.targets:
        result = hosts[target.name]
        assert result["changed"] and not result.get("failed")
        main_cf = f"{target.inside}/postfix/main.cf"                 # this host's own files
        assert f"--- before: {main_cf}" in printed and f"+++ after: {main_cf}" in printed
        change = next(c for c in result["changes"] if c["path"] == main_cf)
        assert change["before"] == target.main_cf().read_text()
        assert "smtpd_client_connection_rate_limit = 30" in change["after"]
    assert printed.count("+smtpd_client_connection_rate_limit = 30") == len(fleet.targets)
    for target in fleet.targets:                  # each diff is of that host's own files
        for change in hosts[target.name]["changes"]:
            inner = Path(change["path"]).relative_to(target.inside)
            assert change["before"] == (target.outside / inner).read_text()
    releases = {t.name: (t.outside / "postfix" / "main.cf").read_text() for t in fleet.targets}
    assert releases["mx1"] != releases["mx13"]                  # Debian 12's and 13's own files

    status, hosts, _ = fleet.play("preset: rhel9-guide")
    assert status == 0
    after = fleet.trees()
    for target in fleet.targets:
        assert hosts[target.name]["changed"] and hosts[target.name]["backup_set"]
        assert after[target.name] != before[target.name]
        assert "smtpd_client_connection_rate_limit = 30" in target.main_cf().read_text()

    status, hosts, _ = fleet.play("preset: rhel9-guide")
    assert status == 0 and not any(hosts[t.name]["changed"] for t in fleet.targets)
    assert fleet.trees() == after


def test_a_bad_preset_fails_on_every_host_with_the_wizards_message(fleet):
    (fleet.work / "files").mkdir()
    (fleet.work / "files" / "bad.toml").write_text(
        '[limits]\nsmtpd_client_connection_rate_limit = "lots"\n')
    before = fleet.trees()
    status, hosts, printed = fleet.play("preset: files/bad.toml")
    assert status == 2                                             # a failed task
    for target in fleet.targets:
        assert re.search(rf"^{target.name} +: ok=0 +changed=0 .* failed=1 ", printed, re.M), \
            printed
        result = hosts[target.name]
        assert not result["changed"] and result["status"] == 2
        assert result["msg"].startswith("files/bad.toml, line 2: "
                                         "limits.smtpd_client_connection_rate_limit")
        assert "whole number" in result["msg"]
    assert fleet.trees() == before

    (fleet.work / "files" / "plaintext.toml").write_text(PLAINTEXT_SASL)     # a finding, status 1
    status, hosts, _ = fleet.play("preset: files/plaintext.toml")
    assert status == 2
    for target in fleet.targets:
        result = hosts[target.name]
        assert result["status"] == 1 and not result["changed"]
        assert "STARTTLS" in result["msg"] and " Fix: " in result["msg"]
        assert any(f["severity"] == "error" for f in result["findings"])
    assert fleet.trees() == before


def test_inline_settings_and_a_controller_file_apply_like_a_preset(fleet):
    (fleet.work / "files").mkdir()
    (fleet.work / "files" / "team.toml").write_text(
        '[preset]\nname = "team"\nformat = 1\n[limits]\nsmtpd_client_connection_rate_limit = 17\n')
    status, hosts, _ = fleet.play("preset: files/team.toml", "--limit", "mx1")
    assert status == 0 and hosts["mx1"]["changed"] and "mx13" not in hosts
    status, hosts, _ = fleet.play(
        "settings: {limits: {smtpd_client_connection_rate_limit: 17}}", "--limit", "mx13")
    assert status == 0 and hosts["mx13"]["changed"]
    for target in fleet.targets:
        assert "smtpd_client_connection_rate_limit = 17" in target.main_cf().read_text()


GET_PIP_STAND_IN = '''\
"""Stands in for pypa's get-pip.py, which ansible-test fetches from a host this machine cannot
reach: pip from the interpreter's own ensurepip, then pip installs what get-pip was asked for.
ansible-test runs pip with no configuration file (PIP_CONFIG_FILE=/dev/null); where this
machine's pip trusts a CA bundle of its own, each new environment is given it as PIP_CERT."""
import ensurepip, os, subprocess, sys, sysconfig
ensurepip.bootstrap()
CERT = {cert!r}
if CERT:
    with open(os.path.join(sysconfig.get_paths()["purelib"], "zz_pip_cert.pth"), "w") as pth:
        pth.write("import os; os.environ.setdefault('PIP_CERT', %r)\\n" % CERT)
    os.environ.setdefault("PIP_CERT", CERT)
args = [a for a in sys.argv[1:] if a not in ("--no-setuptools", "--no-wheel")]
sys.exit(subprocess.call([sys.executable, "-m", "pip", "install", "-q", *args]))
'''


def test_ansible_test_sanity_passes(collections):
    """Every sanity test ansible-test has (24 in ansible-core 2.19), on Python 3.11, with their
    own pinned requirements from PyPI. Its environments live below .venv (HOME), not in
    ~/.ansible."""
    from ansible_test._internal.python_requirements import get_venv_packages
    from ansible_test._internal.host_configs import NativePythonConfig
    pip = get_venv_packages(NativePythonConfig(version="3.11"))["pip"]
    home = ROOT / ".venv" / "ansible-test-home"
    cache = home / ".ansible" / "test" / "cache"
    cache.mkdir(parents=True, exist_ok=True)
    cert = os.environ.get("PIP_CERT") or subprocess.run(
        [sys.executable, "-m", "pip", "config", "get", "global.cert"], capture_output=True,
        text=True).stdout.strip()
    (cache / f"get_pip_{pip.replace('.', '_')}.py").write_text(GET_PIP_STAND_IN.format(cert=cert))
    collection = collections / "ansible_collections" / "postfix_wizard" / "hardening"
    result = subprocess.run([BIN / "ansible-test", "sanity", "--local", "--python", "3.11",
                             "--requirements", "--color", "no"], cwd=collection,
                            env=dict(os.environ, HOME=str(home)), capture_output=True, text=True,
                            timeout=1200)
    ran = re.findall(r'^Running sanity test "([\w-]+)"', result.stdout, re.M)
    assert result.returncode == 0, result.stdout[-4000:] + result.stderr[-4000:]
    assert {"validate-modules", "ansible-doc", "pylint", "pep8", "import", "yamllint",
            "action-plugin-docs", "runtime-metadata"} <= set(ran), ran


INSTALL = """
- hosts: all
  gather_facts: false
  roles:
    - role: postfix_wizard.hardening.install
      vars:
        postfix_wizard_source: {source}
        postfix_wizard_wheelhouse: {wheelhouse}
        postfix_wizard_venv: "{{{{ venv }}}}"
        postfix_wizard_link: "{{{{ link }}}}"
"""


def test_the_install_role_puts_the_wizard_on_both_generations_from_wheels(tmp_path, collections):
    """The controller builds the wheel from this checkout and downloads the dependencies for
    each target's Python (3.11 here, 3.13 in the Debian 13 root); the targets install from
    those files alone, into a virtual environment of their own Python."""
    why = debian13.why_unavailable()
    if why:
        pytest.skip(why)
    inside = Path(tempfile.mkdtemp(prefix="pw-role-", dir=debian13.ROOT / "tmp"))
    seen = "/" + str(inside.relative_to(debian13.ROOT))
    hosts = {"mx1": {"ansible_connection": "local", "ansible_python_interpreter": sys.executable,
                     "venv": str(tmp_path / "venv"), "link": str(tmp_path / "bin" / "pw")},
             "mx13": {"ansible_connection": "community.general.chroot",
                      "ansible_host": str(debian13.ROOT),
                      "ansible_python_interpreter": "/usr/bin/python3",
                      "venv": f"{seen}/venv", "link": f"{seen}/bin/pw"}}
    (tmp_path / "bin").mkdir()
    (inside / "bin").mkdir()
    (tmp_path / "inventory.json").write_text(json.dumps({"all": {"hosts": hosts}}))
    playbook = INSTALL.format(source=ROOT, wheelhouse=tmp_path / "wheels")
    try:
        status, _, printed = run_playbook(tmp_path, collections, playbook)
        assert status == 0, printed[-4000:]
        assert re.search(r"^mx1 +: ok=\d+ +changed=[1-9]", printed, re.M), printed[-2000:]
        here = subprocess.run([tmp_path / "bin" / "pw", "presets"], capture_output=True,
                              text=True)
        assert here.returncode == 0 and "rhel9-guide" in here.stdout
        there = debian13.run(f"{seen}/bin/pw", "presets")
        assert there.returncode == 0 and "rhel9-guide" in there.stdout, there.stderr
        assert list((inside / "venv" / "lib").glob("python3.13/site-packages/wizard"))
        assert list((tmp_path / "wheels").glob("3.13-*/pydantic_core-*cp313*.whl"))

        status, _, printed = run_playbook(tmp_path, collections, playbook)    # again: no change
        assert status == 0 and all(re.search(rf"^{name} +: ok=\d+ +changed=0 ", printed, re.M)
                                   for name in hosts), printed[-3000:]
    finally:
        shutil.rmtree(inside, ignore_errors=True)


MODULE = """
- hosts: all
  gather_facts: false
  tasks:
    - {module}:
        postfix_dir: "{{{{ postfix_dir }}}}"
        dovecot_dir: "{{{{ dovecot_dir }}}}"
        backup_dir: "{{{{ backup_dir }}}}"
        executable: "{{{{ wizard }}}}"
        {extra}
"""


def test_rollback_and_confirm_modules(fleet):
    before = fleet.trees()
    status, applied, _ = fleet.play("preset: rhel9-guide")
    assert status == 0
    after = fleet.trees()

    def run(module: str, extra: str = "", *options: str):
        return run_playbook(fleet.work, fleet.collections,
                            MODULE.format(module=f"postfix_wizard.hardening.{module}",
                                          extra=extra), *options)

    status, hosts, _ = run("rollback", "reload: false", "--check")
    assert status == 0 and fleet.trees() == after                     # check mode: nothing
    for target in fleet.targets:
        assert hosts[target.name]["changed"]
        assert hosts[target.name]["restored"] == applied[target.name]["backup_set"]

    status, hosts, _ = run("rollback", "reload: false")
    assert status == 0 and all(hosts[t.name]["changed"] for t in fleet.targets)
    for target in fleet.targets:                       # the files are back; the sets stay
        assert {k: v for k, v in fleet.trees()[target.name].items()
                if not k.startswith("backups")} == before[target.name]

    status, hosts, _ = run("rollback", "reload: false\n        id: 20200101-000000")
    assert status == 2 and all("20200101-000000" in hosts[t.name]["msg"] for t in fleet.targets)

    status, hosts, _ = run("confirm")                     # nothing pending: no change, no error
    assert status == 0
    assert all(not hosts[t.name]["changed"] and hosts[t.name]["confirmed"] is None
               for t in fleet.targets)


@pytest.mark.parametrize("kind, name, words", [
    ("module", "apply", "Check mode is the wizard's dry run"),
    ("module", "rollback", "restored together"),
    ("module", "confirm", "keeps it"),
    ("role", "install", "They reach no package index")])
def test_ansible_doc_shows_each_module_and_the_role(collections, kind, name, words):
    result = subprocess.run([BIN / "ansible-doc", "-t", kind, f"postfix_wizard.hardening.{name}"],
                            env=dict(os.environ, ANSIBLE_COLLECTIONS_PATH=str(collections),
                                     ANSIBLE_NOCOLOR="1"), capture_output=True, text=True)
    assert result.returncode == 0, result.stderr
    assert words in " ".join(result.stdout.split())
