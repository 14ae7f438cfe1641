"""The command line: `postfix-wizard [--demo] [COMMAND]`.

Exit status: 0 success; 1 validation errors (nothing written); 2 bad usage, a bad preset or an
unreadable configuration (nothing written); 3 the write itself failed.
"""

from __future__ import annotations

import argparse
import os
import shutil
import sys
import tempfile
from pathlib import Path

from . import rules
from .errors import WizardError
from .server import DEFAULT_DOVECOT_DIR, DEFAULT_POSTFIX_DIR, Server

SAMPLE_DIR = Path(__file__).resolve().parent.parent / "samples" / "debian12"
EXIT_OK, EXIT_INVALID, EXIT_USAGE, EXIT_WRITE = 0, 1, 2, 3


class Output:
    """Plain text, coloured only on a terminal and when NO_COLOR is not set."""

    def __init__(self, stream=sys.stdout):
        self.stream = stream
        self.colour = stream.isatty() and not os.environ.get("NO_COLOR")

    def line(self, text: str = "", colour: str = "") -> None:
        codes = {"red": "31", "yellow": "33", "green": "32", "bold": "1"}
        if self.colour and colour:
            text = f"\033[{codes[colour]}m{text}\033[0m"
        print(text, file=self.stream)

    def finding(self, finding: rules.Finding) -> None:
        colour = "red" if finding.severity == "error" else "yellow"
        self.line(f"{finding.severity.upper()}: {finding.message}", colour)
        self.line(f"  fix: {finding.fix}")


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="postfix-wizard",
        description="Harden a Postfix server: denial-of-service limits and SMTP AUTH via Dovecot.",
        formatter_class=argparse.RawDescriptionHelpFormatter,
        epilog="examples:\n  postfix-wizard --demo\n  postfix-wizard check\n"
               "  postfix-wizard check --postfix-dir /srv/postfix --dovecot-dir /srv/dovecot")
    parser.add_argument("--demo", action="store_true",
                        help="work on a temporary copy of a stock Debian 12 configuration")
    commands = parser.add_subparsers(dest="command", metavar="COMMAND")
    check = commands.add_parser(
        "check", help="validate the server's current configuration",
        formatter_class=argparse.RawDescriptionHelpFormatter,
        epilog="examples:\n  postfix-wizard check\n  postfix-wizard check --postfix-dir ./etc/postfix")
    add_dirs(check)
    add_dirs(parser)
    return parser


def add_dirs(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--postfix-dir", type=Path, default=argparse.SUPPRESS,
                        help=f"Postfix configuration directory (default {DEFAULT_POSTFIX_DIR})")
    parser.add_argument("--dovecot-dir", type=Path, default=argparse.SUPPRESS,
                        help=f"Dovecot configuration directory (default {DEFAULT_DOVECOT_DIR})")


def load_server(args: argparse.Namespace) -> Server:
    return Server.load(getattr(args, "postfix_dir", DEFAULT_POSTFIX_DIR),
                       getattr(args, "dovecot_dir", DEFAULT_DOVECOT_DIR))


def run_check(args: argparse.Namespace, out: Output) -> int:
    server = load_server(args)
    from .model import Settings
    findings = rules.check(server, Settings())
    describe(server, out)
    for finding in findings:
        out.finding(finding)
    if not findings:
        out.line("No problems found.", "green")
    return EXIT_INVALID if rules.errors(findings) else EXIT_OK


def describe(server: Server, out: Output) -> None:
    current = server.current()
    out.line(f"Postfix {server.postfix_version or '(not installed)'}: {server.postfix_dir}", "bold")
    out.line(f"  queue directory {server.queue_directory}; smtpd chrooted: "
             f"{', '.join(server.smtpd_chrooted) or 'no'}")
    sasl = current.sasl
    state = "on" if sasl.enabled else "off"
    out.line(f"  SMTP AUTH {state}" + (f" via Dovecot ({sasl.socket})" if sasl.type else ""))
    for service, name, value in server.managed_overrides():
        out.line(f"  master.cf line {service.line}: service {service.name} overrides {name}={value}")
    out.line(f"Dovecot {server.dovecot_version or '(not found)'}: {server.dovecot_dir}", "bold")


def demo_dirs(workdir: Path) -> argparse.Namespace:
    shutil.copytree(SAMPLE_DIR, workdir, dirs_exist_ok=True)
    return argparse.Namespace(postfix_dir=workdir / "postfix", dovecot_dir=workdir / "dovecot")


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    out = Output()
    try:
        if args.demo:
            with tempfile.TemporaryDirectory(prefix="postfix-wizard-demo-") as workdir:
                vars(args).update(vars(demo_dirs(Path(workdir))))
                out.line("Demo: a stock Debian 12 Postfix and Dovecot configuration, copied to a "
                         "temporary directory.")
                return run_check(args, out)
        if args.command == "check":
            return run_check(args, out)
        out.line("The interactive wizard is not built yet; use a command (see --help).")
        return EXIT_USAGE
    except WizardError as error:
        print(f"postfix-wizard: {error}", file=sys.stderr)
        return EXIT_USAGE
    except KeyboardInterrupt:
        print("postfix-wizard: interrupted; nothing was written.", file=sys.stderr)
        return EXIT_USAGE
