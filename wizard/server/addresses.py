"""This machine's own addresses: whether a Dovecot here could listen on an address, or the
Dovecot that Postfix is pointed at runs elsewhere (the guide's two-machine TCP case)."""

from __future__ import annotations

import socket


def is_local_address(address: str) -> bool:
    """Whether this machine owns `address`, i.e. a Dovecot here could listen on it."""
    family = socket.AF_INET6 if ":" in address else socket.AF_INET
    try:
        with socket.socket(family, socket.SOCK_STREAM) as probe:
            probe.bind((address, 0))
        return True
    except OSError:
        return False
