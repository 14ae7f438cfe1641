#!/usr/bin/env python3
"""Benchmarks for the interactive wizard (Textual), headless.

    python bench/bench_ui.py [-n RUNS] [-k KEYSTROKES]

0. In a real terminal (tmux, 80x24), as a user starts it: from `tmux respawn-pane` to the first
   paint (title, step list and Footer on screen) and to the complete overview (the Postfix and
   Dovecot versions on screen: the forked reader's text, screens/overview.py) of
   `postfix-wizard --demo`, against a bare Textual app (Header, Label, Input, Footer) started
   the same way, until its Footer is on screen. The screen is read every 5 ms through one tmux
   control-mode client. Targets: first paint within 1.2x, overview 1.5x.
1. Start-up (headless): from process start (the parent's clock just before it spawns the child)
   to the app's `ready` event (the configuration read in its own worker, no forked reader: the
   moment Start leads to the first step), for the wizard on a copy of samples/debian12, against
   a bare Textual app with a Header, an Input and a Footer that exits after its first refresh.
   Target: 1.5x.
2. Keystroke to validation message: in a Pilot session at 80x24, on the Connection limits step,
   the time from `pilot.press(key)` to the FieldRow's message being updated (its show_findings,
   which updates the .message Static), alternating "x" (an ERROR appears) and Backspace (it
   goes). Also the time until the next screen refresh that follows it, and until press()
   returns (Pilot waits for the app to be idle). Target: median under 16 ms.
3. Peak memory: ru_maxrss of a child that runs the wizard through one full flow (Start, a rate
   limit, SMTP AUTH with tls_auth_only, Review, Save and apply, Apply with its real
   postconf/doveconf check, quit), against the bare app started and stopped. Target: < 100 MiB.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "tests"))

STARTUP_RATIO_TARGET = 1.5
PAINT_RATIO_TARGET, OVERVIEW_RATIO_TARGET = 1.2, 1.5
KEYSTROKE_TARGET_MS = 16.0
MEMORY_TARGET_MIB = 100.0


# Children ------------------------------------------------------------------------------------

def child_bare() -> None:
    from textual.app import App
    from textual.widgets import Footer, Header, Input

    class Bare(App):
        def compose(self):
            yield Header()
            yield Input(placeholder="type here")
            yield Footer()

        def on_mount(self) -> None:
            self.call_after_refresh(self.ready)

        def ready(self) -> None:
            print(f"READY {time.time():.6f}", flush=True)
            self.exit()

    Bare().run(headless=True, size=(80, 24))


def child_wizard() -> None:
    """Headless: until the overview is complete (the configuration read in the app's worker)."""
    from snapshot_apps.factory import make_app

    async def timed(app) -> None:
        async with app.run_test(size=(80, 24)):
            await app.ready.wait()
            print(f"READY {time.time():.6f}", flush=True)

    with tempfile.TemporaryDirectory(prefix="bench-ui-") as workdir:
        asyncio.run(timed(make_app(Path(workdir) / "demo")))


def child_flow() -> None:
    """The whole flow once, headless; prints OK when the apply worked."""
    from snapshot_apps.factory import focus_field, make_app, started, type_into_focused

    async def flow(app) -> None:
        async with started(app, size=(80, 24)) as pilot:
            await pilot.press("enter")
            await type_into_focused(pilot, "30")
            await pilot.press("ctrl+n", "ctrl+n", "space")
            await focus_field(pilot, "sasl.tls_auth_only")
            await pilot.press("space", "ctrl+n", "ctrl+n")
            assert app.step_id == "apply", app.step_id
            app.query_one("#apply-button").focus()
            await pilot.press("enter", "tab", "enter")
            await pilot.pause()
            assert app.applied
            await pilot.press("ctrl+q")

    with tempfile.TemporaryDirectory(prefix="bench-ui-") as workdir:
        app = make_app(Path(workdir) / "demo")
        asyncio.run(flow(app))
    print("OK", flush=True)


def child_bare_memory() -> None:
    child_bare()


def child_bare_terminal() -> None:
    """The bare app in a real terminal, until Ctrl+Q."""
    from textual.app import App
    from textual.binding import Binding
    from textual.widgets import Footer, Header, Input, Label

    class Bare(App):
        TITLE = "bare-app"
        BINDINGS = [Binding("ctrl+q", "quit", "Quit")]

        def compose(self):
            yield Header()
            yield Label("ready")
            yield Input(placeholder="type here")
            yield Footer()

    Bare().run()


CHILDREN = {"bare": child_bare, "wizard": child_wizard, "flow": child_flow,
            "bare-memory": child_bare_memory, "bare-terminal": child_bare_terminal}


# Measurements --------------------------------------------------------------------------------

def spawn(kind: str) -> tuple[str, float]:
    """Run a child; return its output and the parent's clock just before the spawn."""
    started = time.time()
    process = subprocess.run([sys.executable, __file__, "--child", kind], cwd=ROOT,
                             capture_output=True, text=True, timeout=120,
                             env={**os.environ, "PYTHONPATH": str(ROOT)})
    if process.returncode != 0:
        raise SystemExit(f"child {kind} failed ({process.returncode}):\n{process.stderr}")
    return process.stdout, started


def spawn_rss(kind: str) -> tuple[str, int]:
    """Run a child with os.wait4 to get its own peak RSS (KiB)."""
    process = subprocess.Popen([sys.executable, __file__, "--child", kind], cwd=ROOT,
                               stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                               env={**os.environ, "PYTHONPATH": str(ROOT)})
    out = process.stdout.read().decode()
    err = process.stderr.read().decode()
    _, status, usage = os.wait4(process.pid, 0)
    process.returncode = os.waitstatus_to_exitcode(status)
    if process.returncode != 0:
        raise SystemExit(f"child {kind} failed ({process.returncode}):\n{err}")
    return out, usage.ru_maxrss


def startup_ms(kind: str) -> float:
    out, started = spawn(kind)
    ready = [line for line in out.splitlines() if line.startswith("READY ")]
    if not ready:
        raise SystemExit(f"child {kind} never got ready:\n{out}")
    return (float(ready[0].split()[1]) - started) * 1000


class ControlClient:
    """One tmux control-mode client (`tmux -C`) that reads the screen on request. Polling with a
    new `tmux capture-pane` process every few ms would itself take a good part of a core, and
    start-up is measured on a 2-core machine."""

    def __init__(self, tmux_args: list[str]) -> None:
        self.process = subprocess.Popen([*tmux_args, "-C", "attach", "-t", "b"], text=True,
                                        encoding="utf-8", errors="replace",
                                        stdin=subprocess.PIPE, stdout=subprocess.PIPE)

    def screen(self) -> str:
        self.process.stdin.write("capture-pane -p -t b\n")
        self.process.stdin.flush()
        lines, inside = [], False
        for line in self.process.stdout:
            if line.startswith("%begin"):
                inside = True
            elif line.startswith(("%end", "%error")) and inside:
                return "".join(lines)
            elif inside:
                lines.append(line)
        raise SystemExit("tmux control client ended")

    def close(self) -> None:
        self.process.stdin.close()
        self.process.wait(timeout=10)


def in_terminal(command: str, marks: dict[str, tuple[str, ...]]) -> dict[str, float]:
    """ms from starting `command` in a fresh 80x24 tmux pane until each mark's texts are all on
    screen."""
    from tmux_session import Tmux
    session = Tmux(f"bench-{os.getpid()}-{time.monotonic_ns()}")
    tmux = session.run
    tmux("new-session", "-d", "-s", "b", "-x", "80", "-y", "24", "sleep 600")
    client = ControlClient(["tmux", "-L", session.socket, "-f", "/dev/null"])
    try:
        time.sleep(0.3)
        started = time.monotonic()
        tmux("respawn-pane", "-k", "-t", "b",
             f"cd {tempfile.gettempdir()} && TERM=xterm-256color exec {command}")
        seen: dict[str, float] = {}
        while len(seen) < len(marks) and time.monotonic() - started < 30:
            screen = client.screen()
            now = time.monotonic()
            for name, texts in marks.items():
                if name not in seen and all(text in screen for text in texts):
                    seen[name] = (now - started) * 1000
            time.sleep(0.005)
        if len(seen) < len(marks):
            raise SystemExit(f"{command} never showed {marks}; the screen is:\n{screen}")
        return seen
    finally:
        tmux("kill-server", check=False)
        client.close()


def terminal_startups(runs: int) -> dict[str, list[float]]:
    wizard = f"{Path(sys.executable).parent / 'postfix-wizard'} --demo"
    bare = f"{sys.executable} {__file__} --child bare-terminal"
    found: dict[str, list[float]] = {"bare": [], "paint": [], "overview": []}
    for _ in range(runs):                                       # interleaved: fair under load
        found["bare"].append(in_terminal(bare, {"paint": ("bare-app", "^q Quit")})["paint"])
        marks = in_terminal(wizard, {"paint": ("postfix-wizard", "1 Overview", "^q Quit"),
                                     "overview": ("Postfix 3.", "Dovecot 2.")})
        for name in ("paint", "overview"):
            found[name].append(marks[name])
    return found


def keystrokes(count: int) -> dict[str, list[float]]:
    from screens.fields import FieldRow
    from snapshot_apps.factory import focus_field, make_app, started

    key = "limits.anvil_rate_time_unit"
    times: dict[str, list[float]] = {"message": [], "refresh": [], "press": []}

    async def run(app) -> None:
        async with started(app, size=(80, 24)) as pilot:
            await pilot.press("enter")
            await focus_field(pilot, key)
            await pilot.press("end")
            row = app.query_one(f"#field-{key.replace('.', '-')}", FieldRow)
            message = row.query_one(".message")
            marks: dict[str, float] = {}
            original = row.show_findings

            def show_findings(findings):
                original(findings)
                marks.setdefault("message", time.perf_counter())
            row.show_findings = show_findings

            screen = app.screen
            original_refresh = screen._compositor_refresh

            def compositor_refresh():
                original_refresh()
                if "message" in marks:
                    marks.setdefault("refresh", time.perf_counter())
            screen._compositor_refresh = compositor_refresh

            for index in range(count):
                typed = "x" if index % 2 == 0 else "backspace"
                marks.clear()
                start = time.perf_counter()
                await pilot.press(typed)
                end = time.perf_counter()
                shown = str(message.render())
                assert shown.startswith("ERROR") == (typed == "x"), (typed, shown)
                times["message"].append((marks["message"] - start) * 1000)
                if "refresh" in marks:
                    times["refresh"].append((marks["refresh"] - start) * 1000)
                times["press"].append((end - start) * 1000)

    with tempfile.TemporaryDirectory(prefix="bench-ui-") as workdir:
        asyncio.run(run(make_app(Path(workdir) / "demo")))
    return times


def percentile(values: list[float], fraction: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(fraction * len(ordered)))]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("-n", "--runs", type=int, default=7, help="start-ups of each app (7)")
    parser.add_argument("-k", "--keystrokes", type=int, default=100, help="keystrokes (100)")
    parser.add_argument("--child", choices=CHILDREN, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        CHILDREN[args.child]()
        return

    print(f"python {sys.version.split()[0]}, textual "
          f"{__import__('textual').__version__}, {os.cpu_count()} CPUs, "
          f"load {os.getloadavg()[0]:.2f}\n")

    terminal = terminal_startups(args.runs)
    term_bare = statistics.median(terminal["bare"])
    paint_ms, overview_ms = (statistics.median(terminal[name]) for name in ("paint", "overview"))

    bare, wizard = [], []
    startup_ms("bare"), startup_ms("wizard")                    # warm the page cache
    for _ in range(args.runs):                                  # interleaved: fair under load
        bare.append(startup_ms("bare"))
        wizard.append(startup_ms("wizard"))
    bare_ms, wizard_ms = statistics.median(bare), statistics.median(wizard)

    times = keystrokes(args.keystrokes)
    message_ms = statistics.median(times["message"])

    flow_out, flow_kib = spawn_rss("flow")
    assert "OK" in flow_out, flow_out
    _, bare_kib = spawn_rss("bare-memory")

    rows = [
        ("tmux: first paint (ms)", paint_ms, "bare Header/Label/Input/Footer", term_bare,
         f"ratio <= {PAINT_RATIO_TARGET}x", paint_ms / term_bare <= PAINT_RATIO_TARGET),
        ("tmux: overview complete (ms)", overview_ms, "same bare app", term_bare,
         f"ratio <= {OVERVIEW_RATIO_TARGET}x", overview_ms / term_bare <= OVERVIEW_RATIO_TARGET),
        ("headless: app ready (ms)", wizard_ms, "bare Header/Input/Footer", bare_ms,
         f"ratio <= {STARTUP_RATIO_TARGET}x", wizard_ms / bare_ms <= STARTUP_RATIO_TARGET),
        ("keystroke -> message (ms)", message_ms, "", None,
         f"< {KEYSTROKE_TARGET_MS:.0f} ms", message_ms < KEYSTROKE_TARGET_MS),
        ("keystroke -> next refresh (ms)", statistics.median(times["refresh"] or [0]), "",
         None, "(info)", None),
        ("pilot.press() returns (ms)", statistics.median(times["press"]), "", None,
         "(info)", None),
        ("peak RSS, full flow (MiB)", flow_kib / 1024, "bare app start/stop", bare_kib / 1024,
         f"< {MEMORY_TARGET_MIB:.0f} MiB", flow_kib / 1024 < MEMORY_TARGET_MIB),
    ]
    print(f"start-ups: {args.runs} of each (median); keystrokes: {args.keystrokes} "
          f"(median; p90 message {percentile(times['message'], 0.9):.1f} ms)\n")
    print(f"{'measurement':32} {'median':>8} {'baseline':30} {'median':>8} {'ratio':>6}  "
          f"{'target':16} ok")
    print("-" * 110)
    for name, value, base_name, base, target, ok in rows:
        ratio = f"{value / base:5.2f}x" if base else ""
        base_text = f"{base:8.1f}" if base is not None else ""
        verdict = "" if ok is None else ("yes" if ok else "NO")
        print(f"{name:32} {value:8.1f} {base_name:30} {base_text:>8} {ratio:>6}  "
              f"{target:16} {verdict}")
    print(f"\nstart-up runs (ms): wizard {', '.join(f'{v:.0f}' for v in wizard)}; "
          f"bare {', '.join(f'{v:.0f}' for v in bare)}")


if __name__ == "__main__":
    main()
