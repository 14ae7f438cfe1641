"""The Save and apply step: save the choices as a preset; apply them, with or without a time to
confirm the change in; and, once a change has run, what it did."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

from textual import on
from textual.containers import Horizontal
from textual.message import Message
from textual.widget import Widget
from textual.widgets import Button, Input, Static

from wizard.styled import Display

from ..dialogs.confirm import Confirm
from ..styled_text import not_applied, to_text
from .pane import Pane

if TYPE_CHECKING:
    from wizard.change.live import Result
    from wizard.change.plan import Plan
    from wizard.server.state import Server
    from wizard.session import Session
    from wizard.settings.presets import Preset

CONFIRM_MINUTES = 5


class ApplyPane(Pane):
    """Filled once the configuration is read (`fill`). Saving a preset happens here; applying
    is asked here, then run by the app, which hands the outcome back (`show_result`)."""

    class Approved(Message):
        """The user said yes to applying `plan`: the app runs it."""

        def __init__(self, plan: Plan, confirm_seconds: int | None) -> None:
            self.plan = plan
            self.confirm_seconds = confirm_seconds      # None: no time to confirm in
            super().__init__()

    def __init__(self, backup_dir: Path, show_path: Display, reload_services: bool) -> None:
        super().__init__("apply")
        self.backup_dir = backup_dir
        self.show_path = show_path
        self.reload_services = reload_services
        self.session: Session | None = None

    async def fill(self, session: Session) -> None:
        self.session = session
        await self.mount_all(self.form())

    def form(self) -> list[Widget]:
        name = self.session.preset.name if self.session.preset else "my-hardening"
        return [
            Static("Save and apply", classes="pane-title"),
            Static("Save your choices as a preset (Ctrl+S):"),
            Static("Preset file", classes="label"),
            Input(placeholder="e.g. /root/hardening.toml", id="preset-file", compact=True),
            Static("Name", classes="label"),
            Input(name, placeholder="a short name", id="preset-name", compact=True),
            Static("Description", classes="label"),
            Input("", placeholder="who it is for and why", id="preset-description",
                  compact=True),
            Horizontal(Button("Save preset", id="save-button"), classes="buttons"),
            Static("Apply, then check the live server (the live check):"),
            Horizontal(Button("Apply…", id="apply-button", variant="warning"),
                       Button(f"Apply, confirm in {CONFIRM_MINUTES} min…",
                              id="apply-confirm-button", variant="warning",
                              disabled=not self.reload_services,
                              tooltip="Rolled back on its own unless you confirm in time"),
                       classes="buttons"),
            Static("" if self.reload_services else
                   "Reloads are off: no live check, so nothing to confirm.", id="no-confirm"),
            Static("", id="result")]

    # Presets ------------------------------------------------------------------------------------

    def show_preset(self, preset: Preset) -> None:
        """A preset was loaded: saving goes under its name and description."""
        self.query_one("#preset-name", Input).value = preset.name
        self.query_one("#preset-description", Input).value = preset.description

    def preset_path(self) -> str:
        return self.query_one("#preset-file", Input).value.strip()

    @on(Button.Pressed, "#save-button")
    def save_preset(self) -> None:
        """Save the choices to the preset file typed (Ctrl+S comes here through the app)."""
        path_text = self.preset_path()
        if not path_text:
            self.query_one("#preset-file", Input).focus()
            self.notify("Type the path of the preset file, then press Ctrl+S again.")
            return
        from wizard.settings import presets
        from wizard.settings.presets import PresetError
        path = Path(path_text).expanduser()
        loaded = self.session.preset
        document = loaded.document if loaded and loaded.path == path else None
        try:
            presets.save(path, self.session.chosen(), self.query_one("#preset-name", Input).value,
                         self.query_one("#preset-description", Input).value, document)
        except PresetError as error:
            self.notify(error.message, title="Not saved", severity="error")
            return
        self.session.mark_saved()
        self.notify(f"Saved {self.show_path(path)}.")

    # Apply --------------------------------------------------------------------------------------

    @on(Button.Pressed, "#apply-button")
    def ask_to_apply(self) -> None:
        self.ask_before_applying(None)

    @on(Button.Pressed, "#apply-confirm-button")
    def ask_to_apply_and_confirm(self) -> None:
        self.ask_before_applying(CONFIRM_MINUTES * 60)

    def ask_before_applying(self, confirm_seconds: int | None) -> None:
        from wizard.change import pending
        from wizard.errors import WizardError
        try:
            pending.refuse_if_pending(self.backup_dir)
        except WizardError as refusal:
            self.notify(str(refusal), title="Cannot apply", severity="error")
            return
        plan = self.session.plan()
        if plan.blocked:
            self.notify("There are errors: see Review (Ctrl+P). Nothing was written.",
                        title="Cannot apply", severity="error")
            return
        if not plan.changes:
            self.notify("Nothing to apply: no file would change.")
            return
        names = "\n".join(f"  {self.show_path(c.path)}" for c in plan.changes)
        reloads = ("Postfix and Dovecot are reloaded if they run, and the live server is "
                   "checked; if the check fails, the previous files come back at once."
                   if self.reload_services else "No service is reloaded (reloads are off).")
        later = (f"\n\nYou then have {CONFIRM_MINUTES} minutes to confirm. If you do not (say, "
                 "the change cut you off), the previous files come back on their own."
                 if confirm_seconds else "")
        self.app.push_screen(
            Confirm("Apply these changes?", f"The wizard will write:\n{names}\n\nEach file is "
                    f"backed up first. {reloads}{later}", yes="Apply"),
            lambda yes: self.post_message(self.Approved(plan, confirm_seconds)) if yes else None)

    def show_result(self, result: Result | Exception, server: Server) -> None:
        """What the change did, or why it was not applied."""
        if isinstance(result, Exception):
            text = not_applied(self.show_path(str(result)))
        else:
            from wizard.change import live
            text = to_text(result.styled(live.Dirs.of(server, self.backup_dir), self.show_path))
        self.query_one("#result", Static).update(text)

    def reveal_result(self) -> None:
        self.query_one("#result").scroll_visible(animate=False)
