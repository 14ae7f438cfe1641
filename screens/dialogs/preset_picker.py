"""Load a preset: one of those shipped with the wizard, or a preset file by its path."""

from __future__ import annotations

from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Vertical
from textual.widgets import Input, Label, OptionList, Static
from textual.widgets.option_list import Option

from .dialog import Dialog


class PresetPicker(Dialog["Preset | None"]):
    """Pick a shipped preset, or type the path of a preset file; the dialog's result is the
    preset loaded, None when Escape closed it. A preset that does not load says why here."""

    DEFAULT_CSS = """
    PresetPicker OptionList { height: auto; max-height: 12; }
    #preset-error { color: $text-error; }
    """
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
