"""Validation: what a change would do to a real Postfix 3.7 and Dovecot 2.3, said before it happens.

Field rules (type, range, syntax) live with the fields in `model`; this module turns them into
findings for one typed value, and adds the cross-field rules, which look at the server as it
would be after the change. An error blocks writing: Postfix or Dovecot would refuse to start, a
daemon would die at run time, mail would be lost, or credentials exposed. A warning is legal but
risky. docs/daemon-findings.md records what the real daemons did for each rule.
"""

from __future__ import annotations

import grp
import pwd
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable

from pydantic import BaseModel

from wizard.server import delivery, postconf
from wizard.files import mastercf
from wizard import values
from wizard.settings.model import (LIMIT_PARAMS, PLAINTEXT_MECHANISMS, SASL_PARAMS, Limits, Param, Sasl, Settings)
from wizard.findings import Finding, Severity, errors  # noqa: F401 (errors: the rules' public face)
from wizard.server.addresses import is_local_address
from wizard.server.state import Server

SECTIONS: dict[str, type[BaseModel]] = {"limits": Limits, "sasl": Sasl}
PARAMS = {"limits": LIMIT_PARAMS, "sasl": SASL_PARAMS}


def param_for(key: str) -> Param:
    section, field = key.split(".")
    return PARAMS[section][field]


# Field rules ---------------------------------------------------------------------------------

def check_field(key: str, text: str) -> tuple[Any, list[Finding]]:
    """Parse what the user typed into field `key`; return the value or an error finding."""
    param = param_for(key)
    try:
        return param.parse(text), []
    except ValueError as error:
        return None, [Finding("error", "syntax", (key,), f"{param.name}: {error}.",
                              _syntax_fix(param))]


def _syntax_fix(param: Param) -> str:
    if param.default and param.file == "main.cf":
        return f"Correct the value, or use Postfix's default ({param.default})."
    return "Correct the value."


# Cross-field rules -------------------------------------------------------------------------

@dataclass
class Context:
    server: Server
    after: Settings
    desired: Settings

    @property
    def limits(self) -> Limits:
        return self.after.limits

    @property
    def sasl(self) -> Sasl:
        return self.after.sasl

    @property
    def sasl_on(self) -> bool:
        return bool(self.sasl.enabled) and self.sasl.type == "dovecot"

    @property
    def dovecot_remote(self) -> bool:
        return self.sasl.socket == "tcp" and self.sasl.address is not None and not \
            is_local_address(self.sasl.address)


Rule = Callable[[Context], list[Finding]]
RULES: list[Rule] = []


def rule(function: Rule) -> Rule:
    RULES.append(function)
    return function


def check(server: Server, desired: Settings) -> list[Finding]:
    """Every finding for the server as it would be after `desired` is applied."""
    context = Context(server, server.after(desired), desired)
    findings = []
    for each in RULES:
        findings.extend(each(context))
    return sorted(findings, key=lambda f: f.severity != "error")


@rule
def unreadable_current_values(c: Context) -> list[Finding]:
    """A managed parameter the files already hold in a form the daemons cannot use."""
    found = []
    for section, params in PARAMS.items():
        for field, param in params.items():
            if getattr(getattr(c.desired, section), field) is not None:
                continue
            raw = _current_raw(c, param)
            if raw is None or "$" in raw or field in ("path", "socket", "type"):
                continue
            try:
                param.from_text(raw if param.file == "dovecot" else c.server.value(param.name))
            except ValueError as error:
                where = "main.cf" if param.file == "main.cf" else "Dovecot's configuration"
                severity, when = _agent_severity(c, param.agent)
                found.append(Finding(
                    severity, "unreadable-current", (f"{section}.{field}",),
                    f"{where} already sets {param.name} = {raw}, which is not valid ({error}): "
                    f"{_consequence(param, raw)}{when}",
                    f"Set {param.name} in the wizard to a valid value."))
    return found


def _agent_severity(c: Context, agent: str) -> tuple[Severity, str]:
    """An error where `agent` (local, virtual, smtpd; '' for any daemon) gets mail here; elsewhere
    a warning, with a sentence saying when it would start to matter."""
    if not agent:
        return "error", ""
    if agent == "smtpd":
        if mastercf.smtpd_services(c.server.services):
            return "error", ""
        return "warning", (" No master.cf service runs smtpd today, so nothing fails yet; it "
                           "will as soon as one does.")
    routes = delivery.routes_to(c.server, agent)
    if routes:
        return "error", f" ({agent}(8) is in use: {routes[0]}.)"
    start = ("a domain is added to virtual_mailbox_domains or a transport names it"
             if agent == "virtual" else "a transport setting or table names it")
    return "warning", (f" Today no mail reaches {agent}(8) on this server, so nothing fails yet; "
                       f"it will as soon as {start}.")


def _current_raw(c: Context, param: Param) -> str | None:
    if param.file == "main.cf":
        return c.server.main.get(param.name)
    if param.name == "auth_mechanisms" and c.server.dovecot is not None:
        mechanisms = c.server.dovecot.auth_mechanisms()
        return None if mechanisms is None else " ".join(mechanisms)
    return None


UNKNOWN_MECHANISM_DIES = ("Dovecot's auth process dies ('Unknown authentication mechanism'), "
                          "and with it smtpd ('no SASL authentication mechanisms').")


def _consequence(param: Param, raw: str) -> str:
    """What the daemons do with an invalid value, as seen on Postfix 3.7 and Dovecot 2.3."""
    if param.name == "auth_mechanisms":
        return UNKNOWN_MECHANISM_DIES
    if param.kind == "addresses":
        return ("smtpd stops matching the list at that entry, so the clients after it are "
                "limited too (an unbracketed IPv6 address starting with ':' makes smtpd die).")
    if param.agent:
        return (f"{param.agent}(8) stops with 'fatal: bad numerical configuration', and the mail "
                "it should deliver stays in the queue.")
    if param.kind == "size" and raw.startswith("-"):
        return "smtpd refuses every message with 452 4.3.1 Insufficient system storage."
    if param.kind == "words":
        return "smtpd dies on each connection ('unknown ... value')."
    return "the daemon that reads it stops with a fatal error (or Postfix refuses to start)."


@rule
def unreadable_throttle_time(c: Context) -> list[Finding]:
    """service_throttle_time is read by master(8), which stops Postfix when it is invalid."""
    raw = c.server.main.get("service_throttle_time")
    if raw is None:
        return []
    try:
        values.check_range(values.parse_time(raw), 1, values.LONG_MAX)
    except ValueError as error:
        return [Finding(
            "error", "unreadable-other", (),
            f"main.cf sets service_throttle_time = {raw}, which master(8) cannot use ({error}): "
            "it stops with a fatal error and Postfix does not run.",
            "Fix service_throttle_time in main.cf (a plain number of seconds, at least 1).")]
    return []


@rule
def queue_minfree_below_message_size(c: Context) -> list[Finding]:
    minfree, size = c.limits.queue_minfree, c.limits.message_size_limit
    if not minfree or not size or minfree * 2 >= size * 3:
        return []
    return [Finding(
        "warning", "queue-minfree-small", ("limits.queue_minfree", "limits.message_size_limit"),
        f"queue_minfree ({minfree} bytes) is below 1.5 x message_size_limit "
        f"({size * 3 // 2} bytes). smtpd already requires that much free space, so this "
        "setting has no effect, and smtpd logs a warning about it.",
        f"Set queue_minfree to at least {size * 3 // 2}, or to 0.")]


@rule
def queue_space_exhausted(c: Context) -> list[Finding]:
    free = c.server.queue_free_bytes()
    size = c.limits.message_size_limit or 0
    needed = max(c.limits.queue_minfree or 0, size * 3 // 2)
    if free is None or needed <= free:
        return []
    severity, when = _agent_severity(c, "smtpd")
    return [Finding(
        severity, "queue-space", ("limits.queue_minfree", "limits.message_size_limit"),
        f"The queue file system ({c.server.queue_directory}) has {values.format_size(free)} "
        f"free, but smtpd will want {values.format_size(needed)} free before it accepts a "
        f"message: it would refuse all mail with 452 4.3.1 Insufficient system storage.{when}",
        "Lower queue_minfree (and message_size_limit, of which smtpd wants 1.5x free), "
        "or free space on the queue file system.")]


@rule
def mailbox_smaller_than_message(c: Context) -> list[Finding]:
    """local(8) and virtual(8) refuse to start when their mailbox limit is below the message
    size limit, or limited while the message size is not (docs/daemon-findings.md, section 5)."""
    found = []
    size = c.limits.message_size_limit
    for field in ("mailbox_size_limit", "virtual_mailbox_limit"):
        mailbox, agent = getattr(c.limits, field), LIMIT_PARAMS[field].agent
        if not mailbox or size is None or (size and mailbox >= size):
            continue
        if not delivery.agent_services(c.server, agent):
            continue
        severity, when = _agent_severity(c, agent)
        found.append(Finding(
            severity, f"{field}-too-small", ("limits.message_size_limit", f"limits.{field}"),
            f"message_size_limit ({size or 'unlimited'}) is larger than {field} ({mailbox}). "
            f"Postfix's {agent}(8) delivery agent then stops with 'fatal: configuration "
            f"error' and every message for it stays in the queue undelivered.{when}",
            _size_fix(field, size, mailbox)))
    return found


def _size_fix(field: str, size: int, mailbox: int) -> str:
    if not size:
        return (f"Set {field} to 0 (no limit) in this change, or give message_size_limit a "
                f"limit between 1 and {mailbox}.")
    return (f"Raise {field} to at least {size} (or 0, no limit) in this change, or keep "
            f"message_size_limit at or below {mailbox}.")


_RATE_FIELDS = ("smtpd_client_connection_rate_limit", "smtpd_client_message_rate_limit",
                "smtpd_client_recipient_rate_limit", "smtpd_client_new_tls_session_rate_limit",
                "smtpd_client_auth_rate_limit")


@rule
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


@rule
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


@rule
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


@rule
def master_overrides(c: Context) -> list[Finding]:
    found = []
    for section, params in PARAMS.items():
        for field, param in params.items():
            wanted = getattr(getattr(c.desired, section), field)
            if wanted is None or param.file != "main.cf" or field in ("socket", "path"):
                continue
            for service, value in c.server.overrides(param.name):
                if value != param.to_text(wanted):
                    found.append(Finding(
                        "warning", "master-override", (f"{section}.{field}",),
                        f"master.cf service {service.name} (line {service.line}) sets "
                        f"-o {param.name}={value}, so the new main.cf value does not apply there.",
                        f"Edit or remove that -o line in master.cf if {service.name} should use "
                        "the new value."))
    return found


@rule
def dovecot_unavailable(c: Context) -> list[Finding]:
    if not c.sasl_on or c.server.dovecot is not None and c.server.dovecot.generation != "1.x":
        return []
    if c.dovecot_remote:
        return []
    problem = c.server.dovecot_problem
    if problem is None:
        where, why = c.server.dovecot_dir, "its files use Dovecot 1.x syntax"
    else:
        where = f"{problem.path}, line {problem.line}" if problem.line else problem.path
        why = problem.problem
    fix = problem.fix + "; or leave SASL off." if problem and problem.fix else (
        "Fix the Dovecot configuration (or give --dovecot-dir), or leave SASL off.")
    return [Finding(
        "error", "dovecot-unavailable", ("sasl.enabled",),
        f"SMTP AUTH through Dovecot needs Dovecot's auth listener, but the wizard cannot edit "
        f"Dovecot's files ({where}: {why}). Without the socket, smtpd dies with 'no SASL "
        "authentication mechanisms' and stops taking mail.", fix)]


@rule
def absolute_path_in_chroot(c: Context) -> list[Finding]:
    chrooted = c.server.smtpd_chrooted
    if not c.sasl_on or c.sasl.socket != "unix" or not (c.sasl.path or "").startswith("/"):
        return []
    if not chrooted:
        return []
    return [Finding(
        "error", "absolute-path-chroot", ("sasl.path",),
        f"smtpd runs chrooted in {c.server.queue_directory} (master.cf: {', '.join(chrooted)}), "
        f"so it cannot see {c.sasl.path}: it dies with 'no SASL authentication mechanisms' and "
        "stops taking mail.",
        "Use a path relative to queue_directory, such as private/auth.")]


@rule
def tcp_listener_exposed(c: Context) -> list[Finding]:
    if not c.sasl_on or c.sasl.socket != "tcp" or c.sasl.address is None:
        return []
    address = values.ipaddress.ip_address(c.sasl.address)
    if address.is_unspecified:
        return [Finding(
            "warning", "tcp-wildcard", ("sasl.address",),
            f"Dovecot's auth listener on {address} accepts connections on every interface: "
            "anyone who reaches the port can use it to check passwords.",
            "Listen on 127.0.0.1, or on the one address Postfix connects from, and firewall "
            "the port.")]
    found = []
    if c.dovecot_remote:
        found.append(Finding(
            "warning", "dovecot-remote", ("sasl.address",),
            f"{address} is not an address of this machine, so the wizard sets up only Postfix's "
            "side; Dovecot on that host needs the matching listener, or smtpd cannot "
            "authenticate anyone.",
            f"On the Dovecot host, add to service auth: inet_listener {{ address = {address} "
            f"port = {c.sasl.port} }}."))
    if address.is_loopback:
        return found
    return found + [Finding(
        "warning", "tcp-not-loopback", ("sasl.address",),
        f"Postfix will send your users' passwords to Dovecot at {address} in clear text. That is "
        "safe only on a network you trust end to end.",
        "Use 127.0.0.1 when Dovecot runs on this host; otherwise a private link (VPN, VLAN), "
        "and firewall the port to the Postfix host.")]


def _service_ports(c: Context) -> dict[int, str]:
    return {service.port: service.name for service in c.server.services
            if service.type == "inet" and service.port is not None}


@rule
def tcp_port_taken(c: Context) -> list[Finding]:
    if not c.sasl_on or c.sasl.socket != "tcp" or c.sasl.port is None:
        return []
    taken = _service_ports(c).get(c.sasl.port)
    if taken is None:
        return []
    return [Finding(
        "error", "tcp-port-taken", ("sasl.port",),
        f"Port {c.sasl.port} is already used by master.cf service {taken}: Dovecot would fail "
        "to bind its auth listener and not start.",
        "Choose a free port, such as 12345.")]


def _account_exists(kind: str, name: str) -> bool:
    try:
        (pwd.getpwnam if kind == "user" else grp.getgrnam)(name)
        return True
    except KeyError:
        return False


@rule
def listener_owner_missing(c: Context) -> list[Finding]:
    if not c.sasl_on or c.sasl.socket != "unix":
        return []
    found = []
    mail_server_here = _account_exists("user", "postfix")
    for kind in ("user", "group"):
        name = getattr(c.sasl, kind)
        if not name or _account_exists(kind, name):
            continue
        severity: Severity = "error" if mail_server_here else "warning"
        found.append(Finding(
            severity, f"listener-{kind}-missing", (f"sasl.{kind}",),
            f"The {kind} '{name}' does not exist on this machine; Dovecot refuses to start when "
            f"a unix_listener names an unknown {kind}.",
            f"Use an existing {kind}, usually postfix."))
    return found


@rule
def listener_permissions(c: Context) -> list[Finding]:
    if not c.sasl_on or c.sasl.socket != "unix" or c.sasl.mode is None:
        return []
    mode = int(c.sasl.mode, 8)
    owner = c.server.value("mail_owner") or "postfix"
    if c.sasl.user == owner:
        bits = mode >> 6
    elif c.sasl.group == owner:
        bits = mode >> 3
    else:
        bits = mode
    if bits & 0o6 != 0o6:
        return [Finding(
            "error", "listener-unreachable", ("sasl.mode", "sasl.user", "sasl.group"),
            f"With mode {c.sasl.mode}, user '{c.sasl.user}' and group '{c.sasl.group}', "
            f"Postfix (running as {owner}) cannot open Dovecot's socket: smtpd dies with "
            "'no SASL authentication mechanisms' and stops taking mail.",
            f"Use mode 0660 with user {owner} and group {owner}.")]
    if mode & 0o006:
        return [Finding(
            "warning", "listener-world", ("sasl.mode",),
            f"Mode {c.sasl.mode} lets every local user talk to Dovecot's auth socket and try "
            "passwords.",
            "Use 0660 with user and group postfix.")]
    return []


def tls_offered(server: Server) -> bool:
    """Whether smtpd can offer STARTTLS: a security level and a readable certificate."""
    level = server.value("smtpd_tls_security_level") or (
        "may" if server.value("smtpd_use_tls") == "yes" else "")
    return level in ("may", "encrypt") and _certificate_present(server)


def _tls_offered(c: Context) -> bool:
    return tls_offered(c.server)


def _certificate_present(server: Server) -> bool:
    files = values.split_list(server.value("smtpd_tls_chain_files")) or \
        values.split_list(server.value("smtpd_tls_cert_file"))
    return bool(files) and all(Path(f).is_file() for f in files)


@rule
def encrypt_without_certificate(c: Context) -> list[Finding]:
    if c.server.value("smtpd_tls_security_level") != "encrypt" or _certificate_present(c.server):
        return []
    severity, when = _agent_severity(c, "smtpd")
    return [Finding(
        severity, "encrypt-without-certificate", (),
        "smtpd_tls_security_level = encrypt but no TLS certificate file is readable: STARTTLS "
        "fails (454) and every MAIL FROM gets '530 5.7.0 Must issue a STARTTLS command first', "
        f"so senders bounce their mail.{when}",
        "Fix smtpd_tls_chain_files (or smtpd_tls_cert_file/key_file), or use level may.")]


def _offered(mechanisms: list[str], options: list[str]) -> list[str]:
    offered = list(mechanisms)
    if "noplaintext" in options:
        offered = [m for m in offered if m not in PLAINTEXT_MECHANISMS]
    if "noanonymous" in options:
        offered = [m for m in offered if m != "anonymous"]
    return offered


def _tls_options(c: Context) -> list[str]:
    options = c.sasl.tls_security_options
    if options is None or options == ["$smtpd_sasl_security_options"]:
        return c.sasl.security_options or []
    return options


@rule
def mechanisms_present(c: Context) -> list[Finding]:
    if c.sasl.mechanisms is None or c.sasl.mechanisms:
        return []
    return [Finding(
        "error", "no-mechanisms", ("sasl.mechanisms",),
        "auth_mechanisms is empty: Dovecot offers no way to log in.",
        "Use plain login.")]


@rule
def mechanism_plugins(c: Context) -> list[Finding]:
    from wizard.server.versions import installed_dovecot_auth_plugins
    from wizard.settings.model import PLUGIN_MECHANISMS
    wanted = [m for m in c.sasl.mechanisms or [] if m in PLUGIN_MECHANISMS]
    plugins = installed_dovecot_auth_plugins() if wanted else None
    if plugins is None:
        return []
    return [Finding(
        "error", "mechanism-plugin-missing", ("sasl.mechanisms",),
        f"auth_mechanisms has {m}, but Dovecot's {PLUGIN_MECHANISMS[m][0]} is not installed: "
        + UNKNOWN_MECHANISM_DIES,
        f"Install {PLUGIN_MECHANISMS[m][1]}, or remove {m} from the mechanisms.")
        for m in wanted if PLUGIN_MECHANISMS[m][0] not in plugins]


@rule
def mechanism_passdbs(c: Context) -> list[Finding]:
    from wizard.settings.model import CREDENTIAL_MECHANISMS, NO_CREDENTIAL_LOOKUP
    wanted = [m for m in c.sasl.mechanisms or [] if m in CREDENTIAL_MECHANISMS]
    if not wanted or c.server.dovecot is None or c.dovecot_remote:
        return []
    drivers = c.server.dovecot.passdb_drivers()
    if drivers and not all(driver in NO_CREDENTIAL_LOOKUP for driver in drivers):
        return []
    which = (f"its passdbs ({', '.join(drivers)}) check passwords but cannot look one up"
             if drivers else "it has no passdb")
    return [Finding(
        "error", "mechanism-passdb-unsupported", ("sasl.mechanisms",),
        f"auth_mechanisms has {' '.join(wanted)}, which needs the stored password, and {which}: "
        f"Dovecot's auth process dies at start ('{wanted[0].upper()} mechanism can't be "
        "supported with given passdbs'), and with it every smtpd that asks it, so the server "
        "stops taking mail.",
        f"Remove {' '.join(wanted)} from the mechanisms (plain login over TLS need no stored "
        "password), or add a passdb that stores passwords (passwd-file, sql, ldap).")]


@rule
def anonymous_relay(c: Context) -> list[Finding]:
    if not c.sasl_on or "anonymous" not in (c.sasl.mechanisms or []):
        return []
    phases = [name for name, options in (("before STARTTLS", c.sasl.security_options or []),
                                         ("after STARTTLS", _tls_options(c)))
              if "noanonymous" not in options]
    if not phases:
        return []
    return [Finding(
        "error", "anonymous-relay", ("sasl.mechanisms", "sasl.security_options"),
        f"Dovecot offers the anonymous mechanism and Postfix allows it {' and '.join(phases)}: "
        "anyone could authenticate without a password and, through permit_sasl_authenticated, "
        "relay mail through this server (an open relay).",
        "Remove anonymous from auth_mechanisms and keep noanonymous in both option lists.")]


def _auth_after_tls_only(c: Context) -> bool:
    """smtpd_tls_auth_only, or what implies it (postconf(5))."""
    return bool(c.sasl.tls_auth_only) or c.server.value("smtpd_tls_wrappermode") == "yes" or \
        c.server.value("smtpd_tls_security_level") == "encrypt"


@rule
def plaintext_passwords_exposed(c: Context) -> list[Finding]:
    if not c.sasl_on or _auth_after_tls_only(c):
        return []
    exposed = [m for m in _offered(c.sasl.mechanisms or [], c.sasl.security_options or [])
               if m in PLAINTEXT_MECHANISMS]
    if not exposed:
        return []
    return [Finding(
        "error", "plaintext-exposed",
        ("sasl.tls_auth_only", "sasl.security_options", "sasl.mechanisms"),
        f"AUTH {' and '.join(m.upper() for m in exposed)} would be offered before STARTTLS, so "
        "users' passwords could cross the network unencrypted.",
        "Set smtpd_tls_auth_only = yes, or add noplaintext to smtpd_sasl_security_options.")]


@rule
def auth_never_offered(c: Context) -> list[Finding]:
    if not c.sasl_on or c.sasl.mechanisms is None:
        return []
    after_tls = _offered(c.sasl.mechanisms, _tls_options(c))
    if not after_tls:
        return [Finding(
            "error", "no-mechanism-after-tls", ("sasl.tls_security_options", "sasl.mechanisms"),
            "smtpd_sasl_tls_security_options filters out every mechanism Dovecot offers: "
            "smtpd dies with 'fatal: no SASL authentication mechanisms' after every STARTTLS, "
            "so every TLS client loses its connection.",
            "Use noanonymous alone in smtpd_sasl_tls_security_options.")]
    if not _auth_after_tls_only(c) and not _offered(c.sasl.mechanisms,
                                                      c.sasl.security_options or []):
        return [Finding(
            "error", "no-mechanism-before-tls",
            ("sasl.security_options", "sasl.tls_auth_only", "sasl.mechanisms"),
            "smtpd_sasl_security_options filters out every mechanism Dovecot offers "
            f"({' '.join(c.sasl.mechanisms)}) before STARTTLS while smtpd_tls_auth_only is no: "
            "smtpd dies on every connection with 'fatal: no SASL authentication mechanisms' "
            "and the server stops taking mail (seen on Postfix 3.7 with the RHEL 9 recipe).",
            "Set smtpd_tls_auth_only = yes, so AUTH is offered only after STARTTLS.")]
    if _tls_offered(c):
        return []
    return [Finding(
        "warning", "auth-needs-tls", ("sasl.tls_auth_only", "sasl.security_options"),
        "AUTH is offered only after STARTTLS, but STARTTLS cannot work: main.cf has no "
        "readable TLS certificate or no smtpd_tls_security_level (STARTTLS gets 454), so "
        "users will never be offered AUTH.",
        "Configure smtpd_tls_chain_files (or smtpd_tls_cert_file/key_file) and "
        "smtpd_tls_security_level = may.")]


@rule
def relay_without_sasl(c: Context) -> list[Finding]:
    if not c.sasl_on or c.desired.sasl.enabled is not True:
        return []
    # raw text: the 3.7 default is a compatibility_level expression that still names it
    restrictions = c.server.raw("smtpd_relay_restrictions") or c.server.raw(
        "smtpd_recipient_restrictions")
    if "permit_sasl_authenticated" in restrictions:
        return []
    return [Finding(
        "warning", "sasl-cannot-relay", ("sasl.enabled",),
        "Users will be able to log in, but smtpd_relay_restrictions has no "
        "permit_sasl_authenticated, so they still cannot send mail to other domains.",
        "Add permit_sasl_authenticated before the reject/defer rule in smtpd_relay_restrictions.")]



@rule
def exception_table_missing(c: Context) -> list[Finding]:
    exceptions = c.limits.smtpd_client_event_limit_exceptions
    if exceptions is None:
        return []
    found = []
    for item in values.split_list(postconf.expand(exceptions, c.server.raw)):
        kind, _, name = item.lstrip("!").partition(":")
        suffix = values.FILE_TABLES.get(kind)
        if suffix is not None and name.startswith("/") and not Path(name + suffix).exists():
            severity, when = _agent_severity(c, "smtpd")
            found.append(Finding(
                severity, "exception-table-missing", ("limits.smtpd_client_event_limit_exceptions",),
                f"{item} in smtpd_client_event_limit_exceptions does not exist ({name}"
                f"{suffix}): smtpd cannot read it, and a list with a broken entry "
                f"stops matching at all, so even your own networks get rate limited.{when}",
                f"Create the table (postmap {name}) or remove it from the list."))
    return found


@rule
def sasl_listener_missing(c: Context) -> list[Finding]:
    """SASL on as the files stand (not being set up now), but Dovecot serves no such socket."""
    if not c.sasl_on or c.desired.sasl.touches_socket() or c.dovecot_remote:
        return []
    if c.server.dovecot is None or c.server.dovecot.generation == "1.x":
        return []
    path = c.server.raw("smtpd_sasl_path")
    if c.sasl.socket == "tcp" and (c.sasl.address is None or c.sasl.port is None):
        problem = f"smtpd_sasl_path = {path} is not inet:ADDRESS:PORT"
    elif c.sasl.socket == "tcp" and c.server.inet_listener(c.sasl.port) is None:
        problem = f"Dovecot's service auth has no inet_listener on port {c.sasl.port}"
    elif c.sasl.socket == "unix" and c.server.unix_listener(path) is None:
        problem = f"Dovecot's service auth has no unix_listener {c.server.socket_path(path)}"
    else:
        return []
    return [Finding(
        "error", "sasl-listener-missing", ("sasl.path", "sasl.port"),
        f"SMTP AUTH is on with smtpd_sasl_type = dovecot and smtpd_sasl_path = {path}, but "
        f"{problem}: smtpd cannot reach "
        "Dovecot, dies with 'no SASL authentication mechanisms' and stops taking mail.",
        "Set up the socket in the wizard's SMTP AUTH step (it writes both sides), or turn "
        "SMTP AUTH off.")]


@rule
def dovecot_listener_port_taken(c: Context) -> list[Finding]:
    if c.server.dovecot is None:
        return []
    ports = _service_ports(c)
    found = []
    for listener in c.server.dovecot.auth_listeners():
        port = listener.settings.get("port", "")
        if listener.kind == "inet" and port.isdigit() and int(port) in ports and \
                int(port) != (c.sasl.port if c.desired.sasl.port else None):
            found.append(Finding(
                "error", "dovecot-port-taken", ("sasl.port",),
                f"Dovecot's auth inet_listener {listener.label or ''} ({listener.path}, line "
                f"{listener.line}) uses port {port}, which master.cf service "
                f"{ports[int(port)]} already uses: Dovecot fails to bind it and does not start.",
                "Give that listener a free port (and smtpd_sasl_path the same one)."))
    return found
