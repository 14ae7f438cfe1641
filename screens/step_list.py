"""The steps down the left side: number and title, marked ✓ once visited, ✗ with the number of
errors the step has, the current one in bold. Choosing one goes there (the app listens)."""

from __future__ import annotations

from typing import TYPE_CHECKING

from rich.text import Text
from textual.widgets import OptionList
from textual.widgets.option_list import Option

from .steps import STEP_IDS, STEPS, Step

if TYPE_CHECKING:
    from wizard.session import Session


class StepList(OptionList):
    """Redrawn whole (`show`) whenever a step, a field or the session changes."""

    def __init__(self) -> None:
        super().__init__(id="steps")

    def show(self, current: str, visited: set[str], session: Session | None) -> None:
        """Redraw every step's label; `session` is None until the configuration is read."""
        self.clear_options()
        self.add_options([Option(label(number, each, current, visited, session), id=each.id)
                          for number, each in enumerate(STEPS, start=1)])
        self.highlighted = STEP_IDS.index(current)


def label(number: int, each: Step, current: str, visited: set[str],
          session: Session | None) -> Text:
    errors = error_count(each, session) if session is not None else 0
    if errors:
        mark, style = "✗", "bold red"
    elif each.id in visited and each.id != current:
        mark, style = "✓", "green"
    else:
        mark, style = "·", "dim"
    text = Text(f"{mark} ", style=style)
    text.append(f"{number} {each.title}", "bold" if each.id == current else "")
    if errors:
        text.append(f" ({errors})", "bold red")
    return text


def error_count(each: Step, session: Session) -> int:
    """The Review counts every error of the choices; a step of settings, those of its fields."""
    from wizard.findings import errors
    if each.id == "review":
        return len(errors(session.all_findings()))
    return len(session.errors_in(list(each.all_keys))) if each.all_keys else 0
