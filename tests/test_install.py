"""Installed as users install it: build the sdist and, from it, the wheel; install the wheel into
a fresh virtual environment outside the checkout; run the commands and the wizard from there.

Proves that everything the program reads at run time (the shipped presets, the --demo sample)
travels inside the packages and is found through them, not through the source tree.
"""

from __future__ import annotations

import re
import shutil
import subprocess
import sys
import tarfile
import venv
import zipfile
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
SHIPPED = sorted(p.stem for p in (ROOT / "presets").glob("*.toml"))
SAMPLE_FILES = sorted(str(p.relative_to(ROOT)) for p in (ROOT / "samples").rglob("*")
                      if p.is_file() and "__pycache__" not in p.parts)


@pytest.fixture(scope="module")
def built(tmp_path_factory) -> Path:
    """sdist and wheel (the wheel built from the sdist, as `python -m build` does)."""
    out = tmp_path_factory.mktemp("dist")
    subprocess.run([sys.executable, "-m", "build", "--outdir", str(out), str(ROOT)],
                   check=True, capture_output=True, timeout=300)
    return out


@pytest.fixture(scope="module")
def installed(built, tmp_path_factory) -> Path:
    """A fresh virtual environment holding only the wheel and its dependencies."""
    env = tmp_path_factory.mktemp("venv") / "env"
    venv.create(env, with_pip=True)
    wheel = next(built.glob("*.whl"))
    subprocess.run([env / "bin" / "pip", "install", "-q", str(wheel)], check=True,
                   capture_output=True, timeout=600)
    return env


def wizard(env: Path, *args: str, cwd: Path) -> subprocess.CompletedProcess:
    result = subprocess.run([env / "bin" / "postfix-wizard", *args], cwd=cwd, text=True,
                            capture_output=True, timeout=120, stdin=subprocess.DEVNULL,
                            env={"PATH": "/usr/sbin:/usr/bin:/sbin:/bin", "HOME": str(cwd)})
    assert "Traceback" not in result.stdout + result.stderr, result.stderr
    return result


def test_sdist_and_wheel_carry_the_presets_and_the_sample(built):
    wheel = zipfile.ZipFile(next(built.glob("*.whl"))).namelist()
    assert {f"wizard/shipped_presets/{name}.toml" for name in SHIPPED} <= set(wheel)
    assert {"wizard/" + f for f in SAMPLE_FILES if "__init__" not in f} <= set(wheel)
    with tarfile.open(next(built.glob("*.tar.gz"))) as sdist:
        names = {n.split("/", 1)[1] for n in sdist.getnames() if "/" in n}
    assert {f"presets/{name}.toml" for name in SHIPPED} <= names
    assert set(SAMPLE_FILES) <= names


def test_the_installed_wizard_runs_outside_the_checkout(installed, tmp_path):
    where = subprocess.run([installed / "bin" / "python", "-c",
                            "import wizard, wizard.resources as r; print(wizard.__file__); "
                            "print(r.presets_dir())"],
                           cwd=tmp_path, capture_output=True, text=True, check=True).stdout
    assert str(ROOT) not in where and str(installed) in where

    listed = wizard(installed, "presets", cwd=tmp_path)
    assert listed.returncode == 0 and all(name in listed.stdout for name in SHIPPED), listed

    for demo, versions in (([], ("Postfix 3.10.13 in ", "Dovecot 2.4.1 in ")),
                           (["debian12"], ("Postfix 3.7.11 in ", "Dovecot 2.3.19.1 in "))):
        check = wizard(installed, "check", "--demo", *demo, cwd=tmp_path)
        assert check.returncode == 0, check.stdout + check.stderr
        assert "Demo: working on a temporary copy" in check.stdout
        assert all(version in check.stdout for version in versions), check.stdout

    apply = wizard(installed, "apply", "--demo", "--preset", "rhel9-guide", "--yes", cwd=tmp_path)
    assert apply.returncode == 0, apply.stdout + apply.stderr
    assert re.search(r"^  wrote \S+/postfix/main.cf$", apply.stdout, re.MULTILINE), apply.stdout

    traffic = wizard(installed, "traffic", "--demo", cwd=tmp_path)    # the packaged demo log
    assert traffic.returncode == 0, traffic.stdout + traffic.stderr
    assert "/samples/traffic/mail.log" in traffic.stdout and "203.0.113.66" in traffic.stdout


@pytest.mark.skipif(not shutil.which("tmux"), reason="tmux is not installed")
def test_the_installed_wizard_paints_its_first_screen(installed, tmp_path, tmux):
    tmux.start(f"cd {tmp_path} && exec {installed}/bin/postfix-wizard --demo",
               {"TERM": "xterm-256color"})
    tmux.wait_for("Overview: what was found")
    shown = tmux.wait_for("Dovecot 2.")
    assert "1 Overview" in shown and "Dovecot 2.4.1" in shown and "<demo>/postfix" in shown
    tmux.send("C-q")
    assert tmux.wait_dead() == 0
