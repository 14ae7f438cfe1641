"""The frame every dialog shares: a bordered box in the middle of the screen, a bold title, and a
row of buttons at the bottom."""

from __future__ import annotations

from textual.screen import ModalScreen, ScreenResultType


class Dialog(ModalScreen[ScreenResultType]):
    """A modal screen drawn as a box: compose one Vertical holding a Static with the class
    "title", the dialog's own widgets, and a Horizontal with the class "dialog-buttons"."""

    DEFAULT_CSS = """
    Dialog { align: center middle; }
    Dialog > Vertical {
        width: 72; max-width: 100%; height: auto; max-height: 100%;
        border: thick $primary; background: $surface; padding: 0 1;
    }
    .title { text-style: bold; margin-bottom: 1; }
    .dialog-buttons { height: auto; margin-top: 1; }
    .dialog-buttons Button { margin-right: 2; }
    """
