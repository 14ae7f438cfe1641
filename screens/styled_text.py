"""The core's styled text (wizard/styled.py) as Rich Text: the screens paint what the core says."""

from __future__ import annotations

from typing import TYPE_CHECKING

from rich.text import Text

if TYPE_CHECKING:
    from wizard.styled import Styled


def not_applied(error: str) -> Text:
    """Why a change was not applied (the apply screen and the Save and apply step)."""
    return to_text([("NOT APPLIED: ", "bold red"), (error, "")])


def to_text(spans: Styled, *, theme_colours: bool = False) -> Text:
    """Textual paints a span's style in the terminal's ANSI colours and a text's own style in
    the theme's: `theme_colours` makes one span the text's own style (the Review's verdict when
    there is nothing to report has always been shown in the theme's green)."""
    if theme_colours and len(spans) == 1:
        return Text(*spans[0])
    out = Text()
    for text, style in spans:
        out.append(text, style)
    return out
