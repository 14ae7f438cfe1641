"""A finding: what a change (or the traffic) would do on the real server, and the fix.

The rules (wizard/rules) and the traffic reader (wizard/traffic) both make findings; the command
line, the screens and --json show them. It lives apart from both so that neither imports the
other for one dataclass.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

Severity = Literal["error", "warning"]


@dataclass(frozen=True)
class Finding:
    severity: Severity
    code: str
    fields: tuple[str, ...]     # "limits.<field>" or "sasl.<field>"
    message: str                # what will happen on the real server
    fix: str

    def __str__(self) -> str:
        return f"{self.severity}: {self.message} Fix: {self.fix}"


def errors(findings: list[Finding]) -> list[Finding]:
    return [f for f in findings if f.severity == "error"]
