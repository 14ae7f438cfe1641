#!/usr/bin/python
# -*- coding: utf-8 -*-
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import absolute_import, division, print_function

__metaclass__ = type

DOCUMENTATION = r"""
---
module: apply
short_description: Apply a postfix-wizard preset to a Postfix and Dovecot server
version_added: "0.1.0"
description:
  - Runs the postfix-wizard installed on the target (C(postfix-wizard apply --json)) with a
    preset. Every value is validated on its own, against the others and against the installed
    Postfix and Dovecot; main.cf and the Dovecot files are written together with a backup set,
    both daemons reloaded, and the live server checked over SMTP. When that check fails, the
    previous files are restored and the task fails.
  - Check mode is the wizard's dry run; diff mode shows each file before and after.
  - Idempotent; a second run with the same preset reports no change.
  - Install the wizard on the targets with the P(postfix_wizard.hardening.install#role) role.
options:
  preset:
    description:
      - A shipped preset's name (V(rhel9-guide), V(baseline), V(busy-relay), V(sasl-tcp)), or
        the path of a preset file on the controller (it is sent to the target).
      - Exactly one of O(preset) and O(settings).
    type: str
  settings:
    description:
      - The same tables as a preset (C(limits), C(sasl), optionally C(preset)), inline.
      - Exactly one of O(preset) and O(settings).
    type: dict
  confirm:
    description:
      - Keep the change pending for this long (Postfix time syntax, V(5m)); unless
        M(postfix_wizard.hardening.confirm) runs in time, the target rolls it back by itself.
    type: str
extends_documentation_fragment:
  - postfix_wizard.hardening.wizard
  - postfix_wizard.hardening.wizard.live
attributes:
  diff_mode:
    description: Shows each file before and after.
    support: full
"""

EXAMPLES = r"""
- name: Harden the limits and SMTP AUTH as RHEL 9's guide says
  postfix_wizard.hardening.apply:
    preset: rhel9-guide

- name: The team's own preset, kept next to the playbook
  postfix_wizard.hardening.apply:
    preset: files/team.toml
    confirm: 5m

- name: Inline settings
  postfix_wizard.hardening.apply:
    settings:
      limits:
        smtpd_client_connection_rate_limit: 30
        message_size_limit: 26214400
"""

RETURN = r"""
changed:
  description: Files were changed (in check mode, would be) and the change stayed.
  returned: always
  type: bool
findings:
  description: What the wizard found; errors block the change.
  returned: always
  type: list
  elements: dict
  contains:
    severity: {description: V(error) or V(warning)., type: str}
    code: {description: The rule's name., type: str}
    fields: {description: The settings concerned., type: list, elements: str}
    message: {description: What would happen on the real server., type: str}
    fix: {description: How to fix it., type: str}
changes:
  description: Each file the preset changes, with its text before and after and the diff.
  returned: always
  type: list
  elements: dict
backup_set:
  description: The backup set holding the previous files (undo with M(postfix_wizard.hardening.rollback)).
  returned: when files were written
  type: str
probe:
  description: The live check after the reload; null when nothing was reloaded.
  returned: when files were written
  type: dict
rolled_back:
  description: The live check failed and the previous files were restored.
  returned: when files were written
  type: bool
pending:
  description: The change waiting for M(postfix_wizard.hardening.confirm), with its deadline.
  returned: when files were written
  type: dict
verdict:
  description: One sentence on where the server stands.
  returned: when files were written
  type: str
messages:
  description: The lines the wizard would have printed.
  returned: always
  type: list
  elements: str
status:
  description:
    - The wizard's exit status (0 ok, 1 validation errors, 2 refused, 3 write failed, 4 live
      check failed and rolled back).
  returned: always
  type: int
"""

import json
import os

from ansible.module_utils.basic import AnsibleModule
from ansible_collections.postfix_wizard.hardening.plugins.module_utils.wizard import (
    DIRECTORY_OPTIONS, LIVE_OPTIONS, finish, live_options, run_wizard, wizard_command)


def preset_argument(module):
    """A shipped name, or a file (the action plugin has copied a controller's file to the
    target), as it is; inline settings as a JSON preset in the module's temporary directory."""
    if module.params["settings"] is None:
        return module.params["preset"]
    path = os.path.join(module.tmpdir, "preset.json")
    with open(path, "w") as handle:
        json.dump(module.params["settings"], handle)
    return path


def diff_of(document):
    return [{"before_header": c["path"], "after_header": c["path"], "before": c["before"],
             "after": c["after"]} for c in document.get("changes", [])]


def main():
    argument_spec = dict(
        preset=dict(type="str"),
        settings=dict(type="dict"),
        confirm=dict(type="str"),
        **dict(DIRECTORY_OPTIONS, **LIVE_OPTIONS)
    )
    module = AnsibleModule(argument_spec=argument_spec, supports_check_mode=True,
                           mutually_exclusive=[("preset", "settings")],
                           required_one_of=[("preset", "settings")])
    words = ["apply", "--preset", preset_argument(module)]
    if module.check_mode:
        words.append("--dry-run")
    else:
        words += ["--yes"] + live_options(module)
        if module.params["confirm"]:
            words += ["--confirm", module.params["confirm"]]
    document = run_wizard(module, wizard_command(module, *words))
    extra = {"diff": diff_of(document)} if module._diff else {}
    finish(module, document, **extra)


if __name__ == "__main__":
    main()
