"""`postfix-wizard check`: the server as found, and the findings of the rules on it (on its
current settings, or on a preset's), with a warning when a change waits for confirmation.

Exit status 1 when a finding is an error, as `apply` would refuse to write.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from wizard.cli import json_output
from wizard.cli.common import (EXIT_INVALID, EXIT_OK, backup_dir, load_server, option,
                               traffic_findings)

if TYPE_CHECKING:
    import argparse

    from wizard.cli.output import Out


def run_check(args: argparse.Namespace, out: Out) -> int:
    from wizard import overview, rules
    from wizard.change import pending
    from wizard.settings.model import Settings
    server = load_server(args)
    out.styled(overview.server_description(server))
    settings = Settings()
    if option(args, "preset", None):
        from wizard.settings import presets
        settings = presets.load(presets.find(args.preset)).settings
    found = rules.check(server, settings) + traffic_findings(
        args, server, settings if option(args, "preset", None) else None)
    waiting = pending.read(backup_dir(args))
    out.record(pending=json_output.waiting(waiting))
    if waiting is not None:
        out.line(f"WARNING: a change is waiting for confirmation until "
                 f"{waiting.deadline_text()}: unless 'postfix-wizard confirm' runs first, "
                 f"backup set {waiting.backup} is restored then.", "yellow")
    for finding in found:
        out.finding(finding)
    if not found:
        out.line("No problems found.", "green")
    return EXIT_INVALID if rules.errors(found) else EXIT_OK
