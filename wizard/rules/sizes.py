"""Sizes: message_size_limit against the mailboxes and the queue's free space.

smtpd wants 1.5 x message_size_limit (or queue_minfree, if larger) free on the queue file system
before it accepts a message, and refuses all mail when that much is not free; local(8) and
virtual(8) refuse to start when their mailbox limit is below the message size limit
(docs/daemon-findings.md, sections 5 and 6). A wrong pair of sizes stops mail, not one message.
"""

from __future__ import annotations

from wizard import values
from wizard.findings import Finding
from wizard.rules.context import Context, agent_severity
from wizard.server import delivery
from wizard.settings.model import LIMIT_PARAMS


def queue_minfree_below_message_size(c: Context) -> list[Finding]:
    minfree, size = c.limits.queue_minfree, c.limits.message_size_limit
    if not minfree or not size or minfree * 2 >= size * 3:
        return []
    return [Finding(
        "warning", "queue-minfree-small", ("limits.queue_minfree", "limits.message_size_limit"),
        f"queue_minfree ({minfree} bytes) is below 1.5 x message_size_limit "
        f"({size * 3 // 2} bytes). smtpd already requires that much free space, so this "
        "setting has no effect, and smtpd logs a warning about it.",
        f"Set queue_minfree to at least {size * 3 // 2}, or to 0.")]


def queue_space_exhausted(c: Context) -> list[Finding]:
    free = c.server.queue_free_bytes()
    size = c.limits.message_size_limit or 0
    needed = max(c.limits.queue_minfree or 0, size * 3 // 2)
    if free is None or needed <= free:
        return []
    severity, when = agent_severity(c, "smtpd")
    return [Finding(
        severity, "queue-space", ("limits.queue_minfree", "limits.message_size_limit"),
        f"The queue file system ({c.server.queue_directory}) has {values.format_size(free)} "
        f"free, but smtpd will want {values.format_size(needed)} free before it accepts a "
        f"message: it would refuse all mail with 452 4.3.1 Insufficient system storage.{when}",
        "Lower queue_minfree (and message_size_limit, of which smtpd wants 1.5x free), "
        "or free space on the queue file system.")]


def mailbox_smaller_than_message(c: Context) -> list[Finding]:
    """local(8) and virtual(8) refuse to start when their mailbox limit is below the message
    size limit, or limited while the message size is not (docs/daemon-findings.md, section 5)."""
    found = []
    size = c.limits.message_size_limit
    for field in ("mailbox_size_limit", "virtual_mailbox_limit"):
        mailbox, agent = getattr(c.limits, field), LIMIT_PARAMS[field].agent
        if not mailbox or size is None or (size and mailbox >= size):
            continue
        if not delivery.agent_services(c.server, agent):
            continue
        severity, when = agent_severity(c, agent)
        found.append(Finding(
            severity, f"{field}-too-small", ("limits.message_size_limit", f"limits.{field}"),
            f"message_size_limit ({size or 'unlimited'}) is larger than {field} ({mailbox}). "
            f"Postfix's {agent}(8) delivery agent then stops with 'fatal: configuration "
            f"error' and every message for it stays in the queue undelivered.{when}",
            _size_fix(field, size, mailbox)))
    return found


def _size_fix(field: str, size: int, mailbox: int) -> str:
    if not size:
        return (f"Set {field} to 0 (no limit) in this change, or give message_size_limit a "
                f"limit between 1 and {mailbox}.")
    return (f"Raise {field} to at least {size} (or 0, no limit) in this change, or keep "
            f"message_size_limit at or below {mailbox}.")
