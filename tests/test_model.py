"""The settings model: one declaration per field, strict types, and Postfix's real defaults."""

import json
import shutil
import subprocess

import debian13
import pytest
import wizard_process
from pydantic import ValidationError

from wizard.settings.model import LIMIT_PARAMS, SASL_PARAMS, Limits, Sasl, Settings
from wizard.server import availability
from wizard.server.postconf import BUILT_IN

HARDENING_GUIDE_DIRECTIVES = {
    "smtpd_client_connection_rate_limit", "anvil_rate_time_unit",
    "smtpd_client_event_limit_exceptions", "smtpd_client_message_rate_limit",
    "default_process_limit", "queue_minfree", "header_size_limit", "message_size_limit"}


def test_model_covers_the_eight_dos_directives_and_related_limits():
    names = {p.name for p in LIMIT_PARAMS.values()}
    assert HARDENING_GUIDE_DIRECTIVES <= names
    assert len(names) == 20


def test_every_field_has_help_and_a_default():
    for param in [*LIMIT_PARAMS.values(), *SASL_PARAMS.values()]:
        assert param.help.endswith(".") and len(param.help) < 100, param.name
        assert param.kind and param.title and len(param.title) <= 36, param.name


POSTCONF = {"this machine": pytest.param(["postconf"], marks=pytest.mark.skipif(
                not shutil.which("postconf"), reason="Postfix is not installed")),
            "3.10 (Debian 13 root)": pytest.param(
                ["chroot", str(debian13.ROOT), "postconf"], marks=debian13.needs_root)}

# Postfix 3.6 wrote its compatibility_level comparisons with `<level` (mail_params.h), 3.5 with
# `<`: the same rule, and the text the rules read still names permit_sasl_authenticated.
BEFORE_3_6 = {"smtpd_relay_restrictions": "${{$compatibility_level} < {1} ? {} : "
                                          "{permit_mynetworks, permit_sasl_authenticated, "
                                          "defer_unauth_destination}}"}


@pytest.mark.parametrize("postconf", POSTCONF.values(), ids=POSTCONF.keys())
def test_built_in_defaults_match_postconf_d(postconf):
    """The model's defaults and the table the rules fall back on are both generations' own."""
    params = [p for p in [*LIMIT_PARAMS.values(), *SASL_PARAMS.values()]
              if p.file == "main.cf" and p.name != "smtpd_sasl_path"]
    expected = {p.name: p.default for p in params}
    # mynetworks' default is computed from the host's interfaces; mail_version is the version
    expected |= {k: v for k, v in BUILT_IN.items() if k not in ("mynetworks", "mail_version")}
    output = subprocess.run([*postconf, "-d", "mail_version", *expected], capture_output=True,
                            text=True, check=True).stdout
    real = dict(line.split(" = ", 1) if " = " in line else (line.removesuffix(" ="), "")
                for line in output.splitlines())
    version = real.pop("mail_version")
    if availability.release(version) < (3, 6):   # e.g. the bullseye root's 3.5: the spelling
        expected |= BEFORE_3_6
    # fields newer than this Postfix are not in its postconf -d (tests/test_availability.py)
    expected = {name: value for name, value in expected.items() if name not in newer_than(version)}
    assert expected == real


def newer_than(version: str) -> set[str]:
    """The model's main.cf fields that came after Postfix `version`."""
    return {p.name for p in [*LIMIT_PARAMS.values(), *SASL_PARAMS.values()]
            if availability.release(p.since) > availability.release(version)}


@pytest.mark.parametrize("section, data", [
    (Limits, {"smtpd_client_connection_rate_limt": 30}),
    (Limits, {"message_size_limit": "10240000"}),
    (Limits, {"message_size_limit": 10.5}),
    (Limits, {"smtpd_client_message_rate_limit": True}),
    (Sasl, {"socket": "udp"}),
    (Sasl, {"type": "cyrus"}),
    (Sasl, {"port": "12345"}),
    (Sasl, {"mechanisms": "plain login"}),
])
def test_strict_model_refuses_unknown_keys_and_wrong_types(section, data):
    with pytest.raises(ValidationError):
        section(**data)


def test_unset_means_keep():
    assert Settings().model_dump(exclude_none=True) == {"limits": {}, "sasl": {}}


def test_sizes_accept_units_but_store_bytes():
    assert LIMIT_PARAMS["message_size_limit"].parse("10M") == 10485760
    assert LIMIT_PARAMS["message_size_limit"].to_text(10485760) == "10485760"


@pytest.mark.parametrize("code, loaded", [
    ("import wizard.cli", []),                                       # before any command
    ("import wizard.cli; wizard.cli.main(['backups', '--backup-dir', '/nonexistent'])", []),
    ("import wizard.cli; wizard.cli.main(['presets'])", ["pydantic", "tomlkit"]),
    ("import wizard.cli; wizard.cli.main(['check', '--demo'])", ["pydantic"]),
], ids=["cli", "backups", "presets", "check"])
def test_each_command_imports_only_what_it_uses(code, loaded):
    probe = ("; import sys, json; print(json.dumps(sorted({m.split('.')[0] for m in sys.modules} "
             "& {'textual', 'pydantic', 'tomlkit'})))")
    result = subprocess.run([*wizard_process.python(), "-c", code + probe], capture_output=True,
                            text=True, check=True)
    assert json.loads(result.stdout.splitlines()[-1]) == loaded


@pytest.mark.parametrize("postconf", POSTCONF.values(), ids=POSTCONF.keys())
def test_defaults_expand_as_postconf_x_does(postconf):
    """`expand` reads $name, ${name?{x}:{y}} nested, and ${{a} <level {b} ? {x} : {y}} the way
    Postfix does: each default the wizard reads, expanded, equals `postconf -dx`'s."""
    from wizard.server.postconf import expand
    names = sorted({p.name for p in [*LIMIT_PARAMS.values(), *SASL_PARAMS.values()]
                    if p.file == "main.cf"} | set(BUILT_IN) - {"mail_version"})

    def table(*flags):
        output = subprocess.run([*postconf, *flags], capture_output=True, text=True,
                                check=True).stdout
        return dict(line.partition(" = ")[::2] if " = " in line else (line.removesuffix(" ="), "")
                    for line in output.splitlines())
    raw = {**table("-d"), **table("-d", *names)}       # legacy names only when asked for
    names = [n for n in names if n not in newer_than(raw["mail_version"])]
    expanded = table("-dx", *names)
    assert {n: expand(raw[n], raw.get) for n in names} == {n: expanded[n] for n in names}
