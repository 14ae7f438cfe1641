"""A step of settings (Connection limits, Resources and sizes, SMTP AUTH): its title, a summary of
its errors, the mail log's status above the limits, and one FieldRow per field, the advanced ones
folded away. Built on the step's first visit, so the first paint does not wait for it."""

from __future__ import annotations

from typing import TYPE_CHECKING

from textual.widgets import Static

from ..fields import FieldRow
from ..steps import TCP_ONLY, TRAFFIC_STEPS, UNIX_ONLY, Step
from ..traffic_status import TrafficStatus
from .pane import Pane

if TYPE_CHECKING:
    from wizard.session import Session

    from ..traffic_status import Read


class FieldsPane(Pane):
    """The fields of one step. It keeps the mail log's traffic the app hands it, read or not,
    for the rows it builds later; each edit in a row refreshes the messages of the pane's rows
    (the message goes on to the app, for the step list)."""

    def __init__(self, step: Step) -> None:
        super().__init__(step.id)
        self.step = step
        self.session: Session | None = None          # set when the rows are built
        self.traffic: Read = None

    async def prepare(self, session: Session) -> None:
        if self.session is not None:
            return
        from textual.widgets import Collapsible     # the steps' widgets load after first paint
        self.session = session
        each = self.step
        children = [Static(each.title, classes="pane-title"),
                    Static("", classes="summary", id=f"summary-{each.id}")]
        if each.id in TRAFFIC_STEPS:
            children.append(TrafficStatus(self.traffic))
        children += [FieldRow(session, key) for key in each.keys]
        if each.advanced:
            children.append(Collapsible(*[FieldRow(session, key) for key in each.advanced],
                                        title=each.advanced_title, collapsed=True,
                                        classes="advanced"))
        await self.mount_all(children)
        self.show_findings()
        self.show_rows_traffic()
        self.show_socket_fields()

    # What the rows show --------------------------------------------------------------------------

    def on_field_row_edited(self, event: FieldRow.Edited) -> None:
        self.show_findings()
        if event.row.key == "sasl.socket":
            self.show_socket_fields()

    def show_findings(self) -> None:
        for row in self.query(FieldRow):
            row.show_findings(self.session.findings_for([row.key]))

    def show_socket_fields(self) -> None:
        """The UNIX socket's fields, or the TCP socket's, as the socket field says."""
        tcp = self.session.fields["sasl.socket"].text == "tcp"
        for key in UNIX_ONLY + TCP_ONLY:
            for row in self.query(f"#field-{key.replace('.', '-')}").results(FieldRow):
                row.display = (key in TCP_ONLY) == tcp

    def show_summary(self) -> None:
        """How many errors and warnings the step has (nothing before it is built)."""
        if self.session is None:
            return
        keys = list(self.step.all_keys)
        errors = self.session.errors_in(keys)
        warnings = [f for f in self.session.findings_for(keys) if f.severity == "warning"]
        summary = self.query_one(f"#summary-{self.step.id}", Static)
        summary.remove_class("error", "ok")
        if errors:
            summary.add_class("error")
            summary.update(f"{len(errors)} error(s) on this screen: fix them to go on.")
        else:
            summary.add_class("ok")
            summary.update("No errors here." + (f" {len(warnings)} warning(s)." if warnings else ""))

    def reload(self) -> None:
        """Every row shows the session's text again (after a preset was loaded)."""
        if self.session is None:
            return
        for row in self.query(FieldRow):
            row.show_text(self.session.fields[row.key].text)
            row.show_findings(self.session.findings_for([row.key]))
        self.show_socket_fields()

    def show_first_error(self) -> None:
        """Bring the first field with an error into view, its message included, and focus it."""
        for row in self.query(FieldRow):
            if self.session.errors_in([row.key]):
                for collapsible in row.ancestors_with_self:
                    if collapsible.has_class("advanced"):
                        collapsible.collapsed = False
                widget = row.query("Input, Checkbox, RadioSet")
                if widget:
                    widget.first().focus(scroll_visible=False)
                # after the layout has settled: the row's message may have just appeared
                self.app.call_after_refresh(self.reveal, row)
                return

    def reveal(self, row: FieldRow) -> None:
        """Scroll a field's message into view, only if it is not on screen already."""
        message = row.query_one(".message")
        if not self.region.contains_region(message.region):
            message.scroll_visible(animate=False)

    # The mail log --------------------------------------------------------------------------------

    def show_progress(self, done: int, total: int) -> None:
        for status in self.query(TrafficStatus):
            status.show_progress(done, total)

    def show_traffic(self, traffic: Read) -> None:
        """The mail log is read (or could not be): for the rows built and those to come."""
        self.traffic = traffic
        for status in self.query(TrafficStatus):
            status.show(traffic)
        self.show_rows_traffic()

    def show_rows_traffic(self) -> None:
        """Under each limit, what the traffic says (nothing if the log could not be read)."""
        read = self.traffic if not isinstance(self.traffic, Exception) else None
        for row in self.query(FieldRow):
            row.show_traffic(read)
