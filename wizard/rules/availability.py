"""Fields this server's Postfix does not know, set by the change (a preset written for a newer
Postfix, say): Postfix would ignore them with an "unused parameter" warning, so the protection
would be missing while main.cf says it is there. An error, so nothing is written.
"""

from __future__ import annotations

from wizard.findings import Finding
from wizard.rules.context import Context
from wizard.rules.fields import PARAMS
from wizard.server.availability import missing_since


def fields_postfix_lacks(c: Context) -> list[Finding]:
    found = []
    version = c.server.postfix_version
    have = f"Postfix {version}" if version else "this server's Postfix"
    for section, params in PARAMS.items():
        for field, param in params.items():
            since = missing_since(c.server, param)
            if since is None or getattr(getattr(c.desired, section), field) is None:
                continue
            found.append(Finding(
                "error", "needs-newer-postfix", (f"{section}.{field}",),
                f"{param.name} needs Postfix {since} or later; this server has {have}, which "
                f"would ignore it (\"unused parameter\"): the setting would protect nothing.",
                f"Remove {section}.{field} from the preset (or load one without it), or "
                f"upgrade Postfix to {since} or later first."))
    return found
