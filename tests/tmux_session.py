"""A tmux server of its own for terminal tests: start a command at 80x24, type, read the screen."""

from __future__ import annotations

import os
import subprocess
import tempfile
import time


class Tmux:
    def __init__(self, socket: str):
        self.socket = socket
        self.socket_path = ""
        self.status_file = os.path.join(tempfile.mkdtemp(prefix="pwtmux-"), "status")

    def run(self, *args: str, check: bool = True) -> str:
        return subprocess.run(["tmux", "-L", self.socket, "-f", "/dev/null", *args],
                              capture_output=True, text=True, check=check, timeout=20).stdout

    def start(self, command: str, env: dict[str, str]) -> None:
        """The command runs under a shell that records its exit status: tmux 3.3a sometimes
        leaves its pane's process unreaped (a zombie, pane dead with no status)."""
        command = f"({command}); echo $? > {self.status_file}"
        self.run("new-session", "-d", "-s", "wiz", "-x", "80", "-y", "24",
                 "env", "-u", "COLORTERM", "-u", "NO_COLOR",
                 *[f"{k}={v}" for k, v in env.items()], "sh", "-c", command)
        self.run("set-option", "-t", "wiz", "remain-on-exit", "on")
        self.socket_path = self.pane("socket_path")

    def send(self, *keys: str, gap: float = 0.15) -> None:
        """One key (tmux key name or literal text) at a time, as a person types. (Textual 8.2.8
        drops characters that arrive in the same read as an escape sequence such as Home: a
        bare Textual Input given 'Home C-k lots' in one write ends up empty.)"""
        for key in keys:
            self.run("send-keys", "-t", "wiz", key)
            time.sleep(gap)

    def screen(self, escapes: bool = False) -> str:
        return self.run("capture-pane", "-p", "-t", "wiz", *(["-e"] if escapes else []))

    def wait_for(self, text: str, timeout: float = 20.0) -> str:
        deadline = time.monotonic() + timeout
        while True:
            shown = self.screen()
            if text in shown:
                return shown
            if time.monotonic() > deadline:
                raise AssertionError(f"{text!r} never appeared; the screen is:\n{shown}")
            time.sleep(0.1)

    def pane(self, what: str) -> str:
        return self.run("display-message", "-p", "-t", "wiz", f"#{{{what}}}").strip()

    def wait_dead(self, timeout: float = 15.0) -> int:
        deadline = time.monotonic() + timeout
        while not os.path.exists(self.status_file) or not open(self.status_file).read():
            if time.monotonic() > deadline:
                raise AssertionError(f"the wizard did not exit; the screen is:\n{self.screen()}")
            time.sleep(0.1)
        return int(open(self.status_file).read())
