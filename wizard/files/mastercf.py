"""master.cf reader: which services run smtpd, whether they are chrooted, and their -o overrides.

The wizard never edits master.cf; it reads it to warn when a service overrides a parameter the
admin is setting in main.cf, and to know whether a SASL socket path must be relative.
"""

from __future__ import annotations

import socket
from dataclasses import dataclass, field
from pathlib import Path

from wizard.files.text import postfix_logical_lines, read_text, split_lines
from wizard.values import split_list

# The ports of the names master.cf uses, for a system whose /etc/services lacks them.
WELL_KNOWN_PORTS = {"smtp": 25, "submission": 587, "submissions": 465, "smtps": 465}


@dataclass(frozen=True)
class Service:
    name: str
    type: str
    chroot: bool
    maxproc: str
    command: str
    line: int
    overrides: dict[str, str] = field(default_factory=dict)

    @property
    def host(self) -> str:
        """An inet service's address ("" for every address inet_interfaces gives)."""
        return self.name.rpartition(":")[0].strip("[]")

    @property
    def port(self) -> int | None:
        """An inet service's TCP port, from its name (`25`, `smtp`, `127.0.0.1:submission`);
        None when neither /etc/services nor WELL_KNOWN_PORTS knows the name."""
        name = self.name.rpartition(":")[2]
        if name.isdigit():
            return int(name)
        try:
            return socket.getservbyname(name, "tcp")
        except OSError:
            return WELL_KNOWN_PORTS.get(name)


def _overrides(args: list[str]) -> dict[str, str]:
    found = {}
    for flag, value in zip(args, args[1:]):
        if flag != "-o":
            continue
        if value.startswith("{") and value.endswith("}"):
            value = value[1:-1].strip()
        name, equals, setting = value.partition("=")
        if equals:
            found[name.strip()] = setting.strip()
    return found


def parse(text: str) -> list[Service]:
    services = []
    for group in postfix_logical_lines(split_lines(text)):
        number, line = group[0][0] + 1, " ".join(text.strip() for _, text in group)
        fields = split_list(line, commas=False)   # `-o { a = b }` stays one token
        if len(fields) < 8:
            continue
        name, kind, _private, _unpriv, chroot, _wakeup, maxproc, command = fields[:8]
        # Postfix 3.0 and later: '-' in the chroot column means n.
        services.append(Service(name, kind, chroot == "y", maxproc, command, number,
                                _overrides(fields[8:])))
    return services


def load(path: Path) -> list[Service]:
    return parse(read_text(path))


def smtpd_services(services: list[Service]) -> list[Service]:
    return [service for service in services if service.command == "smtpd"]
