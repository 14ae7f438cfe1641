"""The command line's arguments: the argparse parser, its shared options and its value types.

`build_parser` declares every command with its help and examples (what `--help` prints); the
commands themselves are in wizard/cli/ by name (apply.py, check.py, ...), and
wizard/cli/__init__.py maps each command's name to its function. Nothing here imports the core
beyond the default directories and the sample names: `--help` stays quick.
"""

from __future__ import annotations

import argparse
from pathlib import Path

from wizard import resources
from wizard.cli.common import UsageError
from wizard.locations import DEFAULT_BACKUP_DIR, DEFAULT_DOVECOT_DIR, DEFAULT_POSTFIX_DIR


class Parser(argparse.ArgumentParser):
    """argparse, but a mistake raises UsageError (exit status 2, and --json's `error`)."""

    def error(self, message: str):
        raise UsageError(f"{message} (see {self.prog} --help)")


class _Version(argparse.Action):
    """--version (wizard/cli/version.py), worked out only when asked for: `--help` stays quick."""

    def __init__(self, option_strings, dest=argparse.SUPPRESS, default=argparse.SUPPRESS,
                 help="show the version, the Python and the log scanner in use, and exit"):
        super().__init__(option_strings, dest, nargs=0, default=default, help=help)

    def __call__(self, parser, namespace, values, option_string=None):
        from wizard.cli.version import version_line
        print(version_line())
        parser.exit(0)


def _command(commands, name: str, help: str, examples: list[str]) -> argparse.ArgumentParser:
    parser = commands.add_parser(
        name, help=help, description=help[0].upper() + help[1:] + ".",
        formatter_class=argparse.RawDescriptionHelpFormatter,
        epilog="examples:\n" + "\n".join(f"  postfix-wizard {e}" for e in examples))
    _add_common(parser)
    return parser


def _add_common(parser: argparse.ArgumentParser) -> None:
    default = argparse.SUPPRESS
    parser.add_argument("--postfix-dir", type=Path, default=default, metavar="DIR",
                        help=f"Postfix configuration directory (default {DEFAULT_POSTFIX_DIR})")
    parser.add_argument("--dovecot-dir", type=Path, default=default, metavar="DIR",
                        help=f"Dovecot configuration directory (default {DEFAULT_DOVECOT_DIR})")
    parser.add_argument("--backup-dir", type=Path, default=default, metavar="DIR",
                        help=f"where backup sets are kept (default {DEFAULT_BACKUP_DIR})")
    parser.add_argument("--demo", choices=resources.sample_names(), default=default,
                        metavar="[" + "|".join(resources.sample_names()) + "]",
                        help="work on a temporary copy of a stock configuration "
                             f"(default {resources.NEWEST_SAMPLE})")


def build_parser() -> argparse.ArgumentParser:
    parser = Parser(
        prog="postfix-wizard",
        description="Harden a Postfix server: denial-of-service limits and SMTP AUTH via Dovecot. "
                    "Without a command, the interactive wizard opens.",
        formatter_class=argparse.RawDescriptionHelpFormatter,
        epilog="examples:\n  postfix-wizard --demo\n  postfix-wizard --demo debian12 check\n"
               "  postfix-wizard check\n"
               "  postfix-wizard apply --preset rhel9-guide --dry-run\n"
               "  postfix-wizard rollback")
    _add_common(parser)
    parser.add_argument("--version", action=_Version)
    parser.add_argument("--preset", metavar="NAME|PATH", help="open the wizard with a preset loaded")
    parser.add_argument("--theme", choices=("dark", "light"), default="dark",
                        help="colours for a dark or a light terminal background (default dark)")
    _add_log_option(parser, "show under each limit what the traffic in this log says (repeat "
                            "for a rotated set; default: the server's own log)")
    commands = parser.add_subparsers(dest="command", metavar="COMMAND", parser_class=Parser)
    _add_apply(commands)
    _add_check(commands)
    _add_traffic(commands)
    _add_presets(commands)
    _add_backups(commands)
    return parser


def _add_apply(commands) -> None:
    apply = _command(commands, "apply", "apply a preset: validate, show the diff, write the files",
                     ["apply --preset rhel9-guide --dry-run", "apply --preset ./team.toml --yes",
                      "apply --preset baseline --postfix-dir /srv/mx/postfix --no-reload"])
    apply.add_argument("--preset", required=True, metavar="NAME|PATH",
                       help="a shipped preset's name or a preset file")
    apply.add_argument("--dry-run", action="store_true", help="show findings and diffs, write nothing")
    apply.add_argument("--yes", action="store_true", help="do not ask for confirmation")
    _add_live_options(apply)
    _add_log_option(apply)
    _add_json_option(apply)
    apply.add_argument("--confirm", metavar="DURATION", type=_confirm_time,
                       help="keep the change pending: unless 'postfix-wizard confirm' runs within "
                            "DURATION (Postfix time syntax: 30s, 5m, 1h), it is rolled back, "
                            "even if this session is gone")


def _add_check(commands) -> None:
    check = _command(commands, "check", "validate the current configuration, or a preset on it",
                     ["check", "check --preset busy-relay",
                      "check --preset busy-relay --log /var/log/mail.log"])
    check.add_argument("--preset", metavar="NAME|PATH", help="check what this preset would make")
    _add_log_option(check)
    _add_json_option(check)


def _add_traffic(commands) -> None:
    traffic = _command(commands, "traffic", "the busiest clients in the server's log, the limits "
                       "that would leave them room, and what limits would have refused",
                       ["traffic", "traffic --log /var/log/mail.log.1 --log /var/log/mail.log",
                        "traffic --since 7d --preset busy-relay",
                        "journalctl -o json -u postfix@- | postfix-wizard traffic --log -"])
    traffic.add_argument("--log", action="append", metavar="PATH",
                         help="a log file (plain or gzip; repeat for a rotated set), or - for "
                              "standard input (journalctl -o json is recognised); default: the "
                              "server's own log")
    traffic.add_argument("--since", type=_duration, metavar="DURATION",
                         help="only lines from the last DURATION (Postfix time syntax: 1h, 7d)")
    traffic.add_argument("--preset", metavar="NAME|PATH",
                         help="what this preset's limits would have refused (default: the "
                              "server's current limits)")
    traffic.add_argument("--json", action="store_true", help="machine-readable output")
    traffic.add_argument("--top", type=int, default=10, metavar="N",
                         help="how many clients to list (default 10; --json lists all)")


def _add_presets(commands) -> None:
    """presets and save (wizard/cli/presets.py)."""
    _command(commands, "presets", "list the shipped presets", ["presets"])
    save = _command(commands, "save", "write the server's current values as a preset",
                    ["save --output team.toml", "save --output team.toml --name team"])
    save.add_argument("--output", required=True, type=Path, metavar="PATH")
    save.add_argument("--name", help="the preset's name (default: the file name)")
    save.add_argument("--description", default="Saved from a server by postfix-wizard")


def _add_backups(commands) -> None:
    """backups, rollback, confirm and expire (wizard/cli/backups.py)."""
    backups = _command(commands, "backups", "list backup sets and a change waiting for "
                       "confirmation", ["backups", "backups --backup-dir ./b"])
    _add_json_option(backups)
    rollback = _command(commands, "rollback", "restore a backup set (the latest by default)",
                        ["rollback", "rollback 20261126-101500"])
    rollback.add_argument("id", nargs="?", help="the backup set (see 'backups')")
    rollback.add_argument("--yes", action="store_true", help="do not ask for confirmation")
    _add_live_options(rollback)
    _add_json_option(rollback)
    _add_json_option(_command(commands, "confirm", "keep a change applied with --confirm",
                              ["confirm"]))
    expire = _command(commands, "expire", "roll back an unconfirmed change whose time is up "
                      "(run by the timer that apply --confirm starts)",
                      ["expire 20261126-101500"])
    expire.add_argument("id", help="the backup set of the pending change")
    expire.add_argument("--wait-until", type=float, metavar="EPOCH",
                        help="sleep until then first (the detached timer)")


def _add_json_option(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--json", action="store_true",
                        help="print one JSON document (fields and exit statuses: README, "
                             "'Driving it from a program')")


def _add_log_option(parser: argparse.ArgumentParser, help: str = (
        "also warn about each limit that would have refused clients in this log (repeat for a "
        "rotated set; - for standard input)")) -> None:
    parser.add_argument("--log", action="append", metavar="PATH", help=help)


def _add_live_options(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--no-reload", action="store_true", help="do not reload Postfix or Dovecot")
    parser.add_argument("--no-probe", action="store_true",
                        help="after the reload, do not check the live server (SMTP and the logs)")


def _duration(text: str) -> int:
    """A Postfix time (30s, 5m, 7d) as an argparse type: seconds."""
    from wizard.values import parse_time
    try:
        return parse_time(text)
    except ValueError as error:
        raise argparse.ArgumentTypeError(str(error)) from None


def _confirm_time(text: str) -> int:
    seconds = _duration(text)
    if seconds < 10:
        raise argparse.ArgumentTypeError(f"{text} is too short to confirm in; give 10s or more")
    return seconds
