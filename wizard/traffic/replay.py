"""The log replayed through anvil(8)'s counting, per client and service.

anvil keeps, per (service, client), the sessions open now and five counters (connections, MAIL,
RCPT and VRFY, AUTH, new TLS) that share one fixed window: an event at `now` first resets all of
them when `start + anvil_rate_time_unit < now` (whole seconds; an event at exactly start + unit
is still in the old window), then counts itself (anvil.c, ANVIL_REMOTE_RSET_RATE and
ANVIL_REMOTE_INCR_RATE). A request is refused when its counter, after counting it, is above the
limit; anvil counts refused requests too.

The log gives each connection's time and, at its disconnect, how many MAIL, RCPT (with VRFY),
AUTH and STARTTLS commands the session sent; those are counted at the disconnect's time. Every
STARTTLS counts as a new TLS session (the log does not say which sessions were resumed, which
anvil does not count). What is kept per
client is a histogram of its window counts (and of its concurrency at each connect), so that what
any limit would have refused is a sum over that histogram: a window with n events refuses
n - limit of them. Two simplifications, both on the side of refusing more: a connection that a
limit would have refused still counts its session's commands, and still counts as open.
"""

from __future__ import annotations

import ipaddress
from dataclasses import dataclass, field

RATES = ("connection", "message", "recipient", "auth", "tls")
KINDS = 8                           # window keys: events * KINDS + the rate's index
PARAMETERS = {"connection": "smtpd_client_connection_rate_limit",
              "message": "smtpd_client_message_rate_limit",
              "recipient": "smtpd_client_recipient_rate_limit",
              "auth": "smtpd_client_auth_rate_limit",
              "tls": "smtpd_client_new_tls_session_rate_limit",
              "concurrency": "smtpd_client_connection_count_limit"}


@dataclass(slots=True)
class Client:
    """One (service, client address). Histograms are plain dicts keyed by small integers: with
    tens of thousands of clients, this is most of the memory a read takes."""
    service: str
    address: str
    unit: int = 60                  # anvil_rate_time_unit, in seconds
    connections: int = 0
    open: int = 0
    start: int = -1                 # the current window's start
    counts: list[int] = field(default_factory=lambda: [0] * len(RATES))
    windows: dict[int, int] = field(default_factory=dict)   # events * KINDS + kind → windows
    concurrency: dict[int, int] = field(default_factory=dict)  # open at a connect → times
    largest_message: int = 0
    refusals: dict[str, int] = field(default_factory=dict)  # parameter → times, as logged

    def count(self, when: int, kind: int, number: int = 1) -> None:
        if self.start < 0 or self.start + self.unit < when:
            self.close_window()
            self.start = when
        self.counts[kind] += number

    def close_window(self) -> None:
        for kind, number in enumerate(self.counts):
            if number:
                key = number * KINDS + kind
                self.windows[key] = self.windows.get(key, 0) + 1
                self.counts[kind] = 0

    def histogram(self, rate: str) -> dict[int, int]:
        """Events in a window (or sessions open at a connect) → how often."""
        if rate == "concurrency":
            return self.concurrency
        kind = RATES.index(rate)
        found = {key // KINDS: times for key, times in self.windows.items()
                 if key % KINDS == kind}
        if self.counts[kind]:                            # the window still open
            found[self.counts[kind]] = found.get(self.counts[kind], 0) + 1
        return found

    def peak(self, rate: str) -> int:
        return max(self.histogram(rate), default=0)

    def would_refuse(self, rate: str, limit: int) -> int:
        """How many of this client's requests a limit would have refused (0: no limit)."""
        if not limit:
            return 0
        if rate == "concurrency":
            return sum(times for value, times in self.concurrency.items() if value > limit)
        return sum((number - limit) * times for number, times in self.histogram(rate).items()
                   if number > limit)


class Replay:
    """The reader's Sink: builds a Client per (service, address). Since Postfix 3.8 anvil
    counts a client's network, not its address: smtpd_client_ipv4_prefix_length (32) and
    smtpd_client_ipv6_prefix_length (84) bits of it (smtpd_peer.c, inet_prefix_top); before
    3.8 both are the whole address (32 and 128)."""

    def __init__(self, unit: int = 60, ipv4_prefix: int = 32, ipv6_prefix: int = 128) -> None:
        self.unit = unit
        self.prefixes = {4: ipv4_prefix, 6: ipv6_prefix}
        self.networks: dict[str, str] = {}             # address → what anvil counts it as
        self.clients: dict[tuple[str, str], Client] = {}
        self.sessions: dict[str, Client] = {}          # smtpd process → its open session
        self.by_address: dict[str, Client] = {}        # the last client seen at an address
        self.first: int | None = None
        self.last: int | None = None

    def network(self, address: str) -> str:
        """`2001:db8:1:2:3:4abc::1` → `2001:db8:1:2:3:4000::/84`, as anvil's ident shows it."""
        found = self.networks.get(address)
        if found is None:
            try:
                ip = ipaddress.ip_address(address)
            except ValueError:
                return address                          # "unknown"
            bits = self.prefixes[ip.version]
            found = address if bits >= ip.max_prefixlen else \
                str(ipaddress.ip_network(f"{address}/{bits}", strict=False))
            if len(self.networks) > 200_000:
                self.networks.clear()
            self.networks[address] = found
        return found

    def client(self, service: str, address: str) -> Client:
        address = self.network(address)
        key = (service, address)
        found = self.clients.get(key)
        if found is None:
            found = self.clients[key] = Client(service, address, self.unit)
        self.by_address[address] = found
        return found

    def connect(self, when: int, session: str, service: str, address: str) -> None:
        if self.first is None:
            self.first = when
        self.last = when
        earlier = self.sessions.pop(session, None)
        if earlier is not None:                      # its disconnect line is missing
            earlier.open = max(0, earlier.open - 1)
        client = self.client(service, address)
        client.connections += 1
        client.count(when, 0)
        client.open += 1
        client.concurrency[client.open] = client.concurrency.get(client.open, 0) + 1
        self.sessions[session] = client

    def disconnect(self, when: int, session: str, mail: int, rcpt: int, auth: int,
                   tls: int = 0) -> None:
        self.last = when
        client = self.sessions.pop(session, None)
        if client is None:                           # its connect came before the log starts
            return
        client.open = max(0, client.open - 1)
        for kind, number in ((1, mail), (2, rcpt), (3, auth), (4, tls)):
            if number:
                client.count(when, kind, number)

    def refused(self, when: int, parameter: str, address: str, service: str) -> None:
        # the warning names master.cf's service, which the syslog name may not show
        network = self.network(address)
        client = self.clients.get((service, network)) or self.by_address.get(network) or \
            self.client(service or "smtp", address)
        client.refusals[parameter] = client.refusals.get(parameter, 0) + 1

    def message_size(self, address: str, service: str, size: int) -> None:
        client = self.client(service, address)
        client.largest_message = max(client.largest_message, size)

    def finish(self) -> None:
        for client in self.clients.values():
            client.close_window()
