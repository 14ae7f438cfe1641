"""Ask Dovecot's running auth process which mechanisms it really serves.

A listener socket that accepts a connection proves little: Dovecot's master owns the socket and
keeps it open even when the auth process behind it dies at start (an unknown mechanism, a
missing plugin), and from then on every smtpd that asks it dies too. So after Dovecot is
reloaded, and before main.cf points Postfix at it, the wizard speaks the first lines of
Dovecot's auth client protocol (the one Postfix's smtpd speaks, see Dovecot's
src/lib-auth/auth-client-connection.c): it sends its VERSION and CPID, reads the server's
VERSION, one MECH line per mechanism, and DONE, and compares the mechanisms with the ones
configured. Works the same over the UNIX socket and the TCP listener.
"""

from __future__ import annotations

import os
import socket
import time
from dataclasses import dataclass, field

PROTOCOL_MAJOR, PROTOCOL_MINOR = 1, 2
READ_TIMEOUT_SECONDS = 5.0


class HandshakeError(Exception):
    """The auth process did not complete the handshake; the message says what was seen."""


@dataclass(frozen=True)
class Handshake:
    version: str
    mechanisms: tuple[str, ...]        # lower case, as the wizard and Dovecot's files write them
    flags: dict[str, frozenset[str]] = field(default_factory=dict)   # plaintext, anonymous, …

    @property
    def public(self) -> tuple[str, ...]:
        """The mechanisms a client may use: not those flagged private (Dovecot 2.4.5 lists
        its own `dovecot-token` so; Postfix never offers a private one)."""
        return tuple(m for m in self.mechanisms if "private" not in self.flags.get(m, ()))


@dataclass(frozen=True)
class AuthSocket:
    """Where a client reaches Dovecot's auth process: a UNIX socket (an absolute path), or a
    TCP host and port."""
    path: str = ""
    host: str = ""
    port: int = 0

    @classmethod
    def unix(cls, path: str) -> AuthSocket:
        return cls(path=path)

    @classmethod
    def tcp(cls, host: str, port: int) -> AuthSocket:
        return cls(host=host, port=port)

    @property
    def is_unix(self) -> bool:
        return bool(self.path)

    def __str__(self) -> str:
        return self.path if self.is_unix else f"{self.host}:{self.port}"


def _connect(listener: AuthSocket, timeout: float) -> socket.socket:
    if listener.is_unix:
        client = socket.socket(socket.AF_UNIX)
        client.settimeout(timeout)
        client.connect(listener.path)
        return client
    return socket.create_connection((listener.host, listener.port), timeout=timeout)


def handshake(listener: AuthSocket, timeout: float = READ_TIMEOUT_SECONDS) -> Handshake:
    """One handshake; raises OSError when nothing listens, HandshakeError when the auth
    process does not answer as Dovecot's does."""
    with _connect(listener, timeout) as client:
        client.sendall(f"VERSION\t{PROTOCOL_MAJOR}\t{PROTOCOL_MINOR}\nCPID\t{os.getpid()}\n"
                       .encode())
        lines = _read_until_done(client)
    version = next((line.split("\t")[1:3] for line in lines if line.startswith("VERSION\t")), None)
    if not version or version[0] != str(PROTOCOL_MAJOR):
        raise HandshakeError(f"it answered without a VERSION {PROTOCOL_MAJOR} line "
                             f"({lines[:1] or 'nothing'})")
    mechs = [line.split("\t")[1:] for line in lines
             if line.startswith("MECH\t") and len(line.split("\t")) > 1]
    return Handshake(".".join(version), tuple(m[0].lower() for m in mechs),
                     {m[0].lower(): frozenset(m[1:]) for m in mechs})


def _read_until_done(client: socket.socket) -> list[str]:
    data = b""
    while b"\nDONE\n" not in b"\n" + data:
        try:
            chunk = client.recv(4096)
        except socket.timeout:
            raise HandshakeError("it accepted the connection but sent no handshake "
                                 "(the auth process is not running)") from None
        if not chunk:
            raise HandshakeError("it closed the connection before the handshake ended "
                                 "(the auth process died)" if not data else
                                 "it closed the connection in the middle of the handshake")
        data += chunk
    return data.decode("utf-8", "replace").split("\n")


def missing_mechanisms(configured: list[str], served: Handshake) -> list[str]:
    return [m for m in configured if m.lower() not in served.mechanisms]


def wait_for_handshake(listener: AuthSocket, wait_seconds: float) -> Handshake:
    """Retry while the reloaded Dovecot brings its listener up; then one answer is final."""
    deadline = time.monotonic() + wait_seconds
    while True:
        try:
            return handshake(listener)
        except OSError:
            if time.monotonic() >= deadline:
                raise
            time.sleep(0.1)
