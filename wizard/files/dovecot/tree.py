"""The tree the parser builds over a Dovecot file's raw lines.

The tree records only where each setting, section and !include lives (1-based line numbers) and
what Dovecot reads there; the text itself stays in DovecotFile.lines, untouched, so that
rendering an unedited file gives back its bytes. Every other module of the package works on
these types: the parser builds them, the configuration walks them, the editor splices lines by
their line numbers.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

FIX_BY_HAND = "Correct the file by hand until `doveconf -n` accepts it, then run the wizard again"


@dataclass
class Setting:
    key: str
    value: str          # as Dovecot reads it: unquoted when the whole value was quoted
    line: int           # 1-based, first physical line
    last_line: int      # last physical line (continuations)


@dataclass
class Include:
    target: str
    optional: bool      # !include_try
    line: int
    last_line: int


@dataclass
class Section:
    name: str
    label: str
    line: int                       # header line; 0 for a file's top level
    last_line: int | None = None    # line of the closing `}`; None when never closed
    children: list[Setting | Include | Section] = field(default_factory=list)

    def settings(self, key: str) -> list[Setting]:
        return [c for c in self.children if isinstance(c, Setting) and c.key == key]

    def is_service_auth(self) -> bool:
        return self.name == "service" and self.label == "auth"


@dataclass
class DovecotFile:
    path: Path
    lines: list[str]
    root: Section
    problems: list[tuple[int, str]] = field(default_factory=list)
    fixes: list[str] = field(default_factory=list)     # one fix hint per problem
    marks: list[tuple[int, str, str]] = field(default_factory=list)  # (line, "2.3"|"2.4", why)
    obsolete: bool = False                              # Dovecot 1.x syntax

    def render(self) -> str:
        return "".join(self.lines)

    def add_problem(self, line: int, message: str, fix: str = FIX_BY_HAND) -> None:
        self.problems.append((line, message))
        self.fixes.append(fix)

    def sections(self) -> list[Section]:
        return list(_sections_in(self.root))


def _sections_in(section: Section):
    for child in section.children:
        if isinstance(child, Section):
            yield child
            yield from _sections_in(child)
