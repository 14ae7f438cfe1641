"""After a live change: prove the server still takes mail.

Valid files are not a working server: postconf and doveconf accept files with which smtpd dies
at run time. So after an apply or rollback that reloaded a daemon, the probe talks to every
smtpd (or postscreen) listener master.cf declares that this host can reach, as a client would:
greeting, EHLO, SIZE equal to message_size_limit, STARTTLS where offered, AUTH advertised
exactly as the files say before and after TLS, and an AUTH with a random user that must come
back 535 (Dovecot answered it). Then it reads what the daemons logged since the change for the
failures no client sees: fatal and panic lines of smtpd, postscreen, anvil, local, virtual and
Dovecot's auth, and master's "bad command startup".

The probe's connections never trip the limits the admin sets: each comes from its own loopback
address (127.x.y.z at random: Linux answers the whole of 127/8), so anvil counts each as the first
connection of a new client; and the probe sends no MAIL, RCPT or message. A connection rate
limit of 1 a minute with loopback not excepted is therefore never reached by the probe.
"""

from __future__ import annotations

import ipaddress
import random
import re
import secrets
import smtplib
import socket
import ssl
import time
from dataclasses import dataclass, field

from wizard import values
from wizard.daemons import handshake, logs
from wizard.server import addresses, postconf
from wizard.files.mastercf import Service
from wizard.server.state import Server

CONNECT_TIMEOUT_SECONDS = 10.0
LOG_SETTLE_SECONDS = 1.0       # postlogd and syslog write a moment after the event
RETRY_AFTER_SECONDS = 2.0      # `postfix reload` returns before master has re-read main.cf
LISTENER_COMMANDS = ("smtpd", "postscreen")
FAILURE = re.compile(
    r"(?:/|\b)(smtpd|postscreen|anvil|local|virtual)\[\d+\]: (fatal|panic):"
    r"|bad command startup"
    r"|\bauth(?:-worker)?(?:\([^)]*\))?: (Fatal|Panic):"
    r"|service\(auth(?:-worker)?\): command startup failed")
MAX_LOG_LINES = 5
PROBE_HOSTNAME = "probe.postfix-wizard.invalid"


@dataclass(frozen=True)
class Endpoint:
    service: Service        # the master.cf entry that listens
    settings: Service       # whose -o overrides apply (postscreen hands clients to `smtpd pass`)
    host: str
    port: int

    def describe(self) -> str:
        where = f"[{self.host}]:{self.port}" if ":" in self.host else f"{self.host}:{self.port}"
        name = self.service.name
        return f"{name} (master.cf line {self.service.line}" + (
            ")" if name.endswith(f":{self.port}") else f", {where})")


@dataclass
class LiveCheck:
    checked: list[str] = field(default_factory=list)    # what passed, one line per listener
    problems: list[str] = field(default_factory=list)
    log_lines: list[str] = field(default_factory=list)  # the daemons' failure lines
    skipped: list[str] = field(default_factory=list)    # listeners this host cannot reach

    @property
    def passed(self) -> bool:
        return not self.problems and not self.log_lines

    def lines(self) -> list[str]:
        return ([f"ok: {line}" for line in self.checked] +
                [f"FAILED: {line}" for line in self.problems] +
                [f"logged: {line}" for line in self.log_lines[-MAX_LOG_LINES:]] +
                [f"not probed: {line}" for line in self.skipped])


@dataclass(frozen=True)
class Marks:
    """The daemons' logs before a change: the probe reads what was written since."""
    postfix: logs.Mark
    dovecot: logs.Mark | None


def marks(server: Server) -> Marks:
    dovecot = logs.dovecot_mark(server.dovecot_dir) if server.dovecot else None
    return Marks(logs.postfix_mark(server.value("maillog_file")), dovecot)


def setting(server: Server, service: Service, name: str) -> str:
    """A parameter as this master.cf service sees it: its -o overrides replace main.cf's values,
    also inside $references (smtpd_sasl_tls_security_options = $smtpd_sasl_security_options)."""
    def raw(parameter: str) -> str:
        return service.overrides.get(parameter, server.raw(parameter))
    return postconf.expand(raw(name), raw)


# Which listeners -------------------------------------------------------------------------------

def endpoints(server: Server) -> tuple[list[Endpoint], list[str]]:
    """The reachable listeners, and a line for each one that is not."""
    found, skipped = [], []
    pass_service = next((s for s in server.services if s.type == "pass"
                         and s.command == "smtpd"), None)
    for service in server.services:
        if service.type != "inet" or service.command not in LISTENER_COMMANDS:
            continue
        host, port = service.host or _local_host(server), service.port
        if port is None:
            skipped.append(f"{service.name} (master.cf line {service.line}): unknown port")
            continue
        settings = pass_service if service.command == "postscreen" and pass_service else service
        found.append(Endpoint(service, settings, host, port))
    return found, skipped


def _local_host(server: Server) -> str:
    """Where a service without an address answers on this host (inet_interfaces)."""
    interfaces = server.value("inet_interfaces").replace(",", " ").split()
    ipv6_only = server.value("inet_protocols").strip() == "ipv6"
    loopback = "::1" if ipv6_only else "127.0.0.1"
    for interface in interfaces:
        if interface in ("all", "loopback-only", "localhost"):
            return loopback
        if addresses.is_loopback(interface):
            return interface.strip("[]")
    return interfaces[0].strip("[]") if interfaces else loopback


# What each listener must say -------------------------------------------------------------------

SECURITY_FLAGS = {"noanonymous": "anonymous", "noplaintext": "plaintext",
                  "nodictionary": "dictionary", "noactive": "active"}


def offered(served: handshake.Handshake, options: str) -> set[str]:
    """The mechanisms smtpd advertises from Dovecot's list under these security options, as
    Postfix's xsasl_dovecot_server.c filters them (by the flags Dovecot sends with each)."""
    wanted = set(options.replace(",", " ").lower().split())
    keep = set()
    for mechanism in served.mechanisms:
        flags = served.flags.get(mechanism, frozenset())
        if "private" in flags or mechanism == "external":
            continue
        if any(option in wanted and flag in flags for option, flag in SECURITY_FLAGS.items()):
            continue
        if "mutual_auth" in wanted and "mutual-auth" not in flags:
            continue
        keep.add(mechanism)
    return keep


@dataclass(frozen=True)
class Expected:
    size: str                       # SIZE's argument ("" when message_size_limit = 0)
    wrapper: bool                   # TLS from the first byte (smtps)
    auth_before: set[str] | None    # None: not judged (a SASL other than Dovecot's)
    auth_after: set[str] | None


def expected(server: Server, endpoint: Endpoint) -> Expected:
    """What this listener must advertise; raises ProbeFailure when Dovecot does not answer."""
    value = lambda name: setting(server, endpoint.settings, name)      # noqa: E731
    limit = value("message_size_limit")
    wrapper = value("smtpd_tls_wrappermode") == "yes"
    size = "" if limit == "0" else limit
    if value("smtpd_sasl_auth_enable") != "yes":
        return Expected(size, wrapper, set(), set())
    if value("smtpd_sasl_type") != "dovecot":
        return Expected(size, wrapper, None, None)
    served = _dovecot_mechanisms(server, value("smtpd_sasl_path"))
    after = offered(served, value("smtpd_sasl_tls_security_options"))
    tls_only = value("smtpd_tls_auth_only") == "yes" or \
        value("smtpd_tls_security_level") == "encrypt"
    before = after if wrapper else (set() if tls_only else
                                    offered(served, value("smtpd_sasl_security_options")))
    return Expected(size, wrapper, before, after)


class ProbeFailure(Exception):
    pass


def _dovecot_mechanisms(server: Server, path: str) -> handshake.Handshake:
    inet = values.sasl_inet_path(path)
    if inet is not None:
        host, port = inet
        listener = handshake.AuthSocket.tcp(host or "127.0.0.1", int(port) if port.isdigit() else 0)
    else:
        listener = handshake.AuthSocket.unix(server.socket_path(path))
    try:
        return handshake.handshake(listener)
    except (OSError, handshake.HandshakeError) as error:
        raise ProbeFailure(f"Dovecot's auth listener {listener} "
                           f"(smtpd_sasl_path) does not answer: {error}") from None


# Talking to a listener -------------------------------------------------------------------------

def _source(host: str) -> tuple[str, int] | None:
    """A loopback source address of its own for each connection (see the module's docstring)."""
    try:
        if ipaddress.ip_address(host).version == 4 and ipaddress.ip_address(host).is_loopback:
            return (f"127.{random.randint(128, 254)}.{random.randint(0, 255)}."
                    f"{random.randint(1, 254)}", 0)
    except ValueError:
        pass
    return None


def _tls_context() -> ssl.SSLContext:
    context = ssl.create_default_context()
    context.check_hostname = False           # the probe checks that TLS works, not the name
    context.verify_mode = ssl.CERT_NONE
    return context


def _auth_set(client: smtplib.SMTP) -> set[str]:
    return set(client.esmtp_features.get("auth", "").lower().split())


def talk(endpoint: Endpoint, want: Expected) -> str:
    """One SMTP session; returns what passed, raises ProbeFailure with what did not."""
    source = _source(endpoint.host)
    kind = smtplib.SMTP_SSL if want.wrapper else smtplib.SMTP
    options = {"context": _tls_context()} if want.wrapper else {}
    try:
        client = kind(endpoint.host, endpoint.port, timeout=CONNECT_TIMEOUT_SECONDS,
                      source_address=source, local_hostname=PROBE_HOSTNAME, **options)
    except smtplib.SMTPConnectError as error:
        raise ProbeFailure(f"greeting {error.smtp_code} "
                           f"{error.smtp_error.decode(errors='replace')}") from None
    except (OSError, smtplib.SMTPException) as error:
        raise ProbeFailure(_explain(error)) from None
    try:
        return _session(client, want)
    except (OSError, smtplib.SMTPException) as error:
        raise ProbeFailure(_explain(error)) from None
    finally:
        try:
            client.close()
        except OSError:
            pass


def _session(client: smtplib.SMTP, want: Expected) -> str:
    _ehlo(client)
    passed = ["greeting", "EHLO"]
    size = client.esmtp_features.get("size")
    if size is None or size.strip() != want.size:
        raise ProbeFailure(f"EHLO says SIZE {size!r}, message_size_limit is {want.size or '0'}")
    passed.append(f"SIZE {want.size or '(no limit)'}")
    _compare_auth(_auth_set(client), want.auth_before, "TLS" if want.wrapper else "before TLS")
    auth_offered = _auth_set(client)
    if not want.wrapper and client.has_extn("starttls"):
        code, reply = client.starttls(context=_tls_context())
        if code != 220:
            raise ProbeFailure(f"STARTTLS got {code} {reply.decode(errors='replace')}")
        _ehlo(client)
        passed.append("STARTTLS")
        _compare_auth(_auth_set(client), want.auth_after, "after STARTTLS")
        auth_offered = _auth_set(client)
    if auth_offered:
        passed.append(f"AUTH {' '.join(sorted(auth_offered)).upper()}")
        passed.append(_wrong_login(client, auth_offered))
    client.quit()
    return ", ".join(passed)


def _ehlo(client: smtplib.SMTP) -> None:
    code, reply = client.ehlo()
    if code != 250:
        raise ProbeFailure(f"EHLO got {code} {reply.decode(errors='replace')}")


def _compare_auth(advertised: set[str], wanted: set[str] | None, when: str) -> None:
    if wanted is None or advertised == wanted:
        return
    show = lambda names: " ".join(sorted(names)).upper() or "nothing"    # noqa: E731
    raise ProbeFailure(f"AUTH {when} offers {show(advertised)}; the files say {show(wanted)}")


def _wrong_login(client: smtplib.SMTP, mechanisms: set[str]) -> str:
    """An AUTH with a random user must be refused by Dovecot: 535, not 454 or a hang-up."""
    mechanism = next((m for m in ("plain", "login", "cram-md5") if m in mechanisms), None)
    if mechanism is None:
        return f"no wrong-login test ({' '.join(sorted(mechanisms)).upper()} only)"
    client.user = f"postfix-wizard-probe-{secrets.token_hex(6)}"
    client.password = secrets.token_urlsafe(18)
    method = {"plain": client.auth_plain, "login": client.auth_login,
              "cram-md5": client.auth_cram_md5}[mechanism]
    try:
        client.auth(mechanism.upper(), method)
    except smtplib.SMTPAuthenticationError as refusal:
        if refusal.smtp_code == 535:
            return "wrong login refused (535)"
        raise ProbeFailure(f"AUTH {mechanism.upper()} with an unknown user got "
                           f"{refusal.smtp_code} {refusal.smtp_error.decode(errors='replace')}, "
                           "not 535: Dovecot did not answer") from None
    raise ProbeFailure(f"AUTH {mechanism.upper()} accepted a random user and password")


def _explain(error: Exception) -> str:
    if isinstance(error, smtplib.SMTPServerDisconnected):
        return "the server dropped the connection (smtpd died?)"
    if isinstance(error, ConnectionRefusedError):
        return "connection refused (nothing listens)"
    if isinstance(error, (socket.timeout, TimeoutError)):
        return f"no answer within {CONNECT_TIMEOUT_SECONDS:.0f} s"
    if isinstance(error, ssl.SSLError):
        return f"TLS failed ({error.reason or error})"
    return str(error) or type(error).__name__


# The whole probe -------------------------------------------------------------------------------

def probe(server: Server, since: Marks) -> LiveCheck:
    """Talk to every listener, then read the logs since the change. A listener that fails
    while the logs show no failure is tried once more after a pause: `postfix reload` returns
    before master has re-read its files."""
    found = _talk_to_all(server)
    time.sleep(LOG_SETTLE_SECONDS)
    found.log_lines = failures_logged(since)
    if found.problems and not found.log_lines:
        time.sleep(RETRY_AFTER_SECONDS)
        found = _talk_to_all(server)
        found.log_lines = failures_logged(since)
    if not logs.readable(since.postfix):
        found.skipped.append("Postfix's log: no maillog_file, journal or /var/log/mail.log")
    return found


def _talk_to_all(server: Server) -> LiveCheck:
    listeners, skipped = endpoints(server)
    result = LiveCheck(skipped=skipped)
    if not listeners:
        result.skipped.append("master.cf has no smtpd listener on this host")
    for endpoint in listeners:
        try:
            result.checked.append(f"{endpoint.describe()}: "
                                  f"{talk(endpoint, expected(server, endpoint))}")
        except ProbeFailure as failure:
            result.problems.append(f"{endpoint.describe()}: {failure}")
    return result


def failures_logged(since: Marks) -> list[str]:
    lines = logs.lines_since(since.postfix)
    seen = set(lines)        # both may be the same file or journal
    lines += [line for line in logs.lines_since(since.dovecot) if line not in seen]
    return [line.strip() for line in lines if FAILURE.search(line)]
