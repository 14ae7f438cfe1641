"""Dovecot's auth listener: the socket through which smtpd has Dovecot check passwords.

With SMTP AUTH on and smtpd_sasl_type = dovecot, smtpd dies ('no SASL authentication
mechanisms') and stops taking mail when it cannot reach that socket: the wizard cannot edit
Dovecot's files, nothing listens where smtpd_sasl_path points, the path lies outside smtpd's
chroot, Dovecot does not start (a port master.cf already uses, an unknown owner), or Postfix may
not open the socket. These rules also warn where the socket is open to more than Postfix.
"""

from __future__ import annotations

import grp
import ipaddress
import pwd

from wizard.findings import Finding, Severity
from wizard.rules.context import Context


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


def _service_ports(c: Context) -> dict[int, str]:
    return {service.port: service.name for service in c.server.services
            if service.type == "inet" and service.port is not None}


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


def _account_exists(kind: str, name: str) -> bool:
    try:
        (pwd.getpwnam if kind == "user" else grp.getgrnam)(name)
        return True
    except KeyError:
        return False


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


def tcp_listener_exposed(c: Context) -> list[Finding]:
    if not c.sasl_on or c.sasl.socket != "tcp" or c.sasl.address is None:
        return []
    address = ipaddress.ip_address(c.sasl.address)
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
