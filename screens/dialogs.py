"""Dialogs: confirmation, preset picker, and help. Escape closes each of them."""

from __future__ import annotations

from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, Vertical, VerticalScroll
from textual.screen import ModalScreen
from textual.widgets import Button, Input, Label, OptionList, Static
from textual.widgets.option_list import Option

DIALOG_CSS = """
Confirm, PresetPicker, Help { align: center middle; }
Confirm > Vertical, PresetPicker > Vertical, Help > Vertical {
    width: 72; max-width: 100%; height: auto; max-height: 100%;
    border: thick $primary; background: $surface; padding: 0 1;
}
.title { text-style: bold; margin-bottom: 1; }
.dialog-buttons { height: auto; margin-top: 1; }
.dialog-buttons Button { margin-right: 2; }
PresetPicker OptionList { height: auto; max-height: 12; }
Help > Vertical { height: 100%; }
Help VerticalScroll { height: 1fr; }
#preset-error { color: $text-error; }
"""


class Confirm(ModalScreen[bool]):
    """A yes/no question; Enter on a button answers, Escape says no."""

    DEFAULT_CSS = DIALOG_CSS
    BINDINGS = [Binding("escape", "dismiss(False)", "Cancel")]

    def __init__(self, title: str, question: str, yes: str = "Yes", no: str = "No") -> None:
        super().__init__()
        self.title_text, self.question, self.yes, self.no = title, question, yes, no

    def compose(self) -> ComposeResult:
        with Vertical():
            yield Static(self.title_text, classes="title")
            yield Static(self.question, markup=False)
            with Horizontal(classes="dialog-buttons"):
                yield Button(self.no, id="no")
                yield Button(self.yes, id="yes", variant="warning")

    def on_mount(self) -> None:
        self.query_one("#no", Button).focus()

    def on_button_pressed(self, event: Button.Pressed) -> None:
        self.dismiss(event.button.id == "yes")


class PresetPicker(ModalScreen["Preset | None"]):
    """Pick a shipped preset, or type the path of a preset file."""

    DEFAULT_CSS = DIALOG_CSS
    BINDINGS = [Binding("escape", "dismiss(None)", "Cancel")]

    def compose(self) -> ComposeResult:
        from wizard.settings import presets
        with Vertical():
            yield Static("Load a preset", classes="title")
            yield OptionList(*[Option(f"{p.name}: {p.description}", id=p.name)
                               for p in presets.shipped()], id="shipped")
            yield Label("…or the path of a preset file (Enter loads it):")
            yield Input(placeholder="/path/to/preset.toml", id="preset-path")
            yield Static("", id="preset-error", markup=False)

    def on_option_list_option_selected(self, event: OptionList.OptionSelected) -> None:
        self._load(str(event.option.id))

    def on_input_submitted(self, event: Input.Submitted) -> None:
        self._load(event.value.strip())

    def _load(self, name_or_path: str) -> None:
        from wizard.settings import presets
        try:
            self.dismiss(presets.load(presets.find(name_or_path)))
        except presets.PresetError as error:
            self.query_one("#preset-error", Static).update(f"ERROR: {error.message}")


HELP = """\
postfix-wizard hardens this Postfix server: denial-of-service
limits, and SMTP AUTH through Dovecot. Nothing is written until
you apply on the last step, after reviewing every diff.

Keys (all work over SSH; the mouse is never needed):
  Tab, Shift+Tab   next, previous field
  Enter            press a button, choose an item
  Space, arrows    toggle check boxes, move in lists
  Ctrl+N, Ctrl+P   next, previous step (Escape: back)
  Ctrl+R           field back to the server's value now
  Ctrl+T           field to Postfix's default
  Ctrl+O           load a preset
  Ctrl+S           save the choices as a preset
  F1               this help (Escape closes it)
  q, Ctrl+Q        quit (asks first if choices are unsaved)

Every field shows the server's value now, Postfix's
default, the unit and what it does, and is checked as you
type. An ERROR (red) would stop Postfix or Dovecot, lose
mail or expose passwords: it blocks Next and Apply. A
WARNING (yellow) is legal but risky.

Apply checks the new files with postconf and doveconf,
backs up each file it replaces, writes Dovecot's files
before main.cf, reloads the services that run, and shows
the command that puts everything back (rollback).

After a reload the live check talks SMTP to every smtpd
listener and reads the logs; if it fails, the previous
files come back at once. "Apply, confirm in 5 min" keeps
the change only if you press Confirm (c) in time: else
the previous files come back on their own, even if your
SSH session is gone.
"""


class Help(ModalScreen[None]):
    DEFAULT_CSS = DIALOG_CSS
    BINDINGS = [Binding("escape,f1", "dismiss(None)", "Close")]

    def compose(self) -> ComposeResult:
        with Vertical():
            yield Static("Help", classes="title")
            with VerticalScroll():
                yield Static(HELP, markup=False)
            with Horizontal(classes="dialog-buttons"):
                yield Button("Close", id="close")

    def on_mount(self) -> None:
        self.query_one(VerticalScroll).focus()      # arrows and PgDn scroll the text

    def on_button_pressed(self, event: Button.Pressed) -> None:
        self.dismiss(None)
