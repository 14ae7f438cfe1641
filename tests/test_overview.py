"""The overview built by a forked child while Textual loads (screens/overview.py)."""

from __future__ import annotations

import asyncio
import os
import threading
import time

import pytest
from textual.widgets import Static

from screens.overview import EarlyOverview, overview_text
from snapshot_apps.factory import SAMPLE, demo_copy, make_app, started
from wizard.server import versions
from wizard.cli import demo_display
from wizard.errors import ConfigError
from wizard.server.state import Server


def child_is_gone(pid: int) -> bool:
    try:
        os.waitpid(pid, os.WNOHANG)
    except ChildProcessError:
        return True           # reaped already
    return False


def loader(workdir):
    return lambda: Server.load(workdir / "postfix", workdir / "dovecot",
                               versions.recorded(SAMPLE))


def test_the_child_sends_the_overview_the_app_would_build(tmp_path):
    workdir = demo_copy(tmp_path / "demo")
    show = demo_display(workdir)
    early = EarlyOverview(loader(workdir), show, ("a note",))
    received = early.receive()
    expected = overview_text(loader(workdir)(), show, ("a note",))
    assert received.plain == expected.plain and received.spans == expected.spans
    assert "Postfix 3.7" in received.plain and "<demo>/postfix" in received.plain
    assert child_is_gone(early.pid)


def test_a_child_that_fails_sends_nothing_and_writes_nothing_to_the_terminal(tmp_path, capfd):
    def refused():
        print("the child must not write here")
        raise ConfigError(tmp_path / "main.cf", 3, "broken")
    early = EarlyOverview(refused, str, ())
    assert early.receive() is None
    assert child_is_gone(early.pid)
    assert capfd.readouterr() == ("", "")


def test_cancel_ends_a_slow_child_at_once(tmp_path):
    early = EarlyOverview(lambda: time.sleep(30), str, ())
    started_at = time.monotonic()
    result = []
    reader = threading.Thread(target=lambda: result.append(early.receive()))
    reader.start()
    early.cancel()
    reader.join(timeout=5)
    assert result == [None] and time.monotonic() - started_at < 5
    assert child_is_gone(early.pid)
    early.cancel()                         # a second call is harmless


@pytest.mark.asyncio
async def test_the_early_overview_shows_at_once_and_an_early_start_is_kept(tmp_path):
    app = make_app(tmp_path / "demo")
    workdir = tmp_path / "demo"
    release = threading.Event()
    real_load = app.load

    def slow_load():
        release.wait(timeout=30)         # the app's own reader is held back
        return real_load()
    app.load = slow_load
    app.early = EarlyOverview(loader(workdir), demo_display(workdir), ())
    async with app.run_test(size=(80, 24)) as pilot:
        text = app.query_one("#overview-text", Static)
        for _ in range(200):
            if "Postfix 3.7" in str(text.render()):
                break
            await asyncio.sleep(0.05)
        assert "Postfix 3.7" in str(text.render()) and "Dovecot 2.3" in str(text.render())
        await pilot.pause()
        assert app.focused.id == "start"
        await pilot.press("enter")               # before the app's own reader is done
        assert app.session is None and not app.ready.is_set() and app.step_id == "overview"
        release.set()
        await app.ready.wait()
        await pilot.pause()
        assert app.session is not None and app.step_id == "rates"


@pytest.mark.asyncio
async def test_quitting_before_the_child_is_done_ends_it(tmp_path):
    app = make_app(tmp_path / "demo")
    app.early = EarlyOverview(lambda: time.sleep(30), str, ())
    async with started(app, size=(80, 24)) as pilot:
        await pilot.press("ctrl+q")
    for _ in range(100):
        if child_is_gone(app.early.pid):
            break
        await asyncio.sleep(0.05)
    assert child_is_gone(app.early.pid)
