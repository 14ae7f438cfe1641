"""Which of the wizard's main.cf fields this server's Postfix knows, and since which version.

The wizard supports Postfix 3.5 (RHEL 9) to 3.11; a few fields it offers came later (each
field's `since` in the settings model). A Postfix that does not know a parameter ignores it
with an "unused parameter" warning, so a limit set there would protect nothing while looking
set. The server's own `postconf -d` decides where the versions are this machine's; a demo
sample has no Postfix of its own, so its recorded version is compared with `since`.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from wizard.server import postconf
from wizard.server.versions import INSTALLED
from wizard.settings.model import Param

if TYPE_CHECKING:
    from wizard.server.state import Server


def missing_since(server: Server, param: Param) -> str | None:
    """The Postfix version that introduced `param` when this server's Postfix lacks it;
    None when the server has it (or when there is no Postfix to ask and no version known)."""
    if param.file != "main.cf":
        return None
    known = postconf.names() if server.versions.source == INSTALLED else None
    if known is not None:
        return None if param.name in known else param.since
    if not server.postfix_version:
        return None
    return None if release(param.since) <= release(server.postfix_version) else param.since


def release(version: str) -> tuple[int, ...]:
    """A Postfix version as numbers to compare: "3.5.25" is (3, 5, 25); a snapshot's date
    suffix ("3.11-20250101") is left out."""
    numbers = []
    for part in version.split("-")[0].split("."):
        digits = "".join(c for c in part if c.isdigit())
        numbers.append(int(digits) if digits else 0)
    return tuple(numbers)
