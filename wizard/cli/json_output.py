"""The command line's `--json`: for apply, check, backups, rollback and confirm, one JSON document
on standard output, whatever happened, so that the Ansible collection (ansible/) and any script
can drive the wizard without reading prose. The fields are documented in the README ("Driving
it from a program"); tests/test_json_output.py holds the command line to them.

The commands talk to an output object (`Out` in wizard/cli/output.py): the text one prints lines,
this one collects them (as `messages`) together with what each command records, and prints the
document at the end.
"""

from __future__ import annotations

import itertools
import json
import sys
from typing import TYPE_CHECKING, Iterator

from wizard.styled import Styled, plain

if TYPE_CHECKING:
    from wizard.change import backups, live, pending, transaction
    from wizard.daemons import probe
    from wizard.findings import Finding
    from wizard.change.plan import FileChange

COMMANDS = ("apply", "check", "backups", "rollback", "confirm")


class JsonOutput:
    """Collects what a command says and records; `close` prints the document."""

    def __init__(self, command: str | None) -> None:
        self.fields: dict = {"command": command, "changed": False}
        self.messages: list[str] = []
        self.findings: list[dict] = []

    def line(self, text: str = "", colour: str = "") -> None:
        if text:
            self.messages.append(text)

    def finding(self, finding: Finding) -> None:
        self.findings.append({"severity": finding.severity, "code": finding.code,
                              "fields": list(finding.fields), "message": finding.message,
                              "fix": finding.fix})

    def styled(self, spans: Styled) -> None:
        self.messages += [line for line in plain(spans).splitlines() if line]

    def diff(self, text: str) -> None:
        """The changes are recorded whole (`changes`), with their text before and after."""

    def record(self, **fields) -> None:
        self.fields.update(fields)

    def close(self, status: int) -> None:
        document = {**self.fields, "status": status, "ok": status == 0,
                    "findings": self.findings, "messages": self.messages}
        document.setdefault("error", None)
        write(document, sys.stdout)


def write(document: dict, stream) -> None:
    """A key a line, each value by json's C encoder (indent= would take its pure-Python one,
    ten times slower on 50,000 clients); an iterator's items a thousand at a time, so that
    the document is never whole in memory."""
    for number, (key, value) in enumerate(document.items()):
        stream.write(("{\n " if number == 0 else ",\n ") + json.dumps(key) + ": ")
        if not isinstance(value, Iterator):
            stream.write(json.dumps(value))
            continue
        separator = "["
        while batch := list(itertools.islice(value, 1000)):
            stream.write(separator + json.dumps(batch, check_circular=False,
                                                separators=(",", ":"))[1:-1])
            separator = ", "
        stream.write("]" if separator == ", " else "[]")
    stream.write("\n}\n")


def change(file_change: FileChange) -> dict:
    return {"path": str(file_change.path), "before": file_change.old, "after": file_change.new,
            "diff": file_change.diff}


def outcome(done: transaction.Outcome) -> dict:
    return {"backup_set": done.backup.id, "backup_dir": str(done.backup.directory),
            "written": [str(path) for path in done.written], "reloaded": list(done.reloaded),
            "checked": done.checked, "notes": list(done.notes)}


def live_check(probed: probe.LiveCheck | None) -> dict | None:
    if probed is None:
        return None
    return {"passed": probed.passed, "checked": probed.checked, "problems": probed.problems,
            "log_lines": probed.log_lines, "skipped": probed.skipped}


def waiting(change_pending: pending.Pending | None) -> dict | None:
    if change_pending is None:
        return None
    return {"backup_set": change_pending.backup, "deadline": change_pending.deadline,
            "seconds_left": change_pending.seconds_left()}


def result(done: live.Result) -> dict:
    """A change from start to end: what was written, the live check, and the way back."""
    return {**outcome(done.outcome), "probe": live_check(done.live_check),
            "rolled_back": done.undo is not None,
            "rollback_probe": live_check(done.undo_live_check),
            "rollback_error": done.undo_error, "timer_error": done.timer_error,
            "pending": waiting(done.pending), "verdict": done.verdict()}


def backup(kept: backups.BackupSet) -> dict:
    return {"id": kept.id, "created": kept.created, "reason": kept.reason,
            "completed": kept.completed,
            "files": [{"path": e["path"], "size": e["size"], "mode": e["mode"]}
                      for e in kept.entries]}
