"""What the traffic says: per-client figures, suggested limits, and what given limits would refuse.

The suggestions follow one stated rule (SUGGESTION_RULE): every rate and count limit gets twice
the peak of the busiest client that is not excepted, and never less than a floor; the message
size limit gets one and a half times the largest message accepted, rounded up to a whole MiB,
never below Postfix's default. Excepted clients (smtpd_client_event_limit_exceptions, expanded as
Postfix does) are shown but never limited, so they neither drive a suggestion nor count as
refused.
"""

from __future__ import annotations

import bisect
import ipaddress
import math
import socket
from dataclasses import dataclass, field
from functools import cached_property
from operator import attrgetter
from typing import Callable

from wizard.traffic.reading import Tally
from wizard.traffic.replay import PARAMETERS, PEAK_INDEX, Client, Replay

FLOOR = 10
DEFAULT_MESSAGE_SIZE = 10240000
MIB = 1 << 20
SUGGESTION_RULE = (f"rate and count limits: twice the peak of the busiest client that is not "
                   f"excepted, at least {FLOOR}; message_size_limit: 1.5 times the largest "
                   f"message accepted, rounded up to a whole MiB, at least {DEFAULT_MESSAGE_SIZE}")


class Exceptions:
    """smtpd_client_event_limit_exceptions as Postfix matches a client address: the first
    entry that matches decides, `!` negates; host and domain names and tables cannot be judged
    from a log's addresses and are listed in `unjudged`."""

    def __init__(self, entries: list[str]) -> None:
        self.networks: list[tuple[bool, int, int, int]] = []   # negated, version, net, mask
        self.unjudged: list[str] = []
        for entry in entries:
            negated = entry.startswith("!")
            text = entry[1:] if negated else entry
            try:
                network = ipaddress.ip_network(text.replace("[", "").replace("]", ""), strict=False)
            except ValueError:
                self.unjudged.append(entry)
                continue
            self.networks.append((negated, network.version, int(network.network_address),
                                  int(network.netmask)))

    def match(self, address: str) -> bool:
        if not self.networks:
            return False
        found = _address(address.partition("/")[0])
        if found is None:
            return False
        version, number = found
        for negated, net_version, network, mask in self.networks:
            if version == net_version and number & mask == network:
                return not negated
        return False


def _address(text: str) -> tuple[int, int] | None:
    """An IP address as (version, integer); None for anything else. (socket's parser: this runs
    for every client, and ipaddress's is ten times slower.)"""
    for family, version in ((socket.AF_INET, 4), (socket.AF_INET6, 6)):
        try:
            return version, int.from_bytes(socket.inet_pton(family, text), "big")
        except OSError:
            continue
    return None


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
    tally: Tally
    first: int | None
    last: int | None
    notes: list[str] = field(default_factory=list)
    summaries: dict = field(default_factory=dict, repr=False, compare=False)   # figure → summary

    @cached_property
    def limited(self) -> list[Client]:
        return [c for c in self.clients if not c.excepted]

    def pool(self, figure: str) -> tuple[list[Client], Callable[[Client], int]]:
        """The clients a limit applies to, and the figure it limits: a rate's peak, or, for
        "message_size_limit", the largest message (every client: none is excepted)."""
        if figure == "message_size_limit":
            return self.clients, attrgetter("largest_message")
        index = PEAK_INDEX[figure]
        return self.limited, lambda c: c.peaks[index]

    def busiest(self, figure: str) -> Client | None:
        clients, value = self.pool(figure)
        return max(clients, key=value, default=None)

    def over(self, figure: str, limit: int) -> list[Client]:
        """The clients whose figure is above the limit (none for no limit)."""
        clients, value = self.pool(figure)
        return [c for c in clients if value(c) > limit] if limit else []

    def suggestions(self) -> dict[str, int]:
        return dict(self._suggested)

    @cached_property
    def _suggested(self) -> dict[str, int]:
        found = {}
        for rate, parameter in PARAMETERS.items():
            client = self.busiest(rate)
            if client is not None and client.peak(rate):
                found[parameter] = max(FLOOR, 2 * client.peak(rate))
        largest = self.busiest("message_size_limit")
        if largest is not None and largest.largest_message:
            found["message_size_limit"] = max(
                DEFAULT_MESSAGE_SIZE, math.ceil(largest.largest_message * 1.5 / MIB) * MIB)
        return found

    def would_refuse(self, limits: dict[str, int]) -> list[dict]:
        """Each non-excepted client a limit would have refused: parameter, client, service,
        times. `limits`: Postfix parameter → value (0: no limit)."""
        found = []
        for rate, parameter in PARAMETERS.items():
            limit = limits.get(parameter) or 0
            found += [{"parameter": parameter, "client": c.address, "service": c.service,
                       "times": c.would_refuse(rate, limit)} for c in self.over(rate, limit)]
        size = limits.get("message_size_limit") or 0
        found += [{"parameter": "message_size_limit", "client": c.address,
                   "service": c.service, "times": 1} for c in self.over("message_size_limit", size)]
        return sorted(found, key=lambda item: (item["parameter"], -item["times"], item["client"]))

    def judge(self, parameter: str, limit: int | None) -> FieldTraffic | None:
        """The peak, the busiest client and what `limit` would have refused; None for a
        parameter the traffic says nothing about. Called as the admin types: each figure's
        clients are summed once, then a value costs a bisection and a short sum."""
        figure = RATE_OF.get(parameter, parameter)
        if figure not in PEAK_INDEX and figure != "message_size_limit":
            return None
        values, summed, busiest = self.summary(figure)
        limit = limit or 0
        refused_clients = len(values) - bisect.bisect_right(values, limit) if limit else 0
        if figure == "message_size_limit":
            refused_times = refused_clients
        else:
            excess = (lambda n: 1) if figure == "concurrency" else (lambda n: n - limit)
            refused_times = sum(excess(n) * times for n, times in summed.items()
                                if limit and n > limit)
        return FieldTraffic(values[-1] if values else 0,
                            f"{busiest.address} on {busiest.service}" if busiest else "",
                            values[:-SPARK_CLIENTS - 1:-1], refused_clients, refused_times)

    def summary(self, figure: str) -> tuple[list[int], dict[int, int], Client | None]:
        """A figure's values over its clients, smallest first; their histograms summed (a rate's
        windows, or sessions open at a connect); and the busiest client."""
        if figure not in self.summaries:
            clients, value = self.pool(figure)
            summed = {} if figure == "message_size_limit" or not clients else \
                clients[0].scanner.summed([c.number for c in clients], PEAK_INDEX[figure])
            self.summaries[figure] = (sorted(map(value, clients)), summed, self.busiest(figure))
        return self.summaries[figure]

    def client_json(self, client: Client) -> dict:
        connection, message, recipient, auth, tls, concurrency = client.peaks   # PEAK_INDEX's order
        return {"client": client.address, "service": client.service,
                "excepted": client.excepted,
                "connections": client.connections, "connection_rate_peak": connection,
                "concurrency_peak": concurrency, "message_rate_peak": message,
                "recipient_rate_peak": recipient, "auth_rate_peak": auth,
                "tls_session_rate_peak": tls, "largest_message": client.largest_message,
                "refusals_logged": client.refusals or {}}

    def to_json(self, limits: dict[str, int] | None = None, top: int | None = None) -> dict:
        """The clients most connections first (then by address), each with its figures: an
        iterator, to be encoded as it comes."""
        by_address = sorted(self.clients, key=attrgetter("address"))
        busiest = sorted(by_address, key=attrgetter("connections"), reverse=True)
        return {"window_seconds": self.window_seconds,
                "lines": self.tally.lines, "postfix_lines": self.tally.postfix,
                "skipped_lines": self.tally.skipped, "sources": self.tally.sources,
                "scanner": self.tally.scanner,
                "first": self.first, "last": self.last,
                "clients": map(self.client_json, busiest[:top]),
                "suggestions": self.suggestions(), "suggestion_rule": SUGGESTION_RULE,
                "would_refuse": self.would_refuse(limits or {}),
                "notes": self.notes}


def summarize(replay: Replay, tally: Tally, exceptions: Exceptions) -> Traffic:
    replay.finish()
    clients = replay.clients
    for client in clients:
        client.excepted = exceptions.match(client.address)
    notes = [f"{entry} in smtpd_client_event_limit_exceptions cannot be judged from a log's "
             "addresses: clients it names are counted as not excepted"
             for entry in exceptions.unjudged]
    return Traffic(replay.unit, clients, tally, replay.first, replay.last, notes)


def findings(traffic: Traffic, limits: dict[str, int]) -> list:
    """A warning for each limit that would have refused clients that are not excepted."""
    from wizard.findings import Finding
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
