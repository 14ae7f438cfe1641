#!/usr/bin/env python3
"""Benchmarks for the wizard's core: editing a large main.cf, and start-up import cost.

    python bench/bench_core.py [-n RUNS]

1. Parse a 10,000-line main.cf (corpus entries repeated under new names, comments and
   continuation lines kept), set the eight DoS parameters with MainCf.edited(), and build the
   unified diff shown to the admin. Target: median under 50 ms. Baseline: splitlines + join of
   the same text.
2. `python -c "import wizard.files.maincf, wizard.settings.model, wizard.rules,
   wizard.change.plan"` (and `import wizard.cli`) in a fresh
   interpreter, against `python -c "pass"`; the same child reports whether textual got imported
   (the core must not pull in the UI toolkit).
"""

from __future__ import annotations

import argparse
import difflib
import os
import re
import statistics
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from wizard.settings import presets
from wizard.files.maincf import MainCf
from wizard.change.plan import limit_texts

CORPUS = Path(os.environ.get("POSTFIX_WIZARD_CORPUS")
              or Path(__file__).resolve().parents[2] / "shared" / "corpus")
BROKEN = ("iredmail__", "modoboa__", "pavelkova__")
LINES = 10_000
TARGET_MS = 50.0
# The hardening guide's eight values, from the shipped preset (one place for them).
DOS = limit_texts(presets.load(presets.find("rhel9-guide")).settings.limits)
_NAME_LINE = re.compile(r"^([A-Za-z0-9_][A-Za-z0-9_.-]*)(\s*=)", re.M)

SYNTHETIC = """\
# The internet hostname of this mail system.
myhostname = mail.example.org
mydomain = example.org

smtpd_recipient_restrictions =
    permit_mynetworks,
    # local blacklist
    check_recipient_access hash:/etc/postfix/recipient_access,
    reject_unauth_destination
message_size_limit = 20480000
#relayhost = [mail.isp.example]
alias_maps = hash:/etc/aliases
"""


def sources() -> tuple[list[str], str]:
    folder = CORPUS / "postfix"
    if folder.is_dir():
        files = sorted(p for p in folder.iterdir()
                       if "master.cf" not in p.name and not p.name.startswith(BROKEN))
        texts = [p.read_bytes().decode("utf-8", errors="surrogateescape") for p in files]
        return [t if t.endswith("\n") else t + "\n" for t in texts], f"{len(files)} corpus files"
    return [SYNTHETIC], f"synthetic sample (corpus {folder} missing)"


def big_main_cf() -> tuple[str, str]:
    """Corpus files back to back; each pass after the first renames every parameter (name_rN)
    so the file stays a plausible main.cf rather than one long run of duplicates."""
    texts, origin = sources()
    parts, count, round_ = [], 0, 0
    while count < LINES:
        for text in texts:
            if round_:
                text = _NAME_LINE.sub(lambda m, r=round_: f"{m[1]}_r{r}{m[2]}", text)
            lines = text.splitlines(keepends=True)[: LINES - count]
            parts.extend(lines)
            count += len(lines)
            if count >= LINES:
                break
        round_ += 1
    return "".join(parts), origin


def edit_and_diff(text: str) -> list[str]:
    doc = MainCf.parse(text, "main.cf")
    new = doc.edited(DOS)
    return list(difflib.unified_diff(text.splitlines(keepends=True), new.splitlines(keepends=True),
                                     "main.cf", "main.cf (new)"))


def baseline(text: str) -> str:
    return "".join(text.splitlines(keepends=True))


def median_ms(function, *args, runs: int) -> float:
    times = []
    for _ in range(runs):
        start = time.perf_counter()
        function(*args)
        times.append((time.perf_counter() - start) * 1000)
    return statistics.median(times)


IMPORT_CORE = ("import sys, wizard.files.maincf, wizard.settings.model, wizard.rules, "
               "wizard.change.plan; print('textual' in sys.modules)")
# The command line before a command runs (what `presets` or `backups` add to it is small):
# it must load neither Textual, nor pydantic, nor tomlkit.
IMPORT_CLI = ("import sys, wizard.cli; "
              "print(sorted(m for m in ('textual', 'pydantic', 'tomlkit') if m in sys.modules))")


def child_ms(code: str, runs: int) -> tuple[float, str]:
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    times, output = [], ""
    for _ in range(runs):
        start = time.perf_counter()
        result = subprocess.run([sys.executable, "-c", code], cwd=ROOT, env=env,
                                capture_output=True, text=True)
        times.append((time.perf_counter() - start) * 1000)
        if result.returncode:
            sys.exit(f"child failed: {result.stderr.strip()}")
        output = result.stdout.strip()
    return statistics.median(times), output


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("-n", "--runs", type=int, default=15, help="runs per measurement (15)")
    runs = parser.parse_args().runs

    text, origin = big_main_cf()
    diff = edit_and_diff(text)                      # warm-up, and a sanity check
    changed = sum(1 for line in diff if line[:1] in "+-" and line[:3] not in ("+++", "---"))
    doc = MainCf.parse(text)
    edit = median_ms(edit_and_diff, text, runs=runs)
    base = median_ms(baseline, text, runs=runs)
    core, textual_loaded = child_ms(IMPORT_CORE, runs)
    cli, cli_loaded = child_ms(IMPORT_CLI, runs)
    bare, _ = child_ms("pass", runs)

    print(f"main.cf: {len(text.splitlines())} lines, {len(text):,} bytes, {len(doc.entries)} "
          f"entries, from {origin}; diff changes {changed} lines")
    print(f"runs per row: {runs} (median)\n")
    rows = [
        ("parse + edit 8 + unified diff", edit, "splitlines + join", base),
        ("import core modules (subprocess)", core, "python -c pass", bare),
        ("import wizard.cli (subprocess)", cli, "python -c pass", bare),
    ]
    print(f"{'measurement':34} {'median ms':>10} {'baseline':20} {'median ms':>10} {'ratio':>7}")
    print("-" * 85)
    for name, value, base_name, base_value in rows:
        print(f"{name:34} {value:10.2f} {base_name:20} {base_value:10.2f} {value / base_value:6.1f}x")
    print()
    verdict = "met" if edit < TARGET_MS else "MISSED"
    print(f"target parse+edit+diff < {TARGET_MS:.0f} ms: {verdict} ({edit:.2f} ms)")
    print(f"textual imported by the core modules: {'YES (unwanted)' if textual_loaded == 'True' else 'no'}")
    print(f"core import cost above bare interpreter: {core - bare:.1f} ms")
    print(f"command line import cost above bare interpreter: {cli - bare:.1f} ms "
          f"(heavy modules loaded: {cli_loaded})")


if __name__ == "__main__":
    main()
