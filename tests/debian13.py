"""The Debian 13 root (Postfix 3.10, Dovecot 2.4) that `.ci/root trixie` builds, seen from the
Debian 12 host: run that generation's own tools (doveconf, postconf) on files staged inside it.

Tests that need it skip, saying why, only when the root is missing or we are not root (chroot);
CI builds it before the suite runs.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import tempfile
from pathlib import Path

import pytest

ROOT = Path(os.environ.get("POSTFIX_WIZARD_DEBIAN13_ROOT", "/var/tmp/postfix-wizard-debian13"))
PATH = "/usr/sbin:/usr/bin:/sbin:/bin"


def why_unavailable() -> str | None:
    if os.geteuid() != 0:
        return "the Debian 13 root needs chroot, which needs root"
    if not (ROOT / ".postfix-wizard-root").is_file():
        return f"no Debian 13 root at {ROOT} (build it: .ci/root trixie {ROOT})"
    return None


needs_root = pytest.mark.skipif(why_unavailable() is not None, reason=str(why_unavailable()))


def run(*args: str, timeout: float = 60) -> subprocess.CompletedProcess:
    """A command of the root's, in the root, with none of the host's environment."""
    return subprocess.run(["chroot", str(ROOT), "env", "-i", f"PATH={PATH}", "LANG=C.UTF-8",
                           *args], capture_output=True, text=True, timeout=timeout, check=False)


def inside(path: Path) -> str:
    """How the root sees a path below it."""
    return "/" + str(Path(path).relative_to(ROOT))


class Staging:
    """A directory inside the root's /tmp, removed afterwards."""

    def __enter__(self) -> Path:
        self.path = Path(tempfile.mkdtemp(prefix="pwtest-", dir=ROOT / "tmp"))
        return self.path

    def __exit__(self, *exc) -> None:
        shutil.rmtree(self.path, ignore_errors=True)
