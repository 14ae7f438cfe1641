"""`--demo`: the command line run on a temporary copy of a stock configuration (samples/).

The copy's directories take the place of --postfix-dir, --dovecot-dir and --backup-dir, the
sample's recorded log that of the server's own, and paths in the demo's temporary directory are
shown as <demo>. wizard/cli/__init__.py (`run`) makes the copy and removes it afterwards.
"""

from __future__ import annotations

import shutil
from pathlib import Path
from typing import TYPE_CHECKING, Collection

from wizard import resources

if TYPE_CHECKING:
    from wizard.styled import Display


def demo_display(workdir: Path) -> Display:
    """Show the demo's temporary directory as <demo>."""
    def display(path: Path) -> str:
        text = str(path)
        return text.replace(str(workdir), "<demo>", 1)
    return display


def demo_dirs(workdir: Path, name: str) -> dict:
    sample = resources.sample_dir(name)
    shutil.copytree(sample, workdir, dirs_exist_ok=True, ignore=shutil.ignore_patterns("*.toml"))
    return {"postfix_dir": workdir / "postfix", "dovecot_dir": workdir / "dovecot",
            "backup_dir": workdir / "backups", "sample": sample,
            "demo_log": str(resources.demo_log())}


def with_demo_default(argv: list[str], commands: Collection[str]) -> list[str]:
    """A bare --demo means the newest sample: `--demo check` is `--demo debian13 check`. Any
    other word after it (but a command's name) stays its value, so a wrong name gets argparse's
    list of samples."""
    fixed = []
    for index, word in enumerate(argv):
        fixed.append(word)
        following = argv[index + 1] if index + 1 < len(argv) else "-"
        if word == "--demo" and (following.startswith("-") or following in commands):
            fixed.append(resources.NEWEST_SAMPLE)
    return fixed
