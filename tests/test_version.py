"""`postfix-wizard --version`: the package's version (from its metadata), the Python running it and
the log scanner `traffic` uses; exit 0. (It was "unrecognized arguments" before issue 21.)"""
from __future__ import annotations

import platform
import re
import subprocess
import sys
from importlib import metadata
from pathlib import Path

import pytest
import wizard_process

from wizard import cli
from wizard.cli import version

ROOT = Path(__file__).resolve().parents[1]


def test_version_names_the_package_python_and_the_scanner(each_scanner):
    result = subprocess.run([*wizard_process.python(), "-m", "wizard", "--version"],
                            capture_output=True, text=True, cwd=ROOT)
    assert result.returncode == 0 and result.stderr == "", result.stderr
    scanner = {"c": "C extension",
               "python": "Python (POSTFIX_WIZARD_SCANNER=python: slower)"}[each_scanner]
    assert result.stdout == (f"postfix-wizard {metadata.version('postfix-wizard')} (Python "
                             f"{platform.python_version()}, log scanner: {scanner})\n")
    assert re.match(r"postfix-wizard \d+\.\d+\.\d+ \(Python 3\.\d+\.\d+, ", result.stdout)


def test_version_without_metadata_says_so(monkeypatch, capsys):
    """Run from a checkout never installed: no metadata, yet --version answers."""
    def missing(name):
        raise metadata.PackageNotFoundError(name)
    monkeypatch.setattr(metadata, "version", missing)
    with pytest.raises(SystemExit) as exit:
        cli.main(["--version"])
    assert exit.value.code == 0
    assert capsys.readouterr().out.startswith("postfix-wizard unknown (not installed) (Python ")


def test_forcing_a_scanner_that_is_missing_is_a_clear_error(monkeypatch, capsys):
    """POSTFIX_WIZARD_SCANNER=c where the extension is not there: one line saying what to do,
    exit 2, no traceback; unset, the Python scanner is used and --version says why."""
    monkeypatch.setitem(sys.modules, "wizard.traffic._scan", None)   # as if never built
    monkeypatch.setenv("POSTFIX_WIZARD_SCANNER", "c")
    assert cli.main(["--version"]) == cli.EXIT_USAGE
    error = capsys.readouterr().err
    assert "POSTFIX_WIZARD_SCANNER=c, but the C extension wizard.traffic._scan cannot be " \
           "loaded" in error and "C compiler" in error
    monkeypatch.delenv("POSTFIX_WIZARD_SCANNER")
    assert version.version_line().endswith("log scanner: Python (no C extension: slower))")


def test_a_wrong_scanner_name_is_a_clear_error(monkeypatch, capsys):
    monkeypatch.setenv("POSTFIX_WIZARD_SCANNER", "fortran")
    assert cli.main(["--version"]) == cli.EXIT_USAGE
    assert "POSTFIX_WIZARD_SCANNER='fortran' is not a log scanner: give c or python" in \
        capsys.readouterr().err
