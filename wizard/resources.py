"""Files the program reads at run time: the shipped presets and the stock configurations --demo
copies.

They live at the top of the repository (presets/, samples/) and travel inside the wheel and the
sdist as the packages wizard.shipped_presets and wizard.samples (pyproject.toml maps them), so
they are found through the installed package, never through a path relative to the source tree.
An editable checkout, a wheel, `pip install .` and pipx all answer the same way.
"""

from __future__ import annotations

import functools
from importlib import resources
from pathlib import Path


def _directory(package: str) -> Path:
    # Installed packages are plain directories (pip and pipx never install zipped), and the
    # demo needs real files to copy, so a Path is what callers get.
    return Path(str(resources.files(package)))


def presets_dir() -> Path:
    return _directory("wizard.shipped_presets")


def sample_dir(name: str) -> Path:
    return _directory("wizard.samples") / name


NEWEST_SAMPLE = "debian13"


def demo_log() -> Path:
    """A mail log the real daemons wrote (tests/record_demo_log.py), for --demo's traffic."""
    return _directory("wizard.samples") / "traffic" / "mail.log"


@functools.cache
def sample_names() -> tuple[str, ...]:
    """The stock trees --demo offers (each with the versions it was taken with)."""
    return tuple(sorted(p.name for p in _directory("wizard.samples").iterdir()
                        if (p / "versions.toml").is_file()))
