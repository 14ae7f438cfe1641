"""Staging: a change checked by the real postconf and doveconf before anything is written.

The new files are written into a private copy of both configuration trees, and the server's own
tools read that copy: `postconf -n` must not warn about anything it does not already warn about
in the live main.cf, and `doveconf -n` must accept the Dovecot configuration. A rejection stops
the transaction (wizard/change/transaction.py) before the originals are backed up. Where a tool
is not installed, or is for another Dovecot generation than the files, a note says that only
the wizard's own rules checked them.

The copy lives in the backup directory, so that a crash leaves nothing in /tmp; the next
transaction removes what a crash left there (remove_leftovers).
"""

from __future__ import annotations

import os
import shutil
import subprocess
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

from wizard.errors import WriteError

if TYPE_CHECKING:
    from wizard.change.transaction import Target, Write

STAGE_PREFIX = ".stage-"


@dataclass
class Staged:
    """What checked the new files (the progress line says it) and what the user should know."""
    checked: str
    notes: list[str] = field(default_factory=list)


def stage(writes: list[Write], target: Target, backup_dir: Path) -> Staged:
    """Check the new files with the real tools in a private copy; say which tools checked them,
    raise on a rejection.

    The copy follows symlinks (a link to a file elsewhere in the tree must be checked with its
    new text), and lives in the backup directory so that a crash leaves nothing in /tmp.
    """
    with tempfile.TemporaryDirectory(prefix=STAGE_PREFIX, dir=backup_dir) as work:
        stage_dir = Path(work)
        copies = {target.postfix_dir: stage_dir / "postfix", target.dovecot_dir: stage_dir / "dovecot"}
        for live, copy in copies.items():
            if live.is_dir():
                shutil.copytree(live, copy, symlinks=False, ignore=ignore_non_files)
        for write in writes:
            for path in {Path(os.path.abspath(write.path)), write.path.resolve()}:
                for live, copy in copies.items():
                    if path.is_relative_to(Path(os.path.abspath(live))):
                        staged = copy / path.relative_to(Path(os.path.abspath(live)))
                        staged.unlink(missing_ok=True)
                        staged.write_bytes(write.new)
                        # postconf waits ~2 s on a main.cf written in the last second
                        age = time.time() - 60
                        os.utime(staged, (age, age))
        checks = [_check_postfix(target.postfix_dir, copies[target.postfix_dir],
                                 target.postfix_version)]
        if any(w.path.resolve().is_relative_to(target.dovecot_dir.resolve()) for w in writes):
            checks.append(_check_dovecot(copies[target.dovecot_dir], target.dovecot_generation))
    said = [check.said for check in checks]
    return Staged("staged and checked: " + "; ".join(said),
                  [check.note for check in checks if check.note])


@dataclass
class Check:
    said: str           # which files, checked by what
    note: str = ""      # why a real tool did not check them, when it did not


def remove_leftovers(backup_dir: Path) -> None:
    """Remove the staging copies a crash left behind in the backup directory."""
    for stale in backup_dir.glob(STAGE_PREFIX + "*"):
        shutil.rmtree(stale, ignore_errors=True)


def ignore_non_files(directory: str, names: list[str]) -> list[str]:
    """Sockets, FIFOs and dangling links (a Dovecot base_dir inside /etc/dovecot) stay out
    (shutil.copytree's `ignore`)."""
    return [name for name in names if not (os.path.isfile(os.path.join(directory, name)) or
                                           os.path.isdir(os.path.join(directory, name)))]


def _postconf_warnings(directory: Path) -> tuple[int, set[str]]:
    result = subprocess.run(["postconf", "-c", str(directory), "-n"], capture_output=True,
                            text=True, timeout=60)
    lines = {line.replace(str(directory), "DIR") for line in result.stderr.splitlines()}
    return result.returncode, lines


def _check_postfix(live: Path, staged: Path, files_version: str) -> Check:
    from wizard.server.postconf import defaults
    if not shutil.which("postconf"):
        return Check("Postfix files by the wizard's rules only, no postconf",
                     "postconf is not installed: the new Postfix files were checked by the "
                     "wizard's own rules only")
    _, before = _postconf_warnings(live)
    code, after = _postconf_warnings(staged)
    new = sorted(after - before)
    if code != 0 or new:
        raise WriteError("postconf rejects the new main.cf: " + "; ".join(new or after) +
                         ". Nothing was written")
    version = defaults().get("mail_version", "")
    note = ""
    if files_version and _release(files_version) != _release(version):
        # only a demo gets here: a server's files are read by its own postconf
        note = (f"the postconf here is Postfix {version}'s and the files are for Postfix "
                f"{files_version}: postconf checked them as {_release(version)} reads them")
    return Check("Postfix files by postconf -n", note)


def _release(version: str) -> str:
    """3.7.11 -> 3.7"""
    from wizard.server.availability import release
    return ".".join(map(str, release(version)[:2]))


def _check_dovecot(staged: Path, generation: str | None) -> Check:
    from wizard.files.dovecot.dialects import dovecot_generation
    from wizard.server.versions import installed_dovecot
    if not shutil.which("doveconf"):
        return Check("Dovecot files by the wizard's rules only, no doveconf",
                     "doveconf is not installed: the new Dovecot files were checked by the "
                     "wizard's own rules only")
    installed = installed_dovecot()
    if generation and dovecot_generation(installed) != generation:
        # only a demo gets here: on a server, Server.load refuses such a tree
        return Check(f"Dovecot files by the wizard's rules only, not by this "
                     f"{dovecot_generation(installed)} doveconf",
                     f"the doveconf here is Dovecot {installed}'s and the files are Dovecot "
                     f"{generation}'s: they were checked by the wizard's own rules only")
    result = subprocess.run(["doveconf", "-c", str(staged / "dovecot.conf"), "-n"],
                            capture_output=True, text=True, timeout=60)
    if result.returncode != 0:
        message = " ".join(result.stderr.replace(str(staged), "DIR").split())
        raise WriteError(f"doveconf rejects the new Dovecot configuration: {message}. "
                         "Nothing was written")
    return Check("Dovecot files by doveconf -n")
