"""The editor: the changes the wizard asks of a Dovecot configuration, checked and made.

A request names listeners of `service auth` to set or remove and the auth mechanisms to serve;
every value is checked first, so that nothing written can change the meaning of the lines around
it. edit() then works one step at a time on a copy of the configuration (each step's splices
applied and the changed files parsed again, so the next step sees them) and returns the new
texts of the files that changed; it writes nothing. It edits only a configuration without
problems that does not mix Dovecot 2.3 and 2.4, and writes what the tree's generation names
(wizard.files.dovecot.dialects).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from wizard.errors import ConfigError
from wizard.files.dovecot.parser import parse
from wizard.files.dovecot.splice import (Splice, append_lines, block_lines, child_indent,
                                         file_eol, indent_of, indent_unit, replace_value,
                                         spliced, update_section)
from wizard.files.dovecot.tree import Section, Setting

if TYPE_CHECKING:
    from wizard.files.dovecot.config import DovecotConfig

SASL_LISTENER_NAME = "postfix-sasl"   # the name of an inet_listener the wizard adds


@dataclass(frozen=True)
class UnixListenerRequest:
    path: str
    mode: str
    user: str
    group: str


@dataclass(frozen=True)
class InetListenerRequest:
    name: str
    address: str
    port: int


# ---------------------------------------------------------------- checking the request


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


# ---------------------------------------------------------------- editing


def edit(config: DovecotConfig, *, unix: UnixListenerRequest | None = None,
         inet: InetListenerRequest | None = None, remove_unix: str | None = None,
         remove_inet_port: int | None = None,
         mechanisms: list[str] | None = None) -> dict[Path, str]:
    """New full texts of the files that change; nothing is written."""
    _check_request(unix, inet, remove_unix, remove_inet_port, mechanisms)
    config.check_editable()
    steps = []
    if remove_unix is not None:
        steps.append(lambda c: _remove_listeners(c, _unix_named(remove_unix)))
    if remove_inet_port is not None:
        steps.append(lambda c: _remove_listeners(c, _inet_on_port(remove_inet_port)))
    if unix is not None:
        steps.append(lambda c: _set_unix(c, unix))
    if inet is not None:
        steps.append(lambda c: _set_inet(c, inet))
    if mechanisms is not None:
        steps.append(lambda c: _set_mechanisms(c, list(mechanisms)))
    edited = config
    for step in steps:
        edited = _apply(edited, step(edited))
    return {path: doc.render() for path, doc in edited.files.items()
            if doc.render() != config.files[path].render()}


def _apply(config: DovecotConfig, splices: dict[Path, list[Splice]]) -> DovecotConfig:
    files = dict(config.files)
    for path, changes in splices.items():
        text = "".join(spliced(files[path].lines, changes))
        files[path] = parse(text, path)
    return config.with_files(files)


def _remove_listeners(config: DovecotConfig, wanted) -> dict[Path, list[Splice]]:
    splices: dict[Path, list[Splice]] = {}
    for path, section in config.listener_sections():
        if wanted(section):
            splices.setdefault(path, []).append(
                Splice(section.line - 1, section.last_line, []))
    return splices


def _set_unix(config: DovecotConfig, want: UnixListenerRequest) -> dict[Path, list[Splice]]:
    values = {"mode": want.mode, "user": want.user, "group": want.group}
    return _set_listener(config, _unix_named(want.path), "unix_listener", want.path, values)


def _set_inet(config: DovecotConfig, want: InetListenerRequest) -> dict[Path, list[Splice]]:
    values = {config.dialect.listener_address: want.address, "port": str(want.port)}
    name = want.name or (SASL_LISTENER_NAME if config.dialect.named_listeners else "")
    def wanted(section: Section) -> bool:
        return _inet_on_port(want.port)(section) or (
            section.name == "inet_listener" and section.label == name)
    return _set_listener(config, wanted, "inet_listener", name, values)


def _set_listener(config: DovecotConfig, wanted, kind: str, label: str,
                  values: dict[str, str]):
    matches = [(p, s) for p, s in config.listener_sections() if wanted(s)]
    if matches:
        path, section = matches[-1]
        return {path: update_section(config.files[path], section, values)}
    header = f"{kind} {label} {{" if label else f"{kind} {{"
    return _add_to_service_auth(config, header, values)


def _add_to_service_auth(config: DovecotConfig, header: str, values: dict[str, str]):
    services = config.service_auth_sections()
    if services:
        path, service = services[-1]
        doc = config.files[path]
        indent, unit = child_indent(doc, service), indent_unit(doc)
        block = block_lines(indent, unit, header, values, file_eol(doc))
        return {path: [Splice(service.last_line - 1, service.last_line - 1, block)]}
    path = _file_or_root(config, "conf.d/10-master.conf")
    doc = config.files[path]
    unit = indent_unit(doc)
    block = block_lines(unit, unit, header, values, file_eol(doc))
    return {path: append_lines(doc, [f"service auth {{{file_eol(doc)}", *block,
                                     f"}}{file_eol(doc)}"])}


def _set_mechanisms(config: DovecotConfig, mechanisms: list[str]) -> dict[Path, list[Splice]]:
    value = " ".join(mechanisms)
    found = config.mechanism_nodes()
    if found and isinstance(found[-1][1], Setting):
        path, setting = found[-1]
        return {path: [replace_value(config.files[path], setting, value)]}
    if found:       # a 2.4 list block is last: a plain setting after it replaces the list
        path, block = found[-1]
        doc = config.files[path]
        line = f"{indent_of(doc.lines[block.line - 1])}auth_mechanisms = {value}{file_eol(doc)}"
        return {path: [Splice(block.last_line, block.last_line, [line])]}
    path = _file_or_root(config, "conf.d/10-auth.conf")
    doc = config.files[path]
    return {path: append_lines(doc, [f"auth_mechanisms = {value}{file_eol(doc)}"])}


def _file_or_root(config: DovecotConfig, relative: str) -> Path:
    candidate = config.root.parent / relative
    return candidate if candidate in config.files else config.root


def _unix_named(path: str):
    return lambda section: section.name == "unix_listener" and section.label == path


def _inet_on_port(port: int):
    def wanted(section: Section) -> bool:
        ports = section.settings("port")
        return section.name == "inet_listener" and bool(ports) and ports[-1].value == str(port)
    return wanted
