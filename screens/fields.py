"""One field of the settings model on screen: label, input, facts, and the live message."""

from __future__ import annotations

from typing import TYPE_CHECKING

from textual.app import ComposeResult
from textual.containers import Vertical
from textual.message import Message
from textual.widgets import Checkbox, Input, RadioButton, RadioSet, Sparkline, Static

if TYPE_CHECKING:      # the core is imported after the first paint (see app.py)
    from wizard.findings import Finding
    from wizard.session import Session
    from wizard.traffic.analysis import Traffic


class FieldRow(Vertical):
    """Label and Postfix name, the input, the facts (now, default, unit, help), the message.

    A field this server's Postfix lacks (it came in a later version) keeps its row, without an
    input: the admin sees the protection exists and what it needs, and a preset that sets it
    gets its error where the field is, rather than on a field that is nowhere to be seen."""

    DEFAULT_CSS = """
    FieldRow { height: auto; margin: 0 0 1 0; }
    FieldRow .label { color: $text; text-style: bold; }
    FieldRow .name { color: $text-muted; }
    FieldRow Input { height: 1; border: none; padding: 0 1; background: $boost; }
    FieldRow Input:focus { background: $primary 30%; }
    FieldRow.invalid Input { background: $error 25%; }
    FieldRow Checkbox { height: 1; border: none; padding: 0; background: transparent; }
    FieldRow RadioSet { height: auto; border: none; padding: 0; background: transparent; }
    FieldRow RadioSet RadioButton { width: auto; }
    FieldRow .facts { color: $text-muted; }
    FieldRow .traffic { color: $text-accent; display: none; }
    FieldRow Sparkline { height: 1; margin: 0 0; display: none; }
    FieldRow.with-traffic .traffic, FieldRow.with-traffic Sparkline { display: block; }
    FieldRow .message { display: none; }
    FieldRow .message.error { display: block; color: $text-error; text-style: bold; }
    FieldRow .message.warning { display: block; color: $text-warning; }
    """

    class Edited(Message):
        def __init__(self, row: FieldRow) -> None:
            self.row = row
            super().__init__()

    def __init__(self, session: Session, key: str) -> None:
        super().__init__(id="field-" + key.replace(".", "-"))
        self.session = session
        self.key = key
        self.param = session.param(key)
        self.traffic: Traffic | None = None
        self.missing_since = session.missing_since(key)

    def compose(self) -> ComposeResult:
        yield Static(f"{self.param.title}  [dim]{self.param.name}[/]", classes="label")
        text = self.session.fields[self.key].text
        if self.missing_since:
            pass                    # nothing to type: this Postfix would ignore the parameter
        elif self.param.kind == "bool":
            yield Checkbox("yes", value=text == "yes", compact=True)
        elif self.key == "sasl.socket":
            with RadioSet():
                yield RadioButton("UNIX socket", value=text != "tcp", id="socket-unix", compact=True)
                yield RadioButton("TCP socket", value=text == "tcp", id="socket-tcp", compact=True)
        else:
            yield Input(text, compact=True)
        yield Static(self.facts(), classes="facts", markup=False)
        if self.judged():
            yield Static("", classes="traffic", markup=False)
            yield Sparkline([], summary_function=max)
        yield Static("", classes="message", markup=False)

    def judged(self) -> bool:
        from wizard.traffic.analysis import JUDGED
        return self.param.name in JUDGED

    def facts(self) -> str:
        if self.missing_since:
            version = self.session.server.postfix_version
            return (f"not offered: needs Postfix {self.missing_since}; this server has Postfix "
                    f"{version}\n{self.param.help}")
        now = self.session.current_text(self.key)
        parts = [f"now: {now or 'not set'}"]
        default = self.session.default_text(self.key)
        if default and self.param.file == "main.cf" and self.param.kind != "choice" \
                and default != now:
            parts.append(f"default: {default}")
        guide = self.session.guide_text(self.key)
        if guide and not now:
            parts.append(f"if left empty: {guide}")
        if self.param.unit:
            parts.append(self.param.unit)
        line = " · ".join(parts)
        override = self.session.override_note(self.key)
        return f"{line}\n{self.param.help}" + (f"\nNOTE: {override}" if override else "")

    # Input -------------------------------------------------------------------------------------

    def on_input_changed(self, event: Input.Changed) -> None:
        event.stop()
        self.session.set_text(self.key, event.value)
        self.post_message(self.Edited(self))
        self.update_traffic()

    # Traffic -----------------------------------------------------------------------------------

    def show_traffic(self, traffic: Traffic | None) -> None:
        if not self.judged():
            return
        self.traffic = traffic
        self.update_traffic()

    def update_traffic(self) -> None:
        """The log's peak and busiest client, and what the value typed would have refused."""
        if self.traffic is None or not self.judged():
            return
        from wizard import rules
        text = self.session.fields[self.key].text or self.session.current_text(self.key)
        value, findings = rules.check_field(self.key, text or "0")
        typed = None if findings else value
        facts = self.traffic.judge(self.param.name, typed)
        if facts is None or not facts.peaks:
            return
        self.add_class("with-traffic")
        what = "largest message" if self.param.name == "message_size_limit" else "peak"
        verdict = ("this value would have refused no client that is not excepted"
                   if not facts.refused_clients else
                   f"this value would have refused {facts.refused_clients} client(s), "
                   f"{facts.refused_times} time(s)")
        self.query_one(".traffic", Static).update(
            f"log: {what} {facts.peak} ({facts.busiest}) · {verdict}")
        self.query_one(Sparkline).data = facts.peaks

    def on_checkbox_changed(self, event: Checkbox.Changed) -> None:
        event.stop()
        self.session.set_text(self.key, "yes" if event.value else "no")
        self.post_message(self.Edited(self))

    def on_radio_set_changed(self, event: RadioSet.Changed) -> None:
        event.stop()
        self.session.set_text(self.key, "tcp" if event.pressed.id == "socket-tcp" else "unix")
        self.post_message(self.Edited(self))

    def show_text(self, text: str) -> None:
        """Put `text` in the widget (after a reset), which reports the edit as usual."""
        if self.missing_since:
            return
        if self.param.kind == "bool":
            self.query_one(Checkbox).value = text == "yes"
        elif self.key == "sasl.socket":
            self.query_one("#socket-tcp" if text == "tcp" else "#socket-unix", RadioButton).value = True
        else:
            self.query_one(Input).value = text

    def show_findings(self, findings: list[Finding]) -> None:
        message = self.query_one(".message", Static)
        message.remove_class("error", "warning")
        self.set_class(any(f.severity == "error" for f in findings), "invalid")
        if not findings:
            message.update("")
            return
        worst = "error" if any(f.severity == "error" for f in findings) else "warning"
        message.add_class(worst)
        message.update("\n".join(f.one_line() for f in findings))
