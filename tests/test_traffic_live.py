"""Issue 12: the traffic figures against what real daemons did. Known traffic is driven at the
live pair (tests/harness.py) with low limits and loopback not excepted; then `postfix-wizard
traffic --json` reads the pair's own log (Postfix's maillog_file) and every figure is compared
with what was sent and with what anvil refused.
"""
from __future__ import annotations

import json


from test_live import harness  # the harness module, as test_live imported it
from test_live import banners, fresh_ip, make_pair, mail_from_replies  # noqa: F401

pytestmark = harness.daemon_marks()

LIMITS = {"smtpd_client_connection_rate_limit": "5", "smtpd_client_message_rate_limit": "3",
          "smtpd_client_recipient_rate_limit": "4", "smtpd_client_auth_rate_limit": "2",
          "anvil_rate_time_unit": "60s",
          "smtpd_client_event_limit_exceptions": "192.0.2.0/24"}


def rcpt_replies(pair, count: int, source: str) -> list[int]:
    with pair.smtp(source=source) as client:
        client.ehlo()
        client.docmd("MAIL", "FROM:<sender@test.example>")
        return [client.docmd("RCPT", f"TO:<{pair.local_rcpt}>")[0] for _ in range(count)]


def auth_replies(pair, count: int, source: str) -> list[int]:
    with pair.smtp_tls(source=source) as client:
        return [pair.auth_plain(client, pair.user, "wrong")[0] for _ in range(count)]


def traffic(pair, *args: str) -> dict:
    r = pair.wizard("traffic", "--log", str(pair.postfix_log), "--json", *args)
    assert r.returncode == 0, r.stdout + r.stderr
    return json.loads(r.stdout)


def test_the_figures_match_what_was_sent_and_what_anvil_refused(make_pair):
    pair = make_pair("unix", configure_sasl=True, main_cf_extra=LIMITS)
    bursty, sender, fanout, guesser, parallel = (fresh_ip() for _ in range(5))
    got = banners(pair, 7, bursty)                               # 5 allowed, then 421
    assert [b[:3] for b in got] == ["220"] * 5 + ["421"] * 2, got
    assert mail_from_replies(pair, 5, sender) == [250, 250, 250, 450, 450]
    assert rcpt_replies(pair, 6, fanout) == [250, 250, 250, 250, 450, 450]
    assert auth_replies(pair, 4, guesser) == [535, 535, 450, 450]
    sessions = [pair.smtp(source=parallel) for _ in range(3)]      # three open at once
    sent = pair.send_test_mail(sessions[0], size=50_000)
    assert sent["data"][0] == 250, sent
    for session in sessions:
        session.quit()
    harness._wait(lambda: pair.postfix_logs().count("disconnect from") >= 13 and
                  "size=" in pair.postfix_logs(), 5)

    data = traffic(pair)
    clients = {c["client"]: c for c in data["clients"]}
    assert data["window_seconds"] == 60
    assert clients[bursty]["connections"] == 7 and clients[bursty]["connection_rate_peak"] == 7
    assert clients[sender]["message_rate_peak"] == 5
    assert clients[fanout]["recipient_rate_peak"] == 6
    assert clients[guesser]["auth_rate_peak"] == 4
    assert clients[guesser]["tls_session_rate_peak"] == 1                 # its one STARTTLS
    assert clients[parallel]["concurrency_peak"] == 3 and clients[parallel]["connections"] == 3
    assert 50_000 < clients[parallel]["largest_message"] < 60_000     # qmgr's size, headers in
    assert not any(c["excepted"] for c in clients.values())
    assert clients[bursty]["service"] == f"127.0.0.1:{pair.smtp_port}"     # master.cf's name
    refused = {(r["parameter"], r["client"]): r["times"] for r in data["would_refuse"]}
    assert refused == {("smtpd_client_connection_rate_limit", bursty): 2,
                       ("smtpd_client_message_rate_limit", sender): 2,
                       ("smtpd_client_recipient_rate_limit", fanout): 2,
                       ("smtpd_client_auth_rate_limit", guesser): 2}
    logged = {(p, c["client"]): t for c in data["clients"]
              for p, t in c["refusals_logged"].items()}
    assert logged == refused            # the replay refuses exactly what anvil refused

    # The same traffic under another preset: what it would have refused instead
    preset = pair.write_preset(pair.root / "looser.toml", limits={
        "smtpd_client_connection_rate_limit": 6, "smtpd_client_message_rate_limit": 10,
        "smtpd_client_recipient_rate_limit": 10, "smtpd_client_auth_rate_limit": 10})
    looser = traffic(pair, "--preset", str(preset))
    assert [(r["parameter"], r["client"], r["times"]) for r in looser["would_refuse"]] == \
        [("smtpd_client_connection_rate_limit", bursty, 1)]

    # check and apply --dry-run warn about the limits that would have refused those clients
    checked = pair.wizard("check", "--log", str(pair.postfix_log))
    warned = [line for line in checked.stdout.splitlines() if "would have refused" in line]
    assert len(warned) == 4, checked.stdout          # one per limit anvil enforced above
    assert any("smtpd_client_message_rate_limit = 3 would have refused 1 client(s)" in line
               and sender in line for line in warned), warned
    dry = pair.wizard("apply", "--preset", str(preset), "--dry-run", "--log", str(pair.postfix_log))
    warned = [line for line in dry.stdout.splitlines() if "would have refused" in line]
    assert len(warned) == 1 and "smtpd_client_connection_rate_limit = 6" in warned[0], dry.stdout
    assert "Use 14 (the traffic's suggestion)" in dry.stdout
