"""Which Postfix and Dovecot a configuration is for, as the server's own tools report them.

The versions shown by `check`, the overview and `apply` are the server's: Postfix's
`mail_version` from its postconf and Dovecot's from `dovecot --version`. A demo tree has no
server, so its versions are the ones recorded when its stock files were taken from the packages
(samples/NAME/versions.toml). Dovecot 2.3 and 2.4 read different configuration languages, so
the generation decides how the wizard writes Dovecot files and whether it may edit them at all.
The installed Dovecot is also asked for what a configuration cannot say: its auth plugins, and
a setting's effective value (`doveconf -h`).
"""

from __future__ import annotations

import functools
import shutil
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

if sys.version_info >= (3, 11):
    import tomllib
else:                   # the same parser, from PyPI, before Python had it
    import tomli as tomllib

INSTALLED = "this server's postconf and dovecot"


@dataclass(frozen=True)
class Versions:
    postfix: str            # mail_version; "" when Postfix is not installed
    dovecot: str | None     # e.g. "2.4.1"; None when Dovecot is not installed
    source: str             # who said so
    release: str = ""       # the distribution release of a recorded sample


@functools.lru_cache(maxsize=1)
def installed_dovecot() -> str | None:
    """`dovecot --version`'s version number, or None when Dovecot is not usable."""
    try:
        run = subprocess.run(["dovecot", "--version"], capture_output=True, text=True,
                             timeout=10, check=False)
    except (OSError, subprocess.SubprocessError):
        return None
    words = run.stdout.split()
    return words[0].split("-")[0] if run.returncode == 0 and words else None


def doveconf_setting(dovecot_dir: Path, name: str) -> str | None:
    """A setting's effective value in the tree at dovecot_dir (doveconf -h): "" when doveconf
    fails on the tree, None when doveconf or the tree is missing."""
    conf = dovecot_dir / "dovecot.conf"
    if not shutil.which("doveconf") or not conf.exists():
        return None
    result = subprocess.run(["doveconf", "-c", str(conf), "-h", name], capture_output=True,
                            text=True, timeout=30)
    return result.stdout.strip() if result.returncode == 0 else ""


def installed() -> Versions:
    from wizard.server import postconf
    return Versions(postconf.defaults().get("mail_version", ""), installed_dovecot(), INSTALLED)


def recorded(sample: Path) -> Versions:
    """The versions a stock sample tree was taken with."""
    table = tomllib.loads((sample / "versions.toml").read_text(encoding="utf-8"))
    return Versions(table["postfix"], table["dovecot"],
                    f"{table['release']}'s packages, recorded with the sample", table["release"])


# Where distributions put Dovecot's modules (Debian, then RHEL); a mechanism served by a plugin
# (GSSAPI: the dovecot-gssapi package) is only there when its file is.
DOVECOT_MODULE_DIRS = (Path("/usr/lib/dovecot/modules"), Path("/usr/lib64/dovecot"))


@functools.lru_cache(maxsize=1)
def installed_dovecot_auth_plugins() -> frozenset[str] | None:
    """File names in Dovecot's auth module directory; None when no module directory exists."""
    for directory in DOVECOT_MODULE_DIRS:
        if directory.is_dir():
            auth = directory / "auth"
            return frozenset(p.name for p in auth.iterdir()) if auth.is_dir() else frozenset()
    return None
