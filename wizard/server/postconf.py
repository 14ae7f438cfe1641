"""Postfix's own defaults and version, from `postconf -d` when Postfix is installed.

Without Postfix (a laptop trying the demo) the wizard falls back to a built-in table of
defaults: the model's for the parameters it manages, and BUILT_IN below for the few others its
rules read. Postfix 3.7 and 3.10 agree on every one of them (tests/test_model.py asks both).
"""

from __future__ import annotations

import functools
import re
import shutil
import subprocess

from wizard.settings.model import LIMIT_PARAMS, SASL_PARAMS

BUILT_IN = {
    "mail_version": "",
    "queue_directory": "/var/spool/postfix",
    "mynetworks": "127.0.0.0/8 [::ffff:127.0.0.0]/104 [::1]/128",
    "smtpd_client_connection_limit_exceptions": "",
    # where mail goes (wizard.delivery)
    "local_transport": "local:$myhostname",
    "virtual_transport": "virtual",
    "virtual_mailbox_domains": "$virtual_mailbox_maps",
    "virtual_mailbox_maps": "",
    "default_transport": "smtp",
    "relay_transport": "relay",
    "mailbox_transport": "",
    "fallback_transport": "",
    "transport_maps": "",
    "mailbox_transport_maps": "",
    "fallback_transport_maps": "",
    "sender_dependent_default_transport_maps": "",
    "smtpd_tls_security_level": "",
    "smtpd_tls_cert_file": "",
    "smtpd_tls_chain_files": "",
    "smtpd_tls_wrappermode": "no",
    "smtpd_use_tls": "no",
    "mail_owner": "postfix",
    "smtpd_recipient_restrictions": "",
    "smtpd_relay_restrictions": "${{$compatibility_level} <level {1} ? {} : {permit_mynetworks, "
                                "permit_sasl_authenticated, defer_unauth_destination}}",
}
MANAGED_MAIN_PARAMS = sorted({p.name for p in LIMIT_PARAMS.values()} |
                             {p.name for p in SASL_PARAMS.values() if p.file == "main.cf"})


def postconf_path() -> str | None:
    return shutil.which("postconf") or next(
        (p for p in ("/usr/sbin/postconf", "/sbin/postconf") if shutil.os.path.exists(p)), None)


@functools.lru_cache(maxsize=1)
def defaults() -> dict[str, str]:
    """Postfix's built-in defaults for every parameter the wizard reads."""
    table = dict(BUILT_IN)
    table.update({p.name: p.default for p in LIMIT_PARAMS.values()})
    table.update({p.name: p.default for p in SASL_PARAMS.values() if p.file == "main.cf"})
    table["smtpd_sasl_path"] = "smtpd"
    postconf = postconf_path()
    if postconf:
        try:
            result = subprocess.run([postconf, "-d", *sorted(table)], capture_output=True,
                                    text=True, timeout=20)
        except (OSError, subprocess.SubprocessError):
            return table
        for line in result.stdout.splitlines():
            name, equals, value = line.partition(" = ")
            if equals and name in table:
                table[name] = value
            elif line.endswith(" =") and line[:-2] in table:
                table[line[:-2]] = ""
    return table


_REFERENCE = re.compile(r"\$(\w+)|\$\{(\w+)\}|\$\{(\w+)([?:])(\{[^{}]*\}|[^{}]*)(?::(\{[^{}]*\}))?\}")


def expand(text: str, lookup, depth: int = 0) -> str:
    """Expand $name, ${name}, ${name?x}, ${name:x} and ${name?{x}:{y}} the way Postfix does.

    `stress` is taken as unset: the wizard reasons about a server that is not overloaded.
    """
    if depth > 20 or "$" not in text:
        return text

    def one(match: re.Match) -> str:
        name = match.group(1) or match.group(2) or match.group(3)
        current = "" if name == "stress" else (lookup(name) or "")
        if match.group(1) or match.group(2):
            return expand(current, lookup, depth + 1)
        operator, first, second = match.group(4), match.group(5), match.group(6)
        # ${name?x}: x when name is non-empty; ${name:x}: x when name is empty (postconf(5)).
        if operator == "?":
            chosen = first if current else (second or "")
        else:
            chosen = "" if current else first
        return expand(chosen.strip("{}"), lookup, depth + 1)

    return _REFERENCE.sub(one, text.replace("$$", "\0")).replace("\0", "$")
