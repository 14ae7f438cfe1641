"""The Overview step: what was found on the server (screens/overview.py writes it), then the
Start and Load preset buttons."""

from __future__ import annotations

from rich.text import Text
from textual import on
from textual.app import ComposeResult
from textual.containers import Horizontal
from textual.message import Message
from textual.widgets import Button, Static

from .pane import Pane


class OverviewPane(Pane):
    """Says the configuration is being read until `show` puts the overview and the buttons in.
    The buttons tell the app, which decides whether it can act yet."""

    class StartPressed(Message):
        """Start: on to the first step of settings."""

    class LoadPresetPressed(Message):
        """Load preset: open the preset picker."""

    def __init__(self) -> None:
        super().__init__("overview")

    def compose(self) -> ComposeResult:
        yield Static("Overview: what was found", classes="pane-title")
        yield Static("Reading the Postfix and Dovecot configuration…", id="overview-text")

    async def show(self, overview: Text) -> None:
        """The overview's text; the buttons the first time, with the focus on Start."""
        self.query_one("#overview-text", Static).update(overview)
        if not self.query("#start"):
            await self.mount(Horizontal(Button("Start", id="start", variant="primary"),
                                        Button("Load preset", id="load-preset"),
                                        classes="buttons"))
            self.query_one("#start", Button).focus()

    @on(Button.Pressed, "#start")
    def start_pressed(self, event: Button.Pressed) -> None:
        event.stop()
        self.post_message(self.StartPressed())

    @on(Button.Pressed, "#load-preset")
    def load_preset_pressed(self, event: Button.Pressed) -> None:
        event.stop()
        self.post_message(self.LoadPresetPressed())
