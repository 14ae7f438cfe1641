"""Issue 21: installed from source on a server without a C compiler, the wizard still works.

The sdist is built (`python -m build --sdist`) and pip-installed into a fresh virtual environment
with CC, CXX and LDSHARED set to /bin/false, so setuptools' compile of wizard/traffic/_scan.c fails
as it does where there is no gcc; the extension is optional (setup.py), so the install succeeds
and the reader falls back to pyscan.py. `--version` must say so, and `traffic --json` on the
bundled sample log must equal what the C scanner of this checkout prints.

Dependencies: pip installs the package alone (--no-deps; its build, under build isolation, takes
setuptools and wheel from the index, as any `pip install` of the sdist does, usually from pip's
cache). Textual, pydantic and tomlkit come from the environment running this test, through a .pth
file in the new environment's site-packages, added after the install: same interpreter, so the
same compiled dependencies; nothing else downloaded; and the new environment's own site-packages
stays first on sys.path, so `wizard` is the copy just installed (checked).
"""
from __future__ import annotations

import json
import os
import subprocess
import sys
import sysconfig
import venv
from pathlib import Path

import pytest

from conftest import c_scanner_missing

ROOT = Path(__file__).resolve().parents[1]
SAMPLE_LOG = ROOT / "samples" / "traffic" / "mail.log"
NO_COMPILER = {"CC": "/bin/false", "CXX": "/bin/false", "LDSHARED": "/bin/false"}

pytestmark = pytest.mark.slow


def test_without_a_compiler_the_install_works_with_the_python_scanner(tmp_path):
    subprocess.run([sys.executable, "-m", "build", "--sdist", "--outdir", str(tmp_path / "dist"),
                    str(ROOT)], check=True, capture_output=True, timeout=300)
    sdist = next((tmp_path / "dist").glob("postfix_wizard-*.tar.gz"))
    env = tmp_path / "env"
    venv.create(env, with_pip=True)
    python = env / "bin" / "python"
    built = subprocess.run([python, "-m", "pip", "install", "-v", "--no-deps", str(sdist)],
                           capture_output=True, text=True, timeout=600,
                           env={**os.environ, **NO_COMPILER})
    assert built.returncode == 0, built.stdout[-3000:] + built.stderr[-3000:]
    assert 'building extension "wizard.traffic._scan" failed' in built.stdout + built.stderr
    site = Path(subprocess.run([python, "-c", "import sysconfig; print(sysconfig.get_paths()"
                                "['purelib'])"], capture_output=True, text=True,
                               check=True).stdout.strip())
    (site / "host-dependencies.pth").write_text(sysconfig.get_paths()["purelib"] + "\n")
    package = site / "wizard" / "traffic"
    assert (package / "pyscan.py").is_file() and not list(package.glob("_scan*.so"))

    def wizard(*args: str) -> subprocess.CompletedProcess:
        return subprocess.run([env / "bin" / "postfix-wizard", *args], capture_output=True,
                              text=True, timeout=120, cwd=tmp_path,
                              env={"PATH": os.environ["PATH"], "HOME": str(tmp_path)})

    where = subprocess.run([python, "-c", "import wizard; print(wizard.__file__)"],
                           capture_output=True, text=True, cwd=tmp_path, check=True).stdout
    assert where.startswith(str(site)), where
    version = wizard("--version")
    assert version.returncode == 0, version.stderr
    assert version.stdout.endswith(", log scanner: Python (no C extension: slower))\n"), \
        version.stdout
    forced = wizard("--demo", "debian12", "traffic", "--log", str(SAMPLE_LOG), "--json")
    assert forced.returncode == 0, forced.stderr
    python_result = json.loads(forced.stdout)
    assert python_result.pop("scanner") == "python"

    if c_scanner_missing():
        pytest.skip(f"no C result to compare with: {c_scanner_missing()}")
    c = subprocess.run([sys.executable, "-m", "wizard", "--demo", "debian12", "traffic", "--log",
                        str(SAMPLE_LOG), "--json"], capture_output=True, text=True, cwd=ROOT,
                       env={**os.environ, "POSTFIX_WIZARD_SCANNER": "c"}, check=True)
    c_result = json.loads(c.stdout)
    assert c_result.pop("scanner") == "c"
    assert python_result == c_result and c_result["clients"]
