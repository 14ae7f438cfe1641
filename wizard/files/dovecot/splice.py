"""Line surgery: the splices an edit makes in a file's raw lines, and how the new lines look.

An edit never rewrites a file: it replaces or inserts whole physical lines (a Splice) and leaves
every other line byte for byte as it was. New lines follow the file's own habits: its line
ending, the indentation step its sections use, and the indentation of their neighbours; a
changed value keeps its line's key spacing and trailing comment.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass

from wizard.files.dovecot.parser import WHITE, line_body, strip_comment
from wizard.files.dovecot.tree import DovecotFile, Section, Setting


@dataclass(frozen=True)
class Splice:
    start: int              # 0-based index of the first line replaced
    stop: int               # index after the last line replaced (== start to insert)
    new_lines: list[str]


def spliced(lines: list[str], changes: list[Splice]) -> list[str]:
    result = list(lines)
    for change in sorted(changes, key=lambda c: (c.start, c.stop), reverse=True):
        result[change.start:change.stop] = change.new_lines
    return result


def _eol_of(raw: str) -> str:
    return raw[len(line_body(raw)):]


def file_eol(doc: DovecotFile) -> str:
    endings = [_eol_of(raw) for raw in doc.lines if _eol_of(raw)]
    return endings[0] if endings else "\n"


def indent_of(raw: str) -> str:
    return raw[:len(raw) - len(raw.lstrip(WHITE))]


def indent_unit(doc: DovecotFile) -> str:
    """The step this file indents a section's children by (2 spaces, 4 spaces, a tab…)."""
    steps = Counter()
    for section in doc.sections():
        if section.children:
            outer = indent_of(doc.lines[section.line - 1])
            inner = indent_of(doc.lines[section.children[0].line - 1])
            if inner.startswith(outer) and len(inner) > len(outer):
                steps[inner[len(outer):]] += 1
    return steps.most_common(1)[0][0] if steps else "  "


def child_indent(doc: DovecotFile, section: Section) -> str:
    if section.children:
        return indent_of(doc.lines[section.children[0].line - 1])
    return indent_of(doc.lines[section.line - 1]) + indent_unit(doc)


def block_lines(indent: str, unit: str, header: str, values: dict[str, str],
                eol: str) -> list[str]:
    body = [f"{indent}{unit}{key} = {value}{eol}" for key, value in values.items()]
    return [f"{indent}{header}{eol}", *body, f"{indent}}}{eol}"]


def append_lines(doc: DovecotFile, new_lines: list[str]) -> list[Splice]:
    end = len(doc.lines)
    if doc.lines and not _eol_of(doc.lines[-1]):
        # the file had no final newline: end its last line before adding ours
        return [Splice(end - 1, end, [doc.lines[-1] + file_eol(doc), *new_lines])]
    return [Splice(end, end, new_lines)]


def update_section(doc: DovecotFile, section: Section, values: dict[str, str]) -> list[Splice]:
    changes, missing = [], []
    for key, value in values.items():
        existing = section.settings(key)
        if not existing:
            missing.append(f"{key} = {value}")
        elif existing[-1].value != value:
            changes.append(replace_value(doc, existing[-1], value))
    if missing:
        indent = child_indent(doc, section)
        eol = file_eol(doc)
        close = section.last_line - 1
        changes.append(Splice(close, close, [f"{indent}{text}{eol}" for text in missing]))
    return changes


def replace_value(doc: DovecotFile, setting: Setting, value: str) -> Splice:
    """Swap only the value on the setting's line; key spacing and trailing comment stay."""
    first = setting.line - 1
    raw = doc.lines[first]
    if setting.last_line != setting.line:
        # a value continued over several lines becomes one line
        eol = _eol_of(doc.lines[setting.last_line - 1])
        return Splice(first, setting.last_line, [f"{indent_of(raw)}{setting.key} = {value}{eol}"])
    body, eol = line_body(raw), _eol_of(raw)
    code = strip_comment(body)
    equals = code.index("=")
    after = code[equals + 1:]
    start = equals + 1 + len(after) - len(after.lstrip(WHITE))
    end = max(len(code.rstrip(WHITE)), start)
    gap = " " if start == end and code[equals - 1:equals] in (" ", "\t") else ""
    return Splice(first, first + 1, [body[:start] + gap + value + body[end:] + eol])
