"""A finding: what a change (or the traffic) would do on the real server, and the fix.

The rules (wizard/rules) and the traffic reader (wizard/traffic) both make findings; the command
line, the screens and --json show them. It lives apart from both so that neither imports the
other for one dataclass.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from wizard.styled import Styled

Severity = Literal["error", "warning"]


@dataclass(frozen=True)
class Finding:
    severity: Severity
    code: str
    fields: tuple[str, ...]     # "limits.<field>" or "sasl.<field>"
    message: str                # what will happen on the real server
    fix: str

    @property
    def style(self) -> str:
        return "bold red" if self.severity == "error" else "bold yellow"

    def one_line(self) -> str:
        """The finding and its fix on one line, where a field shows it."""
        return f"{self.severity.upper()}: {self.message} Fix: {self.fix}"


def errors(findings: list[Finding]) -> list[Finding]:
    return [f for f in findings if f.severity == "error"]


def styled(findings: list[Finding], *, fixes: bool = True, indent: str = "") -> Styled:
    """Each finding under its label (ERROR, WARNING), with its fix on the next line."""
    spans = []
    for finding in findings:
        spans.append((f"{indent}{finding.severity.upper()}: ", finding.style))
        spans.append((f"{finding.message}\n" + (f"{indent}  Fix: {finding.fix}\n" if fixes else ""),
                      ""))
    return spans


def counted(findings: list[Finding]) -> Styled:
    """How many errors and warnings, then each of them."""
    if not findings:
        return [("No errors and no warnings.", "green")]
    count = len(errors(findings))
    return [(f"{count} error(s), {len(findings) - count} warning(s)\n",
             "bold red" if count else "bold yellow")] + styled(findings)
