"""The Review step: every finding of the choices, and the exact change of each file as a diff,
one tab per file. Nothing is written from here."""

from __future__ import annotations

from typing import TYPE_CHECKING

from textual.widgets import Static

from wizard import styled
from wizard.findings import counted
from wizard.styled import Display

from ..styled_text import to_text
from .pane import Pane

if TYPE_CHECKING:
    from wizard.session import Session


class ReviewPane(Pane):
    """Rebuilt at each visit, from the choices as they are then."""

    def __init__(self, show_path: Display) -> None:
        super().__init__("review")
        self.show_path = show_path

    async def prepare(self, session: Session) -> None:
        await self.remove_children()
        plan = session.plan()
        findings = session.all_findings()
        widgets = [Static("Review: findings and the exact changes", classes="pane-title"),
                   Static(to_text(counted(findings), theme_colours=True), classes="summary")]
        if plan.changes:
            from textual.widgets import TabbedContent, TabPane   # loads after the first paint
            tabs = TabbedContent(id="review-tabs")
            for change in plan.changes:        # what `with TabbedContent():` does in compose
                tabs.compose_add_child(TabPane(change.path.name, Static(
                    to_text(styled.diff(change.unified(self.show_path(change.path)))),
                    classes="diff")))
            widgets.append(tabs)
        else:
            widgets.append(Static("No file would change: every value is what the server has."))
        await self.mount_all(widgets)
