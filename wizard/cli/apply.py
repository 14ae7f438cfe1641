"""`postfix-wizard apply`: a preset validated, shown as findings and diffs, and written.

The write goes through the core's live change (wizard/change/live.py): the transaction, the
reload, the live check and the automatic way back; `--confirm` leaves it pending until
`postfix-wizard confirm` (wizard/cli/backups.py).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from wizard.cli import json_output
from wizard.cli.common import (EXIT_INVALID, EXIT_OK, EXIT_PROBE, EXIT_WRITE, UsageError,
                               backup_dir, confirm, live_dirs, load_server, option, show_live,
                               traffic_findings)

if TYPE_CHECKING:
    import argparse

    from wizard.change.plan import Plan
    from wizard.cli.output import Out


def run_apply(args: argparse.Namespace, out: Out) -> int:
    from wizard import overview
    from wizard.change import pending
    from wizard.settings import presets
    from wizard.change.plan import make_plan
    if args.confirm and (option(args, "no_reload", False) or args.no_probe):
        raise UsageError("--confirm needs the reload and the live check; drop --no-reload, "
                         "--no-probe (and --demo)")
    pending.refuse_if_pending(backup_dir(args))
    preset = presets.load(presets.find(args.preset))
    server = load_server(args)
    out.line(f"Editing {overview.generations(server)}.")
    plan = make_plan(server, preset.settings)
    plan.findings.extend(traffic_findings(args, server, preset.settings))
    show_plan(plan, out)
    out.record(preset=preset.name, dry_run=args.dry_run, changed=bool(plan.changes),
               changes=[json_output.change(c) for c in plan.changes])
    if plan.blocked:
        out.line("Nothing was written: fix the errors above first.", "red")
        out.record(changed=False)
        return EXIT_INVALID
    if not plan.changes:
        out.line(f"Preset {preset.name} changes nothing on this server.", "green")
        return EXIT_OK
    if args.dry_run:
        out.line("Dry run: nothing was written.")
        return EXIT_OK
    names = ", ".join(str(c.path) for c in plan.changes)
    if not confirm(f"Write {names}?", args):
        out.line("Nothing was written.")
        out.record(changed=False)
        return EXIT_OK
    from wizard.change import live
    reload = not option(args, "no_reload", False)
    result = show_live(live.apply_plan(
        server, preset.settings, plan, backup_dir(args), reload=reload,
        probe_after=not args.no_probe, confirm_seconds=args.confirm), out)
    if result.failed:
        return EXIT_PROBE if result.probe_failed else EXIT_WRITE
    if args.confirm and result.pending is None:
        out.line("Nothing is pending: no running daemon was reloaded, so there is nothing to "
                 "confirm.", "yellow")
    out.styled(live.undo_styled(result.outcome, live_dirs(args)))
    return EXIT_OK


def show_plan(plan: Plan, out: Out) -> None:
    for finding in plan.findings:
        out.finding(finding)
    for change in plan.changes:
        out.diff(change.diff)
