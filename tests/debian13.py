"""The Debian 13 root (Postfix 3.10, Dovecot 2.4) that `.ci/root trixie` builds, seen from the
Debian 12 host: run that generation's own tools (doveconf, postconf) on files staged inside it.

Tests that need it skip, saying why, only when the root is missing or we are not root (chroot);
CI builds it before the suite runs.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import subprocess
import tempfile
from dataclasses import dataclass
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


# Any such root: the same steps for another generation ---------------------------------------------

@dataclass(frozen=True)
class Root:
    """A debootstrap root of another generation (stamped when built), its tools run with chroot."""
    release: str            # "Debian 11"
    path: Path
    builder: str            # how to build it, for the skip message

    def why_unavailable(self) -> str | None:
        if os.geteuid() != 0:
            return f"the {self.release} root needs chroot, which needs root"
        if not (self.path / ".postfix-wizard-root").is_file():
            return f"no {self.release} root at {self.path} (build it: {self.builder})"
        return None

    def run(self, *args: str, timeout: float = 60) -> subprocess.CompletedProcess:
        """A command of the root's, in the root, with none of the host's environment."""
        return subprocess.run(["chroot", str(self.path), "env", "-i", f"PATH={PATH}",
                               "LANG=C.UTF-8", *args], capture_output=True, text=True,
                              timeout=timeout, check=False)

    def inside(self, path: Path) -> str:
        return "/" + str(Path(path).relative_to(self.path))

    @contextlib.contextmanager
    def staging(self):
        """A directory inside the root's /tmp, removed afterwards."""
        path = Path(tempfile.mkdtemp(prefix="pwtest-", dir=self.path / "tmp"))
        try:
            yield path
        finally:
            shutil.rmtree(path, ignore_errors=True)

    @property
    def needs(self):
        """A mark: skip, saying why, without this root."""
        why = self.why_unavailable()
        return pytest.mark.skipif(why is not None, reason=str(why))


DEBIAN13 = Root("Debian 13", ROOT, f".ci/debian13-root {ROOT}")
# Debian 11: Postfix 3.5.25 and Dovecot 2.3.13, standing in for RHEL 9 (3.5, 2.3.16).
BULLSEYE = Root("Debian 11", Path(os.environ.get("POSTFIX_WIZARD_BULLSEYE_ROOT",
                                                 "/var/tmp/postfix-wizard-bullseye")),
                ".ci/root bullseye /var/tmp/postfix-wizard-bullseye")
# Debian testing: Postfix 3.11 and Dovecot 2.4.5, the newest generation.
FORKY = Root("Debian 14", Path(os.environ.get("POSTFIX_WIZARD_FORKY_ROOT",
                                              "/var/tmp/postfix-wizard-forky")),
             ".ci/root forky /var/tmp/postfix-wizard-forky")
