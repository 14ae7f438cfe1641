"""The apply screen: each step of a change as it happens, the live check, and the countdown.

The change itself runs in a worker thread of the app (WizardApp.start_apply); this screen only
shows what the worker reports, so the terminal stays responsive while Dovecot and Postfix
reload and the probe talks to them. A change applied with a confirmation time shows a countdown
and a Confirm button: unless it is pressed in time, the timer the core started (a systemd timer
or a detached process, not this screen) puts the previous files back.
"""

from __future__ import annotations

import time
from typing import TYPE_CHECKING, Callable

from rich.text import Text
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, VerticalScroll
from textual.screen import Screen
from textual.widgets import Button, Footer, Header, ProgressBar, Static

from wizard.styled import Display

from .styled_text import not_applied, to_text

if TYPE_CHECKING:
    from wizard.change.live import Result


def countdown(seconds: int) -> str:
    return f"{seconds // 60}:{seconds % 60:02d}"


class ApplyProgress(Screen[None]):
    DEFAULT_CSS = """
    ApplyProgress VerticalScroll { padding: 0 1; }
    ApplyProgress .pane-title { text-style: bold; color: $accent; }
    ApplyProgress #working { margin: 1 0; }
    ApplyProgress #verdict { margin-top: 1; }
    ApplyProgress #countdown { margin-top: 1; text-style: bold; color: $text-warning; }
    ApplyProgress .buttons { height: auto; margin: 1 0; }
    ApplyProgress .buttons Button { margin-right: 2; }
    """
    BINDINGS = [Binding("escape", "close", "Close"),
                Binding("c", "confirm_change", "Confirm")]

    def __init__(self, title: str, display: Display = str,
                 clock: Callable[[], float] = time.time) -> None:
        super().__init__()
        self.heading = title
        self.show_path = display
        self.clock = clock
        self.steps: list[str] = []
        self.result: Result | None = None
        self.error: str | None = None

    def compose(self) -> ComposeResult:
        yield Header(show_clock=False, icon="")
        with VerticalScroll():
            yield Static(self.heading, classes="pane-title")
            yield Static("", id="applied-steps")
            yield ProgressBar(total=None, show_eta=False, show_percentage=False, id="working")
            yield Static("", id="verdict")
            yield Static("", id="countdown")
            with Horizontal(classes="buttons"):
                yield Button("Confirm the change", id="confirm-change", variant="success")
                yield Button("Close", id="close")
        yield Footer()

    def on_mount(self) -> None:
        self.query_one("#confirm-change").display = False
        self.query_one("#close").display = False
        self.query_one("#countdown").display = False

    @property
    def done(self) -> bool:
        return self.result is not None or self.error is not None

    def check_action(self, action: str, parameters: tuple) -> bool | None:
        if action == "close":
            return self.done
        if action == "confirm_change":
            return self.pending is not None
        return True

    @property
    def pending(self):
        return self.result.pending if self.result is not None else None

    # What the worker reports -------------------------------------------------------------------

    def add_step(self, text: str) -> None:
        self.steps.append(self.show_path(text))
        self.query_one("#applied-steps", Static).update(
            Text("\n".join(f"✓ {step}" for step in self.steps)))

    def finish(self, result: Result | None, error: str | None = None) -> None:
        self.result, self.error = result, error
        self.query_one("#working").display = False
        self.query_one("#verdict", Static).update(self.verdict_text())
        self.query_one("#close").display = True
        if self.pending is not None:
            self.query_one("#confirm-change").display = True
            self.query_one("#countdown").display = True
            self.tick()
            self.ticker = self.set_interval(1, self.tick)
            self.query_one("#confirm-change").focus()
        else:
            self.query_one("#close").focus()
        self.refresh_bindings()

    def verdict_text(self) -> Text:
        if self.error is not None:
            return not_applied(self.show_path(self.error))
        return to_text(self.result.live_checks(self.show_path))

    def tick(self) -> None:
        left = self.pending.seconds_left(self.clock()) if self.pending else 0
        widget = self.query_one("#countdown", Static)
        if self.pending is None:
            return
        if left <= 0:
            widget.update("Time is up: the timer is putting the previous files back.")
            self.ticker.stop()
            return
        widget.update(f"Confirm within {countdown(left)}, or the previous files come back at "
                      f"{self.pending.deadline_text()}, even if this session is gone.")

    # Keys and buttons --------------------------------------------------------------------------

    def on_button_pressed(self, event: Button.Pressed) -> None:
        if event.button.id == "confirm-change":
            self.action_confirm_change()
        else:
            self.action_close()

    def action_confirm_change(self) -> None:
        from wizard.change import pending
        waiting, self.result.pending = self.pending, None
        self.ticker.stop()
        self.query_one("#confirm-change").display = False
        claimed = pending.claim(self.app.backup_dir, waiting.backup)
        widget = self.query_one("#countdown", Static)
        if claimed is None:
            widget.update("Too late: the time was up, and the timer has rolled the change back.")
        else:
            pending.stop_timer(claimed)
            widget.update(Text("Confirmed: the change stays.", "bold green"))
        self.query_one("#close").focus()
        self.refresh_bindings()

    def action_close(self) -> None:
        if self.done:
            self.dismiss(None)
