"""A change to a running server, from start to end: the transaction, the probe, the way back.

The command line and the wizard's screens both run a change through here: `apply_plan` for a
planned change, `run` for any transaction (apply or rollback). When the transaction reloaded a
daemon, the probe follows (wizard/daemons/probe.py). A failed probe rolls the change back at
once, as the `rollback` command would, and probes the previous files too, so the result can say
whether the server was already failing before. With a confirmation time, a passing change is
left pending (wizard/change/pending.py). `Result` also says what happened, in the words both
faces show (wizard/styled.py).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Callable

from wizard.change import pending, rollback, transaction
from wizard.daemons import probe
from wizard.errors import WizardError
from wizard.server.state import Server
from wizard.styled import Display, Styled

if TYPE_CHECKING:
    from wizard.change.plan import Plan
    from wizard.settings.model import Settings

Change = Callable[[transaction.Progress], transaction.Outcome]


@dataclass(frozen=True)
class Dirs:
    postfix: Path
    dovecot: Path
    backups: Path

    @classmethod
    def of(cls, server: Server, backups: Path) -> Dirs:
        return cls(server.postfix_dir, server.dovecot_dir, backups)

    def load(self) -> Server:
        return Server.load(self.postfix, self.dovecot)


@dataclass
class Result:
    outcome: transaction.Outcome
    live_check: probe.LiveCheck | None = None        # None: not probed (nothing was reloaded)
    undo: transaction.Outcome | None = None   # the automatic rollback after a failed probe
    undo_live_check: probe.LiveCheck | None = None
    undo_error: str | None = None             # the automatic rollback itself failed
    pending: pending.Pending | None = None
    timer_error: str | None = None            # --confirm's timer could not start: undone

    @property
    def failed(self) -> bool:
        """The change did not stay: the live check failed or the timer could not start."""
        return self.probe_failed or self.timer_error is not None

    @property
    def probe_failed(self) -> bool:
        return self.live_check is not None and not self.live_check.passed

    def verdict(self) -> str:
        """One plain sentence on where the server stands."""
        if self.live_check is None:
            return "Not probed: nothing was reloaded (no daemon runs, or reloads are off)."
        if self.timer_error:
            return (f"The live check passed, but the confirmation timer could not start "
                    f"({self.timer_error}), so the change was rolled back.")
        if self.live_check.passed:
            return "The live check passed." + (
                f" The change is pending until {self.pending.deadline_text()}: run "
                "'postfix-wizard confirm' to keep it; otherwise it is rolled back."
                if self.pending else "")
        if self.undo_error:
            return (f"The live check failed, and rolling back failed too: {self.undo_error}. "
                    f"The new files are still in place; restore backup set "
                    f"{self.outcome.backup.id} by hand ('postfix-wizard rollback').")
        if self.undo_live_check is not None and not self.undo_live_check.passed:
            return ("The live check failed, the previous files are back, and they fail the "
                    "live check too: the server was already failing before this change. "
                    "Read the lines above.")
        return "The live check failed; the previous files are back and pass the live check."

    def styled(self, dirs: Dirs, show_path: Display = str) -> Styled:
        """The result in short: applied or not, what was written, and how to undo it."""
        if self.failed:
            return [(self.verdict() + "\n", "bold red")]
        spans = [("Applied.\n", "bold green")]
        if self.live_check is not None:
            spans.append((self.verdict() + "\n", "green"))
        return spans + outcome_styled(self.outcome, show_path) + undo_styled(self.outcome, dirs,
                                                                             show_path)

    def live_checks(self, show_path: Display = str) -> Styled:
        """The live check's lines (and the previous files' after a rollback), then the verdict."""
        spans = live_check_styled("Live check", self.live_check, show_path)
        if self.undo is not None:
            spans += [(f"Rolled back to backup set {self.outcome.backup.id}:\n", "bold")]
            spans += outcome_styled(self.undo, show_path)
        spans += live_check_styled("Live check of the previous files", self.undo_live_check,
                                   show_path)
        return spans + [(self.verdict(), "bold red" if self.failed else "bold green")]


def outcome_styled(outcome: transaction.Outcome, show_path: Display = str) -> Styled:
    """What a transaction did: the files written, its backup set, the reloads, its notes."""
    spans = [(outcome.checked[:1].upper() + outcome.checked[1:] + "\n", "")] if outcome.checked else []
    spans += [(f"  wrote {show_path(path)}\n", "") for path in outcome.written]
    kept_in = show_path(outcome.backup.directory.parent)
    spans.append((f"Backup set {outcome.backup.id} in {kept_in}\n"
                  f"Reloaded: {', '.join(outcome.reloaded) or 'nothing'}\n", ""))
    return spans + [(f"NOTE: {note}\n", "yellow") for note in outcome.notes]


def live_check_styled(title: str, checked: probe.LiveCheck | None,
                      show_path: Display = str) -> Styled:
    if checked is None:
        return []
    return [(f"{title}:\n", "bold")] + [
        (f"  {show_path(line)}\n", "red" if line.startswith(("FAILED", "logged")) else "")
        for line in checked.lines()]


def undo_styled(outcome: transaction.Outcome, dirs: Dirs, show_path: Display = str) -> Styled:
    """The command that puts the previous files back."""
    return [("To undo: ", "bold"),
            (f"postfix-wizard rollback {outcome.backup.id} --postfix-dir {show_path(dirs.postfix)} "
             f"--dovecot-dir {show_path(dirs.dovecot)} --backup-dir {show_path(dirs.backups)}\n",
             "")]


def run(change: Change, dirs: Dirs, *, probe_after: bool = True,
        confirm_seconds: int | None = None, undo_on_failure: bool = True,
        progress: transaction.Progress = transaction.no_progress) -> Result:
    """`probe_after`: False with --no-probe, and when nothing is reloaded (--no-reload)."""
    marks = probe.marks(dirs.load()) if probe_after else None
    result = Result(change(progress))
    if marks is None or not result.outcome.reloaded:
        return result
    progress("probing the live server")
    result.live_check = probe.probe(dirs.load(), marks)
    if result.live_check.passed:
        progress("the live check passed")
        if confirm_seconds:
            try:
                result.pending = pending.arm(result.outcome.backup.id, confirm_seconds,
                                             dirs.postfix, dirs.dovecot, dirs.backups)
            except (WizardError, OSError) as error:
                result.timer_error = str(error)
                undo(result, dirs, progress)
                return result
            progress(f"pending until {result.pending.deadline_text()}")
        return result
    if undo_on_failure:
        progress("the live check failed: rolling back")
        undo(result, dirs, progress)
    return result


def apply_plan(server: Server, settings: Settings, plan: Plan, backups: Path, *, reload: bool,
               probe_after: bool, confirm_seconds: int | None = None,
               progress: transaction.Progress = transaction.no_progress) -> Result:
    """A planned change from start to end, as the command line's apply and the wizard's Apply
    button both run it: the transaction, then the live check and the way back."""
    writes = transaction.writes_for(plan.changes)
    target = transaction.target_for(server, settings)
    return run(lambda inner: transaction.apply(writes, target, backups, reload=reload,
                                               progress=inner),
               Dirs.of(server, backups), probe_after=probe_after and reload,
               confirm_seconds=confirm_seconds, progress=progress)


def undo(result: Result, dirs: Dirs, progress: transaction.Progress) -> None:
    """Restore the set the change backed up, then probe the previous files."""
    marks = probe.marks(dirs.load())
    try:
        _, result.undo = rollback.rollback(transaction.Target(dirs.postfix, dirs.dovecot),
                                           dirs.backups, result.outcome.backup.id,
                                           progress=progress)
    except WizardError as error:
        result.undo_error = str(error)
        return
    progress("probing the previous files")
    result.undo_live_check = probe.probe(dirs.load(), marks)


def expire(dirs: Dirs, backup: str,
           progress: transaction.Progress = transaction.no_progress) -> Result | None:
    """At the deadline: roll back the pending change unless it was confirmed (None then).
    The restored files are probed but kept even if they fail: the admin chose them."""
    claimed = pending.claim(dirs.backups, backup)
    if claimed is None:
        return None
    return run(lambda inner: rollback.rollback(
        transaction.Target(dirs.postfix, dirs.dovecot), dirs.backups, backup, progress=inner)[1],
        dirs, undo_on_failure=False, progress=progress)
