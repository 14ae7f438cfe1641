"""Validation: what a change would do to the real Postfix (3.5 to 3.11) and Dovecot (2.3, 2.4),
said before it happens.

Field rules (type, range, syntax) live with the fields in `model`; `fields` turns them into
findings for one typed value. The cross-field rules look at the server as it would be after the
change, one module per subject: `availability` (fields this server's Postfix does not have),
`unreadable` (values the files already hold that the daemons
cannot read), `sizes` (message, mailbox and queue sizes), `rates` (rate, count and error limits),
`overrides` (master.cf -o overrides), `listeners` (Dovecot's auth listener), `selinux` (its
port's label), `tls` (STARTTLS) and `sasl` (mechanisms and AUTH); `context` holds what every
rule is given. An error blocks writing:
Postfix or Dovecot would refuse to start, a daemon would die at run time, mail would be lost, or
credentials exposed. A warning is legal but risky. docs/daemon-findings.md records what the real
daemons did for each rule.

The order in which findings are reported is decided here, in ORDER, and nowhere else.
"""

from __future__ import annotations

from wizard.findings import Finding, errors
from wizard.rules import listeners, overrides, rates, sasl, selinux, sizes, tls, unreadable
from wizard.rules import availability       # fields this server's Postfix lacks: reported first
from wizard.rules.context import Context, Rule
from wizard.rules.fields import PARAMS, check_field, param_for
from wizard.rules.tls import tls_offered
from wizard.server.state import Server
from wizard.settings.model import Settings

__all__ = ["ORDER", "PARAMS", "check", "check_field", "errors", "param_for", "tls_offered"]

# The one place the order of findings is decided: check() runs the rules in this order, then puts
# errors before warnings (a stable sort, so each keeps this order). It is the order the rules
# were first written in, not their modules' order; a new rule goes where its findings should be
# read.
ORDER: tuple[Rule, ...] = (
    availability.fields_postfix_lacks,
    unreadable.unreadable_current_values,
    unreadable.unreadable_throttle_time,
    sizes.queue_minfree_below_message_size,
    sizes.queue_space_exhausted,
    sizes.mailbox_smaller_than_message,
    rates.own_networks_limited,
    rates.count_limit_fills_smtpd,
    rates.soft_errors_above_hard,
    overrides.master_overrides,
    listeners.dovecot_unavailable,
    listeners.absolute_path_in_chroot,
    listeners.tcp_listener_exposed,
    listeners.tcp_port_taken,
    selinux.dovecot_port_label,
    listeners.listener_owner_missing,
    listeners.listener_permissions,
    tls.encrypt_without_certificate,
    sasl.mechanisms_present,
    sasl.mechanism_plugins,
    sasl.mechanism_passdbs,
    sasl.anonymous_relay,
    sasl.plaintext_passwords_exposed,
    sasl.auth_never_offered,
    sasl.relay_without_sasl,
    rates.exception_table_missing,
    listeners.sasl_listener_missing,
    listeners.dovecot_listener_port_taken,
)


def check(server: Server, desired: Settings) -> list[Finding]:
    """Every finding for the server as it would be after `desired` is applied."""
    context = Context(server, server.after(desired), desired)
    findings = []
    for each in ORDER:
        findings.extend(each(context))
    return sorted(findings, key=lambda f: f.severity != "error")
