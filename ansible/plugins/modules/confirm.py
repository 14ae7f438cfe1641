#!/usr/bin/python
# -*- coding: utf-8 -*-
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import absolute_import, division, print_function

__metaclass__ = type

DOCUMENTATION = r"""
---
module: confirm
short_description: Keep a postfix-wizard change that is waiting for confirmation
version_added: "0.1.0"
description:
  - Runs C(postfix-wizard confirm --json) on the target. A change applied with
    O(postfix_wizard.hardening.apply#module:confirm) is rolled back by the target itself when
    its time is up; this keeps it.
  - Nothing pending is not an error; the task reports no change.
extends_documentation_fragment:
  - postfix_wizard.hardening.wizard
attributes:
  diff_mode:
    description: Shows no diff.
    support: none
"""

EXAMPLES = r"""
- name: Apply with a safety net, check the mail flow, then keep the change
  block:
    - postfix_wizard.hardening.apply:
        preset: rhel9-guide
        confirm: 10m
    - name: Send a test message through the new settings (your own check)
      ansible.builtin.command: swaks --to postmaster@example.org --server localhost
      changed_when: false
    - postfix_wizard.hardening.confirm:
"""

RETURN = r"""
confirmed:
  description: The backup set of the change confirmed (in check mode, that would be); null when nothing was pending.
  returned: always
  type: str
status:
  description: The wizard's exit status.
  returned: always
  type: int
"""

from ansible.module_utils.basic import AnsibleModule
from ansible_collections.postfix_wizard.hardening.plugins.module_utils.wizard import (
    DIRECTORY_OPTIONS, finish, run_wizard, wizard_command)


def main():
    module = AnsibleModule(argument_spec=dict(DIRECTORY_OPTIONS), supports_check_mode=True)
    if module.check_mode:
        listed = run_wizard(module, wizard_command(module, "backups"))
        waiting = listed.get("pending")
        finish(module, listed, changed=waiting is not None,
               confirmed=waiting["backup_set"] if waiting else None)
    finish(module, run_wizard(module, wizard_command(module, "confirm")))


if __name__ == "__main__":
    main()
