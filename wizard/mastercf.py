"""master.cf reader: which services run smtpd, whether they are chrooted, and their -o overrides.

The wizard never edits master.cf; it reads it to warn when a service overrides a parameter the
admin is setting in main.cf, and to know whether a SASL socket path must be relative.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from .textfile import read_text
from .values import split_list


@dataclass(frozen=True)
class Service:
    name: str
    type: str
    chroot: bool
    maxproc: str
    command: str
    line: int
    overrides: dict[str, str] = field(default_factory=dict)


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


def _logical_lines(text: str) -> list[tuple[int, str]]:
    entries: list[tuple[int, str]] = []
    for number, line in enumerate(text.splitlines(), start=1):
        stripped = line.strip()
        if not stripped or stripped.startswith("#"):
            continue
        if line[0] in " \t" and entries:
            entries[-1] = (entries[-1][0], entries[-1][1] + " " + stripped)
        else:
            entries.append((number, stripped))
    return entries


def parse(text: str) -> list[Service]:
    services = []
    for number, line in _logical_lines(text):
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
