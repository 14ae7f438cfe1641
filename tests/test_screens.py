"""The wizard driven with keys through Textual's Pilot, at 80x24, on copies of the stock
Debian 12 configuration (tests/snapshot_apps/factory.py)."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest
from textual.widgets import Checkbox, Input, OptionList, RadioButton, Static

from screens.apply_progress import ApplyProgress
from screens.dialogs.confirm import Confirm
from screens.dialogs.help import Help
from screens.dialogs.preset_picker import PresetPicker
from screens.fields import FieldRow
from snapshot_apps.factory import (focused_key, make_app, pick_option, started, tab_to,
                                   tab_to_id, type_into_focused)
from wizard.settings import presets
from wizard.change import backups

pytestmark = [pytest.mark.asyncio,
              pytest.mark.skipif(not shutil.which("postconf"), reason="needs Postfix's postconf")]

SIZE = (80, 24)
RATE = "limits.smtpd_client_connection_rate_limit"
TIME_UNIT = "limits.anvil_rate_time_unit"


def row(app, key: str) -> FieldRow:
    return app.query_one(f"#field-{key.replace('.', '-')}", FieldRow)


def message(app, key: str) -> Static:
    return row(app, key).query_one(".message", Static)


def text_of(widget: Static) -> str:
    return str(widget.render())


def step_label(app, step_id: str) -> str:
    return app.query_one("#steps", OptionList).get_option(step_id).prompt.plain


def postconf_n(postfix_dir: Path) -> dict[str, str]:
    out = subprocess.run(["postconf", "-c", str(postfix_dir), "-n"], capture_output=True,
                         text=True, check=True).stdout
    return dict(line.split(" = ", 1) for line in out.splitlines() if " = " in line)


def doveconf_n(dovecot_dir: Path) -> str:
    return subprocess.run(["doveconf", "-c", str(dovecot_dir / "dovecot.conf"), "-n"],
                          capture_output=True, text=True, check=True).stdout


@pytest.fixture
def demo(tmp_path) -> Path:
    return tmp_path / "demo"


# (1) The whole flow, from the overview to a real apply ---------------------------------------------

async def test_whole_flow_applies_and_backs_up(demo):
    app = make_app(demo)
    main_cf, master_conf = demo / "postfix" / "main.cf", demo / "dovecot/conf.d/10-master.conf"
    originals = {main_cf: main_cf.read_bytes(), master_conf: master_conf.read_bytes()}
    async with started(app, size=SIZE) as pilot:
        assert app.focused.id == "start"
        await pilot.press("enter")
        assert app.step_id == "rates" and focused_key(app) == RATE
        await type_into_focused(pilot, "30")
        assert app.focused.value == "30"
        assert app.session.chosen().limits.smtpd_client_connection_rate_limit == 30

        await pilot.press("ctrl+n")
        assert app.step_id == "resources"
        await pilot.press("ctrl+n")
        assert app.step_id == "sasl" and focused_key(app) == "sasl.enabled"
        await pilot.press("space")                               # SMTP AUTH: yes
        assert row(app, "sasl.enabled").query_one(Checkbox).value is True
        assert "(1)" in step_label(app, "sasl")                  # passwords before STARTTLS
        await pilot.press("ctrl+n")
        assert app.step_id == "sasl"                             # refused until fixed
        assert row(app, "sasl.path").display and not row(app, "sasl.address").display
        assert app.query_one("#socket-unix", RadioButton).value is True
        await tab_to(pilot, "sasl.tls_auth_only")
        await pilot.press("space")
        assert "(" not in step_label(app, "sasl")

        await pilot.press("ctrl+n")
        assert app.step_id == "review"
        review = "\n".join(text_of(s) for s in app.query("#review Static"))
        assert "No errors and no warnings." in review
        assert "+smtpd_client_connection_rate_limit = 30" in review
        assert "+smtpd_tls_auth_only = yes" in review
        assert "/tmp" not in review and "<demo>/postfix/main.cf" in review

        await pilot.press("ctrl+n")
        assert app.step_id == "apply"
        await tab_to_id(pilot, "apply-button")
        await pilot.press("enter")
        assert isinstance(app.screen, Confirm)
        assert app.focused.id == "no"                            # the safe answer first
        await pilot.press("tab")
        assert app.focused.id == "yes"
        await pilot.press("enter")
        await pilot.pause()
        assert isinstance(app.screen, ApplyProgress)             # the steps, from a worker
        await app.workers.wait_for_complete()
        await pilot.pause()
        steps = text_of(app.screen.query_one("#applied-steps", Static))
        assert "✓ staged and checked: Postfix files by postconf -n; Dovecot files by" in steps
        assert "✓ wrote <demo>/postfix/main.cf" in steps and "/tmp" not in steps
        assert "Not probed" in text_of(app.screen.query_one("#verdict", Static))
        await pilot.press("escape")
        assert not isinstance(app.screen, (Confirm, ApplyProgress))
        assert app.applied
        result = text_of(app.query_one("#result", Static))
        assert result.startswith("Applied.") and "wrote <demo>/postfix/main.cf" in result
        assert "/tmp" not in result

    main = postconf_n(demo / "postfix")
    assert main["smtpd_client_connection_rate_limit"] == "30"
    assert main["smtpd_sasl_auth_enable"] == "yes"
    assert main["smtpd_tls_auth_only"] == "yes"
    assert main["smtpd_sasl_type"] == "dovecot"
    assert main["smtpd_sasl_path"] == "private/auth"
    dovecot = doveconf_n(demo / "dovecot")
    listener = dovecot[dovecot.index("unix_listener /var/spool/postfix/private/auth {"):]
    listener = listener[:listener.index("}")]
    for setting in ("mode = 0660", "user = postfix", "group = postfix"):
        assert setting in listener

    sets = backups.backup_sets(demo / "backups")
    assert len(sets) == 1 and sets[0].completed
    stored = {Path(e["path"]).resolve(): sets[0].stored(e).read_bytes() for e in sets[0].entries}
    assert stored == {path.resolve(): data for path, data in originals.items()}
    assert main_cf.read_bytes() != originals[main_cf]


# (2) Load a preset, change one field, save it ------------------------------------------------------

async def test_preset_loaded_changed_and_saved(demo, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)                       # the typed relative path lands here
    app = make_app(demo)
    async with started(app, size=SIZE, notifications=True) as pilot:
        await pilot.press("ctrl+o")
        assert isinstance(app.screen, PresetPicker)
        await pick_option(pilot, "rhel9-guide")
        await pilot.pause()
        assert not isinstance(app.screen, PresetPicker)
        assert app.session.preset.name == "rhel9-guide"
        assert app.session.dirty is False                # a loaded preset is saved work

        await pilot.press("enter")                       # Start
        assert row(app, RATE).query_one(Input).value == "30"
        assert app.session.fields["sasl.enabled"].text == "yes"
        await tab_to(pilot, "limits.smtpd_client_message_rate_limit")
        await type_into_focused(pilot, "250")
        assert app.session.dirty

        await pilot.press("ctrl+s")                      # no path yet: go and ask for one
        assert app.step_id == "apply" and app.focused.id == "preset-file"
        assert app.query_one("#preset-name", Input).value == "rhel9-guide"
        await pilot.press(*"mine.toml")
        await pilot.press("ctrl+s")
        await pilot.pause()
        assert app.session.dirty is False
        assert any("Saved mine.toml" in n.message for n in app._notifications)

    saved = presets.load(tmp_path / "mine.toml")
    shipped = presets.load(presets.find("rhel9-guide"))
    assert saved.name == "rhel9-guide"
    assert saved.settings.limits.smtpd_client_message_rate_limit == 250
    expected = shipped.settings.model_dump(exclude_none=True)
    expected["limits"]["smtpd_client_message_rate_limit"] = 250
    assert saved.settings.model_dump(exclude_none=True) == expected


# (3) An error stops Next; Ctrl+R puts the server's value back -------------------------------------

async def type_bad_time_unit(pilot) -> None:
    """Start, and type a fractional time (which Postfix refuses) into anvil_rate_time_unit."""
    await pilot.press("enter")
    await tab_to(pilot, TIME_UNIT)
    await type_into_focused(pilot, "1.5m")


async def test_error_blocks_next_until_reset(demo):
    app = make_app(demo)
    async with started(app, size=SIZE, notifications=True) as pilot:
        await type_bad_time_unit(pilot)
        shown = message(app, TIME_UNIT)
        assert shown.has_class("error") and shown.display
        assert text_of(shown).startswith("ERROR: anvil_rate_time_unit: '1.5m'")
        assert shown.region.height >= 1                  # laid out, under the field's facts
        assert shown.region.y > row(app, TIME_UNIT).query_one(".facts").region.y

        await pilot.press("ctrl+n")
        assert app.step_id == "rates"
        assert any(n.title == "Cannot go on" for n in app._notifications)
        assert step_label(app, "rates").startswith("✗") and "(1)" in step_label(app, "rates")
        assert "(1)" in step_label(app, "review")
        assert text_of(app.query_one("#summary-rates", Static)).startswith("1 error(s)")

        assert focused_key(app) == TIME_UNIT
        await pilot.press("ctrl+r")
        assert app.focused.value == "60s"
        assert not shown.has_class("error") and text_of(shown) == ""
        assert "(" not in step_label(app, "rates")
        await pilot.press("ctrl+n")
        assert app.step_id == "resources"


async def test_refused_next_shows_the_error_on_screen(demo):
    app = make_app(demo)
    async with started(app, size=SIZE, notifications=True) as pilot:
        await type_bad_time_unit(pilot)
        await pilot.press("ctrl+n")
        await pilot.pause()
        pane = app.query_one("#rates")
        assert pane.region.contains_region(message(app, TIME_UNIT).region)


# (4) Quitting ------------------------------------------------------------------------------------

async def test_quit_without_changes_exits_at_once(demo):
    app = make_app(demo)
    async with started(app, size=SIZE) as pilot:
        await pilot.press("q")
        await pilot.pause()
        assert app.return_code == 0 and not isinstance(app.screen, Confirm)


async def test_quit_with_unsaved_choices_asks(demo):
    app = make_app(demo)
    async with started(app, size=SIZE) as pilot:
        await pilot.press("enter")
        await type_into_focused(pilot, "30")
        await pilot.press("q")                           # in an Input: q is a letter
        assert app.focused.value == "30q" and app.return_code is None
        await pilot.press("backspace", "escape")         # Escape: back to the overview
        assert app.step_id == "overview" and app.focused.id == "start"
        await pilot.press("q")
        assert isinstance(app.screen, Confirm)
        assert app.focused.id == "no" and str(app.focused.label) == "Stay"
        await pilot.press("enter")                       # Stay
        await pilot.pause()
        assert not isinstance(app.screen, Confirm) and app.return_code is None
        assert app.session.dirty

        await pilot.press("enter")                       # Start again, focus in an Input
        await pilot.press("ctrl+q")                      # Ctrl+Q works from anywhere
        assert isinstance(app.screen, Confirm)
        await pilot.press("escape")                      # Escape answers no, too
        assert not isinstance(app.screen, Confirm) and app.return_code is None
        await pilot.press("ctrl+q")
        await pilot.press("tab", "enter")                # Quit
        await pilot.pause()
        assert app.return_code == 0


# (5) Defaults, the socket radio, help, Escape ----------------------------------------------------

async def test_ctrl_t_puts_postfix_default(demo):
    app = make_app(demo)
    async with started(app, size=SIZE) as pilot:
        await pilot.press("enter")
        await type_into_focused(pilot, "30")
        await pilot.press("ctrl+t")
        assert app.focused.value == "0" == app.session.default_text(RATE)
        await pilot.press("ctrl+n")
        await tab_to(pilot, "limits.virtual_mailbox_limit")
        await pilot.press("tab", "enter")                # open "Advanced: error handling"
        await tab_to(pilot, "limits.smtpd_hard_error_limit")
        await type_into_focused(pilot, "7")
        await pilot.press("ctrl+t")                      # ${stress?{1}:{20}} expanded
        assert app.focused.value == "20"


async def test_ctrl_r_and_ctrl_t_need_a_field(demo):
    app = make_app(demo)
    async with started(app, size=SIZE, notifications=True) as pilot:
        await pilot.press("ctrl+t")                      # focus is on Start
        assert any("Move to a field first" in n.message for n in app._notifications)


async def test_facts_show_the_expanded_default(demo):
    app = make_app(demo)
    async with started(app, size=SIZE) as pilot:
        await pilot.press("enter", "ctrl+n")             # Resources, sizes
        facts = text_of(row(app, "limits.smtpd_hard_error_limit").query_one(".facts", Static))
        assert "${" not in facts and "now: 20" in facts


async def test_socket_radio_switches_fields(demo):
    app = make_app(demo)
    unix, tcp = ("sasl.path", "sasl.mode", "sasl.user", "sasl.group"), ("sasl.address",
                                                                         "sasl.port")
    async with started(app, size=SIZE) as pilot:
        await pilot.press("enter", "ctrl+n", "ctrl+n")
        assert [row(app, k).display for k in unix + tcp] == [True] * 4 + [False] * 2
        await tab_to(pilot, "sasl.socket")
        await pilot.press("down", "space")
        assert app.session.fields["sasl.socket"].text == "tcp"
        assert [row(app, k).display for k in unix + tcp] == [False] * 4 + [True] * 2
        await pilot.press("tab")
        assert focused_key(app) == "sasl.address"        # the hidden UNIX fields are skipped
        await pilot.press("shift+tab", "up", "space")
        assert app.session.fields["sasl.socket"].text == "unix"
        assert [row(app, k).display for k in unix + tcp] == [True] * 4 + [False] * 2


async def test_help_and_escape(demo):
    app = make_app(demo)
    async with started(app, size=SIZE) as pilot:
        await pilot.press("f1")
        assert isinstance(app.screen, Help)
        await pilot.press("escape")
        assert not isinstance(app.screen, Help) and app.step_id == "overview"
        await pilot.press("enter", "f1")
        assert isinstance(app.screen, Help)
        await pilot.press("f1")                          # F1 closes it too
        assert not isinstance(app.screen, Help) and app.step_id == "rates"
        await pilot.press("ctrl+n")
        assert app.step_id == "resources"
        await pilot.press("escape")                      # back a step, even from an Input
        assert app.step_id == "rates"
        await pilot.press("ctrl+p")
        assert app.step_id == "overview"
        await pilot.press("escape")                      # nothing before the overview
        assert app.step_id == "overview" and app.return_code is None


async def test_apply_dialog_does_not_promise_reloads_when_off(demo):
    app = make_app(demo)
    assert app.reload_services is False
    async with started(app, size=SIZE) as pilot:
        await pilot.press("enter")
        await type_into_focused(pilot, "30")
        await pilot.press("ctrl+s")                      # no preset path: to Save and apply
        await tab_to_id(pilot, "apply-button")
        await pilot.press("enter")
        assert isinstance(app.screen, Confirm)
        question = " ".join(text_of(s) for s in app.screen.query(Static))
        assert "The wizard will write:" in question
        assert "running services are reloaded" not in question


async def test_a_refused_configuration_ends_the_wizard_with_the_error(demo):
    from screens.app import WizardApp
    from wizard.errors import ConfigError

    def refused():
        raise ConfigError(demo / "postfix" / "main.cf", 3, "is broken", "Fix it")

    app = WizardApp(refused, demo / "backups", reload=False)
    async with app.run_test(size=SIZE) as pilot:
        await pilot.pause(0.5)
    assert isinstance(app.return_value, ConfigError)


# (4) The mail log under the limits ------------------------------------------------------------

def traffic_line(app, key: str) -> str:
    return text_of(row(app, key).query_one(".traffic", Static))


async def test_the_limits_show_what_the_typed_value_would_have_refused(demo):
    app = make_app(demo)                        # the demo's log, written by the real daemons
    async with started(app, size=SIZE) as pilot:
        await pilot.press("enter")
        status = text_of(app.query_one("#rates .traffic-status", Static))
        assert "52 connections from 6 clients" in status, status
        assert not app.query_one("#rates .traffic-bar").display      # done reading
        assert "log: peak 26 (203.0.113.66 on smtp)" in traffic_line(app, RATE)
        await type_into_focused(pilot, "10")
        assert "would have refused 1 client(s), 16 time(s)" in traffic_line(app, RATE)
        await type_into_focused(pilot, "26")
        assert "would have refused no client" in traffic_line(app, RATE)
        await type_into_focused(pilot, "1.5")                        # not a number: no verdict
        assert "would have refused no client" in traffic_line(app, RATE)
        assert row(app, RATE).query_one("Sparkline").data[:2] == [26, 6]


@pytest.mark.parametrize("log, said", [("missing.log", "could not be read"),
                                       ("empty.log", "No mail log with smtpd traffic")])
async def test_without_a_readable_log_the_screens_say_so_in_one_line(demo, tmp_path, log, said):
    (tmp_path / "empty.log").write_text("")
    app = make_app(demo, logs=[str(tmp_path / log)])
    async with started(app, size=SIZE) as pilot:
        await pilot.press("enter")
        assert said in text_of(app.query_one("#rates .traffic-status", Static))
        assert not row(app, RATE).has_class("with-traffic")
        await type_into_focused(pilot, "30")
        assert app.session.chosen().limits.smtpd_client_connection_rate_limit == 30
