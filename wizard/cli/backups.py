"""The commands about backup sets and a change waiting for confirmation: `backups` (list them),
`rollback` (restore one), `confirm` (keep a change applied with `apply --confirm`) and `expire`
(roll that change back when its time is up).

`expire` is what the timer that `apply --confirm` arms runs, as `python -m wizard expire ID`
(wizard/change/pending.py); a timer armed on a server runs that exact command line, so its
arguments and behaviour stay as they are.
"""

from __future__ import annotations

import time
from typing import TYPE_CHECKING

from wizard.cli import json_output
from wizard.cli.common import (EXIT_OK, EXIT_PROBE, backup_dir, confirm, live_dirs, option,
                               show_live, show_result)
from wizard.locations import DEFAULT_DOVECOT_DIR, DEFAULT_POSTFIX_DIR

if TYPE_CHECKING:
    import argparse

    from wizard.cli.output import Out


def run_backups(args: argparse.Namespace, out: Out) -> int:
    from wizard.change import pending
    from wizard.change.backups import backup_sets
    sets = backup_sets(backup_dir(args))
    if not sets:
        out.line(f"No backup sets in {backup_dir(args)}.")
    waiting = pending.read(backup_dir(args))
    out.record(backup_sets=[json_output.backup(b) for b in sets],
               pending=json_output.waiting(waiting))
    if waiting is not None:
        out.line(f"PENDING: the change that backup set {waiting.backup} undoes is rolled back at "
                 f"{waiting.deadline_text()} ({waiting.seconds_left()} s from now) unless "
                 "'postfix-wizard confirm' runs first.", "yellow")
    for backup in sets:
        state = "" if backup.completed else "  (not applied: the apply failed and was undone)"
        out.line(f"{backup.id}  {backup.created}  {backup.reason}{state}", "bold")
        for entry in backup.entries:
            out.line(f"  {entry['path']}  ({entry['size']} bytes, mode {entry['mode']})")
    return EXIT_OK


def run_rollback(args: argparse.Namespace, out: Out) -> int:
    from wizard.change import live, pending, rollback, transaction
    chosen = rollback.find_backup(backup_dir(args), args.id).id
    out.record(restored=chosen)
    if not confirm(f"Restore backup set {chosen}?", args):
        out.line("Nothing was written.")
        return EXIT_OK
    server_dirs = transaction.Target(option(args, "postfix_dir", DEFAULT_POSTFIX_DIR),
                                     option(args, "dovecot_dir", DEFAULT_DOVECOT_DIR))
    probe_after = not (option(args, "no_probe", False) or option(args, "no_reload", False))
    result = show_live(live.run(lambda progress: rollback.rollback(
        server_dirs, backup_dir(args), chosen, reload=not option(args, "no_reload", False),
        progress=progress)[1],
        live_dirs(args), probe_after=probe_after), out)
    waiting = pending.claim(backup_dir(args))      # after the rollback: if it fails, the timer stays
    if waiting is not None:
        pending.stop_timer(waiting)
        out.line(f"The change that was waiting for confirmation (backup set {waiting.backup}) "
                 "is no longer pending: this rollback decided.", "yellow")
    out.line(f"Restored backup set {chosen}." if not result.probe_failed else
             f"Backup set {chosen} was restored, failed the live check and was undone.",
             "red" if result.probe_failed else "green")
    return EXIT_PROBE if result.probe_failed else EXIT_OK


def run_confirm(args: argparse.Namespace, out: Out) -> int:
    from wizard.change import pending
    waiting = pending.claim(backup_dir(args))
    out.record(confirmed=None)
    if waiting is None:
        out.line("No change is waiting for confirmation (it was confirmed, rolled back, or its "
                 "time was up: see 'postfix-wizard backups').")
        return EXIT_OK
    pending.stop_timer(waiting)
    out.record(changed=True, confirmed=waiting.backup)
    out.line(f"Confirmed: the change stays (its previous files are in backup set "
             f"{waiting.backup}).", "green")
    return EXIT_OK


def run_expire(args: argparse.Namespace, out: Out) -> int:
    from wizard.change import live, pending
    if args.wait_until:
        pending.wait_until(args.wait_until)
    out.line(f"{time.strftime('%Y-%m-%d %H:%M:%S')}: the time to confirm backup set {args.id}'s "
             "change is up.")
    result = live.expire(live_dirs(args), args.id)
    if result is None:
        out.line("It was confirmed or rolled back already; nothing to do.")
        return EXIT_OK
    show_result(result, out)
    return EXIT_PROBE if result.probe_failed else EXIT_OK
