"""Record the demo's mail log: known traffic driven at a live private pair (tests/harness.py), in
Postfix's own words (its maillog_file), for `postfix-wizard --demo traffic` and the wizard's
limits screens.

    python tests/record_demo_log.py samples/traffic/mail.log

Run as root where the daemons are installed; takes about three minutes (the traffic spans several
anvil windows). The pair listens on loopback, so each client is a 127.1.0.N address; the file
stored has them mapped to documentation addresses (203.0.113.N), the only change made to the
daemon's lines, so that the demo's stock configuration (which excepts its own 127.0.0.0/8) limits
them as it would real clients.
"""
from __future__ import annotations

import re
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from tests.harness import MailPair  # noqa: E402

LIMITS = {"smtpd_client_connection_rate_limit": "20", "smtpd_client_message_rate_limit": "30",
          "smtpd_client_recipient_rate_limit": "50", "smtpd_client_auth_rate_limit": "10",
          "anvil_rate_time_unit": "60s", "smtpd_client_event_limit_exceptions": "192.0.2.0/24"}
CLIENTS = {"webmail": "127.1.0.10", "bot": "127.1.0.66", "guesser": "127.1.0.99",
           "newsletter": "127.1.0.25", "alice": "127.1.0.31", "bob": "127.1.0.32"}


def send(pair: MailPair, source: str, messages: int = 1, rcpts: int = 1, size: int = 2000,
         auth: bool = False) -> None:
    with pair.smtp_tls(source=source) as client:
        if auth:
            pair.auth_plain(client, pair.user, pair.password)
        for _ in range(messages):
            if client.docmd("MAIL", "FROM:<sender@test.example>")[0] != 250:
                continue
            for _ in range(rcpts):
                client.docmd("RCPT", f"TO:<{pair.local_rcpt}>")
            code, _ = client.docmd("DATA")
            if code == 354:
                client.send(("Subject: demo\r\n\r\n" + "x" * 76 + "\r\n") * (size // 78 + 1)
                            + ".\r\n")
                client.getreply()
            else:
                client.docmd("RSET")


def guess(pair: MailPair, source: str, tries: int) -> None:
    with pair.smtp_tls(source=source) as client:
        for _ in range(tries):
            pair.auth_plain(client, "admin", "password123")


def minute(pair: MailPair, round_: int) -> None:
    for _ in range(6):
        send(pair, CLIENTS["webmail"], messages=2, rcpts=2, auth=True, size=8000)
    send(pair, CLIENTS["alice"], rcpts=3, size=150_000)
    if round_ % 2:
        send(pair, CLIENTS["bob"], size=600_000 + 100_000 * round_)
    if round_ == 1:
        for _ in range(26):                              # 20 allowed, then 421
            pair.probe(timeout=2, source=CLIENTS["bot"])
        send(pair, CLIENTS["newsletter"], messages=3, rcpts=20)    # 60 RCPT: 50, then 450
    guess(pair, CLIENTS["guesser"], 4 + 4 * round_)


def main(target: Path) -> None:
    with MailPair(None, sasl="unix", main_cf_extra=LIMITS) as pair:
        for round_ in range(3):
            started = time.monotonic()
            minute(pair, round_)
            if round_ < 2:
                time.sleep(max(0.0, 62 - (time.monotonic() - started)))
        time.sleep(1)
        text = pair.postfix_log.read_text()
    mapped = re.sub(r"127\.1\.0\.(\d+)", r"203.0.113.\1", text)
    target.parent.mkdir(parents=True, exist_ok=True)
    target.write_text(mapped)
    print(f"wrote {target}: {len(mapped.splitlines())} lines")


if __name__ == "__main__":
    main(Path(sys.argv[1]))
