"""Lossless reader and editor for Dovecot 2.3 and 2.4 configuration.

A file is kept as its raw lines; the tree built over them only records where each setting,
section and !include lives, so rendering an unedited file gives back the exact bytes. Edits
splice new lines in and never touch the others.

The grammar mirrors Dovecot's config parser, which 2.4 kept (checked against doveconf 2.3.19.1
and 2.4.1); what the two generations name differently is in wizard.dovecot_dialects:
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
from collections import Counter
from dataclasses import dataclass, field
from glob import glob
from pathlib import Path

from wizard.files.dovecot.dialects import (DEFAULT_MECHANISMS, DIALECTS, UPGRADE_GUIDE,
                                          dovecot_generation, section_marks, setting_marks)
from wizard.errors import ConfigError
from wizard.files.text import read_text, split_lines

WHITE = " \t"
_KEY = re.compile(r"([^ \t=]*)[ \t]*(.*)", re.S)
_PLACEHOLDER = re.compile(r"\bPH_[A-Z0-9_]+|@[A-Z][A-Z0-9_]*@")
_GLOB = re.compile(r"[*?[]")
_OBSOLETE_SECTIONS = {"auth", "socket"}      # 1.x: `auth default {`, `socket listen {`

FIX_BY_HAND = "Correct the file by hand until `doveconf -n` accepts it, then run the wizard again"
FIX_TEMPLATE = "This is an installer template: render it with its installer first"
FIX_OLD = ("Dovecot 1.x syntax is not supported: convert it first "
           "(`doveconf -Pn > dovecot-new.conf` writes a 2.x configuration)")
FIX_MIXED = (f"Move the whole tree to one generation with Dovecot's upgrade guide ({UPGRADE_GUIDE}), "
             "check it with `doveconf -n`, then run the wizard again")
SASL_LISTENER_NAME = "postfix-sasl"   # the name of an inet_listener the wizard adds


# ---------------------------------------------------------------- tree


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


# ---------------------------------------------------------------- parsing


def _body(raw: str) -> str:
    """A physical line without its line ending."""
    if raw.endswith("\r\n"):
        return raw[:-2]
    return raw[:-1] if raw.endswith("\n") else raw


def _eol_of(raw: str) -> str:
    return raw[len(_body(raw)):]


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
        text = strip_comment(_body(raw).lstrip(WHITE)).rstrip(WHITE)
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
        return "Garbage after '{' (Dovecot 2.3 wants nothing after '{' on a section line)"
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
                        "section or !include Dovecot 2.3 accepts")
        return
    section = Section(*header, line)
    stack[-1].children.append(section)
    doc.marks += [(line, *mark) for mark in section_marks(*header, len(stack) - 1)]
    stack.append(section)
    if section.name in _OBSOLETE_SECTIONS:
        doc.obsolete = True
        doc.add_problem(line, f"'{_title(section)} {{' is Dovecot 1.x syntax (doveconf 2.3 calls "
                        "it obsolete)", FIX_OLD)


def _check_placeholders(doc: DovecotFile, line: int, content: str) -> None:
    found = _PLACEHOLDER.search(content)
    if found:
        doc.add_problem(line, f"installer template placeholder {found.group()} instead of a "
                        "real value", FIX_TEMPLATE)


def _shorten(text: str, limit: int = 60) -> str:
    return text if len(text) <= limit else text[:limit - 1] + "…"


# ---------------------------------------------------------------- requested changes


@dataclass(frozen=True)
class UnixListener:
    path: str
    mode: str
    user: str
    group: str


@dataclass(frozen=True)
class InetListener:
    name: str
    address: str
    port: int


@dataclass(frozen=True)
class Listener:
    kind: str                   # "unix" or "inet"
    label: str                  # unix path, or inet name ("" when unnamed)
    settings: dict[str, str] = field(hash=False)   # a dict cannot be hashed
    path: Path
    line: int


_FORBIDDEN = set("#{}\"'$%<\\")


def check_value(what: str, value: object, *, empty_ok: bool = False) -> None:
    """Refuse a value that could change the meaning of the file around it."""
    def refuse(why: str):
        raise ConfigError(None, None, f"refusing to write {what} {value!r}: {why}",
                          "Use a plain value: no spaces, quotes, braces, '#', '$', '%', '<' "
                          "or '\\', and not starting with '!' or '='")
    if not isinstance(value, str):
        refuse("it is not text")
    if not value and not empty_ok:
        refuse("it is empty")
    if not value.isprintable():
        refuse("it contains a control character")
    if any(char.isspace() for char in value):
        refuse("it contains whitespace")
    if _FORBIDDEN & set(value):
        refuse(f"it contains {''.join(sorted(_FORBIDDEN & set(value)))!r}")
    if value[:1] in ("!", "="):
        refuse(f"it starts with {value[0]!r}")


def _check_request(unix, inet, remove_unix, remove_inet_port, mechanisms) -> None:
    if unix is not None:
        for name in ("path", "mode", "user", "group"):
            check_value(f"unix_listener {name}", getattr(unix, name))
    if inet is not None:
        check_value("inet_listener name", inet.name, empty_ok=True)
        # several addresses go comma-separated ("*,::"), so no value here needs a space
        check_value("inet_listener address", inet.address)
        _check_port(inet.port)
    if remove_unix is not None:
        check_value("unix_listener path", remove_unix)
    if remove_inet_port is not None:
        _check_port(remove_inet_port)
    if mechanisms is not None:
        if not isinstance(mechanisms, (list, tuple)) or not mechanisms:
            raise ConfigError(None, None, f"auth_mechanisms must be a non-empty list, "
                              f"not {mechanisms!r}", "Pass e.g. ['plain', 'login']")
        for mechanism in mechanisms:
            check_value("auth mechanism", mechanism)


def _check_port(port: object) -> None:
    if isinstance(port, bool) or not isinstance(port, int) or not 0 < port < 65536:
        raise ConfigError(None, None, f"refusing to write port {port!r}",
                          "Use a TCP port number from 1 to 65535")


# ---------------------------------------------------------------- whole configuration


class DovecotConfig:
    """A root file and every file it includes, in include order."""

    def __init__(self, root: Path, files: dict[Path, DovecotFile],
                 includes: dict[tuple[Path, str], list[Path]] | None = None):
        self.root = root
        self.files = files
        self._includes = includes or {}   # (including file, target as written) -> files

    @classmethod
    def load(cls, root: Path) -> DovecotConfig:
        config = cls(Path(root), {}, {})
        config._load_file(config.root, ())
        return config

    @classmethod
    def from_text(cls, text: str, path: Path | str) -> DovecotConfig:
        """A configuration of one file, includes not followed."""
        path = Path(path)
        return cls(path, {path: parse(text, path)})

    def _load_file(self, path: Path, chain: tuple[Path, ...]) -> None:
        doc = parse(read_text(path), path)
        self.files[path] = doc
        for include in _includes_in(doc.root):
            targets = self._resolve(path, include)
            self._includes[(path, include.target)] = targets
            for target in targets:
                if target in chain or target == path:
                    raise ConfigError(path, include.line, f"include loop: {target} includes "
                                      "itself through this line", "Remove one of the includes")
                if target not in self.files:
                    self._load_file(target, chain + (path,))

    def _resolve(self, path: Path, include: Include) -> list[Path]:
        pattern = path.parent / include.target
        if _GLOB.search(include.target):
            found = [Path(name) for name in sorted(glob(str(pattern))) if Path(name).is_file()]
        else:
            found = [pattern] if pattern.is_file() else []
        if not found and not include.optional:
            raise ConfigError(path, include.line, f"!include {include.target}: no file matches "
                              "(doveconf: No matches)",
                              "Create the file, or change the line to !include_try")
        return found

    # -------------------------------------------------------- reading

    def walk(self):
        """Yield (path, node, enclosing sections) in the order Dovecot reads them."""
        yield from self._walk_file(self.root, (), ())

    def _walk_file(self, path: Path, stack: tuple, chain: tuple):
        if path in chain:
            return
        yield from self._walk_nodes(path, self.files[path].root.children, stack, chain + (path,))

    def _walk_nodes(self, path: Path, nodes: list, stack: tuple, chain: tuple):
        for node in nodes:
            yield path, node, stack
            if isinstance(node, Section):
                yield from self._walk_nodes(path, node.children, stack + (node,), chain)
            elif isinstance(node, Include):
                for target in self._includes.get((path, node.target), []):
                    yield from self._walk_file(target, stack, chain)

    # -------------------------------------------------------- generation

    def _marks(self, generation: str) -> list[tuple[Path, int, str]]:
        return [(path, line, why) for path, doc in self.files.items()
                for line, mark, why in doc.marks if mark == generation]

    def _version_setting(self) -> tuple[Path, Setting, bool] | None:
        """dovecot_config_version, and whether it is the first setting Dovecot reads."""
        settings = [(path, node) for path, node, _ in self.walk() if isinstance(node, Setting)]
        for index, (path, node) in enumerate(settings):
            if node.key == "dovecot_config_version":
                return path, node, index == 0
        return None

    @property
    def generation(self) -> str:
        """"2.4" when the tree declares dovecot_config_version (or, for a fragment without
        it, carries only 2.4 marks), "1.x" for Dovecot 1 syntax, else "2.3"."""
        if any(doc.obsolete for doc in self.files.values()):
            return "1.x"
        if self._version_setting() or (self._marks("2.4") and not self._marks("2.3")):
            return "2.4"
        return "2.3"

    @property
    def dialect(self):
        return DIALECTS.get(self.generation, DIALECTS["2.3"])

    @property
    def config_version(self) -> str | None:
        found = self._version_setting()
        return found[1].value if found else None

    def check_generation(self, installed: str | None) -> None:
        """Refuse a tree that mixes the generations, or that the installed Dovecot cannot read."""
        self._check_mixed()
        generation, found = self.generation, self._version_setting()
        if found and not found[2]:
            raise ConfigError(found[0], found[1].line, "dovecot_config_version is not the first "
                              "setting Dovecot reads (Dovecot 2.4 refuses: The first setting must "
                              "be dovecot_config_version)", "Move it to the top of dovecot.conf")
        if generation == "2.4" and not found:
            path, line, why = self._marks("2.4")[0]
            raise ConfigError(path, line, f"{why} is Dovecot 2.4 syntax, but dovecot.conf does not "
                              "start with dovecot_config_version: 2.4 refuses to start without "
                              "it and 2.3 refuses the 2.4 syntax", FIX_MIXED)
        running = dovecot_generation(installed)
        if running in DIALECTS and generation in DIALECTS and running != generation:
            raise ConfigError(self.root, found[1].line if found else None,
                              f"Dovecot {installed} is installed, but this configuration is "
                              f"written for Dovecot {generation}: Dovecot {running} would refuse "
                              "it, so the wizard does not edit it", FIX_MIXED)

    def _check_mixed(self) -> None:
        if self.generation not in DIALECTS:
            return
        other = "2.3" if self.generation == "2.4" else "2.4"
        for path, line, why in self._marks(other):
            raise ConfigError(path, line, f"{why} is Dovecot {other} syntax in a Dovecot "
                              f"{self.generation} configuration: Dovecot refuses the mix",
                              FIX_MIXED)

    # -------------------------------------------------------- problems and settings

    def problems(self) -> list[tuple[Path, int, str]]:
        return [(path, line, message) for path, doc in self.files.items()
                for line, message in doc.problems]

    def check_editable(self) -> None:
        for path, doc in self.files.items():
            if doc.problems:
                (line, message), fix = doc.problems[0], doc.fixes[0]
                raise ConfigError(path, line, message, fix)
        self._check_mixed()

    def _mechanism_nodes(self) -> list[tuple[Path, Setting | Section]]:
        """Top-level `auth_mechanisms = …` lines and (2.4) `auth_mechanisms { … }` blocks."""
        return [(path, node) for path, node, stack in self.walk() if not stack and (
            isinstance(node, Setting) and node.key == "auth_mechanisms"
            or isinstance(node, Section) and node.name == "auth_mechanisms" and not node.label)]

    def auth_mechanisms(self) -> list[str] | None:
        """The mechanisms Dovecot serves, or None when no file sets them (the default)."""
        mechanisms = None
        for _, node in self._mechanism_nodes():
            if isinstance(node, Setting):
                mechanisms = node.value.split()
                continue
            mechanisms = list(mechanisms if mechanisms is not None else DEFAULT_MECHANISMS)
            for item in node.children:
                if isinstance(item, Setting):
                    mechanisms = [m for m in mechanisms if m != item.key]
                    if item.value != "no":
                        mechanisms.append(item.key)
        return mechanisms

    def passdb_drivers(self) -> list[str]:
        """The drivers of the passdbs that authenticate users (master passdbs left out, as
        Dovecot's auth_preinit does). 2.4 names the driver after the section unless `driver`
        or `passdb_driver` says otherwise."""
        drivers, seen = [], set()
        for path, node, _ in self.walk():
            if not (isinstance(node, Section) and node.name == "passdb") or \
                    (path, node.line) in seen:
                continue
            seen.add((path, node.line))
            values = {child.key: child.value for child in node.children
                      if isinstance(child, Setting)}
            if values.get("master", "no") == "yes":
                continue
            drivers.append(values.get("driver") or values.get("passdb_driver") or node.label)
        return drivers

    def _service_auth_sections(self) -> list[tuple[Path, Section]]:
        return [(path, node) for path, node, _ in self.walk()
                if isinstance(node, Section) and node.is_service_auth()]

    def _listener_sections(self) -> list[tuple[Path, Section]]:
        found, seen = [], set()
        for path, node, stack in self.walk():
            if (isinstance(node, Section) and node.name in ("unix_listener", "inet_listener")
                    and stack and stack[-1].is_service_auth() and (path, node.line) not in seen):
                seen.add((path, node.line))  # a file included twice holds the same listener
                found.append((path, node))
        return found

    def auth_listeners(self) -> list[Listener]:
        return [_listener(path, section) for path, section in self._listener_sections()]

    # -------------------------------------------------------- editing

    def edit(self, *, unix: UnixListener | None = None, inet: InetListener | None = None,
             remove_unix: str | None = None, remove_inet_port: int | None = None,
             mechanisms: list[str] | None = None) -> dict[Path, str]:
        """New full texts of the files that change; nothing is written."""
        _check_request(unix, inet, remove_unix, remove_inet_port, mechanisms)
        self.check_editable()
        steps = []
        if remove_unix is not None:
            steps.append(lambda c: c._remove_listeners(_unix_named(remove_unix)))
        if remove_inet_port is not None:
            steps.append(lambda c: c._remove_listeners(_inet_on_port(remove_inet_port)))
        if unix is not None:
            steps.append(lambda c: c._set_unix(unix))
        if inet is not None:
            steps.append(lambda c: c._set_inet(inet))
        if mechanisms is not None:
            steps.append(lambda c: c._set_mechanisms(list(mechanisms)))
        config = self
        for step in steps:
            config = config._apply(step(config))
        return {path: doc.render() for path, doc in config.files.items()
                if doc.render() != self.files[path].render()}

    def _apply(self, splices: dict[Path, list[Splice]]) -> DovecotConfig:
        files = dict(self.files)
        for path, changes in splices.items():
            text = "".join(_splice(files[path].lines, changes))
            files[path] = parse(text, path)
        return DovecotConfig(self.root, files, self._includes)

    def _remove_listeners(self, wanted) -> dict[Path, list[Splice]]:
        splices: dict[Path, list[Splice]] = {}
        for path, section in self._listener_sections():
            if wanted(section):
                splices.setdefault(path, []).append(
                    Splice(section.line - 1, section.last_line, []))
        return splices

    def _set_unix(self, want: UnixListener) -> dict[Path, list[Splice]]:
        values = {"mode": want.mode, "user": want.user, "group": want.group}
        return self._set_listener(_unix_named(want.path), "unix_listener", want.path, values)

    def _set_inet(self, want: InetListener) -> dict[Path, list[Splice]]:
        values = {self.dialect.listener_address: want.address, "port": str(want.port)}
        name = want.name or (SASL_LISTENER_NAME if self.dialect.named_listeners else "")
        def wanted(section: Section) -> bool:
            return _inet_on_port(want.port)(section) or (
                section.name == "inet_listener" and section.label == name)
        return self._set_listener(wanted, "inet_listener", name, values)

    def _set_listener(self, wanted, kind: str, label: str, values: dict[str, str]):
        matches = [(p, s) for p, s in self._listener_sections() if wanted(s)]
        if matches:
            path, section = matches[-1]
            return {path: _update_section(self.files[path], section, values)}
        header = f"{kind} {label} {{" if label else f"{kind} {{"
        return self._add_to_service_auth(header, values)

    def _add_to_service_auth(self, header: str, values: dict[str, str]):
        services = self._service_auth_sections()
        if services:
            path, service = services[-1]
            doc = self.files[path]
            indent, unit = _child_indent(doc, service), _indent_unit(doc)
            block = _block(indent, unit, header, values, _eol(doc))
            return {path: [Splice(service.last_line - 1, service.last_line - 1, block)]}
        path = self._file_or_root("conf.d/10-master.conf")
        doc = self.files[path]
        unit = _indent_unit(doc)
        block = _block(unit, unit, header, values, _eol(doc))
        return {path: _append(doc, [f"service auth {{{_eol(doc)}", *block, f"}}{_eol(doc)}"])}

    def _set_mechanisms(self, mechanisms: list[str]) -> dict[Path, list[Splice]]:
        value = " ".join(mechanisms)
        found = self._mechanism_nodes()
        if found and isinstance(found[-1][1], Setting):
            path, setting = found[-1]
            return {path: [_replace_value(self.files[path], setting, value)]}
        if found:       # a 2.4 list block is last: a plain setting after it replaces the list
            path, block = found[-1]
            doc = self.files[path]
            line = f"{_indent(doc.lines[block.line - 1])}auth_mechanisms = {value}{_eol(doc)}"
            return {path: [Splice(block.last_line, block.last_line, [line])]}
        path = self._file_or_root("conf.d/10-auth.conf")
        doc = self.files[path]
        return {path: _append(doc, [f"auth_mechanisms = {value}{_eol(doc)}"])}

    def _file_or_root(self, relative: str) -> Path:
        candidate = self.root.parent / relative
        return candidate if candidate in self.files else self.root


def _includes_in(section: Section):
    for child in section.children:
        if isinstance(child, Include):
            yield child
        elif isinstance(child, Section):
            yield from _includes_in(child)


def _listener(path: Path, section: Section) -> Listener:
    settings = {c.key: c.value for c in section.children if isinstance(c, Setting)}
    kind = "unix" if section.name == "unix_listener" else "inet"
    return Listener(kind, section.label, settings, path, section.line)


def _unix_named(path: str):
    return lambda section: section.name == "unix_listener" and section.label == path


def _inet_on_port(port: int):
    def wanted(section: Section) -> bool:
        ports = section.settings("port")
        return section.name == "inet_listener" and bool(ports) and ports[-1].value == str(port)
    return wanted


# ---------------------------------------------------------------- line surgery


@dataclass(frozen=True)
class Splice:
    start: int              # 0-based index of the first line replaced
    stop: int               # index after the last line replaced (== start to insert)
    new_lines: list[str]


def _splice(lines: list[str], changes: list[Splice]) -> list[str]:
    result = list(lines)
    for change in sorted(changes, key=lambda c: (c.start, c.stop), reverse=True):
        result[change.start:change.stop] = change.new_lines
    return result


def _eol(doc: DovecotFile) -> str:
    endings = [_eol_of(raw) for raw in doc.lines if _eol_of(raw)]
    return endings[0] if endings else "\n"


def _indent(raw: str) -> str:
    return raw[:len(raw) - len(raw.lstrip(WHITE))]


def _indent_unit(doc: DovecotFile) -> str:
    """The step this file indents a section's children by (2 spaces, 4 spaces, a tab…)."""
    steps = Counter()
    for section in doc.sections():
        if section.children:
            outer = _indent(doc.lines[section.line - 1])
            inner = _indent(doc.lines[section.children[0].line - 1])
            if inner.startswith(outer) and len(inner) > len(outer):
                steps[inner[len(outer):]] += 1
    return steps.most_common(1)[0][0] if steps else "  "


def _child_indent(doc: DovecotFile, section: Section) -> str:
    if section.children:
        return _indent(doc.lines[section.children[0].line - 1])
    return _indent(doc.lines[section.line - 1]) + _indent_unit(doc)


def _block(indent: str, unit: str, header: str, values: dict[str, str], eol: str) -> list[str]:
    body = [f"{indent}{unit}{key} = {value}{eol}" for key, value in values.items()]
    return [f"{indent}{header}{eol}", *body, f"{indent}}}{eol}"]


def _append(doc: DovecotFile, new_lines: list[str]) -> list[Splice]:
    end = len(doc.lines)
    if doc.lines and not _eol_of(doc.lines[-1]):
        # the file had no final newline: end its last line before adding ours
        return [Splice(end - 1, end, [doc.lines[-1] + _eol(doc), *new_lines])]
    return [Splice(end, end, new_lines)]


def _update_section(doc: DovecotFile, section: Section, values: dict[str, str]) -> list[Splice]:
    changes, missing = [], []
    for key, value in values.items():
        existing = section.settings(key)
        if not existing:
            missing.append(f"{key} = {value}")
        elif existing[-1].value != value:
            changes.append(_replace_value(doc, existing[-1], value))
    if missing:
        indent = _child_indent(doc, section)
        eol = _eol(doc)
        close = section.last_line - 1
        changes.append(Splice(close, close, [f"{indent}{text}{eol}" for text in missing]))
    return changes


def _replace_value(doc: DovecotFile, setting: Setting, value: str) -> Splice:
    """Swap only the value on the setting's line; key spacing and trailing comment stay."""
    first = setting.line - 1
    raw = doc.lines[first]
    if setting.last_line != setting.line:
        # a value continued over several lines becomes one line
        eol = _eol_of(doc.lines[setting.last_line - 1])
        return Splice(first, setting.last_line, [f"{_indent(raw)}{setting.key} = {value}{eol}"])
    body, eol = _body(raw), _eol_of(raw)
    code = strip_comment(body)
    equals = code.index("=")
    after = code[equals + 1:]
    start = equals + 1 + len(after) - len(after.lstrip(WHITE))
    end = max(len(code.rstrip(WHITE)), start)
    gap = " " if start == end and code[equals - 1:equals] in (" ", "\t") else ""
    return Splice(first, first + 1, [body[:start] + gap + value + body[end:] + eol])
