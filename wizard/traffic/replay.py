"""The log replayed through anvil(8)'s counting, per client and service.

anvil keeps, per (service, client), the sessions open now and five counters (connections, MAIL,
RCPT and VRFY, AUTH, new TLS) that share one fixed window: an event at `now` first resets all of
them when `start + anvil_rate_time_unit < now` (whole seconds; an event at exactly start + unit
is still in the old window), then counts itself (anvil.c, ANVIL_REMOTE_RSET_RATE and
ANVIL_REMOTE_INCR_RATE). A request is refused when its counter, after counting it, is above the
limit; anvil counts refused requests too.

The log gives each connection's time and, at its disconnect, how many MAIL, RCPT (with VRFY),
AUTH and STARTTLS commands the session sent; those are counted at the disconnect's time. Every
STARTTLS counts as a new TLS session, and so does each connection to a service in TLS wrapper
mode (smtps: smtpd_tls_wrappermode=yes), counted at its connect (the log does not say which
sessions were resumed, which anvil does not count). What is kept per client is a histogram of
its window counts (and of its concurrency at each connect), so that what any limit would have
refused is a sum over that histogram: a window with n events refuses n - limit of them. Two
simplifications, both on the side of refusing more: a connection that a limit would have refused
still counts its session's commands, and still counts as open.

The counting runs, line by line, in the compiled scanner (_scan.c, `count` and `close_window`);
this module gives it the networks anvil counts and turns what it counted into Clients.
"""

from __future__ import annotations

import ipaddress
import sys
from dataclasses import dataclass

RATES = ("connection", "message", "recipient", "auth", "tls")   # the scanner's order
PEAK_INDEX = {rate: index for index, rate in enumerate((*RATES, "concurrency"))}
PARAMETERS = {"connection": "smtpd_client_connection_rate_limit",
              "message": "smtpd_client_message_rate_limit",
              "recipient": "smtpd_client_recipient_rate_limit",
              "auth": "smtpd_client_auth_rate_limit",
              "tls": "smtpd_client_new_tls_session_rate_limit",
              "concurrency": "smtpd_client_connection_count_limit"}


# slots (3.10+) keep 50,000 clients small; 3.9 makes a plain dataclass
@dataclass(**({"slots": True} if sys.version_info >= (3, 10) else {}))
class Client:
    """One (service, client address or network), as the scanner counted it; its histograms
    stay in the scanner until asked for (they are most of a read's memory)."""
    service: str
    address: str
    connections: int
    largest_message: int
    peaks: tuple[int, ...]                   # per rate (RATES), then concurrency: the most
                                             # in one window, or open at once
    refusals: dict[str, int] | None          # parameter → times, as logged
    number: int                              # the scanner's
    scanner: object = None
    excepted: bool = False                   # in smtpd_client_event_limit_exceptions

    def histogram(self, rate: str) -> dict[int, int]:
        """Events in a window (or sessions open at a connect) → how often."""
        return self.scanner.histogram(self.number, PEAK_INDEX[rate])

    def peak(self, rate: str) -> int:
        return self.peaks[PEAK_INDEX[rate]]

    def would_refuse(self, rate: str, limit: int) -> int:
        """How many of this client's requests a limit would have refused (0: no limit)."""
        if not limit or self.peak(rate) <= limit:
            return 0
        if rate == "concurrency":
            return sum(times for value, times in self.histogram(rate).items() if value > limit)
        return sum((number - limit) * times for number, times in self.histogram(rate).items()
                   if number > limit)


class Replay:
    """The networks anvil counts, and the clients the scanner counted. Since Postfix 3.8 anvil
    counts a client's network, not its address: smtpd_client_ipv4_prefix_length (32) and
    smtpd_client_ipv6_prefix_length (84) bits of it (smtpd_peer.c, inet_prefix_top); before
    3.8 both are the whole address (32 and 128)."""

    def __init__(self, unit: int = 60, ipv4_prefix: int = 32, ipv6_prefix: int = 128,
                 wrapped: frozenset[str] = frozenset()) -> None:
        self.unit = unit
        self.wrapped = wrapped                         # services in TLS wrapper mode
        self.prefixes = {4: ipv4_prefix, 6: ipv6_prefix}
        self.scanner = None                            # the reader's, once it has one
        self.clients: list[Client] = []
        self.first: int | None = None
        self.last: int | None = None

    def network(self, address: str) -> str:
        """`2001:db8:1:2:3:4abc::1` → `2001:db8:1:2:3:4000::/84`, as anvil's ident shows it.
        The scanner asks once for each new address."""
        if ":" not in address and self.prefixes[4] >= 32:
            return address                              # IPv4 whole, or "unknown"
        try:
            ip = ipaddress.ip_address(address)
        except ValueError:
            return address
        bits = self.prefixes[ip.version]
        return address if bits >= ip.max_prefixlen else \
            str(ipaddress.ip_network(f"{address}/{bits}", strict=False))

    def finish(self) -> None:
        """Close every window and take the scanner's clients."""
        if self.scanner is None:
            return
        self.clients = [Client(*counted, self.scanner) for counted in self.scanner.finish()]
        figures = self.scanner.figures()
        self.first, self.last = figures["first"], figures["last"]
