"""Dovecot 2.3 and 2.4: what differs between the two configuration languages where the wizard
reads and writes, and the marks that tell a file's generation.

Both share one grammar (wizard.files.dovecot.parser reads either), but 2.4 renamed settings,
requires names on passdb, userdb and listener sections, and turned lists such as auth_mechanisms
into boolean lists that a `name { item = yes|no }` block edits. A tree is 2.4 when its first
setting is `dovecot_config_version`; each generation's doveconf refuses the other's names, so a
tree that mixes them is refused with Dovecot's upgrade guide rather than edited. Every name below
was checked with doveconf 2.3.19.1 (Debian 12) and 2.4.1 (Debian 13): "Unknown setting".
"""

from __future__ import annotations

import re
from dataclasses import dataclass

UPGRADE_GUIDE = "https://doc.dovecot.org/latest/installation/upgrade/2.3-to-2.4.html"


DEFAULT_MECHANISMS = ("plain",)     # auth_mechanisms when no file sets it (2.3 and 2.4)


@dataclass(frozen=True)
class Dialect:
    name: str
    listener_address: str         # the inet_listener setting holding the address to bind
    named_listeners: bool         # an inet_listener without a name is an error
    mechanism_blocks: bool        # `auth_mechanisms { login = yes }` adds to the list


DIALECTS = {"2.3": Dialect("2.3", "address", False, False),
            "2.4": Dialect("2.4", "listen", True, True)}

# 2.3 names 2.4 refuses, with what replaced them
ONLY_23 = {
    "disable_plaintext_auth": "auth_allow_cleartext (with the opposite value)",
    "ssl_cert": "ssl_server_cert_file", "ssl_key": "ssl_server_key_file",
    "mail_location": "mail_driver, mail_path and friends",
    "service_count": "service_restart_request_count",
}
# 2.4 names 2.3 refuses
ONLY_24 = {"dovecot_config_version", "dovecot_storage_version", "auth_allow_cleartext",
           "ssl_server_cert_file", "ssl_server_key_file", "mail_driver", "mail_path",
           "service_restart_request_count"}
# sections 2.4 refuses without a name ("passdb { } is missing section name")
NAMED_IN_24 = {"passdb", "userdb", "inet_listener"}
BOOLEAN_LISTS_24 = {"auth_mechanisms"}      # `name {` opens an edit of the list (2.4 only)

_FILTER = re.compile(r"%\{[^}|]*\|")        # %{user | lower}
_SET_REFERENCE = re.compile(r"\$SET:")      # $SET:default_internal_user


def setting_marks(key: str, value: str, enclosing: str) -> list[tuple[str, str]]:
    """(generation, why) for each mark of one generation that a `key = value` line carries."""
    marks = []
    if key in ONLY_23:
        marks.append(("2.3", f"'{key}' (2.4 calls it {ONLY_23[key]})"))
    elif key == "address" and enclosing == "inet_listener":
        marks.append(("2.3", "'address' in an inet_listener (2.4 calls it listen)"))
    elif key in ONLY_24:
        marks.append(("2.4", f"'{key}'"))
    if _FILTER.search(value):
        marks.append(("2.4", f"'{key}' uses a %{{… | filter}}"))
    elif _SET_REFERENCE.search(value):
        marks.append(("2.4", f"'{key}' uses $SET:"))
    return marks


def section_marks(name: str, label: str, depth: int) -> list[tuple[str, str]]:
    if name in NAMED_IN_24 and not label:
        return [("2.3", f"an unnamed '{name} {{' section (2.4 requires a name)")]
    if name in BOOLEAN_LISTS_24 and depth == 0:
        return [("2.4", f"a '{name} {{' boolean-list block")]
    return []


def dovecot_generation(version: str | None) -> str | None:
    """"2.3", "2.4"… of a Dovecot version; None when unknown."""
    if not version:
        return None
    return ".".join(version.split(".")[:2])
