"""SVG snapshots of every screen of the wizard, at 80x24 and at 120x40 (pytest-textual-snapshot).

Each test builds the app on a fresh copy of samples/debian12 (tests/snapshot_apps/factory.py:
TLS pair inside the copy, the copy shown as <demo>, versions as major.minor), drives it with keys
in `run_before`, turns the cursor blink off, and compares the screen with the stored SVG in
tests/__snapshots__/test_snapshots/. Regenerate with `--snapshot-update` and look at the result.
"""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from snapshot_apps.countdown import countdown_app
from snapshot_apps.factory import (SAMPLE, focus_field, make_app, no_blink, pick_option,
                                   recorded_as, set_focused, settle, tab_until,
                                   type_into_focused)
from wizard.change import backups
from wizard.server import postconf

pytestmark = pytest.mark.skipif(not shutil.which("postconf"), reason="needs Postfix's postconf")

SIZES = {"80x24": (80, 24), "120x40": (120, 40)}
FIXED_BACKUP_ID = "20250102-030405"


# What to do before each snapshot ---------------------------------------------------------------

async def overview(pilot):
    pass


async def rates(pilot):
    await pilot.press("enter")                       # Start


async def rates_typed(pilot):
    """A connection rate typed: what it would have refused in the demo's log, live."""
    await pilot.press("enter")
    await type_into_focused(pilot, "10")


async def resources(pilot):
    await pilot.press("enter", "ctrl+n")


async def resources_advanced(pilot):
    await resources(pilot)
    await focus_field(pilot, "limits.virtual_mailbox_limit")     # the last field above it
    await pilot.press("tab", "enter")                # the Collapsible's title: expand
    await pilot.press("tab")                         # its first field
    await settle(pilot)


async def slow_clients(pilot):
    """The two limits Postfix 3.7 brought against clients that trickle data, at the end of the
    advanced fields."""
    await resources_advanced(pilot)
    await focus_field(pilot, "limits.smtpd_min_data_rate")


async def slow_clients_postfix35(pilot):
    """The same rows on a Postfix 3.5 server (ON_POSTFIX35): what they need, and no input."""
    await resources_advanced(pilot)
    await focus_field(pilot, "limits.smtpd_junk_command_limit")  # the last one with an input
    pilot.app.query_one("#field-limits-smtpd_min_data_rate").scroll_visible(animate=False)
    await settle(pilot)


async def _sasl_on(pilot):
    await pilot.press("enter", "ctrl+n", "ctrl+n", "space")     # SMTP AUTH: check "yes"
    await focus_field(pilot, "sasl.tls_auth_only")
    await pilot.press("space")


async def sasl_unix(pilot):
    await _sasl_on(pilot)
    await focus_field(pilot, "sasl.path")
    await set_focused(pilot, "private/auth")


async def sasl_tcp(pilot):
    await _sasl_on(pilot)
    await focus_field(pilot, "sasl.socket")
    await pilot.press("down", "space")               # RadioSet: TCP socket
    await focus_field(pilot, "sasl.address")
    await set_focused(pilot, "127.0.0.1")
    await pilot.press("tab")                         # to the port
    await set_focused(pilot, "12345")


async def field_error(pilot):
    await pilot.press("enter")
    await focus_field(pilot, "limits.anvil_rate_time_unit")
    await type_into_focused(pilot, "1.5m")
    await pilot.press("ctrl+n")                      # refused: the toast says why


async def field_warning(pilot):
    await resources(pilot)
    await focus_field(pilot, "limits.queue_minfree")
    await type_into_focused(pilot, "1000")


async def _choices(pilot):
    """Rate limit 30, SMTP AUTH over the UNIX socket with AUTH only after STARTTLS."""
    await pilot.press("enter")
    await type_into_focused(pilot, "30")
    await pilot.press("ctrl+n", "ctrl+n", "space")
    await focus_field(pilot, "sasl.tls_auth_only")
    await pilot.press("space")


async def review(pilot):
    await _choices(pilot)
    await pilot.press("ctrl+n")


async def review_dovecot(pilot):
    await review(pilot)
    await tab_until(pilot, lambda app: type(app.focused).__name__ == "ContentTabs", "the tabs")
    await pilot.press("right")                       # the Dovecot file


async def preset_picker(pilot):
    await pilot.press("ctrl+o")


async def preset_loaded(pilot):
    await pilot.press("ctrl+o")
    await pick_option(pilot, "rhel9-guide")
    await pilot.pause()
    await pilot.press("enter")                       # Start: the preset's values in the fields


async def save_and_apply(pilot):
    await _choices(pilot)
    await pilot.press("ctrl+n", "ctrl+n")


async def apply_confirm(pilot):
    await save_and_apply(pilot)
    pilot.app.query_one("#apply-button").focus()
    await pilot.press("enter")


async def result(pilot):
    """The apply screen once the worker is done: each step, then the verdict."""
    await apply_confirm(pilot)
    await pilot.press("tab", "enter")                # from "No" to "Apply"
    await pilot.pause()
    await pilot.app.workers.wait_for_complete()
    await pilot.pause()


async def result_pane(pilot):
    await result(pilot)
    await pilot.press("escape")                      # back to Save and apply, with the summary


async def quit_confirm(pilot):
    await pilot.press("enter")
    await type_into_focused(pilot, "30")
    await pilot.press("ctrl+q")


async def help_dialog(pilot):
    await pilot.press("enter", "f1")


SCREENS = [overview, rates, rates_typed, resources, resources_advanced, slow_clients,
           slow_clients_postfix35, sasl_unix, sasl_tcp,
           field_error, field_warning, review, review_dovecot, preset_picker, preset_loaded,
           save_and_apply, apply_confirm, result, result_pane, quit_confirm, help_dialog]
ONLY_SMALL = {review_dovecot, apply_confirm}     # extras: 80x24 is where layout goes wrong
ON_POSTFIX35 = {slow_clients_postfix35}          # on a tree recorded as Postfix 3.5.25
CASES = [pytest.param(drive, size, id=f"{drive.__name__}-{name}")
         for drive in SCREENS for name, size in SIZES.items()
         if name == "80x24" or drive not in ONLY_SMALL]


@pytest.fixture
def fixed_backup_id(monkeypatch):
    """The backup set id is a UTC timestamp: make it fixed for the result screen."""
    def new_set_directory(backup_dir: Path) -> Path:
        directory = backup_dir / FIXED_BACKUP_ID
        directory.mkdir(mode=0o700)
        return directory
    monkeypatch.setattr(backups, "_new_set_directory", new_set_directory)


@pytest.mark.parametrize("drive, size", CASES)
def test_screen(drive, size, snap_compare, tmp_path, fixed_backup_id):
    sample = recorded_as(tmp_path / "sample35", "3.5.25", "Debian 11") \
        if drive in ON_POSTFIX35 else SAMPLE
    installed = postconf.defaults().get("mail_version", "") if shutil.which("postconf") else ""
    if drive in (result, result_pane) and installed and not installed.startswith("3.7."):
        # the apply is checked by this machine's postconf, which notes on the screen a Postfix
        # other than the sample's (in the bullseye root, 3.5): record the sample as this one's
        sample = recorded_as(tmp_path / "sample-here", installed, "Debian 12")
    app = make_app(tmp_path / "demo", sample=sample)

    async def run_before(pilot):
        await pilot.app.ready.wait()                 # the configuration is read in a worker
        await pilot.app.workers.wait_for_complete()  # and the mail log in another
        await pilot.pause()
        no_blink(pilot.app)
        await pilot.pause()
        await drive(pilot)
        await pilot.pause()
        no_blink(pilot.app)                          # Inputs of dialogs opened meanwhile
        await pilot.pause()

    assert snap_compare(app, terminal_size=size, run_before=run_before)
    if drive in (result, result_pane):
        assert (tmp_path / "demo" / "backups" / FIXED_BACKUP_ID / "manifest.json").is_file()


@pytest.mark.parametrize("size", SIZES.values(), ids=SIZES.keys())
def test_countdown(size, snap_compare):
    """A change applied with a confirmation time, after a passing live check (what the worker
    reports on a live server; tests/test_probe.py drives the real thing)."""
    assert snap_compare(countdown_app(), terminal_size=size)
