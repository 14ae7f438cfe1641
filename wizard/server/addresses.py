"""This machine's own addresses: whether a Dovecot here could listen on an address, or the
Dovecot that Postfix is pointed at runs elsewhere (the guide's two-machine TCP case), and
whether Postfix listens on loopback alone."""

from __future__ import annotations

import ipaddress
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


def is_loopback(word: str) -> bool:
    """Whether an inet_interfaces word ("127.0.0.1", "[::1]") is a loopback address."""
    try:
        return ipaddress.ip_address(word.strip("[]")).is_loopback
    except ValueError:
        return False


def loopback_only(interfaces: str) -> bool:
    """Whether Postfix listens on this host's loopback alone (RHEL's stock `localhost`)."""
    words = interfaces.replace(",", " ").split()
    return bool(words) and all(word in ("localhost", "loopback-only") or is_loopback(word)
                               for word in words)
