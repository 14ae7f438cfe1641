"""Which delivery agents can receive mail on this server, read from main.cf and master.cf.

A limit that only local(8) or virtual(8) reads (mailbox_size_limit, virtual_mailbox_limit) can
break mail only where that agent is handed messages. The rules ask this module, so that they
refuse a change only where the failure can happen, and warn where it would start to matter.

A transport is reachable when a setting that trivial-rewrite(8) uses routes mail to it:
- local_transport: always (mydestination domains, and mail to this host's own IP addresses as
  a domain literal, which goes there even with an empty mydestination);
- virtual_transport: when virtual_mailbox_domains is not empty;
- default_transport, relay_transport, mailbox_transport, fallback_transport: always;
- the right-hand sides of transport_maps and the other transport tables, read from their source
  files. A table the wizard cannot read (SQL, LDAP, a missing source file) is taken to route
  anywhere, so an unreadable map never hides a failure.
The transport's name is looked up in master.cf; the service's command names the agent.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

from wizard import values

ALWAYS_USED = ("local_transport", "default_transport", "relay_transport", "mailbox_transport",
               "fallback_transport")
TRANSPORT_TABLES = ("transport_maps", "mailbox_transport_maps", "fallback_transport_maps",
                    "sender_dependent_default_transport_maps")
_REGEX_LINE = re.compile(r"^(/(?:\\.|[^/])*/|!/(?:\\.|[^/])*/)\S*\s+(.*)$")


@dataclass(frozen=True)
class Route:
    """Why mail reaches an agent: the setting, and the transport it names."""
    setting: str
    transport: str

    def __str__(self) -> str:
        return f"{self.setting} routes mail to transport {self.transport}" if self.transport \
            else f"{self.setting} cannot be read, so it may route mail to it"


def agent_services(server, agent: str) -> set[str]:
    """The master.cf services (transports) that run `agent`."""
    return {s.name for s in server.services if s.command == agent and s.type == "unix"}


def routes_to(server, agent: str) -> list[Route]:
    """The settings through which `agent` (a master.cf command: local, virtual) receives mail."""
    services = agent_services(server, agent)
    if not services:
        return []
    found = []
    for setting, transport in _transports(server):
        if transport is None or transport in services:
            found.append(Route(setting, transport or ""))
    return found


def _transports(server):
    """(setting, transport name) for every route in use; transport None for an unreadable table."""
    for setting in ALWAYS_USED:
        yield setting, _transport_name(server.value(setting))
    if server.value("virtual_mailbox_domains").strip():
        yield "virtual_transport", _transport_name(server.value("virtual_transport"))
    for setting in TRANSPORT_TABLES:
        for table in values.split_list(server.value(setting)):
            for transport in _table_transports(table):
                yield f"{setting} ({table})", transport


def _transport_name(text: str) -> str:
    """'smtp:[relay]:25' -> 'smtp'; ':nexthop' and '' name no transport."""
    return text.strip().partition(":")[0].strip()


def _table_transports(table: str):
    kind, _, name = table.partition(":")
    if kind == "inline":
        body = name.strip()[1:-1] if name.strip().startswith("{") else name
        for item in values.split_list(body):
            yield _transport_name(item.strip("{}").partition("=")[2])
        return
    if kind == "static":
        yield _transport_name(name.strip("{}"))
        return
    text = _source_text(kind, name)
    if text is None:
        yield None
        return
    for line in _table_lines(text):
        regex = _REGEX_LINE.match(line) if kind in ("regexp", "pcre") else None
        result = regex.group(2) if regex else (line.split(None, 1) + [""])[1]
        for word in result.split()[:1]:
            yield _transport_name(word)


def _source_text(kind: str, name: str) -> str | None:
    if kind not in values.FILE_TABLES or not name.startswith("/"):
        return None
    try:
        return Path(name).read_text(errors="replace")
    except OSError:
        return None


def _table_lines(text: str):
    """Logical lines of a Postfix lookup table source: comments out, indented lines joined."""
    logical: list[str] = []
    for line in text.splitlines():
        if not line.strip() or line.lstrip().startswith("#"):
            continue
        if line[0].isspace() and logical:
            logical[-1] += " " + line.strip()
        else:
            logical.append(line.strip())
    return logical
