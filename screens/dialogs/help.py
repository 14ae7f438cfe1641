"""Help (F1): the keys, and what the wizard does and does not do to the server."""

from __future__ import annotations

from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, Vertical, VerticalScroll
from textual.widgets import Button, Static

from .dialog import Dialog

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


class Help(Dialog[None]):
    """The help text, scrolled with the arrows and PgDn; Escape, F1 or Close closes it."""

    DEFAULT_CSS = """
    Help > Vertical { height: 100%; }
    Help VerticalScroll { height: 1fr; }
    """
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
