"""The change plan: from the files on disk and the desired settings, each file's new text.

Each FileChange also gives its unified diff (made in wizard/change/diff.py).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from wizard.server import postconf
from wizard import rules, values
from wizard.files.dovecot import SASL_LISTENER_NAME, InetListenerRequest, UnixListenerRequest
from wizard.settings.model import LIMIT_PARAMS, SASL_PARAMS, Limits, Sasl, Settings
from wizard.findings import Finding
from wizard.server.addresses import is_local_address
from wizard.server.state import Server
from wizard.change.diff import unified_diff



@dataclass(frozen=True)
class FileChange:
    path: Path
    old: str
    new: str
    # A Dovecot file's text while Postfix moves to a new socket: new listener added, old one
    # kept, so that smtpd never points at a socket that is gone (see transaction._write_all).
    interim: str | None = None

    @property
    def diff(self) -> str:
        return self.unified(str(self.path))

    def unified(self, name: str) -> str:
        """The unified diff, with the file called `name` in its header lines (diff.py)."""
        return unified_diff(self.old, self.new, name)


@dataclass
class Plan:
    changes: list[FileChange]
    findings: list[Finding] = field(default_factory=list)
    main_cf: dict[str, str] = field(default_factory=dict)   # parameter -> new text

    @property
    def blocked(self) -> bool:
        return bool(rules.errors(self.findings))


def limit_texts(limits: Limits) -> dict[str, str]:
    """The limits that are set, as main.cf parameter name -> text."""
    return {LIMIT_PARAMS[field].name: LIMIT_PARAMS[field].to_text(value)
            for field, value in limits.model_dump(exclude_none=True).items()}


def main_cf_changes(server: Server, desired: Settings) -> dict[str, str]:
    """Each main.cf parameter whose value the change alters, with its new text."""
    wanted = limit_texts(desired.limits)
    wanted.update(_sasl_main_cf(server, desired.sasl))

    def after(name: str) -> str:
        return wanted.get(name, server.raw(name))

    def effective(text: str) -> list[str]:
        return values.split_list(postconf.expand(text, after))

    # Skip what already holds, judged on the values after the change: writing
    # "smtpd_sasl_tls_security_options = noanonymous" matters when it was
    # "$smtpd_sasl_security_options" and smtpd_sasl_security_options changes too.
    return {name: text for name, text in wanted.items()
            if server.raw(name) != text and effective(server.raw(name)) != effective(text)}


def _sasl_main_cf(server: Server, desired: Sasl) -> dict[str, str]:
    after = server.after(Settings(sasl=desired)).sasl
    found = {}
    for name in ("enabled", "security_options", "tls_security_options", "tls_auth_only"):
        value = getattr(desired, name)
        if value is not None:
            found[SASL_PARAMS[name].name] = SASL_PARAMS[name].to_text(value)
    if desired.touches_socket() and after.type == "dovecot":
        found["smtpd_sasl_type"] = "dovecot"
        found["smtpd_sasl_path"] = _postfix_sasl_path(after)
    return found


def _postfix_sasl_path(sasl: Sasl) -> str:
    if sasl.socket == "tcp":
        host = f"[{sasl.address}]" if ":" in sasl.address else sasl.address
        return f"inet:{host}:{sasl.port}"
    return sasl.path


def dovecot_changes(server: Server, desired: Settings) -> tuple[dict[Path, str], dict | None]:
    """New texts of the Dovecot files the change touches (listener and auth_mechanisms), and
    the interim texts when Postfix moves from one Dovecot socket to another."""
    sasl = desired.sasl
    touches_listener = sasl.touches_socket()
    if server.dovecot is None or not (touches_listener or sasl.mechanisms is not None):
        return {}, None
    after = server.after(desired).sasl
    if after.socket == "tcp" and after.address and not is_local_address(after.address):
        return {}, None                           # Dovecot runs on another host
    edit: dict = {"mechanisms": sasl.mechanisms}
    if touches_listener and after.type == "dovecot":
        edit.update(_listener_edit(server, after))
    return server.dovecot.edit(**edit), _interim(server, edit)


def _interim(server: Server, edit: dict) -> dict[Path, str] | None:
    """The edit without its removals, when it removes the listener Postfix uses now."""
    if not edit.get("remove_unix") and not edit.get("remove_inet_port"):
        return None
    keep = {k: v for k, v in edit.items() if k not in ("remove_unix", "remove_inet_port")}
    return server.dovecot.edit(**keep)


def _listener_edit(server: Server, after: Sasl) -> dict:
    now = server.current().sasl
    edit: dict = {}
    if after.socket == "unix":
        edit["unix"] = UnixListenerRequest(server.socket_path(after.path), after.mode, after.user,
                                    after.group)
        if now.type == "dovecot" and now.socket == "tcp":
            edit["remove_inet_port"] = now.port
        elif now.type == "dovecot" and now.socket == "unix" and now.path and \
                server.socket_path(now.path) != server.socket_path(after.path):
            edit["remove_unix"] = server.socket_path(now.path)      # the socket moves
    else:
        current = server.inet_listener(now.port) if now.socket == "tcp" else None
        name = current.label if current and current.label else SASL_LISTENER_NAME
        edit["inet"] = InetListenerRequest(name, after.address, after.port)
        if now.type == "dovecot" and now.socket == "unix" and now.path:
            edit["remove_unix"] = server.socket_path(now.path)
    return edit


def make_plan(server: Server, desired: Settings) -> Plan:
    findings = rules.check(server, desired)
    main_changes = main_cf_changes(server, desired)
    changes = []
    if main_changes:
        old = server.main.render()
        changes.append(FileChange(server.main.path, old, server.main.edited(main_changes)))
    if not rules.errors([f for f in findings if f.code == "dovecot-unavailable"]):
        final, interim = dovecot_changes(server, desired)
        for path in dict.fromkeys([*final, *(interim or {})]):
            old = server.dovecot.files[path].render()
            changes.append(FileChange(path, old, final.get(path, old),
                                      None if interim is None else interim.get(path, old)))
    return Plan([c for c in changes if c.old != c.new], findings, main_changes)
