"""The state of one interactive session, for any user interface: what is typed in each field,
what the rules say about it, and the plan it makes. No UI imports.

Every field starts with the server's current value; a field's text is what the user typed.
Only fields whose value differs from the server (or that a loaded preset set) count as choices.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from wizard import rules
from wizard.change.plan import Plan, make_plan
from wizard.findings import Finding
from wizard.server import availability, postconf
from wizard.server.state import Server
from wizard.settings.model import GUIDE_SASL, PARAMS, Limits, Param, Sasl, Settings, param_for

if TYPE_CHECKING:
    from wizard.settings.presets import Preset

KEYS = [f"{section}.{field}" for section, params in PARAMS.items() for field in params]


@dataclass
class FieldState:
    text: str
    value: Any = None
    findings: tuple[Finding, ...] = ()


class Session:
    def __init__(self, server: Server):
        self.server = server
        self.fields: dict[str, FieldState] = {}
        self.from_preset: set[str] = set()
        self.preset: Preset | None = None
        self.dirty = False
        for key in KEYS:
            self._set(key, self.current_text(key))
        self._cross: list[Finding] | None = None

    # What a field shows -----------------------------------------------------------------------

    @staticmethod
    def param(key: str) -> Param:
        return param_for(key)

    def current_value(self, key: str) -> Any:
        section, field = key.split(".")
        return getattr(getattr(self.server.current(), section), field)

    def current_text(self, key: str) -> str:
        value = self.current_value(key)
        return "" if value is None else _text(self.param(key), value)

    def default_text(self, key: str) -> str:
        param = self.param(key)
        if param.kind in ("count", "size", "port", "bool"):
            return postconf.expand(param.default, self.server.raw)   # ${stress?{1}:{20}} -> 20
        return param.default

    def missing_since(self, key: str) -> str | None:
        """The Postfix version that introduced the field, when this server's Postfix lacks it
        (the screens then offer no input for it)."""
        return availability.missing_since(self.server, self.param(key))

    @staticmethod
    def guide_text(key: str) -> str:
        """What the wizard uses for an empty SASL field (the hardening guide's value)."""
        section, field = key.split(".")
        value = GUIDE_SASL.get(field) if section == "sasl" else None
        return "" if value is None else str(value)

    def override_note(self, key: str) -> str:
        """Says plainly when master.cf overrides this parameter for a service."""
        param = self.param(key)
        if param.file != "main.cf":
            return ""
        overrides = self.server.overrides(param.name)
        return "; ".join(f"master.cf service {s.name} sets {param.name}={v}" for s, v in overrides)

    # Editing ----------------------------------------------------------------------------------

    def set_text(self, key: str, text: str) -> tuple[Finding, ...]:
        if self.fields[key].text != text:
            self.dirty = True
        self._set(key, text)
        self._cross = None
        return self.fields[key].findings

    def _set(self, key: str, text: str) -> None:
        if text == "" and self.param(key).kind not in ("words", "addresses"):
            self.fields[key] = FieldState(text)          # empty: keep the server's value
            return
        value, findings = rules.check_field(key, text)
        self.fields[key] = FieldState(text, value, tuple(findings))

    def load_preset(self, preset: Preset) -> None:
        self.preset = preset
        self.from_preset = set()
        for section in ("limits", "sasl"):
            for field, value in getattr(preset.settings, section).model_dump(exclude_none=True).items():
                key = f"{section}.{field}"
                self._set(key, _text(self.param(key), value))
                self.from_preset.add(key)
        self._cross = None
        self.dirty = False

    def mark_saved(self) -> None:
        self.dirty = False

    # What it all means ------------------------------------------------------------------------

    def chosen(self) -> Settings:
        """The choices: valid values that differ from the server, or that a preset set."""
        sections: dict[str, dict] = {"limits": {}, "sasl": {}}
        for key, state in self.fields.items():
            if state.value is None or state.findings:
                continue
            if key in self.from_preset or state.value != self.current_value(key):
                section, field = key.split(".")
                sections[section][field] = state.value
        return Settings(limits=Limits(**sections["limits"]), sasl=Sasl(**sections["sasl"]))

    def field_findings(self) -> list[Finding]:
        return [f for state in self.fields.values() for f in state.findings]

    def cross_findings(self) -> list[Finding]:
        if self._cross is None:
            self._cross = rules.check(self.server, self.chosen())
        return self._cross

    def findings_for(self, keys: list[str]) -> list[Finding]:
        """Findings that involve any of `keys`: the fields' own and the cross-field ones."""
        wanted = set(keys)
        own = [f for key in keys for f in self.fields[key].findings]
        return own + [f for f in self.cross_findings() if wanted & set(f.fields)]

    def errors_in(self, keys: list[str]) -> list[Finding]:
        return rules.errors(self.findings_for(keys))

    def all_findings(self) -> list[Finding]:
        return self.field_findings() + self.cross_findings()

    def plan(self) -> Plan:
        return make_plan(self.server, self.chosen())


def _text(param: Param, value: Any) -> str:
    if param.kind == "words":
        return " ".join(value)
    if param.kind == "bool":
        return "yes" if value else "no"
    return str(value)
