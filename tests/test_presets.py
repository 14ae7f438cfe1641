"""wizard.settings.presets: strict loading of TOML presets (format 1), commented saving, shipped presets."""

from __future__ import annotations

import os
import re
import tempfile
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings as hsettings, strategies as st

from wizard.settings import presets
from wizard import rules
from wizard.settings.model import LIMIT_PARAMS, OLDEST_POSTFIX, SASL_PARAMS, Limits, Sasl, Settings
from wizard.settings.presets import PresetError
from wizard.server.state import Server


def write(tmp_path: Path, name: str, text: str) -> Path:
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    return path


def refusal(path: Path) -> str:
    with pytest.raises(PresetError) as caught:
        presets.load(path)
    message = str(caught.value)
    assert path.name in message, message
    return message


# Refusals ------------------------------------------------------------------------------------

def test_misspelt_key_names_file_line_key_and_suggests_the_right_name(tmp_path):
    path = write(tmp_path, "typo.toml",
                 '[preset]\nname = "typo"\n\n[limits]\nmessage_size_limit = 10240000\n'
                 "smtpd_client_conection_rate_limit = 30\n")
    message = refusal(path)
    assert "line 6" in message
    assert "smtpd_client_conection_rate_limit" in message
    assert "Did you mean 'smtpd_client_connection_rate_limit'?" in message


def test_size_given_as_text_is_a_type_error_whose_fix_says_bytes(tmp_path):
    path = write(tmp_path, "size.toml", '[preset]\nname = "x"\n\n[limits]\nmessage_size_limit = "10M"\n')
    message = refusal(path)
    assert "line 5" in message
    assert "message_size_limit" in message
    assert "integer" in message
    assert "bytes" in message and "10240000" in message


def test_fractional_time_is_refused_with_the_postfix_syntax(tmp_path):
    path = write(tmp_path, "time.toml", '[limits]\nanvil_rate_time_unit = "1.5m"\n')
    message = refusal(path)
    assert "line 2" in message
    assert "anvil_rate_time_unit" in message and "'1.5m'" in message
    assert "60s" in message            # the fix shows a valid spelling


def test_unknown_sasl_socket_lists_the_allowed_kinds(tmp_path):
    path = write(tmp_path, "socket.toml", '[sasl]\nenabled = true\nsocket = "udp"\n')
    message = refusal(path)
    assert "line 3" in message
    assert "socket" in message
    assert "'unix'" in message and "'tcp'" in message


def test_fix_for_an_unknown_socket_suggests_only_valid_values(tmp_path):
    message = refusal(write(tmp_path, "socket.toml", '[sasl]\nsocket = "udp"\n'))
    assert '"smtpd"' not in message


def test_unknown_table_suggests_the_nearest_table(tmp_path):
    path = write(tmp_path, "table.toml",
                 '[preset]\nname = "x"\n\n[limit]\nmessage_size_limit = 10240000\n')
    message = refusal(path)
    assert "line 4" in message
    assert "[limit]" in message
    assert "Did you mean 'limits'?" in message


def test_unknown_header_key_suggests_the_nearest(tmp_path):
    message = refusal(write(tmp_path, "header.toml", '[preset]\nnmae = "x"\n'))
    assert "line 2" in message and "nmae" in message and "Did you mean 'name'?" in message


def test_newer_format_is_refused(tmp_path):
    path = write(tmp_path, "format.toml", '[preset]\nname = "x"\nformat = 2\n')
    message = refusal(path)
    assert "line 3" in message
    assert "format" in message and "2" in message and "format 1" in message


@pytest.mark.parametrize("value", ["true", "1.0"])
def test_format_of_the_wrong_type_is_refused(tmp_path, value):
    refusal(write(tmp_path, "format.toml", f"[preset]\nformat = {value}\n"))


def test_toml_syntax_error_names_the_line(tmp_path):
    path = write(tmp_path, "syntax.toml", '[preset]\nname = "x"\n[limits]\nmessage_size_limit = = 5\n')
    message = refusal(path)
    assert "line 4" in message and "TOML" in message


def test_duplicate_key_is_a_toml_error(tmp_path):
    path = write(tmp_path, "dup.toml",
                 "[limits]\nmessage_size_limit = 5\nmessage_size_limit = 6\n")
    assert "message_size_limit" in refusal(path)


@pytest.mark.parametrize("table, text, key, fix", [
    ("sasl", 'enabled = "yes"', "enabled", "true or false"),
    ("sasl", "mode = 660", "mode", '"0600"'),
    ("sasl", "port = 70000", "port", "65535"),
    ("sasl", 'mechanisms = ["plain", "bogus"]', "mechanisms", "'bogus' is not one of: plain"),
    ("sasl", 'path = "../etc/auth"', "path", "private/auth"),
    ("limits", "default_process_limit = 0", "default_process_limit", "smallest allowed value, 1"),
    ("limits", "message_size_limit = -1", "message_size_limit", "bytes"),
    ("limits", "message_size_limit = 1e7", "message_size_limit", "bytes"),
    ("limits", 'smtpd_client_event_limit_exceptions = "$mynetworks # ours"',
     "smtpd_client_event_limit_exceptions", "#"),
])
def test_wrong_type_or_value_names_line_key_and_fix(tmp_path, table, text, key, fix):
    path = write(tmp_path, "bad.toml", f'# a comment\n[{table}]\n{text}\n')
    message = refusal(path)
    assert "line 3" in message
    assert f"{table}.{key}" in message
    assert fix in message


def test_file_over_64_kib_is_refused_and_64_kib_is_not(tmp_path):
    body = '[preset]\nname = "big"\n'
    fill = "# padding\n"
    exact = body + fill * ((64 * 1024 - len(body)) // len(fill))
    exact += "#" * (64 * 1024 - len(exact) - 1) + "\n"
    assert len(exact.encode()) == 64 * 1024
    assert presets.load(write(tmp_path, "exact.toml", exact)).name == "big"

    big = write(tmp_path, "big.toml", body + fill * (65 * 1024 // len(fill)))
    message = refusal(big)
    assert "64 KiB" in message


def test_directory_is_refused(tmp_path):
    directory = tmp_path / "dir.toml"
    directory.mkdir()
    assert "not a regular file" in refusal(directory)


def test_fifo_is_refused_without_blocking(tmp_path):
    fifo = tmp_path / "fifo.toml"
    os.mkfifo(fifo)
    assert "not a regular file" in refusal(fifo)       # would hang if it were opened


def test_dev_null_is_refused():
    with pytest.raises(PresetError, match="/dev/null.*not a regular file"):
        presets.load(Path("/dev/null"))


def test_missing_file_and_non_utf8_are_refused(tmp_path):
    assert "cannot be read" in refusal(tmp_path / "missing.toml")
    latin = tmp_path / "latin.toml"
    latin.write_bytes(b'[preset]\ndescription = "caf\xe9"\n')
    assert "UTF-8" in refusal(latin)


def test_unknown_shipped_name_lists_the_shipped_presets():
    with pytest.raises(PresetError) as caught:
        presets.find("rhel9-gide")
    assert "rhel9-gide" in str(caught.value)
    assert "Did you mean 'rhel9-guide'?" in str(caught.value)


# Saving --------------------------------------------------------------------------------------

FULL = Settings(
    limits=Limits(smtpd_client_connection_rate_limit=30, anvil_rate_time_unit="60s",
                  smtpd_client_event_limit_exceptions="$mynetworks",
                  smtpd_client_message_rate_limit=100, default_process_limit=100,
                  queue_minfree=30720000, header_size_limit=102400, message_size_limit=10240000,
                  mailbox_size_limit=51200000, virtual_mailbox_limit=0,
                  smtpd_client_connection_count_limit=10, smtpd_client_recipient_rate_limit=300,
                  smtpd_client_new_tls_session_rate_limit=50, smtpd_client_auth_rate_limit=20,
                  smtpd_error_sleep_time="1s", smtpd_soft_error_limit=5,
                  smtpd_hard_error_limit=10, smtpd_junk_command_limit=20,
                  smtpd_per_request_deadline=True, smtpd_min_data_rate=500),
    sasl=Sasl(enabled=True, type="dovecot", socket="unix", path="private/auth", mode="0660",
              user="postfix", group="postfix", address="127.0.0.1", port=12345,
              mechanisms=["plain", "login"], security_options=["noanonymous", "noplaintext"],
              tls_security_options=["noanonymous"], tls_auth_only=True))


def test_every_field_is_covered_by_the_full_example():
    for section in ("limits", "sasl"):
        assert None not in getattr(FULL, section).model_dump().values()


def test_saved_preset_loads_back_to_the_same_settings(tmp_path):
    path = tmp_path / "team.toml"
    presets.save(path, FULL, "team", "Our team's settings")
    loaded = presets.load(path)
    assert loaded.settings == FULL
    assert (loaded.name, loaded.description) == ("team", "Our team's settings")
    # integers stay integers, times stay strings
    assert "message_size_limit = 10240000\n" in path.read_text()
    assert 'anvil_rate_time_unit = "60s"\n' in path.read_text()


def test_empty_settings_save_as_a_header_only_preset(tmp_path):
    path = write(tmp_path, "empty.toml", presets.dumps(Settings(), "empty", "Nothing"))
    assert "[limits]" not in path.read_text() and "[sasl]" not in path.read_text()
    assert presets.load(path).settings == Settings()


def test_every_saved_key_has_a_comment_with_its_name_unit_and_default():
    lines = presets.dumps(FULL, "full", "All fields").splitlines()
    params = {"limits": LIMIT_PARAMS, "sasl": SASL_PARAMS}
    table, seen = None, set()
    for index, line in enumerate(lines):
        header = re.fullmatch(r"\[(\w+)\]", line)
        if header:
            table = header.group(1)
            continue
        match = re.match(r"(\w+) = ", line)
        if not match or table == "preset":
            continue
        key = match.group(1)
        param = params[table][key]
        comments = []
        for above in reversed(lines[:index]):
            if not above.startswith("#"):
                break
            comments.append(above)
        block = "\n".join(comments)
        assert param.help in block, (key, block)
        assert param.name in block, (key, block)
        if param.unit:
            assert param.unit in block, (key, block)
        if param.default:
            assert f"default: {param.default}" in block, (key, block)
        if param.since != OLDEST_POSTFIX:
            assert f"needs Postfix {param.since} or later" in block, (key, block)
        seen.add(f"{table}.{key}")
    assert seen == {f"limits.{k}" for k in LIMIT_PARAMS} | {f"sasl.{k}" for k in SASL_PARAMS}


USER_PRESET = """\
# Our team's limits, reviewed by the mail team.
[preset]
name = "team"
description = "Team limits"
format = 1

[limits]
# Bots hammer us at night.
smtpd_client_message_rate_limit = 50
# Big attachments are common here.
message_size_limit = 20000000
# Keep room for two of them.
queue_minfree = 60000000
"""


def test_resaving_a_user_preset_keeps_comments_and_key_order(tmp_path):
    path = write(tmp_path, "team.toml", USER_PRESET)
    preset = presets.load(path)
    changed = Settings(limits=preset.settings.limits.model_copy(
        update={"message_size_limit": 30000000, "header_size_limit": 204800}))
    text = presets.dumps(changed, preset.name, preset.description, preset.document)

    for comment in ("# Our team's limits, reviewed by the mail team.", "# Bots hammer us at night.",
                    "# Big attachments are common here.", "# Keep room for two of them."):
        assert comment in text
    order = [text.index(k) for k in ("smtpd_client_message_rate_limit = 50",
                                      "message_size_limit = 30000000", "queue_minfree = 60000000",
                                      "header_size_limit = 204800")]
    assert order == sorted(order)
    # each user comment is still directly above its key
    assert "# Big attachments are common here.\nmessage_size_limit = 30000000" in text
    # the new key gets the generated help comment
    assert LIMIT_PARAMS["header_size_limit"].help in text

    resaved = write(tmp_path, "resaved.toml", text)
    assert presets.load(resaved).settings == changed


def test_resaving_unchanged_user_preset_is_byte_identical(tmp_path):
    preset = presets.load(write(tmp_path, "team.toml", USER_PRESET))
    assert presets.dumps(preset.settings, preset.name, preset.description,
                         preset.document) == USER_PRESET


# Round trip with generated settings ----------------------------------------------------------

def _time(param):
    return st.builds(lambda n, unit: f"{n}{unit}", st.integers(max(param.minimum, 1), 1000),
                     st.sampled_from(["", "s", "m", "h", "d", "w"]))


VALUES = {
    "count": lambda p: st.integers(p.minimum, p.maximum),
    "size": lambda p: st.integers(p.minimum, p.maximum),
    "port": lambda p: st.integers(p.minimum, p.maximum),
    "time": _time,
    "bool": lambda p: st.booleans(),
    "choice": lambda p: st.sampled_from(p.choices),
    "words": lambda p: st.lists(st.sampled_from(p.choices), max_size=4),
    "addresses": lambda p: st.sampled_from(["$mynetworks", "127.0.0.0/8", "[::1]/128",
                                            "127.0.0.0/8, [::1]/128", "!192.0.2.1 $mynetworks",
                                            "cidr:/etc/postfix/exceptions.cidr"]),
    "path": lambda p: st.sampled_from(["private/auth", "private/dovecot-auth",
                                       "/var/spool/postfix/private/auth"]),
    "mode": lambda p: st.sampled_from(["0660", "0600", "660", "0666"]),
    "name": lambda p: st.from_regex(r"[a-z_][a-z0-9_-]{0,10}", fullmatch=True),
    "address": lambda p: st.sampled_from(["127.0.0.1", "::1", "192.0.2.10"]),
}


def _section(model, params):
    return st.fixed_dictionaries(
        {field: st.none() | VALUES[param.kind](param) for field, param in params.items()}
    ).map(lambda values: model(**values))


SETTINGS = st.builds(Settings, limits=_section(Limits, LIMIT_PARAMS), sasl=_section(Sasl, SASL_PARAMS))
TEXT = st.text(st.characters(min_codepoint=32, blacklist_categories=("Cs",)), min_size=1, max_size=30)


@hsettings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(settings=SETTINGS, name=TEXT, description=TEXT)
def test_any_valid_settings_round_trip_through_a_saved_preset(settings, name, description):
    with tempfile.TemporaryDirectory() as directory:
        path = Path(directory) / "generated.toml"
        path.write_text(presets.dumps(settings, name, description), encoding="utf-8")
        loaded = presets.load(path)
    assert loaded.settings == settings
    assert (loaded.name, loaded.description) == (name, description)


# Shipped presets -----------------------------------------------------------------------------

SHIPPED = sorted(p.stem for p in presets.presets_dir().glob("*.toml"))


def test_the_four_documented_presets_are_shipped():
    assert {"baseline", "busy-relay", "rhel9-guide", "sasl-tcp"} <= set(SHIPPED)
    assert [p.name for p in presets.shipped()] == SHIPPED


@pytest.mark.parametrize("name", SHIPPED)
def test_shipped_preset_loads_and_passes_validation_on_stock_debian(name, sample_dirs):
    preset = presets.load(presets.find(name))
    assert preset.name == name
    assert preset.description.strip()
    assert preset.settings != Settings()
    server = Server.load(*sample_dirs)
    errors = rules.errors(rules.check(server, preset.settings))
    assert errors == [], [str(e) for e in errors]


@pytest.mark.parametrize("name", SHIPPED)
def test_shipped_preset_resaves_to_the_same_settings(name, tmp_path):
    preset = presets.load(presets.find(name))
    text = presets.dumps(preset.settings, preset.name, preset.description, preset.document)
    assert presets.load(write(tmp_path, f"{name}.toml", text)).settings == preset.settings
