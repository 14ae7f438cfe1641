"""Issue 13: a rolling change with the collection (`serial: 1`, `max_fail_percentage: 0`)
against live daemons. The first server's live check fails after the reload: the wizard there
puts its previous files back, the task fails with the wizard's verdict, and the rollout stops
before the next server is touched."""
from __future__ import annotations

import json
import shutil
import sys

from test_ansible import BIN, SAMPLE, collections, run_playbook  # noqa: F401 (a fixture)
from test_cli import snapshot
from test_live import harness  # the harness module, as test_live imported it
from test_live import make_pair  # noqa: F401  (a fixture)
from test_probe import LOOPBACK_LIMITED, break_anvil

pytestmark = harness.daemon_marks()

ROLLOUT = """
- hosts: all
  serial: 1
  max_fail_percentage: 0
  gather_facts: false
  tasks:
    - postfix_wizard.hardening.apply:
        preset: files/limited.toml
        postfix_dir: "{{ postfix_dir }}"
        dovecot_dir: "{{ dovecot_dir }}"
        backup_dir: "{{ backup_dir }}"
        executable: "{{ wizard }}"
"""


def test_a_failed_live_check_is_rolled_back_and_stops_the_rollout(make_pair, tmp_path,
                                                                  collections):
    pair = make_pair("unix", configure_sasl=False)
    break_anvil(pair)                 # a fault the files do not show: only the live check can
    (tmp_path / "files").mkdir()
    pair.write_preset(tmp_path / "files" / "limited.toml", limits=LOOPBACK_LIMITED)
    second = tmp_path / "mx2"
    shutil.copytree(SAMPLE / "postfix", second / "postfix")
    shutil.copytree(SAMPLE / "dovecot", second / "dovecot")
    local = {"ansible_connection": "local", "ansible_python_interpreter": sys.executable,
             "wizard": str(BIN / "postfix-wizard")}
    hosts = {"mx1": dict(local, postfix_dir=str(pair.postfix_dir),
                         dovecot_dir=str(pair.dovecot_dir), backup_dir=str(pair.backup_dir)),
             "mx2": dict(local, postfix_dir=str(second / "postfix"),
                         dovecot_dir=str(second / "dovecot"), backup_dir=str(second / "backups"))}
    (tmp_path / "inventory.json").write_text(json.dumps({"all": {"hosts": hosts}}))
    first_before = (pair.postfix_dir / "main.cf").read_bytes()
    second_before = snapshot(second)

    status, results, printed = run_playbook(tmp_path, collections, ROLLOUT)

    assert status != 0, printed
    failed = results["mx1"]
    assert failed["status"] == 4 and failed["rolled_back"] and not failed["changed"], failed
    assert failed["msg"] == failed["verdict"]
    assert "previous files are back" in failed["msg"]
    assert failed["probe"]["passed"] is False and failed["rollback_probe"]["passed"] is True
    assert (pair.postfix_dir / "main.cf").read_bytes() == first_before
    assert "mx2" not in results and snapshot(second) == second_before     # never touched
    with pair.smtp() as client:                                            # still takes mail
        assert client.ehlo()[0] == 250


CONFIRMED = """
- hosts: all
  gather_facts: false
  tasks:
    - postfix_wizard.hardening.apply:
        preset: files/sasl.toml
        confirm: 2m
        postfix_dir: "{{ postfix_dir }}"
        dovecot_dir: "{{ dovecot_dir }}"
        backup_dir: "{{ backup_dir }}"
        executable: "{{ wizard }}"
      register: applied
    - ansible.builtin.assert:
        that:
          - applied.changed
          - applied.probe.passed
          - applied.pending.backup_set == applied.backup_set
    - postfix_wizard.hardening.confirm:
        backup_dir: "{{ backup_dir }}"
        executable: "{{ wizard }}"
"""


def test_a_change_applied_with_confirm_is_kept_by_the_confirm_module(make_pair, tmp_path,
                                                                    collections):
    pair = make_pair("unix", configure_sasl=False)
    (tmp_path / "files").mkdir()
    pair.sasl_preset(tmp_path / "files" / "sasl.toml")
    host = {"ansible_connection": "local", "ansible_python_interpreter": sys.executable,
            "wizard": str(BIN / "postfix-wizard"), "postfix_dir": str(pair.postfix_dir),
            "dovecot_dir": str(pair.dovecot_dir), "backup_dir": str(pair.backup_dir)}
    (tmp_path / "inventory.json").write_text(json.dumps({"all": {"hosts": {"mx1": host}}}))
    status, results, printed = run_playbook(tmp_path, collections, CONFIRMED)
    assert status == 0, printed[-3000:]
    confirmed = results["mx1"]                       # the last task's result: the confirm
    assert confirmed["changed"] and confirmed["confirmed"], confirmed
    assert not (pair.backup_dir / "pending.json").exists()
    assert pair.get_main("smtpd_sasl_auth_enable") == "yes"
