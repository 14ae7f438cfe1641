"""Benchmark: `postfix-wizard traffic` on a 2,000,000-line log with 50,000 clients, against
pflogsumm (Debian's package) and a bare Python loop that counts connect lines, same file, same run.
The wizard runs twice: as an admin runs it (the table of the busiest clients, like pflogsumm's
report), and with --json, which writes every one of the 50,000 clients; and both again with the
pure-Python scanner (POSTFIX_WIZARD_SCANNER=python: what a server without a C compiler runs),
compared with the C scanner's.

    python bench/bench_traffic.py [-n RUNS] [--python-runs N] [--lines N] [--clients N]

Each program runs as its own process, RUNS times in turn; the medians of wall time and of peak
memory (the process's maximum resident set size) are printed, with the ratios. The log is written
once to a temporary directory: Debian 12's rsyslog shape (RFC 3339), smtpd sessions (connect,
client=, disconnect with command counts), qmgr sizes, some limit warnings, and other daemons'
lines, in the proportions of a small relay.
"""

from __future__ import annotations

import argparse
import os
import random
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
BARE_LOOP = """
import sys
count = 0
with open(sys.argv[1], encoding="utf-8", errors="replace") as log:
    for line in log:
        if "connect from" in line:
            count += 1
print(count)
"""


def write_log(path: Path, lines: int, clients: int) -> None:
    rng = random.Random(7)
    addresses = [f"10.{i >> 16 & 255}.{i >> 8 & 255}.{i & 255}" for i in range(clients)]
    start, written, pid, queue = 1_780_000_000, 0, 1000, 0
    with open(path, "w") as log:
        while written < lines:
            now = start + written // 20
            stamp = time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(now)) + ".123456+00:00 mx "
            address = addresses[rng.randrange(clients)]
            pid += 1
            queue += 1
            mail = rng.choice((0, 1, 1, 2))
            session = [f"postfix/smtpd[{pid}]: connect from client{queue}.example[{address}]"]
            if mail:
                session.append(f"postfix/smtpd[{pid}]: {queue:010X}: client=client.example"
                               f"[{address}]")
                session.append(f"postfix/qmgr[99]: {queue:010X}: from=<a@example.org>, "
                               f"size={rng.randrange(1000, 200000)}, nrcpt=1 (queue active)")
                session.append(f"postfix/smtp[{pid + 1}]: {queue:010X}: to=<b@example.net>, "
                               "relay=mx.example.net[192.0.2.1]:25, delay=1, status=sent")
            if rng.random() < 0.01:
                session.append(f"postfix/smtpd[{pid}]: warning: Connection rate limit "
                               f"exceeded: 31 from client.example[{address}] for service smtp")
            session.append(f"postfix/smtpd[{pid}]: disconnect from client.example[{address}] "
                           f"ehlo=1 mail={mail} rcpt={mail} data={mail} quit=1 "
                           f"commands={2 + 3 * mail}")
            for line in session:
                log.write(stamp + line + "\n")
            written += len(session)


def run(command: list[str], env: dict[str, str] | None = None) -> tuple[float, float]:
    """Wall seconds and peak RSS in MiB of one child process (os.wait4 gives its own)."""
    start = time.perf_counter()
    child = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                             env={**os.environ, **(env or {})})
    _, status, usage = os.wait4(child.pid, 0)
    child.returncode = os.waitstatus_to_exitcode(status)
    wall = time.perf_counter() - start
    if child.returncode != 0:
        raise SystemExit(f"{command[:3]} failed with exit {child.returncode}")
    return wall, usage.ru_maxrss / 1024


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("-n", "--runs", type=int, default=3)
    parser.add_argument("--python-runs", type=int, default=None,
                        help="runs of the Python scanner's rows (default: RUNS; it is slower)")
    parser.add_argument("--lines", type=int, default=2_000_000)
    parser.add_argument("--clients", type=int, default=50_000)
    args = parser.parse_args()
    python_runs = args.python_runs or args.runs
    with tempfile.TemporaryDirectory() as work:
        log = Path(work) / "mail.log"
        write_log(log, args.lines, args.clients)
        demo = ["--demo", "debian12"]
        wizard = [sys.executable, "-m", "wizard", *demo, "traffic", "--log", str(log)]
        c, python = {"POSTFIX_WIZARD_SCANNER": "c"}, {"POSTFIX_WIZARD_SCANNER": "python"}
        programs = {   # name: command, environment, runs
            "postfix-wizard traffic": (wizard, c, args.runs),
            "... traffic --json": ([*wizard, "--json"], c, args.runs),
            "traffic, Python scanner": (wizard, python, python_runs),
            "--json, Python scanner": ([*wizard, "--json"], python, python_runs),
            "bare Python loop": ([sys.executable, "-c", BARE_LOOP, str(log)], None, args.runs),
        }
        if shutil.which("pflogsumm"):
            programs["pflogsumm"] = (["pflogsumm", str(log)], None, args.runs)
        results: dict[str, list[tuple[float, float]]] = {name: [] for name in programs}
        os.chdir(ROOT)
        for turn in range(max(args.runs, python_runs)):
            for name, (command, env, runs) in programs.items():
                if turn < runs:
                    results[name].append(run(command, env))
    lines = args.lines
    print(f"{lines} lines, {args.clients} clients, {args.runs} runs each, the Python scanner's "
          f"{python_runs} (medians)")
    medians = {name: statistics.median(w for w, _ in runs) for name, runs in results.items()}
    for name, runs in results.items():
        memory = statistics.median(m for _, m in runs)
        print(f"  {name:<24} {medians[name]:6.2f} s  {lines / medians[name]:>10,.0f} lines/s  "
              f"peak {memory:6.0f} MiB")
    for name in ("postfix-wizard traffic", "... traffic --json"):
        wizard = medians[name]
        print(f"  {name}:")
        if "pflogsumm" in medians:
            print(f"    throughput vs pflogsumm: {medians['pflogsumm'] / wizard:.1f}x (target 5x)")
        print(f"    time vs the bare loop: {wizard / medians['bare Python loop']:.2f}x "
              "(target within 3x)")
    for name, c_name in (("traffic, Python scanner", "postfix-wizard traffic"),
                         ("--json, Python scanner", "... traffic --json")):
        slow = medians[name]
        print(f"  {name}: {slow / medians[c_name]:.1f}x the C scanner's time", end="")
        if "pflogsumm" in medians:
            print(f", {medians['pflogsumm'] / slow:.2f}x pflogsumm's throughput", end="")
        print(f", {slow / medians['bare Python loop']:.1f}x the bare loop")


if __name__ == "__main__":
    main()
