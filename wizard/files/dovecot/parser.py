"""The parser: a Dovecot file's text to the tree over its raw lines, as Dovecot would read it.

It never raises: what Dovecot would refuse (or what is no real configuration, such as an
installer's template) goes to DovecotFile.problems with a fix hint, and the marks of each
generation go to DovecotFile.marks (dialects says which they are).

The grammar mirrors Dovecot's config parser, which 2.4 kept (checked against doveconf 2.3.19.1
and 2.4.1); what the two generations name differently is in wizard.files.dovecot.dialects:
- `#` starts a comment anywhere outside "..." or '...' quotes, even without a space before it
  (doveconf only warns "Ambiguous '#' character"), and a quote runs to the end of the line when
  it is not closed, hiding any `#` after it;
- a line ending in `\\` (after its comment is stripped) continues on the next line; comment and
  blank lines in between are skipped;
- a section header must end the line: `name [label] {`, with a space before `{` (`auth{` is an
  error), at most one label, which may be "quoted"; `name { key = value }` on one line is refused
  ("Garbage after '{'"), and `}` must stand alone (`} x` and `}}` are errors);
- `key=value` needs no spaces; a value is unquoted only when the whole of it is quoted;
- `!include` / `!include_try` take the rest of the line as a path, quotes included, may appear
  inside sections, and `!include` fails when nothing matches ("No matches"), glob or not.
"""

from __future__ import annotations

import re
from pathlib import Path

from wizard.files.dovecot.dialects import section_marks, setting_marks
from wizard.files.dovecot.tree import DovecotFile, Include, Section, Setting
from wizard.files.text import split_lines

WHITE = " \t"
_KEY = re.compile(r"([^ \t=]*)[ \t]*(.*)", re.S)
_PLACEHOLDER = re.compile(r"\bPH_[A-Z0-9_]+|@[A-Z][A-Z0-9_]*@")
_OBSOLETE_SECTIONS = {"auth", "socket"}      # 1.x: `auth default {`, `socket listen {`

FIX_TEMPLATE = "This is an installer template: render it with its installer first"
FIX_OLD = ("Dovecot 1.x syntax is not supported: convert it first "
           "(`doveconf -Pn > dovecot-new.conf` writes a 2.x configuration)")


def line_body(raw: str) -> str:
    """A physical line without its line ending."""
    if raw.endswith("\r\n"):
        return raw[:-2]
    return raw[:-1] if raw.endswith("\n") else raw


def strip_comment(text: str) -> str:
    """Cut a trailing comment the way Dovecot does: quotes hide `#`, backslash escapes in them."""
    i = 0
    while i < len(text):
        char = text[i]
        if char in "\"'":
            i += 1
            while i < len(text) and text[i] != char:
                i += 2 if text[i] == "\\" and i + 1 < len(text) else 1
            if i >= len(text):
                return text
        elif char == "#":
            return text[:i]
        i += 1
    return text


def _logical_lines(lines: list[str]):
    """Yield (first, last, content): 0-based line indexes and the joined, comment-free text."""
    parts: list[str] = []
    first = None
    for index, raw in enumerate(lines):
        text = strip_comment(line_body(raw).lstrip(WHITE)).rstrip(WHITE)
        if not text:
            if first is None:
                yield index, index, ""
            continue
        if first is None:
            first = index
        if text.endswith("\\"):
            part = text[:-1].rstrip(WHITE)
            if part:
                parts.append(part + " ")
            continue
        parts.append(text)
        yield first, index, "".join(parts)
        parts, first = [], None
    if first is not None:
        yield first, len(lines) - 1, None   # the file ends inside a `\` continuation


def unescape(text: str) -> str:
    return re.sub(r"\\(.)", r"\1", text, flags=re.S)


def unquote(value: str) -> str:
    if len(value) >= 2 and value[0] in "\"'" and value[-1] == value[0]:
        return unescape(value[1:-1])
    return value


def _section_header(key: str, rest: str) -> tuple[str, str] | str:
    """(name, label) for a valid header, else Dovecot's error text."""
    if rest.startswith("{"):
        label, after = "", rest
    elif rest.startswith('"'):
        end = rest.find('"', 1)
        if end < 0:
            return "Expecting '{'"
        label, after = unescape(rest[1:end]), rest[end + 1:].lstrip(WHITE)
    else:
        label, after = _split_word(rest)
    if not after.startswith("{"):
        return "Expecting '{'"
    if after != "{":
        return "Garbage after '{' (Dovecot wants nothing after '{' on a section line)"
    return key, label


def _split_word(text: str) -> tuple[str, str]:
    word = re.match(r"[^ \t]*", text).group()
    return word, text[len(word):].lstrip(WHITE)


def parse(text: str, path: Path | str) -> DovecotFile:
    """Build the tree over the raw lines; trouble goes to `.problems`, never raised."""
    doc = DovecotFile(Path(path), split_lines(text), Section("", "", 0))
    stack = [doc.root]
    for first, last, content in _logical_lines(doc.lines):
        if content is None:
            # doveconf silently drops it, and text appended after it would be joined to it
            doc.add_problem(first + 1, "the line ends with '\\' but the file ends before the "
                            "line it continues on (Dovecot ignores it)")
        elif content:
            _read_line(doc, stack, first + 1, last + 1, content)
    for section in stack[1:]:
        doc.add_problem(section.line, f"missing '}}': section '{_title(section)}' opened on "
                        f"line {section.line} is never closed")
    _sort_problems(doc)
    return doc


def _sort_problems(doc: DovecotFile) -> None:
    pairs = sorted(zip(doc.problems, doc.fixes), key=lambda pair: pair[0][0])
    doc.problems = [problem for problem, _ in pairs]
    doc.fixes = [fix for _, fix in pairs]


def _title(section: Section) -> str:
    return f"{section.name} {section.label}".strip()


def _read_line(doc: DovecotFile, stack: list[Section], line: int, last: int, content: str):
    _check_placeholders(doc, line, content)
    key, rest = _KEY.fullmatch(content).groups()
    if rest.startswith("="):
        _add_setting(doc, stack[-1], key, rest, line, last)
    elif key in ("!include", "!include_try"):
        stack[-1].children.append(Include(rest, key == "!include_try", line, last))
    elif key == "}" and not rest:
        if len(stack) == 1:
            doc.add_problem(line, "unexpected '}': no section is open here")
        else:
            stack.pop().last_line = last
    else:
        _open_section(doc, stack, key, rest, line, content)


def _add_setting(doc, section: Section, key: str, rest: str, line: int, last: int):
    if not key:
        doc.add_problem(line, "missing key name ('=' at the beginning of line)")
        return
    value = unquote(rest[1:].lstrip(WHITE))
    section.children.append(Setting(key, value, line, last))
    doc.marks += [(line, *mark) for mark in setting_marks(key, value, section.name)]


def _open_section(doc, stack: list[Section], key: str, rest: str, line: int, content: str):
    header = _section_header(key, rest)
    if isinstance(header, str):
        doc.add_problem(line, f"{header}: '{_shorten(content)}' is not a setting, "
                        "section or !include Dovecot accepts")
        return
    section = Section(*header, line)
    stack[-1].children.append(section)
    doc.marks += [(line, *mark) for mark in section_marks(*header, len(stack) - 1)]
    stack.append(section)
    if section.name in _OBSOLETE_SECTIONS:
        doc.obsolete = True
        doc.add_problem(line, f"'{_title(section)} {{' is Dovecot 1.x syntax (doveconf 2.3 calls "
                        "it obsolete, 2.4 refuses it)", FIX_OLD)


def _check_placeholders(doc: DovecotFile, line: int, content: str) -> None:
    found = _PLACEHOLDER.search(content)
    if found:
        doc.add_problem(line, f"installer template placeholder {found.group()} instead of a "
                        "real value", FIX_TEMPLATE)


def _shorten(text: str, limit: int = 60) -> str:
    return text if len(text) <= limit else text[:limit - 1] + "…"
