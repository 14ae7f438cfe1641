"""What the wizard says about a server as it finds it: the overview screen, `check` and `apply`.

One description for both faces: the screens show `styled` (the server, the problems it has now,
and any notes), `check` shows `server_description` and then each finding with its fix.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from wizard import findings, rules
from wizard.server import addresses
from wizard.settings.model import Settings
from wizard.styled import Display, Styled

if TYPE_CHECKING:
    from wizard.server.state import Server


def server_description(server: Server, show_path: Display = str) -> Styled:
    """Postfix and Dovecot as found: versions, where, chroot, STARTTLS, AUTH, overrides."""
    sasl = server.current().sasl
    chrooted = server.smtpd_chrooted
    auth = "off"
    if sasl.enabled:
        auth = f"on, {sasl.type or server.value('smtpd_sasl_type')}"
        auth += f" over {sasl.socket}" if sasl.socket else ""
    spans = [(f"Postfix {server.postfix_version or '(not installed)'}", "bold"),
             (f" in {show_path(server.postfix_dir)}\n"
              f"  queue directory {server.queue_directory}\n"
              f"  smtpd chrooted: {'yes (' + ', '.join(chrooted) + ')' if chrooted else 'no'}\n"
              f"  STARTTLS: {'configured' if rules.tls_offered(server) else 'not usable'}\n"
              f"  SMTP AUTH: {auth}\n", "")]
    if sasl.enabled and sasl.socket == "unix" and sasl.path:
        where = "inside smtpd's chroot" if chrooted else "smtpd is not chrooted"
        spans.append((f"  SASL socket: {sasl.path}, Dovecot's "
                      f"{server.socket_path(sasl.path)} ({where})\n", ""))
    interfaces = server.value("inet_interfaces")
    if addresses.loopback_only(interfaces):
        spans.append((f"  inet_interfaces = {interfaces}: no other host can reach port 25\n", ""))
    for service, name, value in server.managed_overrides():
        spans.append((f"  master.cf: service {service.name} sets {name}={value}\n", ""))
    if server.dovecot is not None:
        spans += [(f"Dovecot {server.dovecot_version}", "bold"),
                  (f" in {show_path(server.dovecot_dir)}\n"
                   f"  files in {server.dovecot_syntax}\n", "")]
    else:
        spans += [("Dovecot: ", "bold"), (f"{server.dovecot_problem.problem}\n", "")]
    spans.append((f"Versions from {server.versions.source}.\n", ""))
    return spans


def styled(found: Server, show_path: Display = str, notes: tuple[str, ...] = ()) -> Styled:
    """The overview screen: the server, the problems its configuration has now, the notes."""
    problems = rules.check(found, Settings())
    spans = server_description(found, show_path)
    spans += [("\nProblems the configuration has now: ", "bold"),
              ("none found\n" if not problems else "\n", "")]
    spans += findings.styled(problems, fixes=False, indent="  ")
    spans += [(f"\n{note}\n", "bold yellow") for note in notes]
    return spans


def generations(server: Server) -> str:
    """Which Postfix and Dovecot the files are for, and whose word that is."""
    dovecot = f"Dovecot {server.dovecot_version}" if server.dovecot_version else "Dovecot"
    syntax = f" in {server.dovecot_syntax}" if server.dovecot_syntax else ""
    return (f"Postfix {server.postfix_version or '(not installed)'} and {dovecot} files{syntax}; "
            f"versions from {server.versions.source}")
