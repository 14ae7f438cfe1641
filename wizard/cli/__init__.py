"""The command line: `postfix-wizard [--demo] [COMMAND] [OPTIONS]`.

Exit status: 0 success; 1 validation errors (nothing written); 2 bad usage, a bad preset or an
unreadable configuration (nothing written); 3 the write itself failed (everything left as it was);
4 the change was written but the live check failed, so the previous files were put back.

Each command imports the parts of the core it uses: the settings model (pydantic) and presets
(tomlkit) cost more than a command like `presets` or `backups` needs, and the interactive wizard
loads them after its first screen is painted.
"""

from __future__ import annotations

import argparse
import os
import shutil
import sys
import tempfile
import time
from pathlib import Path
from typing import TYPE_CHECKING

from wizard.cli import json_output
from wizard import resources
from wizard.errors import WizardError, WriteError
from wizard.locations import DEFAULT_BACKUP_DIR, DEFAULT_DOVECOT_DIR, DEFAULT_POSTFIX_DIR

if TYPE_CHECKING:
    from wizard.change import live, transaction
    from wizard import rules
    from wizard.change.plan import Plan
    from wizard.server.state import Server

EXIT_OK, EXIT_INVALID, EXIT_USAGE, EXIT_WRITE, EXIT_PROBE = 0, 1, 2, 3, 4
COLOURS = {"red": "31", "yellow": "33", "green": "32", "bold": "1", "cyan": "36"}


class Output:
    """Plain text, coloured only on a terminal and when NO_COLOR is not set."""

    def __init__(self, stream=sys.stdout):
        self.stream = stream
        self.colour = stream.isatty() and not os.environ.get("NO_COLOR")

    def line(self, text: str = "", colour: str = "") -> None:
        if self.colour and colour:
            text = f"\033[{COLOURS[colour]}m{text}\033[0m"
        print(text, file=self.stream)

    def finding(self, finding: "rules.Finding") -> None:
        self.line(f"{finding.severity.upper()}: {finding.message}",
                  "red" if finding.severity == "error" else "yellow")
        self.line(f"  fix: {finding.fix}")

    def diff(self, text: str) -> None:
        for line in text.splitlines():
            colour = {"+": "green", "-": "red", "@": "cyan"}.get(line[:1], "")
            self.line(line, "bold" if line[:3] in ("+++", "---") else colour)

    def record(self, **fields) -> None:
        """What --json reports (wizard/json_output.py); text says it in lines instead."""

    def close(self, status: int) -> None:
        pass


class UsageError(WizardError):
    pass


class Parser(argparse.ArgumentParser):
    def error(self, message: str):
        raise UsageError(f"{message} (see {self.prog} --help)")


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
    parser.add_argument("--preset", metavar="NAME|PATH", help="open the wizard with a preset loaded")
    parser.add_argument("--theme", choices=("dark", "light"), default="dark",
                        help="colours for a dark or a light terminal background (default dark)")
    _add_log_option(parser, "show under each limit what the traffic in this log says (repeat "
                            "for a rotated set; default: the server's own log)")
    commands = parser.add_subparsers(dest="command", metavar="COMMAND", parser_class=Parser)

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

    check = _command(commands, "check", "validate the current configuration, or a preset on it",
                     ["check", "check --preset busy-relay",
                      "check --preset busy-relay --log /var/log/mail.log"])
    check.add_argument("--preset", metavar="NAME|PATH", help="check what this preset would make")
    _add_log_option(check)
    _add_json_option(check)

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
    _command(commands, "presets", "list the shipped presets", ["presets"])
    save = _command(commands, "save", "write the server's current values as a preset",
                    ["save --output team.toml", "save --output team.toml --name team"])
    save.add_argument("--output", required=True, type=Path, metavar="PATH")
    save.add_argument("--name", help="the preset's name (default: the file name)")
    save.add_argument("--description", default="Saved from a server by postfix-wizard")

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
    return parser


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


def option(args: argparse.Namespace, name: str, default):
    return getattr(args, name, default)


def load_server(args: argparse.Namespace) -> Server:
    from wizard.server import versions
    from wizard.server.state import Server
    sample = option(args, "sample", None)        # a demo shows its sample's recorded versions
    return Server.load(option(args, "postfix_dir", DEFAULT_POSTFIX_DIR),
                       option(args, "dovecot_dir", DEFAULT_DOVECOT_DIR),
                       versions.recorded(sample) if sample else None)


def backup_dir(args: argparse.Namespace) -> Path:
    return option(args, "backup_dir", DEFAULT_BACKUP_DIR)


def show_plan(plan: Plan, out: Output) -> None:
    for finding in plan.findings:
        out.finding(finding)
    for change in plan.changes:
        out.diff(change.diff)


def confirm(question: str, args: argparse.Namespace) -> bool:
    if option(args, "yes", False):
        return True
    if not sys.stdin.isatty():
        raise UsageError("no terminal to confirm on; add --yes to apply without asking")
    return input(f"{question} [y/N] ").strip().lower() in ("y", "yes")


def run_apply(args: argparse.Namespace, out: Output) -> int:
    from wizard.change import pending, transaction
    from wizard.settings import presets
    from wizard.change.plan import make_plan
    if args.confirm and (option(args, "no_reload", False) or args.no_probe):
        raise UsageError("--confirm needs the reload and the live check; drop --no-reload, "
                         "--no-probe (and --demo)")
    pending.refuse_if_pending(backup_dir(args))
    preset = presets.load(presets.find(args.preset))
    server = load_server(args)
    out.line(f"Editing {generations(server)}.")
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
    writes = transaction.writes_for(plan.changes)
    target = transaction.target_for(server, preset.settings)
    result = run_live(args, out, lambda step: transaction.apply(
        writes, target, backup_dir(args), reload=not option(args, "no_reload", False), step=step),
        confirm_seconds=args.confirm)
    if result.failed:
        return EXIT_PROBE if result.probe_failed else EXIT_WRITE
    if args.confirm and result.pending is None:
        out.line("Nothing is pending: no running daemon was reloaded, so there is nothing to "
                 "confirm.", "yellow")
    out.line(f"Undo with: postfix-wizard rollback {result.outcome.backup.id}"
             + dirs_options(args))
    return EXIT_OK


def run_live(args: argparse.Namespace, out: Output, change: live.Change,
             confirm_seconds: int | None = None) -> live.Result:
    """The transaction, then the probe and the automatic way back; the report on `out`."""
    from wizard.change import live
    result = live.run(change, live_dirs(args), confirm_seconds=confirm_seconds,
                             probe_after=not (option(args, "no_probe", False) or
                                              option(args, "no_reload", False)))
    out.record(changed=not result.failed, **json_output.result(result))
    report(result.outcome, out)
    show_probe(result, out)
    return result


def live_dirs(args: argparse.Namespace) -> live.Dirs:
    from wizard.change.live import Dirs
    return Dirs(option(args, "postfix_dir", DEFAULT_POSTFIX_DIR),
                option(args, "dovecot_dir", DEFAULT_DOVECOT_DIR), backup_dir(args))


def show_probe(result: live.Result, out: Output) -> None:
    show_report("Live check:", result.report, out)
    if result.undo is not None:
        out.line(f"Rolled back to backup set {result.outcome.backup.id}:", "bold")
        report(result.undo, out)
    show_report("Live check of the previous files:", result.undo_report, out)
    out.line(result.verdict(), "red" if result.failed else "green")


def show_report(title: str, probed, out: Output) -> None:
    if probed is None:
        return
    out.line(title, "bold")
    for line in probed.lines():
        out.line(f"  {line}", "red" if line.startswith(("FAILED", "logged")) else "")


def dirs_options(args: argparse.Namespace) -> str:
    return "".join(f" --{name.replace('_', '-')} {getattr(args, name)}"
                   for name in ("postfix_dir", "dovecot_dir", "backup_dir") if hasattr(args, name))


def report(outcome: transaction.Outcome, out: Output) -> None:
    for note in outcome.notes:
        out.line(f"NOTE: {note}", "yellow")
    for path in outcome.written:
        out.line(f"wrote {path}", "green")
    out.line("reloaded: " + (", ".join(outcome.reloaded) or "nothing (no service was running, "
                                                                "or --no-reload)"))
    out.line(f"The previous files are in backup set {outcome.backup.id} "
             f"({outcome.backup.directory}).")


def run_check(args: argparse.Namespace, out: Output) -> int:
    from wizard.change import pending
    from wizard import rules
    from wizard.settings.model import Settings
    server = load_server(args)
    describe(server, out)
    settings = Settings()
    if option(args, "preset", None):
        from wizard.settings import presets
        settings = presets.load(presets.find(args.preset)).settings
    findings = rules.check(server, settings) + traffic_findings(
        args, server, settings if option(args, "preset", None) else None)
    waiting = pending.read(backup_dir(args))
    out.record(pending=json_output.waiting(waiting))
    if waiting is not None:
        out.line(f"WARNING: a change is waiting for confirmation until "
                 f"{waiting.deadline_text()}: unless 'postfix-wizard confirm' runs first, "
                 f"backup set {waiting.backup} is restored then.", "yellow")
    for finding in findings:
        out.finding(finding)
    if not findings:
        out.line("No problems found.", "green")
    return EXIT_INVALID if rules.errors(findings) else EXIT_OK


def generations(server: Server) -> str:
    """Which Postfix and Dovecot the files are for, and whose word that is."""
    dovecot = f"Dovecot {server.dovecot_version}" if server.dovecot_version else "Dovecot"
    syntax = f" in {server.dovecot_syntax}" if server.dovecot_syntax else ""
    return (f"Postfix {server.postfix_version or '(not installed)'} and {dovecot} files{syntax}; "
            f"versions from {server.versions.source}")


def describe(server: Server, out: Output) -> None:
    sasl = server.current().sasl
    out.line(f"Postfix {server.postfix_version or '(not installed)'}: {server.postfix_dir}", "bold")
    out.line(f"  queue directory {server.queue_directory}; smtpd chrooted: "
             f"{', '.join(server.smtpd_chrooted) or 'no'}")
    out.line(f"  SMTP AUTH {'on' if sasl.enabled else 'off'}"
             + (f" via Dovecot ({sasl.socket})" if sasl.type else ""))
    for service, name, value in server.managed_overrides():
        out.line(f"  master.cf line {service.line}: service {service.name} overrides {name}={value}")
    if server.dovecot is None:
        out.line(f"Dovecot: {server.dovecot_problem.message}", "bold")
    else:
        out.line(f"Dovecot {server.dovecot_version}: {server.dovecot_dir}", "bold")
        out.line(f"  files in {server.dovecot_syntax}")
    out.line(f"Versions from {server.versions.source}.")


def logs_to_read(args: argparse.Namespace) -> list[str] | None:
    """--log, else the demo's recorded log, else None: the server's own."""
    demo = option(args, "demo_log", None)
    return option(args, "log", None) or ([demo] if demo else None)


def traffic_findings(args: argparse.Namespace, server: Server, settings) -> list:
    """With --log: a warning for each limit that would have refused the log's clients."""
    if not option(args, "log", None):
        return []
    from wizard.traffic import report, server_logs
    traffic = server_logs.read(server, logs_to_read(args), None,
                               server_logs.exceptions_after(server, settings))
    return report.findings(traffic, server_logs.limits(server, settings))


def run_traffic(args: argparse.Namespace, out: Output) -> int:
    from wizard.traffic import server_logs
    server = load_server(args)
    settings = None
    if args.preset:
        from wizard.settings import presets
        settings = presets.load(presets.find(args.preset)).settings
    since = int(time.time()) - args.since if args.since else None
    traffic = server_logs.read(server, logs_to_read(args), since,
                               server_logs.exceptions_after(server, settings))
    limits = server_logs.limits(server, settings)
    if args.json:
        json_output.write(traffic.to_json(limits), sys.stdout)
        return EXIT_OK
    show_traffic(traffic, limits, args.top, args.preset or "the server's current limits", out)
    return EXIT_OK


def show_traffic(traffic, limits: dict[str, int], top: int, judged: str, out: Output) -> None:
    from wizard.traffic.report import SUGGESTION_RULE
    tally = traffic.tally
    out.line(f"Read {tally.lines} lines ({tally.postfix} Postfix, {tally.skipped} skipped) from "
             f"{', '.join(tally.sources) or 'nothing'}; window {traffic.window_seconds} s.", "bold")
    for note in traffic.notes:
        out.line(f"NOTE: {note}", "yellow")
    out.line(f"{'client':<28} {'service':<12} {'conns':>6} {'conn/w':>6} {'open':>5} "
             f"{'mail/w':>6} {'rcpt/w':>6} {'auth/w':>6}  excepted")
    for item in traffic.to_json(top=top)["clients"]:
        out.line(f"{item['client'][:28]:<28} {item['service'][:12]:<12} {item['connections']:>6} "
                 f"{item['connection_rate_peak']:>6} {item['concurrency_peak']:>5} "
                 f"{item['message_rate_peak']:>6} {item['recipient_rate_peak']:>6} "
                 f"{item['auth_rate_peak']:>6}  {'yes' if item['excepted'] else ''}")
    out.line(f"Suggested ({SUGGESTION_RULE}):", "bold")
    for parameter, value in traffic.suggestions().items():
        out.line(f"  {parameter} = {value}")
    refused = traffic.would_refuse(limits)
    out.line(f"With {judged}: " + ("no client that is not excepted would have been refused."
                                   if not refused else "these clients would have been refused:"),
             "green" if not refused else "yellow")
    for item in refused:
        out.line(f"  {item['parameter']}: {item['client']} ({item['service']}) "
                 f"{item['times']} time(s)")


def run_presets(args: argparse.Namespace, out: Output) -> int:
    from wizard.settings import presets
    for preset in presets.shipped():
        out.line(preset.name, "bold")
        out.line(f"  {preset.description}")
    return EXIT_OK


def run_save(args: argparse.Namespace, out: Output) -> int:
    from wizard.settings import presets
    server = load_server(args)
    name = args.name or args.output.stem
    presets.save(args.output, server.current(), name, args.description)
    out.line(f"wrote {args.output}")
    return EXIT_OK


def run_backups(args: argparse.Namespace, out: Output) -> int:
    from wizard.change import pending, writer
    sets = writer.backup_sets(backup_dir(args))
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


def run_rollback(args: argparse.Namespace, out: Output) -> int:
    from wizard.change import pending, transaction
    chosen = transaction.find_backup(backup_dir(args), args.id).id
    out.record(restored=chosen)
    if not confirm(f"Restore backup set {chosen}?", args):
        out.line("Nothing was written.")
        return EXIT_OK
    server_dirs = transaction.Target(option(args, "postfix_dir", DEFAULT_POSTFIX_DIR),
                                     option(args, "dovecot_dir", DEFAULT_DOVECOT_DIR))
    result = run_live(args, out, lambda step: transaction.rollback(
        server_dirs, backup_dir(args), chosen, reload=not option(args, "no_reload", False),
        step=step)[1])
    waiting = pending.claim(backup_dir(args))      # after the rollback: if it fails, the timer stays
    if waiting is not None:
        pending.stop_timer(waiting)
        out.line(f"The change that was waiting for confirmation (backup set {waiting.backup}) "
                 "is no longer pending: this rollback decided.", "yellow")
    out.line(f"Restored backup set {chosen}." if not result.probe_failed else
             f"Backup set {chosen} was restored, failed the live check and was undone.",
             "red" if result.probe_failed else "green")
    return EXIT_PROBE if result.probe_failed else EXIT_OK


def run_confirm(args: argparse.Namespace, out: Output) -> int:
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


def run_expire(args: argparse.Namespace, out: Output) -> int:
    from wizard.change import live, pending
    if args.wait_until:
        pending.wait_until(args.wait_until)
    out.line(f"{time.strftime('%Y-%m-%d %H:%M:%S')}: the time to confirm backup set {args.id}'s "
             "change is up.")
    result = live.expire(live_dirs(args), args.id)
    if result is None:
        out.line("It was confirmed or rolled back already; nothing to do.")
        return EXIT_OK
    report(result.outcome, out)
    show_probe(result, out)
    return EXIT_PROBE if result.probe_failed else EXIT_OK


COMMANDS = {"apply": run_apply, "check": run_check, "presets": run_presets, "save": run_save,
            "backups": run_backups, "rollback": run_rollback, "confirm": run_confirm,
            "expire": run_expire, "traffic": run_traffic}


def demo_display(workdir: Path):
    """Show the demo's temporary directory as <demo>."""
    def display(path: Path) -> str:
        text = str(path)
        return text.replace(str(workdir), "<demo>", 1)
    return display


def demo_dirs(workdir: Path, name: str) -> dict:
    sample = resources.sample_dir(name)
    shutil.copytree(sample, workdir, dirs_exist_ok=True, ignore=shutil.ignore_patterns("*.toml"))
    return {"postfix_dir": workdir / "postfix", "dovecot_dir": workdir / "dovecot",
            "backup_dir": workdir / "backups", "sample": sample,
            "demo_log": str(resources.demo_log())}


def with_demo_default(argv: list[str]) -> list[str]:
    """A bare --demo means the newest sample: `--demo check` is `--demo debian13 check`. Any
    other word after it stays its value, so a wrong name gets argparse's list of samples."""
    fixed = []
    for index, word in enumerate(argv):
        fixed.append(word)
        following = argv[index + 1] if index + 1 < len(argv) else "-"
        if word == "--demo" and (following.startswith("-") or following in COMMANDS):
            fixed.append(resources.NEWEST_SAMPLE)
    return fixed


def dispatch(args: argparse.Namespace, out: Output, display=str) -> int:
    notes: list[str] = []
    if backup_dir(args).is_dir():
        from wizard.change import transaction
        notes = transaction.recover_if_needed(backup_dir(args))
        for message in notes:
            out.line(message, "yellow")
    if args.command is None:
        return run_wizard(args, tuple(notes), display)
    return COMMANDS[args.command](args, out)


def run_wizard(args: argparse.Namespace, notes: tuple[str, ...], display) -> int:
    if not sys.stdout.isatty() or not sys.stdin.isatty():
        raise UsageError("the interactive wizard needs a terminal; use a command such as "
                         "'check' or 'apply' in scripts")
    from screens.overview import EarlyOverview     # forks before Textual loads
    early = EarlyOverview(lambda: load_server(args), display, notes)
    from screens.app import Loaded, WizardApp     # Textual is loaded only for the wizard

    def load() -> Loaded:      # in the app's worker, after the first screen is painted
        from wizard.settings import presets
        preset_name = option(args, "preset", None)
        preset = presets.load(presets.find(preset_name)) if preset_name else None
        return Loaded(load_server(args), preset)

    app = WizardApp(load, backup_dir(args), reload=not option(args, "no_reload", False),
                    notes=notes, display=display, light=option(args, "theme", "dark") == "light",
                    early=early, logs=logs_to_read(args))
    result = app.run()
    if isinstance(result, WizardError):       # the configuration or the preset was refused
        raise result
    return EXIT_OK


def main(argv: list[str] | None = None) -> int:
    argv = with_demo_default(sys.argv[1:] if argv is None else argv)
    out: Output | json_output.JsonOutput = Output()
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


def run(args: argparse.Namespace, out) -> int:
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


def failed(error: BaseException, out) -> int:
    """A user's mistake or a refusal: one line on standard error (and in --json's `error`)."""
    message = "interrupted; nothing was written." if isinstance(error, KeyboardInterrupt) \
        else str(error)
    print(f"postfix-wizard: {message}", file=sys.stderr)
    out.record(error=message)
    return EXIT_WRITE if isinstance(error, WriteError) else EXIT_USAGE
