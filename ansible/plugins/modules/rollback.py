#!/usr/bin/python
# -*- coding: utf-8 -*-
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import absolute_import, division, print_function

__metaclass__ = type

DOCUMENTATION = r"""
---
module: rollback
short_description: Restore a postfix-wizard backup set on a mail server
version_added: "0.1.0"
description:
  - Runs C(postfix-wizard rollback --json) on the target. The files of a backup set, the
    latest by default, are restored together, the daemons reloaded and the live server
    checked. If that check fails, the files from before the rollback come back and the task
    fails.
  - A change waiting for M(postfix_wizard.hardening.confirm) is settled by a rollback.
  - In check mode nothing is restored; the task reports the set it would restore.
options:
  id:
    description: The backup set (see C(postfix-wizard backups)); the latest when omitted.
    type: str
extends_documentation_fragment:
  - postfix_wizard.hardening.wizard
  - postfix_wizard.hardening.wizard.live
attributes:
  diff_mode:
    description: Shows no diff.
    support: none
"""

EXAMPLES = r"""
- name: Undo the last change
  postfix_wizard.hardening.rollback:

- name: Restore a given set
  postfix_wizard.hardening.rollback:
    id: "20261126-101500"
"""

RETURN = r"""
restored:
  description: The backup set restored (in check mode, the one that would be).
  returned: always
  type: str
probe:
  description: The live check after the reload; null when nothing was reloaded.
  returned: when files were written
  type: dict
rolled_back:
  description: The restored files failed the live check and were undone.
  returned: when files were written
  type: bool
verdict:
  description: One sentence on where the server stands.
  returned: when files were written
  type: str
status:
  description: The wizard's exit status.
  returned: always
  type: int
"""

from ansible.module_utils.basic import AnsibleModule
from ansible_collections.postfix_wizard.hardening.plugins.module_utils.wizard import (
    DIRECTORY_OPTIONS, LIVE_OPTIONS, finish, live_options, run_wizard, wizard_command)


def main():
    module = AnsibleModule(argument_spec=dict(id=dict(type="str"),
                                              **dict(DIRECTORY_OPTIONS, **LIVE_OPTIONS)),
                           supports_check_mode=True)
    chosen = module.params["id"]
    if module.check_mode:
        listed = run_wizard(module, wizard_command(module, "backups"))
        ids = [kept["id"] for kept in listed.get("backup_sets", [])]
        if listed["status"] == 0 and not (ids if chosen is None else chosen in ids):
            listed.update(status=2, error="no backup set %s in the backup directory"
                          % (chosen or "at all"))
        finish(module, listed, changed=listed["status"] == 0,
               restored=chosen or (ids[-1] if ids else None))
    words = ["rollback"] + ([chosen] if chosen else []) + ["--yes"] + live_options(module)
    finish(module, run_wizard(module, wizard_command(module, *words)))


if __name__ == "__main__":
    main()
