"""Issue 11: the live check. Before main.cf changes, Dovecot's auth process must complete the
auth protocol handshake and serve every configured mechanism (wizard/handshake.py).

Real daemons (tests/harness.py), both socket kinds. The refusal by the rules goes through the
real command line; the live check itself is driven in-process past the rules, as the backstop
for what they cannot know.
"""
from __future__ import annotations

import re

import pytest

from test_live import harness  # the harness module, as test_live imported it
from test_live import KINDS, ehlo_features, fresh_ip, make_pair  # noqa: F401 (a fixture)
from wizard.daemons import handshake
from wizard.daemons.handshake import AuthSocket
from wizard.server import versions
from wizard.settings import presets
from wizard.change import transaction
from wizard.cli import EXIT_INVALID
from wizard.errors import WriteError
from wizard.settings.model import PLUGIN_MECHANISMS
from wizard.change.plan import make_plan
from wizard.server.state import Server

pytestmark = harness.daemon_marks()

GSSAPI_PLUGIN = PLUGIN_MECHANISMS["gssapi"][0]
plugins = versions.installed_dovecot_auth_plugins()
needs_no_gssapi = pytest.mark.skipif(
    plugins is None or GSSAPI_PLUGIN in plugins,
    reason="no Dovecot module directory here" if plugins is None
    else "Dovecot's GSSAPI plugin is installed here")


def listener(pair) -> AuthSocket:
    if pair.sasl == "unix":
        return AuthSocket.unix(str(pair.auth_socket))
    return AuthSocket.tcp("127.0.0.1", pair.auth_port)


def config_bytes(pair) -> dict:
    return {p: p.read_bytes() for d in (pair.postfix_dir, pair.dovecot_dir)
            for p in sorted(d.rglob("*")) if p.is_file()}


@pytest.mark.parametrize("kind", KINDS)
def test_the_handshake_lists_what_dovecot_serves(make_pair, kind):
    pair = make_pair(kind, configure_sasl=True)
    served = handshake.handshake(listener(pair))
    assert served.version.startswith("1.") and set(served.public) == {"plain", "login"}, served


def gssapi_preset(pair):
    return pair.sasl_preset(pair.root / "mechs.toml", sasl={"mechanisms": ["plain", "gssapi"]})


def apply_past_the_rules(pair, preset_path):
    """What `apply` does after validation, with the rules' findings ignored: the live check is
    the backstop for whatever the rules cannot know."""
    server = Server.load(pair.postfix_dir, pair.dovecot_dir)
    preset = presets.load(preset_path)
    plan = make_plan(server, preset.settings)
    transaction.apply(transaction.writes_for(plan.changes),
                      transaction.target_for(server, preset.settings), pair.backup_dir)


@needs_no_gssapi
@pytest.mark.parametrize("configure_sasl", [False, True], ids=["sasl-off", "sasl-on"])
@pytest.mark.parametrize("kind", KINDS)
def test_the_live_check_stops_a_mechanism_dovecot_cannot_serve(make_pair, kind, configure_sasl):
    """SASL off: the change would turn it on; on: Postfix already uses the listener whose
    mechanisms change. Either way main.cf is never written and Dovecot's files come back."""
    pair = make_pair(kind, configure_sasl=configure_sasl)
    before = config_bytes(pair)
    with pytest.raises(WriteError) as refused:
        apply_past_the_rules(pair, gssapi_preset(pair))
    message = str(refused.value)
    assert "Unknown authentication mechanism 'GSSAPI'" in message, message
    assert "main.cf was not changed" in message and "put back" in message, message
    assert config_bytes(pair) == before
    assert pair.postfix_running() and pair.dovecot_running()
    features = ehlo_features(pair, tls=True, source=fresh_ip())
    assert ("auth" in features) == configure_sasl, features
    if configure_sasl:
        assert set(handshake.handshake(listener(pair)).public) == {"plain", "login"}


@needs_no_gssapi
def test_the_rules_refuse_gssapi_without_its_plugin(make_pair):
    pair = make_pair("unix", start=False)
    before = config_bytes(pair)
    r = pair.apply_preset(gssapi_preset(pair), expect=EXIT_INVALID)
    assert f"Dovecot's {GSSAPI_PLUGIN} is not installed" in r.stdout, r.stdout
    assert "Install dovecot-gssapi" in r.stdout
    assert config_bytes(pair) == before


def with_pam_passdb(pair) -> None:
    """Debian's stock passdb: PAM checks a password but cannot hand one out."""
    conf = pair.dovecot_conf.read_text()
    block = "passdb pam {\n  driver = pam\n}" if harness.dovecot_generation() == "2.4" \
        else "passdb {\n  driver = pam\n}"
    pair.dovecot_conf.write_text(re.sub(r"passdb[^{\n]*\{.*?\n\}", block, conf, count=1,
                                        flags=re.S))


def cram_preset(pair):
    return pair.sasl_preset(pair.root / "cram.toml", sasl={"mechanisms": ["plain", "cram-md5"]})


@pytest.mark.parametrize("kind", KINDS)
def test_the_live_check_stops_a_mechanism_the_passdbs_cannot_support(make_pair, kind):
    pair = make_pair(kind, start=False)
    with_pam_passdb(pair)
    pair.start()
    before = config_bytes(pair)
    with pytest.raises(WriteError) as refused:
        apply_past_the_rules(pair, cram_preset(pair))
    message = str(refused.value)
    assert "CRAM-MD5 mechanism can't be supported with given passdbs" in message, message
    assert config_bytes(pair) == before
    assert pair.postfix_running() and pair.dovecot_running()
    with pair.smtp(source=fresh_ip()) as client:
        assert client.ehlo()[0] == 250


def test_the_rules_refuse_a_mechanism_the_passdbs_cannot_support(make_pair):
    pair = make_pair("unix", start=False)
    with_pam_passdb(pair)
    before = config_bytes(pair)
    r = pair.apply_preset(cram_preset(pair), expect=EXIT_INVALID)
    assert "its passdbs (pam) check passwords but cannot look one up" in r.stdout, r.stdout
    assert config_bytes(pair) == before
