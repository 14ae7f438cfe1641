"""Issue 11: the live check. Before main.cf changes, Dovecot's auth process must complete the
auth protocol handshake and serve every configured mechanism (wizard/auth_handshake.py).

Real daemons (tests/harness.py), the real command line in a subprocess, both socket kinds.
"""
from __future__ import annotations

import os
import sys

import pytest

try:
    import tests.harness as harness
except ImportError:
    sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
    import harness

from test_live import KINDS, ehlo_features, fresh_ip, make_pair, sasl_preset  # noqa: F401
from wizard import auth_handshake

_ok, _why = harness.daemons_available()
pytestmark = [pytest.mark.daemons,
              pytest.mark.skipif(not _ok, reason=_why or "daemons not available")]

EXIT_WRITE = 3


def listener(pair) -> tuple:
    if pair.sasl == "unix":
        return ("unix", str(pair.auth_socket))
    return ("tcp", "127.0.0.1", pair.auth_port)


def config_bytes(pair) -> dict:
    return {p: p.read_bytes() for d in (pair.postfix_dir, pair.dovecot_dir)
            for p in sorted(d.rglob("*")) if p.is_file()}


@pytest.mark.parametrize("kind", KINDS)
def test_the_handshake_lists_what_dovecot_serves(make_pair, kind):
    pair = make_pair(kind, configure_sasl=True)
    served = auth_handshake.handshake(listener(pair))
    assert served.version.startswith("1.") and set(served.mechanisms) == {"plain", "login"}


@pytest.mark.parametrize("mechanisms", ["plain gssapi"])
@pytest.mark.parametrize("kind", KINDS)
def test_a_mechanism_dovecot_cannot_serve_stops_the_change(make_pair, kind, mechanisms):
    pair = make_pair(kind)
    before = config_bytes(pair)
    preset = pair.sasl_preset(pair.root / "mechs.toml", sasl={"mechanisms": mechanisms.split()})
    r = pair.apply_preset(preset, expect=None)
    assert r.returncode == EXIT_WRITE, r.stdout + r.stderr
    assert "Unknown authentication mechanism 'GSSAPI'" in r.stderr and \
        "main.cf was not changed" in r.stderr, r.stderr
    assert config_bytes(pair) == before
    assert "auth" not in ehlo_features(pair, tls=True, source=fresh_ip())


@pytest.mark.parametrize("kind", KINDS)
def test_changing_the_mechanisms_of_a_working_listener_is_checked_too(make_pair, kind):
    pair = make_pair(kind, configure_sasl=True)        # SASL on, Postfix using Dovecot
    before = config_bytes(pair)
    preset = pair.sasl_preset(pair.root / "mechs.toml", sasl={"mechanisms": ["plain", "gssapi"]})
    r = pair.apply_preset(preset, expect=None)
    assert r.returncode == EXIT_WRITE, r.stdout + r.stderr
    assert "Unknown authentication mechanism 'GSSAPI'" in r.stderr, r.stderr
    assert config_bytes(pair) == before
    assert ehlo_features(pair, tls=False, source=fresh_ip()) is not None
    assert set(auth_handshake.handshake(listener(pair)).mechanisms) == {"plain", "login"}
