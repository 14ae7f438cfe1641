"""All files or none: the transactional apply, rollback and recovery.

apply: lock → check nothing changed on disk → stage the new files in a private copy of both trees
and check it with the real postconf and doveconf → back up the originals → journal → Dovecot files,
Dovecot reload, listener check → main.cf, Postfix reload → journal cleared. A failure undoes what
was done. A crash leaves the journal behind; the next run of any command (recover) puts every
journaled file back to its old bytes, so the set ends all old or all new.
"""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import tempfile
import time
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Callable

from wizard.daemons import handshake, logs
from wizard.daemons.handshake import AuthSocket
from wizard.change import writer
from wizard.errors import WizardError
from wizard.server.versions import doveconf_setting
from wizard.change.writer import BackupSet, Lock, WriteError, crash_point

LISTENER_WAIT_SECONDS = 10.0
Step = Callable[[str], None]     # told each step as it is done, for a progress display


def no_step(_: str) -> None:
    pass


@dataclass(frozen=True)
class Write:
    path: Path            # as the wizard read it (may be a symlink)
    old: bytes
    new: bytes
    like: Path | None = None      # whose metadata the new file takes (default: the original)
    interim: bytes | None = None  # Dovecot: written first, `new` only once Postfix has moved


def writes_for(changes) -> list[Write]:
    """The writes of a change plan's FileChanges."""
    return [Write(c.path, writer.encode(c.old), writer.encode(c.new), None,
                  None if c.interim is None else writer.encode(c.interim)) for c in changes]


@dataclass
class Outcome:
    backup: BackupSet          # set once the originals are backed up
    written: list[Path]
    reloaded: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    dovecot_log_mark: logs.Mark | None = None    # Dovecot's log before its last reload
    step: Step = no_step


@dataclass(frozen=True)
class Target:
    postfix_dir: Path
    dovecot_dir: Path
    listener: AuthSocket | None = None     # the Dovecot auth socket to check
    dovecot_generation: str | None = None   # "2.3" or "2.4": which doveconf can check the files
    mechanisms: tuple[str, ...] = ()   # what the listener's auth process must serve


def target_for(server, settings) -> Target:
    """The directories to write and the Dovecot listener that must answer after the change."""
    sasl = server.after(settings).sasl
    listener = None
    if sasl.enabled and sasl.type == "dovecot":
        listener = (AuthSocket.unix(server.socket_path(sasl.path)) if sasl.socket == "unix"
                    else AuthSocket.tcp(sasl.address, sasl.port))
    generation = server.dovecot.generation if server.dovecot is not None else None
    return Target(server.postfix_dir, server.dovecot_dir, listener, generation,
                  tuple(sasl.mechanisms or ()) if listener else ())


# Checks before anything is written -------------------------------------------------------------

def resolve(path: Path, roots: list[Path]) -> Path:
    """The real file to replace: a symlink is followed if it stays inside a configuration tree."""
    real = path.resolve()
    if not any(real.is_relative_to(root.resolve()) for root in roots):
        raise WriteError(f"{path} points to {real}, outside the configuration directories; "
                         "nothing was written. Replace the link with the file, or edit it by hand")
    if real.stat().st_nlink > 1:
        raise WriteError(f"{real} has {real.stat().st_nlink} hard links; replacing it would split "
                         "them, so nothing was written. Make it a single file (cp, then mv)")
    return real


def check_unchanged(writes: list[Write]) -> None:
    for write in writes:
        if write.path.read_bytes() != write.old:
            raise writer.ChangedOnDisk(
                f"{write.path} changed on disk since the wizard read it (another admin or "
                "postconf -e?); nothing was written. Run the wizard again to see the new state")


STAGE_PREFIX = ".stage-"


def stage(writes: list[Write], target: Target, backup_dir: Path) -> list[str]:
    """Check the new files with the real tools in a private copy; return notes, raise on failure.

    The copy follows symlinks (a link to a file elsewhere in the tree must be checked with its
    new text), and lives in the backup directory so that a crash leaves nothing in /tmp.
    """
    notes = []
    with tempfile.TemporaryDirectory(prefix=STAGE_PREFIX, dir=backup_dir) as work:
        stage_dir = Path(work)
        copies = {target.postfix_dir: stage_dir / "postfix", target.dovecot_dir: stage_dir / "dovecot"}
        for live, copy in copies.items():
            if live.is_dir():
                shutil.copytree(live, copy, symlinks=False, ignore=_not_files)
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
        notes += _check_postfix(target.postfix_dir, copies[target.postfix_dir])
        if any(w.path.resolve().is_relative_to(target.dovecot_dir.resolve()) for w in writes):
            notes += _check_dovecot(copies[target.dovecot_dir], target.dovecot_generation)
    return notes


def _not_files(directory: str, names: list[str]) -> list[str]:
    """Sockets, FIFOs and dangling links (a Dovecot base_dir inside /etc/dovecot) stay out."""
    return [name for name in names if not (os.path.isfile(os.path.join(directory, name)) or
                                           os.path.isdir(os.path.join(directory, name)))]


def _postconf_warnings(directory: Path) -> tuple[int, set[str]]:
    result = subprocess.run(["postconf", "-c", str(directory), "-n"], capture_output=True,
                            text=True, timeout=60)
    lines = {line.replace(str(directory), "DIR") for line in result.stderr.splitlines()}
    return result.returncode, lines


def _check_postfix(live: Path, staged: Path) -> list[str]:
    if not shutil.which("postconf"):
        return ["postconf is not installed: the new main.cf was checked by the wizard's own "
                "rules only"]
    _, before = _postconf_warnings(live)
    code, after = _postconf_warnings(staged)
    new = sorted(after - before)
    if code != 0 or new:
        raise WriteError("postconf rejects the new main.cf: " + "; ".join(new or after) +
                         ". Nothing was written")
    return []


def _check_dovecot(staged: Path, generation: str | None) -> list[str]:
    from wizard.files.dovecot.dialects import dovecot_generation
    from wizard.server.versions import installed_dovecot
    if not shutil.which("doveconf"):
        return ["doveconf is not installed: the new Dovecot files were checked by the wizard's "
                "own rules only"]
    installed = installed_dovecot()
    if generation and dovecot_generation(installed) != generation:
        # only a demo gets here: on a server, Server.load refuses such a tree
        return [f"the doveconf here is Dovecot {installed}'s and the files are Dovecot "
                f"{generation}'s: they were checked by the wizard's own rules only"]
    result = subprocess.run(["doveconf", "-c", str(staged / "dovecot.conf"), "-n"],
                            capture_output=True, text=True, timeout=60)
    if result.returncode != 0:
        message = " ".join(result.stderr.replace(str(staged), "DIR").split())
        raise WriteError(f"doveconf rejects the new Dovecot configuration: {message}. "
                         "Nothing was written")
    return []


# Services ------------------------------------------------------------------------------------

def _dovecot_master_pid(dovecot_dir: Path) -> int | None:
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
    pid = _dovecot_master_pid(dovecot_dir)
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


def check_listener(target: Target, since: logs.Mark | None = None,
                   step: Step = no_step) -> None:
    """Dovecot's auth process behind the listener completes the handshake and serves every
    configured mechanism; else the change stops before main.cf is written. `since`: Dovecot's
    log before the reload, to quote what it said since."""
    try:
        served = handshake.wait_for_handshake(target.listener, LISTENER_WAIT_SECONDS)
        missing = handshake.missing_mechanisms(list(target.mechanisms), served)
        if not missing:
            step(f"Dovecot's auth listener {target.listener} serves "
                 f"{' '.join(served.mechanisms)}")
            return
        problem = (f"it serves {' '.join(served.mechanisms) or 'no mechanism'}, not "
                   f"{' '.join(missing)}")
    except OSError as error:
        problem = f"it does not answer ({error.strerror or error})"
    except handshake.HandshakeError as error:
        problem = str(error)
    said = logs.errors_since(since)
    raise WriteError(f"after the reload, Dovecot's auth listener "
                     f"{target.listener}: {problem}"
                     + (f"; Dovecot logged: {said}" if said else "")
                     + ". main.cf was not changed, so Postfix never used the new Dovecot files")


# The transaction -----------------------------------------------------------------------------

def apply(writes: list[Write], target: Target, backup_dir: Path, *, reload: bool = True,
          reason: str = "apply", check: bool = True, step: Step = no_step) -> Outcome:
    writer.prepare_backup_dir(backup_dir)
    try:
        with Lock(backup_dir):
            recover(backup_dir)
            crash_point("locked")
            check_unchanged(writes)
            roots = [target.postfix_dir, target.dovecot_dir]
            real = [replace(w, path=resolve(w.path, roots)) for w in writes]
            notes = stage(writes, target, backup_dir) if check else []
            if check:
                step("staged and checked with postconf and doveconf")
            crash_point("staged")
            return _commit(_in_order(real, target), target, backup_dir, reload, reason,
                           Outcome(None, [], notes=notes, step=step))
    except OSError as error:
        raise WriteError(f"cannot use the backup directory {backup_dir} ({_reason(error)}); "
                         "nothing was written") from None


def _reason(error: OSError) -> str:
    """shutil.Error carries its causes in a list, not in strerror."""
    if isinstance(error, shutil.Error) and error.args and isinstance(error.args[0], list):
        return "; ".join(str(why) for _src, _dst, why in error.args[0][:1])
    return error.strerror or str(error)


def _in_order(writes: list[Write], target: Target) -> list[Write]:
    """main.cf must never point at a Dovecot socket that does not exist: when SASL ends up on,
    Dovecot's files go first; when it ends up off (or a rollback), main.cf goes first."""
    dovecot = target.dovecot_dir.resolve()
    dovecot_first = target.listener is not None
    return sorted(writes, key=lambda w: w.path.is_relative_to(dovecot) != dovecot_first)


def _commit(writes: list[Write], target: Target, backup_dir: Path, reload: bool, reason: str,
            outcome: Outcome) -> Outcome:
    try:
        backup = writer.back_up([w.path for w in writes], backup_dir, reason)
    except OSError as error:
        writer.remove_incomplete_sets(backup_dir)
        raise WriteError(f"cannot write the backup set in {backup_dir} ({error.strerror}); "
                         "nothing was written") from None
    changed = [w.path for w, entry in zip(writes, backup.entries)
               if writer.sha256(w.old) != entry["sha256"]]
    if changed:          # edited by someone else while the new files were being checked
        shutil.rmtree(backup.directory)
        raise writer.ChangedOnDisk(
            f"{changed[0]} changed on disk while the wizard was checking the new files; nothing "
            "was written. Run the wizard again to see the new state")
    outcome.backup = backup
    outcome.step(f"backed up to set {backup.id}")
    crash_point("backed-up")
    journal = {"backup": backup.id, "state": "writing", "pid": os.getpid(), "reloaded": [],
               "postfix_dir": str(target.postfix_dir), "dovecot_dir": str(target.dovecot_dir)}
    writer.write_journal(backup_dir, journal)
    crash_point("journaled")
    try:
        _write_all(writes, target, outcome, journal, backup_dir, reload)
    except (OSError, WriteError) as error:
        undone = _undo(backup, journal, target)
        writer.clear_journal(backup_dir)
        problem = error if isinstance(error, WriteError) else (
            f"writing {error.filename or 'a file'} failed ({error.strerror})")
        raise WriteError(f"{problem}; every file was put back as it was"
                         + (f" ({', '.join(undone)})" if undone else "")) from None
    crash_point("before-done")
    backup.mark_completed()
    writer.clear_journal(backup_dir)
    crash_point("done")
    return outcome


def _write_all(writes, target: Target, outcome: Outcome, journal: dict, backup_dir: Path,
               reload: bool) -> None:
    """Write the files in their order (see _in_order), reloading each daemon after its files.

    When Postfix moves to another Dovecot socket, Dovecot's files first get their interim text
    (both listeners), and their final text (old listener gone) only after Postfix has moved.
    """
    _write_in_order([replace(w, new=w.interim) if w.interim is not None else w for w in writes],
                    target, outcome, journal, backup_dir, reload)
    final = [w for w in writes if w.interim is not None and w.interim != w.new]
    if final:
        for index, write in enumerate(final):
            writer.write_file_atomically(write.path, write.new, crash_prefix=f"final{index}")
            crash_point(f"final{index}-after-rename")
        _reload_dovecot(target, outcome, journal, backup_dir, reload, again=True)


def _write_in_order(writes, target: Target, outcome: Outcome, journal: dict, backup_dir: Path,
                    reload: bool) -> None:
    dovecot = target.dovecot_dir.resolve()
    for index, write in enumerate(writes):
        is_main = not write.path.is_relative_to(dovecot)
        if is_main and reload and target.listener and postfix_running(target.postfix_dir):
            # A running smtpd reads main.cf at its next start: it must find Dovecot answering.
            _reload_dovecot(target, outcome, journal, backup_dir, reload)
            check_listener(target, outcome.dovecot_log_mark, outcome.step)
        writer.write_file_atomically(write.path, write.new, like=write.like,
                                     crash_prefix=f"file{index}")
        outcome.written.append(write.path)
        outcome.step(f"wrote {write.path}")
        crash_point(f"file{index}-after-rename")
        last_of_its_daemon = index + 1 == len(writes) or \
            writes[index + 1].path.is_relative_to(dovecot) == is_main
        if reload and last_of_its_daemon and is_main and reload_postfix(target.postfix_dir):
            outcome.reloaded.append("postfix")
            outcome.step("Postfix reloaded")
            _note_reloads(outcome, journal, backup_dir)
    _reload_dovecot(target, outcome, journal, backup_dir, reload)


def _reload_dovecot(target: Target, outcome: Outcome, journal: dict, backup_dir: Path,
                    reload: bool, again: bool = False) -> None:
    """Reload Dovecot after its files are written (if any were, and it runs); once, unless
    `again` (the final text of a socket switch)."""
    dovecot = target.dovecot_dir.resolve()
    if not reload or ("dovecot" in outcome.reloaded and not again) or \
            not any(p.is_relative_to(dovecot) for p in outcome.written):
        return
    outcome.dovecot_log_mark = logs.dovecot_mark(target.dovecot_dir)
    if reload_dovecot(target.dovecot_dir):
        outcome.reloaded.append("dovecot")
        outcome.step("Dovecot reloaded")
        _note_reloads(outcome, journal, backup_dir)
        crash_point("dovecot-reloaded")
        if target.listener:
            check_listener(target, outcome.dovecot_log_mark, outcome.step)


def _note_reloads(outcome: Outcome, journal: dict, backup_dir: Path) -> None:
    journal["reloaded"] = list(outcome.reloaded)
    writer.write_journal(backup_dir, journal)


def _undo(backup: BackupSet, journal: dict, target: Target) -> list[str]:
    """Put every file of the backup set back to its old bytes; reload what had been reloaded."""
    restored = []
    backup.mark_completed(False)
    for entry in backup.entries:
        path = Path(entry["path"])
        stored = backup.stored(entry)
        if not path.exists() or writer.sha256(path.read_bytes()) != entry["sha256"]:
            writer.write_file_atomically(path, stored.read_bytes(), like=stored)
            restored.append(str(path))
        for stray in writer.stray_temporaries(path.parent):
            stray.unlink()
    if "dovecot" in journal.get("reloaded", []):
        reload_dovecot(target.dovecot_dir)
    if "postfix" in journal.get("reloaded", []):
        reload_postfix(target.postfix_dir)
    return restored


def recover(backup_dir: Path) -> list[str]:
    """Undo a transaction a crash interrupted; say what was done. Call with the lock held."""
    for stale in backup_dir.glob(STAGE_PREFIX + "*"):
        shutil.rmtree(stale, ignore_errors=True)          # a staging copy a crash left behind
    journal = writer.read_journal(backup_dir)
    if journal is None:
        return []
    directory = backup_dir / journal["backup"]
    sets = [s for s in writer.backup_sets(backup_dir) if s.directory == directory]
    target = Target(Path(journal["postfix_dir"]), Path(journal["dovecot_dir"]))
    restored = _undo(sets[0], journal, target) if sets else []
    writer.clear_journal(backup_dir)
    return [f"An earlier run was interrupted (backup set {journal['backup']}); "
            + (f"put back: {', '.join(restored)}." if restored else "no file had been changed.")]


def recover_if_needed(backup_dir: Path) -> list[str]:
    if writer.read_journal(backup_dir) is None:
        return []
    with Lock(backup_dir):
        return recover(backup_dir)


def find_backup(backup_dir: Path, set_id: str | None) -> BackupSet:
    """A backup set by id, or the latest of a transaction that completed."""
    sets = writer.backup_sets(backup_dir)
    completed = [s for s in sets if s.completed]
    if set_id is None and not completed:
        raise WizardError(f"{backup_dir} holds no backup set of a completed apply; there is "
                          "nothing to roll back to")
    chosen = completed[-1] if set_id is None else next((s for s in sets if s.id == set_id), None)
    if chosen is None:
        raise WizardError(f"no backup set '{set_id}' in {backup_dir}; see 'postfix-wizard backups'")
    return chosen


def rollback(target: Target, backup_dir: Path, set_id: str | None = None,
             reload: bool = True, step: Step = no_step) -> tuple[BackupSet, Outcome]:
    """Restore a backup set (the latest by default) as a transaction of its own."""
    chosen = find_backup(backup_dir, set_id)
    writes = []
    for entry in chosen.entries:
        stored = chosen.stored(entry)
        data = stored.read_bytes()
        if writer.sha256(data) != entry["sha256"]:
            raise WizardError(f"backup {chosen.id}: {entry['stored']} does not match its manifest "
                              "checksum; refusing to restore it. Nothing was written")
        path = Path(entry["path"])
        writes.append(Write(path, path.read_bytes(), data, like=stored))
    writes, target = _rollback_order(writes, target)
    outcome = apply(writes, target, backup_dir, reload=reload, reason=f"rollback to {chosen.id}",
                    check=False, step=step)
    return chosen, outcome


def _rollback_order(writes: list[Write], target: Target) -> tuple[list[Write], Target]:
    """Order a rollback like an apply: the listener the restored main.cf uses must answer
    before main.cf is back, and the listener Postfix uses now stays until Postfix has moved."""
    from wizard.files.dovecot import SASL_LISTENER_NAME, InetListener, UnixListener
    from wizard.settings.model import Settings
    from wizard.server.state import Server

    try:
        now = Server.load(target.postfix_dir, target.dovecot_dir)
        with tempfile.TemporaryDirectory(prefix="postfix-wizard-rollback-") as work:
            copies = {target.postfix_dir: Path(work) / "postfix",
                      target.dovecot_dir: Path(work) / "dovecot"}
            for live, copy in copies.items():
                shutil.copytree(live, copy, symlinks=False, ignore=_not_files)
            for write in writes:
                for live, copy in copies.items():
                    if write.path.resolve().is_relative_to(live.resolve()):
                        (copy / write.path.resolve().relative_to(live.resolve())).write_bytes(
                            write.new)
            restored = Server.load(copies[target.postfix_dir], copies[target.dovecot_dir])
            wanted = target_for(restored, Settings())
            listener = wanted.listener
            target = replace(target, listener=listener, mechanisms=wanted.mechanisms)
            current = target_for(now, Settings()).listener
            if listener is None or current is None or current == listener or \
                    restored.dovecot is None:       # no Dovecot tree the wizard may edit
                return writes, target
            sasl = now.current().sasl
            keep = (UnixListener(current.path, sasl.mode, sasl.user, sasl.group)
                    if current.is_unix else InetListener(SASL_LISTENER_NAME, sasl.address,
                                                         sasl.port))
            interim = restored.dovecot.edit(**{"unix" if current.is_unix else "inet": keep})
            copy = copies[target.dovecot_dir].resolve()
            by_path = {target.dovecot_dir.resolve() / Path(path).resolve().relative_to(copy): text
                       for path, text in interim.items()}
    except (WizardError, OSError):
        return writes, target          # cannot judge: restore in the plain order
    return ([replace(w, interim=writer.encode(by_path[w.path.resolve()]))
             if w.path.resolve() in by_path else w for w in writes], target)
