"""`postfix-wizard traffic`: the mail log read the way anvil counts (wizard/traffic/), shown as
the busiest clients, the limits that would leave them room, and whom limits would have refused.

Its --json is the traffic report itself (`Traffic.to_json`), written as it is made, rather than
the document the other commands print (json_output.JsonOutput).
"""

from __future__ import annotations

import sys
import time
from typing import TYPE_CHECKING

from wizard.cli import json_output
from wizard.cli.common import EXIT_OK, load_server, logs_to_read

if TYPE_CHECKING:
    import argparse

    from wizard.cli.output import Out


def run_traffic(args: argparse.Namespace, out: Out) -> int:
    from wizard.traffic import server_logs
    server = load_server(args)
    settings = None
    if args.preset:
        from wizard.settings import presets
        settings = presets.load(presets.find(args.preset)).settings
    since = int(time.time()) - args.since if args.since else None
    traffic = server_logs.read(server, logs_to_read(args), since,
                               server_logs.exceptions_after(server, settings))
    limits = server_logs.limits(server, settings)
    if args.json:
        json_output.write(traffic.to_json(limits), sys.stdout)
        return EXIT_OK
    show_traffic(traffic, limits, args.top, args.preset or "the server's current limits", out)
    return EXIT_OK


def show_traffic(traffic, limits: dict[str, int], top: int, judged: str, out: Out) -> None:
    from wizard.traffic import describe
    from wizard.traffic.analysis import SUGGESTION_RULE
    tally = traffic.tally
    out.line(f"Read {tally.lines} lines ({tally.postfix} Postfix, {tally.skipped} skipped) from "
             f"{', '.join(tally.sources) or 'nothing'}; window {traffic.window_seconds} s.", "bold")
    out.line(f"Log scanner: {describe(tally.scanner)}")
    for note in traffic.notes:
        out.line(f"NOTE: {note}", "yellow")
    out.line(f"{'client':<28} {'service':<12} {'conns':>6} {'conn/w':>6} {'open':>5} "
             f"{'mail/w':>6} {'rcpt/w':>6} {'auth/w':>6}  excepted")
    for item in traffic.to_json(top=top)["clients"]:
        out.line(f"{item['client'][:28]:<28} {item['service'][:12]:<12} {item['connections']:>6} "
                 f"{item['connection_rate_peak']:>6} {item['concurrency_peak']:>5} "
                 f"{item['message_rate_peak']:>6} {item['recipient_rate_peak']:>6} "
                 f"{item['auth_rate_peak']:>6}  {'yes' if item['excepted'] else ''}")
    out.line(f"Suggested ({SUGGESTION_RULE}):", "bold")
    for parameter, value in traffic.suggestions().items():
        out.line(f"  {parameter} = {value}")
    refused = traffic.would_refuse(limits)
    out.line(f"With {judged}: " + ("no client that is not excepted would have been refused."
                                   if not refused else "these clients would have been refused:"),
             "green" if not refused else "yellow")
    for item in refused:
        out.line(f"  {item['parameter']}: {item['client']} ({item['service']}) "
                 f"{item['times']} time(s)")
