"""A whole Dovecot configuration: the root file and every file it includes, read as Dovecot does.

DovecotConfig follows the !include lines (globs, !include_try, loops refused), walks the trees in
the order Dovecot reads them, tells which generation (2.3 or 2.4) the tree is written for and
refuses a tree that mixes the two, and answers the questions the wizard asks of it: the auth
mechanisms, the passdb drivers and the auth service's listeners. Its edit() is the editor's
(wizard.files.dovecot.editor), which returns new texts and writes nothing.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from glob import glob
from pathlib import Path

from wizard.errors import ConfigError
from wizard.files.dovecot import editor
from wizard.files.dovecot.dialects import (DEFAULT_MECHANISMS, DIALECTS, UPGRADE_GUIDE,
                                          dovecot_generation)
from wizard.files.dovecot.editor import InetListenerRequest, UnixListenerRequest
from wizard.files.dovecot.parser import parse
from wizard.files.dovecot.tree import DovecotFile, Include, Section, Setting
from wizard.files.text import read_text

_GLOB = re.compile(r"[*?[]")

FIX_MIXED = (f"Move the whole tree to one generation with Dovecot's upgrade guide ({UPGRADE_GUIDE}), "
             "check it with `doveconf -n`, then run the wizard again")


@dataclass(frozen=True)
class Listener:
    """An auth listener section as found in Dovecot's files (editor.py's *ListenerRequest is
    one the wizard asks to be written; daemons/handshake.py's AuthSocket is where to connect)."""
    kind: str                   # "unix" or "inet"
    label: str                  # unix path, or inet name ("" when unnamed)
    settings: dict[str, str] = field(hash=False)   # a dict cannot be hashed
    path: Path
    line: int


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

    def with_files(self, files: dict[Path, DovecotFile]) -> DovecotConfig:
        """The same configuration with some files' trees replaced (as an edit leaves them); the
        includes stay as they were resolved."""
        return DovecotConfig(self.root, files, self._includes)

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

    def mechanism_nodes(self) -> list[tuple[Path, Setting | Section]]:
        """Top-level `auth_mechanisms = …` lines and (2.4) `auth_mechanisms { … }` blocks."""
        return [(path, node) for path, node, stack in self.walk() if not stack and (
            isinstance(node, Setting) and node.key == "auth_mechanisms"
            or isinstance(node, Section) and node.name == "auth_mechanisms" and not node.label)]

    def auth_mechanisms(self) -> list[str] | None:
        """The mechanisms Dovecot serves, or None when no file sets them (the default)."""
        mechanisms = None
        for _, node in self.mechanism_nodes():
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

    def service_auth_sections(self) -> list[tuple[Path, Section]]:
        return [(path, node) for path, node, _ in self.walk()
                if isinstance(node, Section) and node.is_service_auth()]

    def listener_sections(self) -> list[tuple[Path, Section]]:
        found, seen = [], set()
        for path, node, stack in self.walk():
            if (isinstance(node, Section) and node.name in ("unix_listener", "inet_listener")
                    and stack and stack[-1].is_service_auth() and (path, node.line) not in seen):
                seen.add((path, node.line))  # a file included twice holds the same listener
                found.append((path, node))
        return found

    def auth_listeners(self) -> list[Listener]:
        return [_listener(path, section) for path, section in self.listener_sections()]

    # -------------------------------------------------------- editing

    def edit(self, *, unix: UnixListenerRequest | None = None,
             inet: InetListenerRequest | None = None, remove_unix: str | None = None,
             remove_inet_port: int | None = None,
             mechanisms: list[str] | None = None) -> dict[Path, str]:
        """New full texts of the files that change; nothing is written (see editor.edit)."""
        return editor.edit(self, unix=unix, inet=inet, remove_unix=remove_unix,
                           remove_inet_port=remove_inet_port, mechanisms=mechanisms)


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
