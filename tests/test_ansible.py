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
from pathlib import Path

import pytest
from test_cli import snapshot

ROOT = Path(__file__).resolve().parent.parent
SAMPLE = ROOT / "samples" / "debian12"
BIN = Path(sys.executable).parent
HOSTS = ("mx1", "mx2")


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
    """Two targets on this machine (connection local), each with its own configuration."""
    hosts = {}
    for name in HOSTS:
        root = tmp_path / name
        shutil.copytree(SAMPLE / "postfix", root / "postfix")
        shutil.copytree(SAMPLE / "dovecot", root / "dovecot")
        hosts[name] = {"ansible_connection": "local",
                       "ansible_python_interpreter": sys.executable,
                       "postfix_dir": str(root / "postfix"), "dovecot_dir": str(root / "dovecot"),
                       "backup_dir": str(root / "backups"),
                       "wizard": str(BIN / "postfix-wizard")}
    (tmp_path / "inventory.json").write_text(json.dumps({"all": {"hosts": hosts}}))
    return Fleet(tmp_path, collections)


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
    def __init__(self, work: Path, collections: Path) -> None:
        self.work, self.collections = work, collections

    def play(self, what: str = "preset: rhel9-guide", *options: str) -> tuple[int, dict, str]:
        """ansible-playbook; its exit status, each host's result of the task (with --diff, its
        `diff` too: ansible-core's tree callback writes a host's result as JSON), and what it
        printed."""
        (self.work / "play.yml").write_text(APPLY.format(what=what))
        tree = self.work / "results"
        shutil.rmtree(tree, ignore_errors=True)
        env = dict(os.environ, ANSIBLE_COLLECTIONS_PATH=str(self.collections),
                   ANSIBLE_CALLBACKS_ENABLED="ansible.builtin.tree",
                   ANSIBLE_CALLBACK_TREE_DIR=str(tree), ANSIBLE_NOCOLOR="1",
                   ANSIBLE_LOCAL_TEMP=str(self.work / "tmp"),
                   ANSIBLE_REMOTE_TEMP=str(self.work / "remote-tmp"),
                   PATH=f"{BIN}{os.pathsep}{os.environ.get('PATH', '')}")
        result = subprocess.run([BIN / "ansible-playbook", "-i", "inventory.json", "play.yml",
                                 *options], cwd=self.work, env=env, capture_output=True,
                                text=True, timeout=300)
        hosts = {path.name: json.loads(path.read_text()) for path in tree.glob("*")} \
            if tree.is_dir() else {}
        return result.returncode, hosts, result.stdout + result.stderr

    def trees(self) -> dict:
        return {name: snapshot(self.work / name) for name in HOSTS}


def test_check_and_diff_then_apply_then_again_changes_nothing(fleet):
    before = fleet.trees()
    status, hosts, printed = fleet.play("preset: rhel9-guide", "--check", "--diff")
    assert status == 0 and fleet.trees() == before               # check mode: no byte changed
    for name in HOSTS:
        result = hosts[name]
        assert result["changed"] and not result.get("failed")
        main_cf = str(fleet.work / name / "postfix" / "main.cf")
        assert f"--- before: {main_cf}" in printed and f"+++ after: {main_cf}" in printed
        change = next(c for c in result["changes"] if c["path"] == main_cf)
        assert "smtpd_client_connection_rate_limit = 30" in change["after"]
        assert "smtpd_client_connection_rate_limit" not in change["before"]
    assert printed.count("+smtpd_client_connection_rate_limit = 30") == len(HOSTS)

    status, hosts, _ = fleet.play("preset: rhel9-guide")
    assert status == 0
    after = fleet.trees()
    for name in HOSTS:
        assert hosts[name]["changed"] and hosts[name]["backup_set"]
        assert after[name] != before[name]
        assert "smtpd_client_connection_rate_limit = 30" in \
            (fleet.work / name / "postfix" / "main.cf").read_text()

    status, hosts, _ = fleet.play("preset: rhel9-guide")
    assert status == 0 and not any(hosts[name]["changed"] for name in HOSTS)
    assert {k: v for k, v in fleet.trees().items()} == {
        name: {p: d for p, d in after[name].items()} for name in HOSTS}


def test_a_bad_preset_fails_on_every_host_with_the_wizards_message(fleet):
    (fleet.work / "files").mkdir()
    (fleet.work / "files" / "bad.toml").write_text(
        '[limits]\nsmtpd_client_connection_rate_limit = "lots"\n')
    before = fleet.trees()
    status, hosts, printed = fleet.play("preset: files/bad.toml")
    assert status == 2                                             # a failed task
    for name in HOSTS:
        assert re.search(rf"^{name} +: ok=0 +changed=0 .* failed=1 ", printed, re.M), printed
        assert not hosts[name]["changed"] and hosts[name]["status"] == 2
        assert hosts[name]["msg"].startswith("files/bad.toml, line 2: "
                                             "limits.smtpd_client_connection_rate_limit")
        assert "whole number" in hosts[name]["msg"]
    assert fleet.trees() == before


def test_inline_settings_and_a_controller_file_apply_like_a_preset(fleet):
    (fleet.work / "files").mkdir()
    (fleet.work / "files" / "team.toml").write_text(
        '[preset]\nname = "team"\nformat = 1\n[limits]\nsmtpd_client_connection_rate_limit = 17\n')
    status, hosts, _ = fleet.play("preset: files/team.toml", "--limit", "mx1")
    assert status == 0 and hosts["mx1"]["changed"]
    status, hosts, _ = fleet.play(
        "settings: {limits: {smtpd_client_connection_rate_limit: 17}}", "--limit", "mx2")
    assert status == 0 and hosts["mx2"]["changed"]
    texts = {name: (fleet.work / name / "postfix" / "main.cf").read_text() for name in HOSTS}
    assert texts["mx1"] == texts["mx2"].replace(str(fleet.work / "mx2"), str(fleet.work / "mx1"))
    assert "smtpd_client_connection_rate_limit = 17" in texts["mx1"]
