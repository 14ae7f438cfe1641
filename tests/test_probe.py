"""Issue 11: after a live apply the wizard proves the server still takes mail (wizard/daemons/probe.py),
rolls the change back on its own when it does not (exit 4), and keeps a change made with
--confirm only when it is confirmed in time (wizard/change/pending.py).

Real daemons (tests/harness.py) through the real command line.
"""
from __future__ import annotations

import os
import pty
import signal
import time
from pathlib import Path

import pytest

import wizard_process
from test_live import harness  # the harness module, as test_live imported it
from test_live import KINDS, banners, ehlo_features, fresh_ip, make_pair  # noqa: F401
from wizard.change import pending
from wizard.cli import EXIT_OK, EXIT_PROBE, EXIT_USAGE

pytestmark = harness.daemon_marks()

SIZE_LIMIT = 100000
LOOPBACK_LIMITED = {"smtpd_client_connection_rate_limit": 2, "anvil_rate_time_unit": "60s",
                    "smtpd_client_event_limit_exceptions": "192.0.2.0/24"}
CONFIRM_SECONDS = 12


def main_cf(pair) -> bytes:
    return (pair.postfix_dir / "main.cf").read_bytes()


def break_anvil(pair) -> None:
    """A fault outside the wizard's knowledge: anvil(8) cannot start. smtpd asks anvil only about
    clients that are not excepted from the limits, so the server works until a change stops
    excepting loopback."""
    pair.set_master("anvil/unix/command", "anvil-missing")
    pair.reload()


@pytest.mark.parametrize("kind", KINDS)
def test_a_clean_apply_probes_green_and_is_kept(make_pair, kind):
    pair = make_pair(kind)
    r = pair.apply_preset(pair.sasl_preset(pair.root / "p.toml",
                                           limits={"message_size_limit": SIZE_LIMIT}))
    assert "The live check passed." in r.stdout, r.stdout
    assert f"SIZE {SIZE_LIMIT}" in r.stdout and "STARTTLS, AUTH LOGIN PLAIN" in r.stdout
    assert "wrong login refused (535)" in r.stdout
    assert pair.get_main("smtpd_sasl_auth_enable") == "yes"
    assert ehlo_features(pair, tls=True, source=fresh_ip())["size"] == str(SIZE_LIMIT)


@pytest.mark.parametrize("kind", KINDS)
def test_two_connections_a_minute_with_loopback_limited_is_kept(make_pair, kind):
    pair = make_pair(kind)
    r = pair.apply_preset(pair.sasl_preset(pair.root / "p.toml", limits=LOOPBACK_LIMITED))
    assert "The live check passed." in r.stdout, r.stdout
    assert pair.get_main("smtpd_client_connection_rate_limit") == "2"
    client = fresh_ip()
    got = banners(pair, 3, client)          # the limit is in force for a real client
    assert got[0].startswith("220") and got[1].startswith("220") and got[2].startswith("421"), got


def test_a_runtime_only_fault_is_caught_and_rolled_back(make_pair):
    pair = make_pair("unix", configure_sasl=False)
    break_anvil(pair)
    before = main_cf(pair)
    r = pair.apply_preset(pair.write_preset(pair.root / "p.toml", limits=LOOPBACK_LIMITED),
                          expect=EXIT_PROBE)
    assert "bad command startup" in r.stdout, r.stdout
    assert "The live check failed; the previous files are back and pass the live check." \
        in r.stdout, r.stdout
    assert main_cf(pair) == before
    with pair.smtp(source=fresh_ip()) as client:
        assert client.ehlo()[0] == 250


def test_previous_files_that_fail_too_are_named_plainly(make_pair):
    pair = make_pair("unix", configure_sasl=False, main_cf_extra=LOOPBACK_LIMITED)
    break_anvil(pair)
    before = main_cf(pair)
    r = pair.apply_preset(pair.write_preset(pair.root / "p.toml",
                                            limits={"message_size_limit": SIZE_LIMIT}),
                          expect=EXIT_PROBE)
    assert "the server was already failing before this change" in r.stdout, r.stdout
    assert main_cf(pair) == before


# Commit confirmed ------------------------------------------------------------------------------

def run_in_a_terminal(pair, *args: str) -> tuple[int, int]:
    """The wizard in a pseudo-terminal of its own session, as over SSH; then the shell waits.
    Returns (the session leader's pid, the terminal's fd)."""
    argv = [*wizard_process.python(), "-m", "wizard", *args,
            "--postfix-dir", str(pair.postfix_dir),
            "--dovecot-dir", str(pair.dovecot_dir), "--backup-dir", str(pair.backup_dir)]
    command = " ".join(f"'{a}'" for a in argv) + "; echo WIZARD-EXIT $?; sleep 600"
    pid, fd = pty.fork()
    if pid == 0:
        os.chdir(harness.REPO_ROOT)
        os.environ["NO_COLOR"] = "1"
        os.execv("/bin/sh", ["sh", "-c", command])
    return pid, fd


def read_until(fd: int, marker: bytes, timeout: float) -> bytes:
    seen, end = b"", time.monotonic() + timeout
    while marker not in seen and time.monotonic() < end:
        try:
            seen += os.read(fd, 4096)
        except OSError:
            break
    return seen


def wait_for(predicate, timeout: float) -> bool:
    end = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > end:
            return False
        time.sleep(0.2)
    return True


def test_an_unconfirmed_change_reverts_after_its_session_hangs_up(make_pair):
    pair = make_pair("unix", configure_sasl=False)
    before = main_cf(pair)
    preset = pair.write_preset(pair.root / "p.toml", limits={"message_size_limit": SIZE_LIMIT})
    leader, terminal = run_in_a_terminal(pair, "apply", "--preset", str(preset), "--yes",
                                         "--confirm", f"{CONFIRM_SECONDS}s")
    said = read_until(terminal, b"WIZARD-EXIT", 60)
    assert b"WIZARD-EXIT 0" in said and b"pending until" in said, said.decode(errors="replace")
    assert main_cf(pair) != before
    os.killpg(leader, signal.SIGHUP)           # the SSH connection drops
    os.close(terminal)
    os.waitpid(leader, 0)
    waiting = pending.read(pair.backup_dir)
    assert waiting is not None and waiting.timer.startswith("process:")
    assert wait_for(lambda: main_cf(pair) == before, CONFIRM_SECONDS + 30), \
        (pair.backup_dir / pending.EXPIRY_LOG).read_text()
    assert wait_for(lambda: "live check" in (pair.backup_dir / pending.EXPIRY_LOG).read_text(),
                    20)
    log = (pair.backup_dir / pending.EXPIRY_LOG).read_text()
    assert "The live check passed." in log, log
    assert pending.read(pair.backup_dir) is None
    assert ehlo_features(pair, tls=False, source=fresh_ip())["size"] == "10240000"


def test_a_confirmed_change_stays(make_pair):
    pair = make_pair("unix", configure_sasl=False)
    preset = pair.write_preset(pair.root / "p.toml", limits={"message_size_limit": SIZE_LIMIT})
    r = pair.wizard("apply", "--preset", str(preset), "--yes", "--confirm",
                    f"{CONFIRM_SECONDS}s")
    assert r.returncode == EXIT_OK and "pending until" in r.stdout, r.stdout + r.stderr
    changed = main_cf(pair)
    waiting = pending.read(pair.backup_dir)
    assert waiting is not None

    assert "PENDING:" in pair.wizard("backups").stdout
    assert "WARNING: a change is waiting for confirmation" in pair.wizard("check").stdout
    other = pair.write_preset(pair.root / "q.toml", limits={"message_size_limit": 200000})
    refused = pair.wizard("apply", "--preset", str(other), "--yes")
    assert refused.returncode == EXIT_USAGE and "waiting for confirmation" in refused.stderr
    assert main_cf(pair) == changed

    r = pair.wizard("confirm")
    assert r.returncode == EXIT_OK and "Confirmed" in r.stdout, r.stdout + r.stderr
    assert pending.read(pair.backup_dir) is None
    pid = int(waiting.timer.split(":")[1])
    assert wait_for(lambda: not Path(f"/proc/{pid}").exists(), 10), "the timer still runs"
    time.sleep(max(0.0, waiting.deadline - time.time()) + 2)
    assert main_cf(pair) == changed
    assert ehlo_features(pair, tls=False, source=fresh_ip())["size"] == str(SIZE_LIMIT)


def test_confirm_needs_the_reload_and_the_probe(make_pair):
    pair = make_pair("unix", configure_sasl=False, start=False)
    before = main_cf(pair)
    for extra in (["--no-reload"], ["--no-probe"]):
        r = pair.wizard("apply", "--preset", "baseline", "--yes", "--confirm", "1m", *extra)
        assert r.returncode == EXIT_USAGE and "--confirm needs the reload" in r.stderr
    r = pair.wizard("apply", "--preset", "baseline", "--yes", "--confirm", "5s")
    assert r.returncode == EXIT_USAGE and "too short" in r.stderr
    assert main_cf(pair) == before


# The wizard's screens on the live pair -------------------------------------------------------------

def live_app(pair):
    """The wizard on the live pair, with reloads, and a preset that lowers message_size_limit."""
    from screens.app import Loaded, WizardApp
    from wizard.settings import presets
    from wizard.server.state import Server
    preset = pair.write_preset(pair.root / "p.toml", limits={"message_size_limit": SIZE_LIMIT})

    def load() -> Loaded:
        return Loaded(Server.load(pair.postfix_dir, pair.dovecot_dir),
                      presets.load(presets.find(str(preset))))
    return WizardApp(load, pair.backup_dir, reload=True)


async def press_apply_and_confirm(pilot) -> None:
    """From the first screen: to Save and apply (Ctrl+S with no preset file), then "Apply,
    confirm in 5 min", then Apply in the dialog."""
    from screens.dialogs.confirm import Confirm
    from snapshot_apps.factory import tab_to_id
    await pilot.press("ctrl+s")
    await tab_to_id(pilot, "apply-confirm-button")
    await pilot.press("enter")
    assert isinstance(pilot.app.screen, Confirm)
    await pilot.press("tab", "enter")
    await pilot.pause()


@pytest.mark.asyncio
async def test_the_wizard_shows_each_step_then_counts_down_until_confirmed(make_pair):
    from screens.apply_progress import ApplyProgress
    from screens.dialogs.confirm import Confirm
    from snapshot_apps.factory import started
    pair = make_pair("unix")
    app = live_app(pair)
    async with started(app, size=(80, 24)) as pilot:
        await press_apply_and_confirm(pilot)
        progress = app.screen
        assert isinstance(progress, ApplyProgress) and not progress.done
        await pilot.press("ctrl+q")                  # refused while the change runs
        assert app.is_running and app.screen is progress
        await app.workers.wait_for_complete()
        await pilot.pause()
        steps = str(progress.query_one("#applied-steps").render())
        for step in ("staged and checked", "backed up to set", "wrote ", "Postfix reloaded",
                     "probing the live server", "the live check passed", "pending until"):
            assert step in steps, steps
        assert "The live check passed." in str(progress.query_one("#verdict").render())
        countdown = str(progress.query_one("#countdown").render())
        assert countdown.startswith(("Confirm within 4:", "Confirm within 5:00")), countdown
        waiting = pending.read(pair.backup_dir)
        assert waiting is not None and app.focused.id == "confirm-change"

        await pilot.press("escape", "ctrl+q")        # quitting while pending says what happens
        assert isinstance(app.screen, Confirm)
        question = str(app.screen.query_one("Static.title").render()) + \
            str(app.screen.query("Static")[1].render())
        assert "previous files come back" in question and waiting.deadline_text() in question
        await pilot.press("enter")                   # Stay
        assert app.is_running
        assert ehlo_features(pair, tls=False, source=fresh_ip())["size"] == str(SIZE_LIMIT)

    # The change is confirmed from the command line, as the quit warning says
    assert pair.wizard("confirm").returncode == EXIT_OK and pending.read(pair.backup_dir) is None


@pytest.mark.asyncio
async def test_the_confirm_button_keeps_the_change(make_pair):
    from snapshot_apps.factory import started
    pair = make_pair("unix")
    app = live_app(pair)
    async with started(app, size=(80, 24)) as pilot:
        await press_apply_and_confirm(pilot)
        await app.workers.wait_for_complete()
        await pilot.pause()
        waiting = pending.read(pair.backup_dir)
        assert waiting is not None
        await pilot.press("c")
        assert pending.read(pair.backup_dir) is None
        assert "Confirmed: the change stays." in str(app.screen.query_one("#countdown").render())
        pid = int(waiting.timer.split(":")[1])
        assert wait_for(lambda: not Path(f"/proc/{pid}").exists(), 10), "the timer still runs"
        await pilot.press("escape", "ctrl+q")        # nothing pending, nothing unsaved: quits
        await pilot.pause()
        assert not app.is_running


def test_a_rollback_decides_a_pending_change(make_pair):
    pair = make_pair("unix")
    before = main_cf(pair)
    preset = pair.write_preset(pair.root / "p.toml", limits={"message_size_limit": SIZE_LIMIT})
    pair.wizard("apply", "--preset", str(preset), "--yes", "--confirm", "5m")
    waiting = pending.read(pair.backup_dir)
    assert waiting is not None
    r = pair.rollback()
    assert "no longer pending: this rollback decided" in r.stdout, r.stdout
    assert pending.read(pair.backup_dir) is None and main_cf(pair) == before
    pid = int(waiting.timer.split(":")[1])
    assert wait_for(lambda: not Path(f"/proc/{pid}").exists(), 10), "the timer still runs"
