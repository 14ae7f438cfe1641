"""What every cross-field rule is given, and the one judgement several subjects share.

A rule is a function from a Context (the server as read, the settings as they would be after the
change, and what the change itself sets) to its findings. `agent_severity` decides, for a rule
whose harm falls on one daemon, whether the harm is an error (that daemon gets mail here) or a
warning (not yet), and says when it would start to matter.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

from wizard.files import mastercf
from wizard.findings import Finding, Severity
from wizard.server import delivery
from wizard.server.addresses import is_local_address
from wizard.server.state import Server
from wizard.settings.model import Limits, Sasl, Settings


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


def agent_severity(c: Context, agent: str) -> tuple[Severity, str]:
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
