"""Issue 12, property: for any traffic, the replay refuses exactly what the live daemons refused.

Hypothesis draws bursts (per client: how many connections, and how many MAIL commands each
session sends); they are driven at one live pair (tests/harness.py) with low limits and loopback
not excepted; the pair's log since the example began is read back through wizard/traffic, and
what the replay says the limits would have refused must equal the refusals smtpd logged, read
with each log scanner (the C extension and pyscan.py) in turn: the daemons are driven once.
"""
from __future__ import annotations

import os
import smtplib
from unittest import mock

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from conftest import c_scanner_missing
from test_live import harness  # the harness module, as test_live imported it
from test_live import fresh_ip
from wizard.traffic.reading import LineReader
from wizard.traffic.replay import Replay
from wizard.traffic import FORCE
from wizard.traffic.analysis import Exceptions, summarize

pytestmark = harness.daemon_marks()

LIMITS = {"smtpd_client_connection_rate_limit": 4, "smtpd_client_message_rate_limit": 3}
MAIN_CF = {**{k: str(v) for k, v in LIMITS.items()}, "anvil_rate_time_unit": "3600s",
           "smtpd_client_event_limit_exceptions": "192.0.2.0/24"}
clients = st.lists(st.lists(st.integers(min_value=0, max_value=5), min_size=2, max_size=7),
                   min_size=1, max_size=3)


@pytest.fixture(scope="module")
def pair(tmp_path_factory):
    with harness.MailPair(tmp_path_factory.mktemp("traffic-property"), sasl=None,
                          main_cf_extra=MAIN_CF) as running:
        yield running


def drive(pair, source: str, mails: list[int]) -> None:
    """One session per entry, sending that many MAIL FROM (RSET between)."""
    for count in mails:
        try:
            client = pair.smtp(source=source)
        except smtplib.SMTPConnectError:             # 421: the connection rate limit
            continue
        with client:
            client.ehlo()
            for _ in range(count):
                client.docmd("MAIL", "FROM:<sender@test.example>")
                client.docmd("RSET")


@settings(max_examples=12, deadline=None, suppress_health_check=list(HealthCheck))
@given(traffic=clients)
def test_the_replay_refuses_what_the_daemons_refused(pair, traffic):
    since = pair.mark()
    for mails in traffic:
        source = fresh_ip()
        drive(pair, source, mails)
    expected = sum(len(m) for m in traffic)
    harness._wait(lambda: pair.postfix_logs(since).count("disconnect from") >= expected, 10)
    log = pair.postfix_logs(since)
    for kind in ("python",) if c_scanner_missing() else ("c", "python"):   # (each_scanner skips)
        with mock.patch.dict(os.environ, {FORCE: kind}):
            replay = Replay(3600)
            reader = LineReader(replay)
            reader.read(log.splitlines(keepends=True))
        assert reader.kind == kind
        found = summarize(replay, reader.tally, Exceptions([]))
        would = {(r["parameter"], r["client"]): r["times"] for r in found.would_refuse(LIMITS)}
        logged = {(parameter, c.address): times for c in found.clients
                  for parameter, times in (c.refusals or {}).items()}
        assert would == logged, (kind, log[-3000:])
