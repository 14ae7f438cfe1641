"""Commit confirmed: a change that is rolled back on its own unless the admin confirms it in time.

`apply --confirm 5m` leaves the change pending once the probe passes. If the change cuts the
admin off (a firewall of limits, an SSH session lost with the mail server), nobody is there to
undo it, so the undo must not depend on the session that made it:
- where systemd runs the machine, a transient timer (`systemd-run --on-active`) runs
  `postfix-wizard expire` at the deadline; systemd owns it, so a hang-up, a killed terminal or
  logind's KillUserProcesses cannot take it away;
- elsewhere, a detached process (its own session, no terminal, SIGHUP ignored) sleeps until the
  deadline and then runs the same command.

The record `pending.json` in the backup directory names the backup set that holds the previous
files. `confirm` and `expire` each claim it by renaming it away, so exactly one of them acts.
"""

from __future__ import annotations

import json
import os
import shlex
import shutil
import signal
import subprocess
import sys
import time
from dataclasses import asdict, dataclass
from pathlib import Path

import wizard
from wizard.errors import WizardError

RECORD = "pending.json"
EXPIRY_LOG = "pending.log"
SYSTEMD_RUNNING = Path("/run/systemd/system")


@dataclass(frozen=True)
class Pending:
    backup: str             # the backup set with the files from before the change
    deadline: float         # epoch seconds
    postfix_dir: str
    dovecot_dir: str
    timer: str              # "systemd:UNIT" or "process:PID:START"

    def deadline_text(self) -> str:
        return time.strftime("%Y-%m-%d %H:%M:%S %Z", time.localtime(self.deadline))

    def seconds_left(self, now: float | None = None) -> int:
        return max(0, round(self.deadline - (time.time() if now is None else now)))


def read(backup_dir: Path) -> Pending | None:
    try:
        return Pending(**json.loads((backup_dir / RECORD).read_text()))
    except (FileNotFoundError, NotADirectoryError):
        return None
    except (OSError, ValueError, TypeError) as error:
        raise WizardError(f"{backup_dir / RECORD} cannot be read ({error}); remove it after "
                          "checking which files are in place ('postfix-wizard backups')") from None


def refuse_if_pending(backup_dir: Path) -> None:
    pending = read(backup_dir)
    if pending is not None:
        raise WizardError(
            f"a change is waiting for confirmation until {pending.deadline_text()} (backup set "
            f"{pending.backup}); nothing was written. Run 'postfix-wizard confirm' to keep it or "
            "'postfix-wizard rollback' to undo it, then apply again")


def expire_command(backup: str, postfix_dir: Path, dovecot_dir: Path, backup_dir: Path,
                   wait_until: float | None = None) -> list[str]:
    """The command the timer runs at the deadline: this Python, this wizard."""
    command = [sys.executable, "-m", "wizard", "expire", backup, "--postfix-dir", str(postfix_dir),
               "--dovecot-dir", str(dovecot_dir), "--backup-dir", str(backup_dir)]
    return command + (["--wait-until", f"{wait_until:.0f}"] if wait_until else [])


def _environment() -> dict[str, str]:
    """`python -m wizard` must find this wizard, installed or run from a checkout."""
    package_parent = str(Path(wizard.__file__).resolve().parent.parent)
    path = os.environ.get("PATH", "") + ":/usr/sbin:/usr/bin:/sbin:/bin"
    return {"PYTHONPATH": package_parent, "PATH": path, "NO_COLOR": "1", "LANG": "C.UTF-8"}


def systemd_available() -> bool:
    return SYSTEMD_RUNNING.is_dir() and shutil.which("systemd-run") is not None \
        and os.geteuid() == 0


def systemd_run_command(unit: str, seconds: int, command: list[str]) -> list[str]:
    settings = [f"--setenv={name}={value}" for name, value in _environment().items()]
    return ["systemd-run", "--quiet", f"--unit={unit}", f"--on-active={seconds}s",
            "--timer-property=AccuracySec=1s", "--collect",
            "--description=postfix-wizard: roll back an unconfirmed change",
            *settings, "--", *command]


def arm(backup: str, seconds: int, postfix_dir: Path, dovecot_dir: Path,
        backup_dir: Path) -> Pending:
    """Start the timer and write the record; the change is pending from now on."""
    deadline = time.time() + seconds
    if systemd_available():
        unit = f"postfix-wizard-expire-{backup}"
        command = systemd_run_command(unit, seconds, expire_command(
            backup, postfix_dir, dovecot_dir, backup_dir))
        result = subprocess.run(command, capture_output=True, text=True, timeout=60)
        if result.returncode != 0:
            raise WizardError(f"systemd-run could not start the timer: {result.stderr.strip()}")
        timer = f"systemd:{unit}"
    else:
        timer = _start_detached(expire_command(backup, postfix_dir, dovecot_dir, backup_dir,
                                               wait_until=deadline), backup_dir)
    pending = Pending(backup, deadline, str(postfix_dir), str(dovecot_dir), timer)
    record = backup_dir / RECORD
    temporary = record.with_suffix(".tmp")
    temporary.write_text(json.dumps(asdict(pending), indent=1) + "\n")
    os.replace(temporary, record)
    return pending


def _start_detached(command: list[str], backup_dir: Path) -> str:
    """Started by a shell that exits at once, so the timer is nobody's child but init's (no
    zombie in a long-running wizard), in a session of its own, with SIGHUP ignored."""
    log = shlex.quote(str(backup_dir / EXPIRY_LOG))
    script = f"trap '' HUP; {shlex.join(command)} </dev/null >>{log} 2>&1 & echo $!"
    started = subprocess.run(["/bin/sh", "-c", script], capture_output=True, text=True,
                             cwd="/", env=_environment(), start_new_session=True, timeout=30)
    pid = started.stdout.strip()
    if started.returncode != 0 or not pid.isdigit():
        raise WizardError(f"could not start the confirmation timer: {started.stderr.strip()}")
    return f"process:{pid}:{_start_time(int(pid))}"


def _start_time(pid: int) -> str:
    try:
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[19]
    except (OSError, IndexError):
        return ""


def claim(backup_dir: Path, backup: str | None = None) -> Pending | None:
    """Take the record away (atomically), if it is there and names `backup` (any, if None)."""
    pending = read(backup_dir)
    if pending is None or (backup is not None and pending.backup != backup):
        return None
    claimed = backup_dir / f"{RECORD}.{os.getpid()}"
    try:
        os.rename(backup_dir / RECORD, claimed)
    except FileNotFoundError:
        return None            # the other side claimed it first
    claimed.unlink()
    return pending


def stop_timer(pending: Pending) -> None:
    """Cancel the timer of a claimed record (it would find no record anyway)."""
    kind, _, rest = pending.timer.partition(":")
    if kind == "systemd" and shutil.which("systemctl"):
        subprocess.run(["systemctl", "stop", f"{rest}.timer", f"{rest}.service"],
                       capture_output=True, timeout=60)
    elif kind == "process":
        pid, _, start = rest.partition(":")
        if pid.isdigit() and int(pid) != os.getpid() and _start_time(int(pid)) == start:
            try:
                os.kill(int(pid), signal.SIGTERM)
            except OSError:
                pass


def wait_until(deadline: float) -> None:
    signal.signal(signal.SIGHUP, signal.SIG_IGN)
    while (left := deadline - time.time()) > 0:
        time.sleep(min(left, 60))
