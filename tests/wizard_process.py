"""How the tests start the wizard in a subprocess (`python -m wizard`, `python -c ...`): with
the very `wizard` the tests import, the checkout's or an installed wheel's.

In a root of .ci/root the tests run from the checkout (/src) but import the wizard installed
from its wheel into the root's venv. `-m` and `-c` put the working directory first on sys.path,
and the tests' PYTHONPATH names the checkout, so there a subprocess would import the checkout's
wizard/ instead -- without the wheel's layout (wizard.samples) and with a C scanner built for
another Python. Isolated mode (-I) keeps both out: -P's safe path, which Python 3.9 and 3.10
lack, plus -E and -s (such a subprocess needs none of the PYTHON* variables nor the user's
site directory). From the checkout itself nothing changes.
"""
from __future__ import annotations

import importlib.util
import sys
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parent.parent
_flags: "list[str] | None" = None


def flags() -> "list[str]":
    """The interpreter flags: ["-I"] when the tests' wizard is installed, else none."""
    global _flags
    if _flags is None:
        try:
            spec = importlib.util.find_spec("wizard")
        except (ImportError, ValueError):
            spec = None
        origin = spec.origin if spec is not None else None
        installed = origin is not None and \
            not Path(origin).resolve().is_relative_to(REPO_ROOT / "wizard")
        _flags = ["-I"] if installed else []
    return _flags


def python() -> "list[str]":
    """The command that starts this Python on the tests' wizard: add "-m", "wizard" or "-c"."""
    return [sys.executable, *flags()]
