"""The apply screen as a live change with --confirm leaves it: the steps, the live check's
report, and the countdown at a fixed moment (a fixed clock and a UTC deadline, for snapshots)."""

from __future__ import annotations

import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from textual.app import App  # noqa: E402

from screens.apply_progress import ApplyProgress  # noqa: E402
from wizard.change.live import Result
from wizard.change.pending import Pending
from wizard.daemons.probe import LiveCheck
from wizard.change.transaction import Outcome
from wizard.change.backups import BackupSet

NOW = 1_798_000_000.0          # a fixed moment; the deadline is 4 minutes 37 seconds later
STEPS = ["staged and checked: Postfix files by postconf -n; Dovecot files by doveconf -n", "backed up to set 20261202-101500",
         "wrote /etc/postfix/main.cf", "Postfix reloaded", "probing the live server",
         "the live check passed"]
PROBE = ("smtp (master.cf line 12, 127.0.0.1:25): greeting, EHLO, SIZE 10240000, STARTTLS, "
         "AUTH LOGIN PLAIN, wrong login refused (535)")


class UtcPending(Pending):
    def deadline_text(self) -> str:
        return time.strftime("%Y-%m-%d %H:%M:%S UTC", time.gmtime(self.deadline))


class CountdownApp(App):
    TITLE = "postfix-wizard"
    ENABLE_COMMAND_PALETTE = False

    async def on_mount(self) -> None:
        screen = ApplyProgress("Applying the changes", clock=lambda: NOW)
        await self.push_screen(screen)
        for step in STEPS:
            screen.add_step(step)
        outcome = Outcome(BackupSet(Path("/var/backups/postfix-wizard/20261202-101500"), []),
                          [Path("/etc/postfix/main.cf")], ["postfix"])
        waiting = UtcPending("20261202-101500", NOW + 277, "/etc/postfix", "/etc/dovecot",
                             "process:1:1")
        screen.add_step(f"pending until {waiting.deadline_text()}")
        screen.finish(Result(outcome, LiveCheck(checked=[PROBE]), pending=waiting))


def countdown_app() -> CountdownApp:
    return CountdownApp()
