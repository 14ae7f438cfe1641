"""Daemon control: whether Postfix and Dovecot run, and reloading each after its files change.

Postfix is asked through its own command (`postfix -c DIR status`, `postfix -c DIR reload`);
Dovecot through its master process, found by the `master.pid` in its base_dir (as doveconf
reports it for the configuration directory), and reloaded with SIGHUP. A daemon that does not
run is not reloaded, and that is no error: the functions say whether they reloaded.
"""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
from pathlib import Path

from wizard.errors import WriteError
from wizard.server.versions import doveconf_setting


def dovecot_master_pid(dovecot_dir: Path) -> int | None:
    base_dir = doveconf_setting(dovecot_dir, "base_dir")
    if base_dir is None:
        return None
    pid_file = Path(base_dir or "/run/dovecot") / "master.pid"
    try:
        pid = int(pid_file.read_text().split()[0])
        os.kill(pid, 0)
        return pid
    except (OSError, ValueError, IndexError):
        return None


def reload_dovecot(dovecot_dir: Path) -> bool:
    pid = dovecot_master_pid(dovecot_dir)
    if pid is None:
        return False
    os.kill(pid, signal.SIGHUP)
    return True


def postfix_running(postfix_dir: Path) -> bool:
    if not shutil.which("postfix"):
        return False
    return subprocess.run(["postfix", "-c", str(postfix_dir), "status"], capture_output=True,
                          timeout=30).returncode == 0


def reload_postfix(postfix_dir: Path) -> bool:
    if not postfix_running(postfix_dir):
        return False
    result = subprocess.run(["postfix", "-c", str(postfix_dir), "reload"], capture_output=True,
                            text=True, timeout=60)
    if result.returncode != 0:
        raise WriteError(f"postfix reload failed: {result.stderr.strip()}")
    return True
