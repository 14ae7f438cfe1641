"""A tmux server of its own for terminal tests: start a command at 80x24, type, read the screen."""

from __future__ import annotations

import subprocess
import time


class Tmux:
    def __init__(self, socket: str):
        self.socket = socket
        self.socket_path = ""

    def run(self, *args: str, check: bool = True) -> str:
        return subprocess.run(["tmux", "-L", self.socket, "-f", "/dev/null", *args],
                              capture_output=True, text=True, check=check, timeout=20).stdout

    def start(self, command: str, env: dict[str, str]) -> None:
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
        # tmux may report the pane dead a moment before it has the exit status
        while self.pane("pane_dead") != "1" or not self.pane("pane_dead_status"):
            if time.monotonic() > deadline:
                raise AssertionError(
                    f"the wizard did not exit (dead={self.pane('pane_dead')!r} status="
                    f"{self.pane('pane_dead_status')!r} signal={self.pane('pane_dead_signal')!r}"
                    f" processes={subprocess.run(['ps', '-eo', 'pid,stat,args'], text=True, capture_output=True).stdout[-3000:]!r}); the screen is:\n"
                    f"{self.screen()}")
            time.sleep(0.1)
        return int(self.pane("pane_dead_status"))
