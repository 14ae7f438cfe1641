# -*- coding: utf-8 -*-
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""postfix_wizard.hardening.apply on the controller: a preset given as a path is found on the
controller (next to the playbook, or in a role's files/) and copied to the target's temporary
directory for the module; a shipped preset's name and inline settings go as they are."""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import os

from ansible.errors import AnsibleError
from ansible.module_utils.common.text.converters import to_text
from ansible.plugins.action import ActionBase


def names_a_file(preset):
    return "/" in preset or preset.endswith((".toml", ".json"))


class ActionModule(ActionBase):
    TRANSFERS_FILES = True

    def run(self, tmp=None, task_vars=None):
        result = super(ActionModule, self).run(tmp, task_vars)
        arguments = dict(self._task.args)
        preset = arguments.get("preset")
        try:
            if isinstance(preset, str) and names_a_file(preset):
                try:
                    source = self._find_needle("files", preset)
                except AnsibleError as error:
                    result.update(failed=True, msg="the preset %s is not on the controller: %s"
                                  % (preset, to_text(error)))
                    return result
                shell = self._connection._shell
                suffix = ".json" if source.endswith(".json") else ".toml"
                remote = shell.join_path(shell.tmpdir, "preset-" + os.path.basename(
                    source).rsplit(".", 1)[0] + suffix)
                self._transfer_file(source, remote)
                self._fixup_perms2((shell.tmpdir, remote))
                arguments["preset"] = remote
            done = self._execute_module(module_name="postfix_wizard.hardening.apply",
                                        module_args=arguments, task_vars=task_vars)
            if arguments.get("preset") != preset:        # name the file as the playbook does
                for key in ("msg", "error"):
                    if isinstance(done.get(key), str):
                        done[key] = done[key].replace(arguments["preset"], preset)
            result.update(done)
        finally:
            self._remove_tmp_path(self._connection._shell.tmpdir)
        return result
