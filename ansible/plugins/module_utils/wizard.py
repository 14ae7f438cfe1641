# -*- coding: utf-8 -*-
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""What the collection's modules share: running the postfix-wizard installed on the target with
`--json` and turning its document into a module result.

The modules stay thin on purpose: every check, write, backup, reload, live check and rollback
is the wizard's own (its command line is documented in its README, "Driving it from a
program"), so a playbook gets exactly what an admin at the terminal gets.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import json

DIRECTORY_OPTIONS = dict(
    postfix_dir=dict(type="path"),
    dovecot_dir=dict(type="path"),
    backup_dir=dict(type="path"),
    executable=dict(type="str", default="postfix-wizard"),
)
LIVE_OPTIONS = dict(
    reload=dict(type="bool", default=True),
    probe=dict(type="bool", default=True),
)


def wizard_command(module, *words):
    """The wizard's command line, with the directories the task gives."""
    executable = module.params["executable"]
    if "/" not in executable:
        executable = module.get_bin_path(executable, required=True)
    command = [executable] + list(words)
    for option in ("postfix_dir", "dovecot_dir", "backup_dir"):
        if module.params.get(option):
            command += ["--" + option.replace("_", "-"), module.params[option]]
    return command + ["--json"]


def live_options(module):
    words = []
    if not module.params["reload"]:
        words.append("--no-reload")
    if not module.params["probe"]:
        words.append("--no-probe")
    return words


def run_wizard(module, command):
    """Run it; its JSON document, with `status`. A document that will not parse fails the task
    with what the wizard printed."""
    status, out, err = module.run_command(command, environ_update={"NO_COLOR": "1"})
    try:
        document = json.loads(out)
    except ValueError:
        module.fail_json(msg="postfix-wizard did not answer in JSON (is it installed on the "
                             "target, and new enough for --json?): %s" % (err or out).strip(),
                         rc=status, cmd=command, stdout=out, stderr=err)
    document["status"] = status
    return document


def failure_message(document):
    """The wizard's own words: its refusal, else its errors (with their fixes), else its
    verdict on the live server."""
    if document.get("error"):
        return document["error"]
    errors = [f for f in document.get("findings", []) if f.get("severity") == "error"]
    if errors:
        return " ".join("%s Fix: %s" % (f["message"], f["fix"]) for f in errors)
    return document.get("verdict") or "; ".join(document.get("messages", [])) or \
        "postfix-wizard exited with status %s" % document.get("status")


def finish(module, document, **extra):
    """exit_json or fail_json, with the document's fields as the result."""
    result = dict(document, changed=bool(document.get("changed")), rc=document.get("status"))
    result.update(extra)
    result.pop("command", None)
    if document.get("status") != 0:
        module.fail_json(msg=failure_message(document), **result)
    module.exit_json(**result)
