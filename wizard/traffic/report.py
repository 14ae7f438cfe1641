"""What the traffic says: per-client figures, suggested limits, and what given limits would refuse.

The suggestions follow one stated rule (SUGGESTION_RULE): every rate and count limit gets twice
the peak of the busiest client that is not excepted, and never less than a floor; the message
size limit gets one and a half times the largest message accepted, rounded up to a whole MiB,
never below Postfix's default. Excepted clients (smtpd_client_event_limit_exceptions, expanded as
Postfix does) are shown but never limited, so they neither drive a suggestion nor count as
refused.
"""

from __future__ import annotations

import ipaddress
import math
from dataclasses import dataclass, field

from .reading import Tally
from .replay import PARAMETERS, Client, Replay

FLOOR = 10
DEFAULT_MESSAGE_SIZE = 10240000
MIB = 1 << 20
SUGGESTION_RULE = (f"rate and count limits: twice the peak of the busiest client that is not "
                   f"excepted, at least {FLOOR}; message_size_limit: 1.5 times the largest "
                   f"message accepted, rounded up to a whole MiB, at least {DEFAULT_MESSAGE_SIZE}")
RATE_FIELDS = {"connection": "connection_rate_peak", "concurrency": "concurrency_peak",
               "message": "message_rate_peak", "recipient": "recipient_rate_peak",
               "auth": "auth_rate_peak", "tls": "tls_session_rate_peak"}


class Exceptions:
    """smtpd_client_event_limit_exceptions as Postfix matches a client address: the first
    entry that matches decides, `!` negates; host and domain names and tables cannot be judged
    from a log's addresses and are listed in `unjudged`."""

    def __init__(self, entries: list[str]) -> None:
        self.networks: list[tuple[bool, ipaddress._BaseNetwork]] = []
        self.unjudged: list[str] = []
        for entry in entries:
            negated = entry.startswith("!")
            text = entry[1:] if negated else entry
            network = text.replace("[", "").replace("]", "")
            try:
                self.networks.append((negated, ipaddress.ip_network(network, strict=False)))
            except ValueError:
                self.unjudged.append(entry)

    def match(self, address: str) -> bool:
        try:
            ip = ipaddress.ip_address(address.partition("/")[0])
        except ValueError:
            return False
        for negated, network in self.networks:
            if ip.version == network.version and ip in network:
                return not negated
        return False


RATE_OF = {parameter: rate for rate, parameter in PARAMETERS.items()}
JUDGED = (*RATE_OF, "message_size_limit")       # the limits the traffic can speak about
SPARK_CLIENTS = 40


@dataclass(frozen=True)
class FieldTraffic:
    """What the log says about one limit, for the field that sets it."""
    peak: int
    busiest: str                # "address on service", "" when no client
    peaks: list[int]            # the busiest clients' peaks, largest first (for a chart)
    refused_clients: int        # at the value judged
    refused_times: int


@dataclass
class Traffic:
    window_seconds: int
    clients: list[Client]
    excepted: set[tuple[str, str]]
    tally: Tally
    first: int | None
    last: int | None
    notes: list[str] = field(default_factory=list)

    def limited(self) -> list[Client]:
        return [c for c in self.clients if (c.service, c.address) not in self.excepted]

    def busiest(self, rate: str) -> Client | None:
        return max(self.limited(), key=lambda c: c.peak(rate), default=None)

    def suggestions(self) -> dict[str, int]:
        found = {}
        for rate, parameter in PARAMETERS.items():
            client = self.busiest(rate)
            if client is not None and client.peak(rate):
                found[parameter] = max(FLOOR, 2 * client.peak(rate))
        largest = max((c.largest_message for c in self.clients), default=0)
        if largest:
            found["message_size_limit"] = max(DEFAULT_MESSAGE_SIZE,
                                              math.ceil(largest * 1.5 / MIB) * MIB)
        return found

    def would_refuse(self, limits: dict[str, int]) -> list[dict]:
        """Each non-excepted client a limit would have refused: parameter, client, service,
        times. `limits`: Postfix parameter → value (0: no limit)."""
        found = []
        for rate, parameter in PARAMETERS.items():
            limit = limits.get(parameter) or 0
            for client in self.limited():
                times = client.would_refuse(rate, limit)
                if times:
                    found.append({"parameter": parameter, "client": client.address,
                                  "service": client.service, "times": times})
        size = limits.get("message_size_limit") or 0
        if size:
            found += [{"parameter": "message_size_limit", "client": c.address,
                       "service": c.service, "times": 1} for c in self.clients
                      if c.largest_message > size]
        return sorted(found, key=lambda item: (item["parameter"], -item["times"], item["client"]))

    def judge(self, parameter: str, limit: int | None) -> FieldTraffic | None:
        """The peak, the busiest client and what `limit` would have refused; None for a
        parameter the traffic says nothing about."""
        clients = self.limited()
        if parameter == "message_size_limit":
            figure = {id(c): c.largest_message for c in self.clients}
            refused = [1 for c in self.clients if limit and c.largest_message > limit]
            clients = self.clients
        elif parameter in RATE_OF:
            rate = RATE_OF[parameter]
            figure = {id(c): c.peak(rate) for c in clients}
            refused = [t for t in (c.would_refuse(rate, limit or 0) for c in clients) if t]
        else:
            return None
        busiest = max(clients, key=lambda c: figure[id(c)], default=None)
        peaks = sorted(figure.values(), reverse=True)[:SPARK_CLIENTS]
        return FieldTraffic(peaks[0] if peaks else 0,
                            f"{busiest.address} on {busiest.service}" if busiest else "",
                            peaks, len(refused), sum(refused))

    def client_json(self, client: Client) -> dict:
        figures = {name: client.peak(rate) for rate, name in RATE_FIELDS.items()}
        return {"client": client.address, "service": client.service,
                "excepted": (client.service, client.address) in self.excepted,
                "connections": client.connections, **figures,
                "largest_message": client.largest_message,
                "refusals_logged": dict(client.refusals)}

    def to_json(self, limits: dict[str, int] | None = None, top: int | None = None) -> dict:
        busiest = sorted(self.clients, key=lambda c: (-c.connections, c.address))
        return {"window_seconds": self.window_seconds,
                "lines": self.tally.lines, "postfix_lines": self.tally.postfix,
                "skipped_lines": self.tally.skipped, "sources": self.tally.sources,
                "first": self.first, "last": self.last,
                "clients": [self.client_json(c) for c in busiest[:top]],
                "suggestions": self.suggestions(), "suggestion_rule": SUGGESTION_RULE,
                "would_refuse": self.would_refuse(limits or {}),
                "notes": self.notes}


def summarize(replay: Replay, tally: Tally, exceptions: Exceptions) -> Traffic:
    replay.finish()
    clients = list(replay.clients.values())
    excepted = {(c.service, c.address) for c in clients if exceptions.match(c.address)}
    notes = [f"{entry} in smtpd_client_event_limit_exceptions cannot be judged from a log's "
             "addresses: clients it names are counted as not excepted"
             for entry in exceptions.unjudged]
    return Traffic(replay.unit, clients, excepted, tally, replay.first, replay.last, notes)


def findings(traffic: Traffic, limits: dict[str, int]) -> list:
    """A warning for each limit that would have refused clients that are not excepted."""
    from ..rules import Finding
    by_parameter: dict[str, list[dict]] = {}
    for item in traffic.would_refuse(limits):
        by_parameter.setdefault(item["parameter"], []).append(item)
    found = []
    for parameter, items in by_parameter.items():
        busiest = max(items, key=lambda item: item["times"])
        suggested = traffic.suggestions().get(parameter)
        found.append(Finding(
            "warning", "traffic-would-refuse", (f"limits.{parameter}",),
            f"{parameter} = {limits[parameter]} would have refused {len(items)} client(s) that "
            f"are not excepted, {sum(i['times'] for i in items)} time(s) in the log read; the "
            f"most: {busiest['client']} ({busiest['service']}), {busiest['times']} time(s).",
            (f"Use {suggested} (the traffic's suggestion), " if suggested else "Raise it, ")
            + "or add those clients to smtpd_client_event_limit_exceptions."))
    return found
