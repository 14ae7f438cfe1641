"""What every step's pane is: a scrolling column, named by the step's id, that the app prepares
before it shows it and then focuses."""

from __future__ import annotations

from typing import TYPE_CHECKING

from textual.containers import VerticalScroll

if TYPE_CHECKING:
    from wizard.session import Session


class Pane(VerticalScroll):
    """A step's pane; its id is the step's id (screens/steps.py)."""

    def __init__(self, step_id: str) -> None:
        super().__init__(id=step_id, classes="pane")

    async def prepare(self, session: Session) -> None:
        """Called by the app each time before the pane is shown: build or rebuild what
        depends on the choices. Nothing, unless a pane says otherwise."""

    def focus_first(self) -> None:
        """Focus the first field or button, without scrolling: a just-built pane has no
        settled layout yet, and the first field is at the top anyway."""
        focusable = [w for w in self.query("Input, Checkbox, RadioSet, Button, Tabs")
                     if w.display and w.focusable]
        if focusable:
            focusable[0].focus(scroll_visible=False)
