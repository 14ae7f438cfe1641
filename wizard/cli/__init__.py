"""The command line: `postfix-wizard [--demo] [COMMAND] [OPTIONS]`.

Exit status: 0 success; 1 validation errors (nothing written); 2 bad usage, a bad preset or an
unreadable configuration (nothing written); 3 the write itself failed (everything left as it was);
4 the change was written but the live check failed, so the previous files were put back.

Each command imports the parts of the core it uses: the settings model (pydantic) and presets
(tomlkit) cost more than a command like `presets` or `backups` needs, and the interactive wizard
loads them after its first screen is painted.

Here is the process: `main` (the `postfix-wizard` entry point, and `python -m wizard`, which the
timer of `apply --confirm` runs), `run` (with --demo, on a temporary copy), `dispatch` (COMMANDS:
each command's function) and `failed`. The parts: parser.py (the arguments), output.py and
json_output.py (text, and --json), common.py (what the commands share, the exit statuses among
it), demo.py (--demo), and a module per command or group: apply.py, check.py, traffic.py,
presets.py (presets, save), backups.py (backups, rollback, confirm, expire) and interactive.py
(the wizard, without a command). A command's module is imported when the command runs, and
each imports little at its top, so `import wizard.cli` stays light.
"""

from __future__ import annotations

import importlib
import os
import sys
import tempfile
from pathlib import Path
from typing import TYPE_CHECKING

from wizard.cli import json_output
from wizard.cli.common import (EXIT_INVALID, EXIT_OK, EXIT_PROBE, EXIT_USAGE, EXIT_WRITE,
                               backup_dir, option)
from wizard.cli.demo import demo_dirs, demo_display, with_demo_default
from wizard.cli.output import Output
from wizard.cli.parser import build_parser
from wizard.errors import WizardError, WriteError

if TYPE_CHECKING:
    import argparse

    from wizard.cli.output import Out
    from wizard.styled import Display

# What others use: the entry point, the exit statuses, and the demo's way of showing paths.
__all__ = ["main", "run", "dispatch", "failed", "COMMANDS", "EXIT_OK", "EXIT_INVALID",
           "EXIT_USAGE", "EXIT_WRITE", "EXIT_PROBE", "demo_display"]

# Each command: the module of wizard/cli that runs it, and the function. A command's module is
# imported only when it runs.
COMMANDS = {"apply": ("apply", "run_apply"), "check": ("check", "run_check"),
            "presets": ("presets", "run_presets"), "save": ("presets", "run_save"),
            "backups": ("backups", "run_backups"), "rollback": ("backups", "run_rollback"),
            "confirm": ("backups", "run_confirm"), "expire": ("backups", "run_expire"),
            "traffic": ("traffic", "run_traffic")}


def main(argv: list[str] | None = None) -> int:
    argv = with_demo_default(sys.argv[1:] if argv is None else argv, COMMANDS)
    out: Out = Output()
    try:
        args = build_parser().parse_args(argv)
        if option(args, "json", False) and args.command in json_output.COMMANDS:
            out = json_output.JsonOutput(args.command)
        status = run(args, out)
    except (WizardError, KeyboardInterrupt) as error:
        if "--json" in argv and "traffic" not in argv and \
                not isinstance(out, json_output.JsonOutput):
            out = json_output.JsonOutput(None)          # the arguments themselves were wrong
        status = failed(error, out)
    except BrokenPipeError:
        # The reader (e.g. `| head`) went away; stay quiet like other Unix tools.
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return EXIT_OK
    out.close(status)
    return status


def run(args: argparse.Namespace, out: Out) -> int:
    if not option(args, "demo", None):
        return dispatch(args, out)
    with tempfile.TemporaryDirectory(prefix="postfix-wizard-demo-") as workdir:
        vars(args).update(demo_dirs(Path(workdir), args.demo))
        args.no_reload = True     # the demo's daemons would be this machine's own
        if args.command is not None:
            from wizard.server.versions import recorded
            notice = (f"working on a temporary copy of a stock "
                      f"{recorded(args.sample).release} configuration.")
            if option(args, "json", False):         # stdout holds the JSON alone
                print(f"postfix-wizard: demo: {notice}", file=sys.stderr)
            else:
                out.line(f"Demo: {notice}")
        return dispatch(args, out, demo_display(Path(workdir)))


def dispatch(args: argparse.Namespace, out: Out, display: Display = str) -> int:
    notes: list[str] = []
    if backup_dir(args).is_dir():
        from wizard.change import transaction
        notes = transaction.recover_if_needed(backup_dir(args))
        for message in notes:
            out.line(message, "yellow")
    if args.command is None:
        from wizard.cli.interactive import run_wizard
        return run_wizard(args, tuple(notes), display)
    module, function = COMMANDS[args.command]
    return getattr(importlib.import_module(f"wizard.cli.{module}"), function)(args, out)


def failed(error: BaseException, out: Out) -> int:
    """A user's mistake or a refusal: one line on standard error (and in --json's `error`)."""
    message = "interrupted; nothing was written." if isinstance(error, KeyboardInterrupt) \
        else str(error)
    print(f"postfix-wizard: {message}", file=sys.stderr)
    out.record(error=message)
    return EXIT_WRITE if isinstance(error, WriteError) else EXIT_USAGE
