"""What the commands share: the exit statuses, the usage error, and the steps more than one
command takes.

The options a command was given (`option`, with the directories' defaults when a command has no
such option), the server and the directories they name, the question before a write, the
findings of --log, and the result of a change on the live server. It lives apart from
wizard/cli/__init__.py so that each command module can import it without importing the others.
"""

from __future__ import annotations

import sys
from typing import TYPE_CHECKING

from wizard.cli import json_output
from wizard.errors import WizardError
from wizard.locations import DEFAULT_BACKUP_DIR, DEFAULT_DOVECOT_DIR, DEFAULT_POSTFIX_DIR

if TYPE_CHECKING:
    import argparse
    from pathlib import Path

    from wizard.change import live
    from wizard.cli.output import Out
    from wizard.findings import Finding
    from wizard.server.state import Server

# The meaning of each is in wizard/cli/__init__.py's docstring (and the README).
EXIT_OK, EXIT_INVALID, EXIT_USAGE, EXIT_WRITE, EXIT_PROBE = 0, 1, 2, 3, 4


class UsageError(WizardError):
    """Bad usage: the arguments, or a combination the command refuses (exit status 2)."""


def option(args: argparse.Namespace, name: str, default):
    """An option that not every command has (argparse.SUPPRESS leaves it unset)."""
    return getattr(args, name, default)


def load_server(args: argparse.Namespace) -> Server:
    from wizard.server import versions
    from wizard.server.state import Server
    from wizard.files.selinux import Facts
    sample = option(args, "sample", None)        # a demo shows its sample's recorded versions
    server = Server.load(option(args, "postfix_dir", DEFAULT_POSTFIX_DIR),
                         option(args, "dovecot_dir", DEFAULT_DOVECOT_DIR),
                         versions.recorded(sample) if sample else None)
    if sample:
        server.selinux = Facts()      # and its host's SELinux: off, as on the Debian it is from
    return server


def backup_dir(args: argparse.Namespace) -> Path:
    return option(args, "backup_dir", DEFAULT_BACKUP_DIR)


def live_dirs(args: argparse.Namespace) -> live.Dirs:
    from wizard.change.live import Dirs
    return Dirs(option(args, "postfix_dir", DEFAULT_POSTFIX_DIR),
                option(args, "dovecot_dir", DEFAULT_DOVECOT_DIR), backup_dir(args))


def confirm(question: str, args: argparse.Namespace) -> bool:
    if option(args, "yes", False):
        return True
    if not sys.stdin.isatty():
        raise UsageError("no terminal to confirm on; add --yes to apply without asking")
    return input(f"{question} [y/N] ").strip().lower() in ("y", "yes")


def show_live(result: live.Result, out: Out) -> live.Result:
    out.record(changed=not result.failed, **json_output.result(result))
    show_result(result, out)
    return result


def show_result(result: live.Result, out: Out) -> None:
    """What the transaction did, the live check, and the way back if it failed."""
    from wizard.change.live import outcome_styled
    out.styled(outcome_styled(result.outcome))
    out.styled(result.live_checks())


def logs_to_read(args: argparse.Namespace) -> list[str] | None:
    """--log, else the demo's recorded log, else None: the server's own."""
    demo = option(args, "demo_log", None)
    return option(args, "log", None) or ([demo] if demo else None)


def traffic_findings(args: argparse.Namespace, server: Server, settings) -> list[Finding]:
    """With --log: a warning for each limit that would have refused the log's clients."""
    if not option(args, "log", None):
        return []
    from wizard.traffic import analysis, server_logs
    traffic = server_logs.read(server, logs_to_read(args), None,
                               server_logs.exceptions_after(server, settings))
    return analysis.findings(traffic, server_logs.limits(server, settings))
