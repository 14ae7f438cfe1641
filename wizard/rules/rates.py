"""Rate, count and error limits: smtpd's per-client limits and who they spare.

anvil(8) counts connections, messages, recipients, new TLS sessions and AUTH commands per client;
smtpd_client_event_limit_exceptions names the clients the limits leave alone. Set badly, they
throttle your own networks (a missing table in the exception list stops the list matching at
all), let one client hold every smtpd process, or cut erring clients off before smtpd ever slows
them down.
"""

from __future__ import annotations

from pathlib import Path

from wizard import values
from wizard.findings import Finding
from wizard.rules.context import Context, agent_severity
from wizard.server import postconf


_RATE_FIELDS = ("smtpd_client_connection_rate_limit", "smtpd_client_message_rate_limit",
                "smtpd_client_recipient_rate_limit", "smtpd_client_new_tls_session_rate_limit",
                "smtpd_client_auth_rate_limit")


def own_networks_limited(c: Context) -> list[Finding]:
    active = [f for f in _RATE_FIELDS if getattr(c.limits, f)]
    exceptions = c.limits.smtpd_client_event_limit_exceptions
    if not active or exceptions is None:
        return []
    excepted = set(values.split_list(postconf.expand(exceptions, c.server.raw)))
    own = [n for n in values.split_list(c.server.value("mynetworks")) if n not in excepted]
    if not own:
        return []
    return [Finding(
        "warning", "own-networks-limited",
        ("limits.smtpd_client_event_limit_exceptions",) + tuple(f"limits.{f}" for f in active),
        f"Your own networks ({', '.join(own)}) are not in smtpd_client_event_limit_exceptions, "
        f"so {', '.join(active)} will throttle them too: your own servers, scripts and webmail "
        "will get 421/450 replies under load.",
        "Add $mynetworks to smtpd_client_event_limit_exceptions.")]


def count_limit_fills_smtpd(c: Context) -> list[Finding]:
    count = c.limits.smtpd_client_connection_count_limit
    smtp = next((s for s in c.server.services if s.command == "smtpd" and s.type == "inet"), None)
    if count is None or smtp is None:
        return []
    maxproc = int(smtp.maxproc) if smtp.maxproc.isdigit() else c.limits.default_process_limit
    if not maxproc or (count and count < maxproc):
        return []
    return [Finding(
        "warning", "count-limit-fills-smtpd",
        ("limits.smtpd_client_connection_count_limit", "limits.default_process_limit"),
        f"One client may hold {count or 'unlimited'} connections, but service {smtp.name} has "
        f"only {maxproc} smtpd processes: a single client can take them all and lock out "
        "everyone else.",
        f"Set smtpd_client_connection_count_limit below {maxproc}, e.g. {max(1, maxproc // 2)}.")]


def soft_errors_above_hard(c: Context) -> list[Finding]:
    soft, hard = c.limits.smtpd_soft_error_limit, c.limits.smtpd_hard_error_limit
    if soft is None or hard is None or soft <= hard:
        return []
    return [Finding(
        "warning", "soft-above-hard",
        ("limits.smtpd_soft_error_limit", "limits.smtpd_hard_error_limit"),
        f"smtpd_soft_error_limit ({soft}) is above smtpd_hard_error_limit ({hard}): clients are "
        "disconnected before smtpd ever slows them down.",
        "Keep the soft limit below the hard limit (Postfix defaults: 10 and 20).")]


def exception_table_missing(c: Context) -> list[Finding]:
    exceptions = c.limits.smtpd_client_event_limit_exceptions
    if exceptions is None:
        return []
    found = []
    for item in values.split_list(postconf.expand(exceptions, c.server.raw)):
        kind, _, name = item.lstrip("!").partition(":")
        suffix = values.FILE_TABLES.get(kind)
        if suffix is not None and name.startswith("/") and not Path(name + suffix).exists():
            severity, when = agent_severity(c, "smtpd")
            found.append(Finding(
                severity, "exception-table-missing", ("limits.smtpd_client_event_limit_exceptions",),
                f"{item} in smtpd_client_event_limit_exceptions does not exist ({name}"
                f"{suffix}): smtpd cannot read it, and a list with a broken entry "
                f"stops matching at all, so even your own networks get rate limited.{when}",
                f"Create the table (postmap {name}) or remove it from the list."))
    return found
