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


@functools.lru_cache(maxsize=1)
def names() -> frozenset[str] | None:
    """Every parameter this machine's Postfix knows (`postconf -d`'s names); None without it."""
    postconf = postconf_path()
    if not postconf:
        return None
    try:
        result = subprocess.run([postconf, "-d"], capture_output=True, text=True, timeout=20)
    except (OSError, subprocess.SubprocessError):
        return None
    found = frozenset(line.partition(" =")[0] for line in result.stdout.splitlines()
                      if " =" in line)
    return found if result.returncode == 0 and found else None


def expand(text: str, lookup, depth: int = 0) -> str:
    """Expand $name, ${name}, ${name?x}, ${name:x}, ${name?{x}:{y}} and ${{a} op {b} ? {x} : {y}}
    the way Postfix does (postconf(5), "parameter expansion"), nested braces included.

    `stress` is taken as unset: the wizard reasons about a server that is not overloaded.
    """
    if depth > 20 or "$" not in text:
        return text
    out, i = [], 0
    while i < len(text):
        if text[i] != "$" or i + 1 == len(text):
            out.append(text[i])
            i += 1
        elif text[i + 1] == "$":
            out.append("$")
            i += 2
        elif text[i + 1] in "{(":
            end = _closing(text, i + 1)
            if end is None:
                out.append(text[i:])
                break
            out.append(_braced(text[i + 2:end], lookup, depth))
            i = end + 1
        else:
            name = re.match(r"\w*", text[i + 1:]).group()
            out.append(expand(_value(name, lookup), lookup, depth + 1) if name else "$")
            i += 1 + len(name)
    return "".join(out)


def _value(name: str, lookup) -> str:
    return "" if name == "stress" else (lookup(name) or "")


def _closing(text: str, start: int) -> int | None:
    """The index of the bracket that closes the one at `start`."""
    pair = {"{": "}", "(": ")"}[text[start]]
    depth = 0
    for index in range(start, len(text)):
        if text[index] == text[start]:
            depth += 1
        elif text[index] == pair:
            depth -= 1
            if depth == 0:
                return index
    return None


def _groups(text: str) -> list[str]:
    """`{a} op {b}`'s parts: the braced groups' insides and the words between them."""
    parts, i = [], 0
    while i < len(text):
        if text[i] == "{":
            end = _closing(text, i)
            if end is None:
                return []
            parts.append(text[i + 1:end])
            i = end + 1
        elif text[i].isspace():
            i += 1
        else:
            word = re.match(r"[^\s{]+", text[i:]).group()
            parts.append(word)
            i += len(word)
    return parts


def _braced(inner: str, lookup, depth: int) -> str:
    """What ${inner} expands to."""
    if inner.lstrip().startswith("{"):
        return _relational(inner, lookup, depth)
    name = re.match(r"\w*", inner).group()
    rest = inner[len(name):]
    current = _value(name, lookup)
    if not rest:
        return expand(current, lookup, depth + 1)
    operator, argument = rest[0], rest[1:]
    if operator not in "?:":
        return "${" + inner + "}"
    first, second = argument, ""
    if argument.startswith("{"):
        parts = _groups(argument)
        first = parts[0] if parts else ""
        second = parts[2] if len(parts) == 3 and parts[1] == ":" else ""
    # ${name?x}: x when name is non-empty; ${name:x}: x when name is empty (postconf(5)).
    chosen = (first if current else second) if operator == "?" else ("" if current else first)
    return expand(chosen, lookup, depth + 1)


def _relational(inner: str, lookup, depth: int) -> str:
    """${{a} op {b} ? {x} : {y}}, with op ==, !=, <, <=, >, >= (numbers when both are), or
    <level, <=level, >level, >=level (compatibility levels such as 3.6)."""
    parts = _groups(inner)
    if len(parts) not in (5, 7) or parts[3] != "?" or (len(parts) == 7 and parts[5] != ":"):
        return "${" + inner + "}"
    left, right = (expand(p, lookup, depth + 1).strip() for p in (parts[0], parts[2]))
    operator = parts[1]
    if operator.endswith("level"):
        left_level, right_level = _level(left), _level(right)
        truth = {"<level": left_level < right_level, "<=level": left_level <= right_level,
                 ">level": left_level > right_level,
                 ">=level": left_level >= right_level}.get(operator)
    else:      # Postfix 3.5 writes its compatibility tests with plain <: numbers if both are
        a, b = (int(left), int(right)) if left.isdigit() and right.isdigit() else (left, right)
        truth = {"==": a == b, "!=": a != b, "<": a < b, "<=": a <= b, ">": a > b,
                 ">=": a >= b}.get(operator)
    if truth is None:
        return "${" + inner + "}"
    return expand(parts[4] if truth else (parts[6] if len(parts) == 7 else ""), lookup, depth + 1)


def _level(text: str) -> tuple[int, ...]:
    return tuple(int(p) if p.isdigit() else 0 for p in (text or "0").split("."))
