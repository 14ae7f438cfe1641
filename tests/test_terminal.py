"""`postfix-wizard --demo` in a real terminal: tmux, 80x24, with 256 colours, NO_COLOR and 16
colours. Each test has its own tmux server (`tmux -L NAME`), always killed afterwards."""

from __future__ import annotations

import re
import shutil
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]

pytestmark = pytest.mark.skipif(not shutil.which("tmux"), reason="tmux is not installed")

SGR = re.compile(r"\x1b\[([0-9;]*)m")


VARIANTS = {
    "xterm-256color": {"TERM": "xterm-256color"},
    "no-color": {"TERM": "xterm-256color", "NO_COLOR": "1"},
    "xterm-16": {"TERM": "xterm"},
}
SCREENS: dict[str, str] = {}        # variant -> the screen after the refused Ctrl+N


def colours(screen: str) -> set[str]:
    """The colour parameters of the SGR sequences tmux reproduces in a capture."""
    found = set()
    for params in SGR.findall(screen):
        parts = params.split(";")
        i = 0
        while i < len(parts):
            if parts[i] in ("38", "48") and i + 1 < len(parts):
                width = 3 if parts[i + 1] == "5" else 5
                found.add(";".join(parts[i:i + width]))
                i += width
                continue
            if parts[i] and (30 <= int(parts[i]) <= 37 or 40 <= int(parts[i]) <= 47
                             or 90 <= int(parts[i]) <= 107):
                found.add(parts[i])
            i += 1
    return found


def is_grey(colour: str) -> bool:
    parts = colour.split(";")
    if len(parts) == 1:                              # 30-37, 90-97: black, white, greys
        return int(parts[0]) % 10 in (0, 7)
    if parts[1] == "2":
        return parts[2] == parts[3] == parts[4]
    index = int(parts[2])
    return index in (0, 7, 8, 15, 16, 59, 102, 145, 188, 231) or index >= 232


@pytest.mark.parametrize("variant", VARIANTS)
def test_demo_in_tmux(tmux, variant):
    env = {"PYTHONPATH": str(ROOT), **VARIANTS[variant]}
    tmux.start(f"cd {ROOT} && exec {sys.executable} -m wizard --demo", env)
    tmux.wait_for("Overview: what was found")         # painted before the configuration
    shown = tmux.wait_for("Dovecot 2.")               # is read (the forked reader's text)
    assert "<demo>/postfix" in shown and "/tmp" not in shown
    tmux.wait_for("Load preset")                      # the buttons come with that text

    tmux.send("Enter")                               # Start
    tmux.wait_for("Connection rate per client")
    tmux.send("End", "BSpace", "x", "y")             # "0" becomes "xy"
    shown = tmux.wait_for("ERROR: smtpd_client_connection_rate_limit: 'xy'")
    tmux.send("C-n")
    shown = tmux.wait_for("Cannot go on")
    lines = shown.splitlines()
    assert len(lines) <= 24 and all(len(line) <= 80 for line in lines)
    for title in ("1 Overview", "2 Connection limits (1)", "3 Resources, sizes", "4 SMTP AUTH",
                  "5 Review (1)", "6 Save and apply"):
        assert title in shown, title
    assert "Connection limits" in lines[1]           # the pane's title, under the header
    assert "1 error(s) on this screen: fix them to go on." in shown
    assert "Connection rate per client" in shown and "xy" in shown
    assert "not a whole number" in shown
    footer = lines[-1]
    for key in ("^q Quit", "f1 Help", "^n Next", "^p Back", "^r Now", "^t Default",
                "^o Preset", "^s Save"):
        assert key in footer, (key, footer)

    rendered = colours(tmux.screen(escapes=True))
    if variant == "no-color":                        # Textual turns every colour into a grey
        assert rendered and all(is_grey(c) for c in rendered), rendered
    elif variant == "xterm-16":
        assert rendered and not any(c.startswith(("38;2", "48;2")) for c in rendered)
        assert not any(c.startswith(("38;5", "48;5")) and int(c.split(";")[2]) > 15
                       for c in rendered), rendered
    else:
        assert any(c.startswith(("38;5", "48;5", "38;2", "48;2")) for c in rendered)

    screen_text = "\n".join(line.rstrip() for line in lines)
    SCREENS[variant] = screen_text
    if variant != "xterm-256color" and "xterm-256color" in SCREENS:
        assert screen_text == SCREENS["xterm-256color"]

    tmux.send("C-q")
    tmux.wait_for("Your choices are not saved or applied. Quit anyway?")
    tmux.send("Tab", "Enter")                        # Stay -> Quit
    assert tmux.wait_dead() == 0
    assert "Traceback" not in tmux.screen()
