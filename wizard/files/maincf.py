"""Lossless main.cf reader and editor.

The file is kept as its raw lines; parsing only records where each logical entry lives. Postfix
joins a line that starts with whitespace to the entry before it, skipping comment lines and
blank lines in between (checked against postconf 3.7), so an entry runs from its `name =` line to
its last continuation line. Rendering an unedited file gives back the exact bytes.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path

from wizard import values
from wizard.errors import ConfigError
from wizard.files.text import (is_postfix_skipped, postfix_logical_lines, read_text, split_lines,
                               strip_eol)

_NAME = re.compile(r"[A-Za-z0-9_][A-Za-z0-9_.-]*")
_ASSIGN = re.compile(r"(?P<name>[^\s=]+)\s*=[ \t]*(?P<value>.*)")
_PLACEHOLDER = re.compile(r"\bPH_[A-Z0-9_]+\b|@[A-Z_]+@|(?:^|\s)%\{?[a-z_]{3,}\}?")


@dataclass(frozen=True)
class Entry:
    name: str
    value: str        # the logical value, continuation lines joined, outer whitespace trimmed
    start: int        # index of the `name =` line
    end: int          # index after its last continuation line


@dataclass
class MainCf:
    path: Path | None
    lines: list[str]
    entries: list[Entry] = field(default_factory=list)
    problems: list[tuple[int, str]] = field(default_factory=list)

    @classmethod
    def parse(cls, text: str, path: Path | str | None = None) -> MainCf:
        doc = cls(Path(path) if path else None, split_lines(text))
        doc._index()
        return doc

    @classmethod
    def load(cls, path: Path) -> MainCf:
        return cls.parse(read_text(path), path)

    def render(self) -> str:
        return "".join(self.lines)

    def _index(self) -> None:
        for group in postfix_logical_lines(self.lines):
            (start, first), continuation = group[0], group[1:]
            indented = first[0] in " \t"
            head = [] if indented else self._start_entry(first, start)
            if not head:                  # the indented lines continue nothing Postfix reads
                for index, _ in group if indented else continuation:
                    self.problems.append((index + 1, "an indented line with no parameter before it"))
                continue
            name, value = head[0], "".join([head[1]] + [text for _, text in continuation]).strip()
            self.entries.append(Entry(name, value, start, group[-1][0] + 1))
            self._check_value(name, value, start)

    def _start_entry(self, text: str, index: int) -> list[str]:
        match = _ASSIGN.fullmatch(text)
        if not match:
            self.problems.append((index + 1, f"'{text.strip()[:40]}' is not a 'name = value' line"))
            return []
        name = match.group("name")
        if not _NAME.fullmatch(name):
            self.problems.append((index + 1, f"'{name}' is not a valid parameter name"))
            return []
        return [name, match.group("value")]

    def _check_value(self, name: str, value: str, start: int) -> None:
        placeholder = _PLACEHOLDER.search(value)
        if placeholder:
            self.problems.append((start + 1, f"{name} holds '{placeholder.group().strip()}', an "
                                  "installer-template placeholder; render the template first"))

    # Reading -------------------------------------------------------------------------------

    def last(self, name: str) -> Entry | None:
        for entry in reversed(self.entries):
            if entry.name == name:
                return entry
        return None

    def get(self, name: str) -> str | None:
        """The value Postfix uses: the last definition wins."""
        entry = self.last(name)
        return entry.value if entry else None

    def check_editable(self) -> None:
        if self.problems:
            line, problem = self.problems[0]
            raise ConfigError(self.path, line, problem,
                              "Fix this line by hand (postconf -n shows how Postfix reads the file), "
                              "then run the wizard again")

    # Editing -------------------------------------------------------------------------------

    def edited(self, changes: dict[str, str]) -> str:
        """The file's text with each parameter set, changing the fewest lines.

        Like `postconf -e`, an existing parameter is replaced where it stands and a new one is
        appended; unlike it, only the definition that takes effect (the last) is rewritten, and
        comment lines inside a multi-line value are kept.
        """
        self.check_editable()
        lines = list(self.lines)
        appended = []
        replacements = []
        for name, value in changes.items():
            _check_assignment(name, value)
            entry = self.last(name)
            if entry is None:
                appended.append(f"{name} = {value}")
            elif entry.value != value:
                replacements.append((entry, value))
        for entry, value in sorted(replacements, key=lambda item: -item[0].start):
            lines[entry.start:entry.end] = self._replacement(entry, value)
        if appended:
            eol = self._eol()
            if lines and not lines[-1].endswith("\n"):
                lines[-1] += eol
            lines.extend(line + eol for line in appended)
        return "".join(lines)

    def _replacement(self, entry: Entry, value: str) -> list[str]:
        first = self.lines[entry.start]
        text = strip_eol(first)
        prefix = re.match(r"[^\s=]+\s*=[ \t]*", text).group()
        if prefix.endswith(" ="):        # `name =` with the value on the next lines
            prefix += " "
        kept = [line for line in self.lines[entry.start + 1:entry.end] if is_postfix_skipped(strip_eol(line))]
        return [prefix + value + first[len(text):]] + kept

    def _eol(self) -> str:
        return "\r\n" if self.lines and self.lines[0].endswith("\r\n") else "\n"


def _check_assignment(name: str, value: str) -> None:
    if not _NAME.fullmatch(name):
        raise ValueError(f"'{name}' is not a valid parameter name")
    values.check_text(value)
    values.check_references(value)
