"""A server's traffic: its log (or the ones given), read with its own anvil_rate_time_unit,
master.cf service names and exception list, and the limits its files (or a preset) set.

Without `--log`, the log is the server's own: `maillog_file` when main.cf sets one, else
/var/log/mail.log* or /var/log/maillog* (a rotated set, oldest first), else the journal
(`journalctl -o json`, the mail facility).
"""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

from wizard.server import postconf
from wizard.files.mastercf import smtpd_services
from wizard.values import parse_time, split_list
from wizard.traffic.reading import LineReader, Progress, read_paths, read_stream
from wizard.traffic.replay import PARAMETERS, Replay
from wizard.traffic.analysis import Exceptions, Traffic, summarize

SYSLOG_GLOBS = ("/var/log/mail.log*", "/var/log/maillog*")


def services(server) -> dict[str, str]:
    """syslog name → master.cf service name, for the smtpd services master.cf declares."""
    found: dict[str, str] = {}
    for service in smtpd_services(server.services):
        name = service.overrides.get("syslog_name")
        if name is None:
            found.setdefault("postfix", service.name)     # the first plain one (smtp, or smtpd
            continue                                      # behind postscreen)
        found[name.replace("$service_name", service.name).replace("${service_name}",
                                                                  service.name)] = service.name
    return found


def wrapped(server) -> frozenset[str]:
    """The smtpd services in TLS wrapper mode (smtps), whose every session is a new TLS one:
    master.cf's `-o smtpd_tls_wrappermode=yes`, or main.cf's for the services that keep it."""
    default = server.value("smtpd_tls_wrappermode") or "no"
    return frozenset(service.name for service in smtpd_services(server.services)
                     if service.overrides.get("smtpd_tls_wrappermode", default) == "yes")


def default_logs(server) -> list[str]:
    maillog = server.value("maillog_file")
    if maillog.startswith("/") and Path(maillog).exists():
        return [maillog]
    for pattern in SYSLOG_GLOBS:
        found = sorted(str(p) for p in Path("/").glob(pattern.lstrip("/")) if p.is_file())
        if found:
            return found
    return []


def read(server, logs: list[str] | None, since: int | None = None,
         exceptions_text: str | None = None, progress: Progress | None = None) -> Traffic:
    unit = parse_time(server.value("anvil_rate_time_unit") or "60s") or 60
    replay = Replay(unit, _prefix(server, 4), _prefix(server, 6), wrapped(server))
    reader = LineReader(replay, services(server))
    reader.since = since
    chosen = logs if logs else default_logs(server)
    if chosen:
        read_paths(reader, chosen, progress)
    elif shutil.which("journalctl"):
        _read_journal(reader, since)
    text = exceptions_text if exceptions_text is not None else \
        server.raw("smtpd_client_event_limit_exceptions")
    exceptions = Exceptions(split_list(postconf.expand(text, server.raw)))
    traffic = summarize(replay, reader.tally, exceptions)
    if not reader.tally.sources:
        traffic.notes.append("no log to read: no maillog_file, /var/log/mail.log or journal")
    return traffic


PREFIX_DEFAULTS = {4: 32, 6: 84}      # Postfix 3.8+: anvil counts networks this long


def _prefix(server, version: int) -> int:
    """smtpd_client_ipv4/6_prefix_length as the server's Postfix uses it: main.cf's value, else
    its default from 3.8 on, else (before 3.8) the whole address."""
    value = server.value(f"smtpd_client_ipv{version}_prefix_length")
    if value.isdigit():
        return int(value)
    release = tuple(int(part) for part in server.postfix_version.split(".")[:2]
                    if part.isdigit()) if server.postfix_version else ()
    return PREFIX_DEFAULTS[version] if release >= (3, 8) else (32 if version == 4 else 128)


def _read_journal(reader: LineReader, since: int | None) -> None:
    command = ["journalctl", "--no-pager", "-q", "-o", "json", "SYSLOG_FACILITY=2"]
    if since:
        command.append(f"--since=@{since}")
    with subprocess.Popen(command, stdout=subprocess.PIPE) as child:
        read_stream(reader, child.stdout, "the journal", 0)


def limits(server, settings=None) -> dict[str, int]:
    """The rate and count limits and message_size_limit the files set, or would after
    `settings` (a preset) is applied; Postfix's default where unset."""
    after = server.after(settings) if settings is not None else server.current()
    found = {}
    for parameter in [*PARAMETERS.values(), "message_size_limit"]:
        value = getattr(after.limits, parameter, None)
        if value is None:
            text = server.value(parameter)
            value = int(text) if text.isdigit() else 0
        found[parameter] = value
    return found


def exceptions_after(server, settings=None) -> str:
    after = server.after(settings) if settings is not None else server.current()
    text = after.limits.smtpd_client_event_limit_exceptions
    return text if text is not None else server.raw("smtpd_client_event_limit_exceptions")
