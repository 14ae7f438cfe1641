"""Values the files already hold that the daemons cannot read.

A parameter the change leaves alone still matters: if main.cf or Dovecot's configuration already
holds a value the daemon that reads it would refuse, the server is broken (or will be, once that
daemon gets mail) whatever the wizard writes. An error where that daemon gets mail here, a warning
where it does not yet; service_throttle_time, read by master(8) itself, is always an error.
"""

from __future__ import annotations

from wizard import values
from wizard.findings import Finding
from wizard.rules.context import Context, agent_severity
from wizard.rules.fields import PARAMS
from wizard.rules.sasl import UNKNOWN_MECHANISM_DIES
from wizard.server.availability import missing_since
from wizard.settings.model import Param


def unreadable_current_values(c: Context) -> list[Finding]:
    """A managed parameter the files already hold in a form the daemons cannot use."""
    found = []
    for section, params in PARAMS.items():
        for field, param in params.items():
            if getattr(getattr(c.desired, section), field) is not None or \
                    missing_since(c.server, param):
                continue
            raw = _current_raw(c, param)
            if raw is None or "$" in raw or field in ("path", "socket", "type"):
                continue
            try:
                param.from_text(raw if param.file == "dovecot" else c.server.value(param.name))
            except ValueError as error:
                where = "main.cf" if param.file == "main.cf" else "Dovecot's configuration"
                severity, when = agent_severity(c, param.agent)
                found.append(Finding(
                    severity, "unreadable-current", (f"{section}.{field}",),
                    f"{where} already sets {param.name} = {raw}, which is not valid ({error}): "
                    f"{_consequence(param, raw)}{when}",
                    f"Set {param.name} in the wizard to a valid value."))
    return found


def _current_raw(c: Context, param: Param) -> str | None:
    if param.file == "main.cf":
        return c.server.main.get(param.name)
    if param.name == "auth_mechanisms" and c.server.dovecot is not None:
        mechanisms = c.server.dovecot.auth_mechanisms()
        return None if mechanisms is None else " ".join(mechanisms)
    return None


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
