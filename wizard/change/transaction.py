"""All files or none: the transactional apply, its undo, and recovery after a crash.

apply: lock → check nothing changed on disk → stage the new files in a private copy of both trees
and check it with the real postconf and doveconf → back up the originals → journal → Dovecot files,
Dovecot reload, listener check → main.cf, Postfix reload → journal cleared. A failure undoes what
was done. A crash leaves the journal behind; the next run of any command (recover) puts every
journaled file back to its old bytes, so the set ends all old or all new.

This module holds the values a change passes around (Write, Target, Outcome) and the order of
those steps; each step's work is elsewhere: staging.py (the check with postconf and doveconf),
backups.py (the backup sets), journal.py (the lock and the journal), wizard/files/atomic.py (each
file's atomic replacement) and wizard/daemons/control.py (is it running, reload). The listener
check is here: its verdict is the transaction's (main.cf is not written). rollback.py restores a
backup set through `apply`.
"""

from __future__ import annotations

import os
import shutil
import time
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Callable

from wizard.change import backups, journal, staging
from wizard.change.backups import BackupSet
from wizard.change.journal import Lock
from wizard.daemons import control, handshake, logs
from wizard.daemons.handshake import AuthSocket
from wizard.errors import WriteError
from wizard.files import atomic
from wizard.files.atomic import crash_point

LISTENER_WAIT_SECONDS = 10.0
UNDO_WAIT_SECONDS = 20.0
Progress = Callable[[str], None]     # told each step as it is done, for a progress display


def no_progress(_: str) -> None:
    pass


class ChangedOnDisk(WriteError):
    """A file changed between the wizard reading it and writing it."""


@dataclass(frozen=True)
class Write:
    path: Path            # as the wizard read it (may be a symlink)
    old: bytes
    new: bytes
    like: Path | None = None      # whose metadata the new file takes (default: the original)
    interim: bytes | None = None  # Dovecot: written first, `new` only once Postfix has moved


def writes_for(changes) -> list[Write]:
    """The writes of a change plan's FileChanges."""
    return [Write(c.path, atomic.encode(c.old), atomic.encode(c.new), None,
                  None if c.interim is None else atomic.encode(c.interim)) for c in changes]


@dataclass
class Outcome:
    backup: BackupSet          # set once the originals are backed up
    written: list[Path]
    reloaded: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    checked: str = ""          # which tools checked the new files before they were written
    dovecot_log_mark: logs.Mark | None = None    # Dovecot's log before its last reload
    progress: Progress = no_progress


@dataclass(frozen=True)
class Target:
    postfix_dir: Path
    dovecot_dir: Path
    auth_socket: AuthSocket | None = None     # the Dovecot auth socket to check
    dovecot_generation: str | None = None   # "2.3" or "2.4": which doveconf can check the files
    mechanisms: tuple[str, ...] = ()   # what the listener's auth process must serve
    postfix_version: str = ""          # the files' Postfix (a demo's may not be this host's)


def target_for(server, settings) -> Target:
    """The directories to write and the Dovecot listener that must answer after the change."""
    sasl = server.after(settings).sasl
    auth_socket = None
    if sasl.enabled and sasl.type == "dovecot":
        auth_socket = (AuthSocket.unix(server.socket_path(sasl.path)) if sasl.socket == "unix"
                       else AuthSocket.tcp(sasl.address, sasl.port))
    generation = server.dovecot.generation if server.dovecot is not None else None
    return Target(server.postfix_dir, server.dovecot_dir, auth_socket, generation,
                  tuple(sasl.mechanisms or ()) if auth_socket else (), server.postfix_version)


# Checks before anything is written (staging.py checks the new files) --------------------------

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
            raise ChangedOnDisk(
                f"{write.path} changed on disk since the wizard read it (another admin or "
                "postconf -e?); nothing was written. Run the wizard again to see the new state")


# The listener check ----------------------------------------------------------------------------

def check_listener(target: Target, since: logs.Mark | None = None,
                   progress: Progress = no_progress) -> None:
    """Dovecot's auth process behind the listener completes the handshake and serves every
    configured mechanism; else the change stops before main.cf is written. `since`: Dovecot's
    log before the reload, to quote what it said since."""
    try:
        served = handshake.wait_for_handshake(target.auth_socket, LISTENER_WAIT_SECONDS)
        missing = handshake.missing_mechanisms(list(target.mechanisms), served)
        if not missing:
            progress(f"Dovecot's auth listener {target.auth_socket} serves "
                 f"{' '.join(served.public)}")
            return
        problem = (f"it serves {' '.join(served.public) or 'no mechanism'}, not "
                   f"{' '.join(missing)}")
    except OSError as error:
        problem = f"it does not answer ({error.strerror or error})"
    except handshake.HandshakeError as error:
        problem = str(error)
    said = logs.errors_since(since)
    raise WriteError(f"after the reload, Dovecot's auth listener "
                     f"{target.auth_socket}: {problem}"
                     + (f"; Dovecot logged: {said}" if said else "")
                     + ". main.cf was not changed, so Postfix never used the new Dovecot files")


# The transaction -----------------------------------------------------------------------------

def apply(writes: list[Write], target: Target, backup_dir: Path, *, reload: bool = True,
          reason: str = "apply", check_staged: bool = True,
          progress: Progress = no_progress) -> Outcome:
    """Write `writes` as one transaction. `check_staged`: first stage the new files in a private
    copy and check them with postconf and doveconf (staging.py); a rollback passes False."""
    backups.prepare_backup_dir(backup_dir)
    try:
        with Lock(backup_dir):
            recover(backup_dir)
            crash_point("locked")
            check_unchanged(writes)
            roots = [target.postfix_dir, target.dovecot_dir]
            real = [replace(w, path=resolve(w.path, roots)) for w in writes]
            staged = staging.Staged("")
            if check_staged:
                staged = staging.stage(writes, target, backup_dir)
                progress(staged.checked)
            crash_point("staged")
            return _commit(_in_order(real, target), target, backup_dir, reload, reason,
                           Outcome(None, [], notes=staged.notes, checked=staged.checked,
                                   progress=progress))
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
    dovecot_first = target.auth_socket is not None
    return sorted(writes, key=lambda w: w.path.is_relative_to(dovecot) != dovecot_first)


def _commit(writes: list[Write], target: Target, backup_dir: Path, reload: bool, reason: str,
            outcome: Outcome) -> Outcome:
    try:
        backup = backups.back_up([w.path for w in writes], backup_dir, reason)
    except OSError as error:
        backups.remove_incomplete_sets(backup_dir)
        raise WriteError(f"cannot write the backup set in {backup_dir} ({error.strerror}); "
                         "nothing was written") from None
    changed = [w.path for w, entry in zip(writes, backup.entries)
               if atomic.sha256(w.old) != entry["sha256"]]
    if changed:          # edited by someone else while the new files were being checked
        shutil.rmtree(backup.directory)
        raise ChangedOnDisk(
            f"{changed[0]} changed on disk while the wizard was checking the new files; nothing "
            "was written. Run the wizard again to see the new state")
    outcome.backup = backup
    outcome.progress(f"backed up to set {backup.id}")
    crash_point("backed-up")
    record = {"backup": backup.id, "state": "writing", "pid": os.getpid(), "reloaded": [],
              "postfix_dir": str(target.postfix_dir), "dovecot_dir": str(target.dovecot_dir)}
    journal.write_journal(backup_dir, record)
    crash_point("journaled")
    try:
        _write_all(writes, target, outcome, record, backup_dir, reload)
    except (OSError, WriteError) as error:
        undone = _undo(backup, record, target)
        journal.clear_journal(backup_dir)
        problem = error if isinstance(error, WriteError) else (
            f"writing {error.filename or 'a file'} failed ({error.strerror})")
        raise WriteError(f"{problem}; every file was put back as it was"
                         + (f" ({', '.join(undone)})" if undone else "")) from None
    crash_point("before-done")
    backup.mark_completed()
    journal.clear_journal(backup_dir)
    crash_point("done")
    return outcome


def _write_all(writes, target: Target, outcome: Outcome, record: dict, backup_dir: Path,
               reload: bool) -> None:
    """Write the files in their order (see _in_order), reloading each daemon after its files.

    When Postfix moves to another Dovecot socket, Dovecot's files first get their interim text
    (both listeners), and their final text (old listener gone) only after Postfix has moved.
    """
    _write_in_order([replace(w, new=w.interim) if w.interim is not None else w for w in writes],
                    target, outcome, record, backup_dir, reload)
    final = [w for w in writes if w.interim is not None and w.interim != w.new]
    if final:
        for index, write in enumerate(final):
            atomic.write_file_atomically(write.path, write.new, crash_prefix=f"final{index}")
            crash_point(f"final{index}-after-rename")
        _reload_dovecot(target, outcome, record, backup_dir, reload, again=True)


def _write_in_order(writes, target: Target, outcome: Outcome, record: dict, backup_dir: Path,
                    reload: bool) -> None:
    dovecot = target.dovecot_dir.resolve()
    for index, write in enumerate(writes):
        is_main = not write.path.is_relative_to(dovecot)
        if is_main and reload and target.auth_socket and \
                control.postfix_running(target.postfix_dir):
            # A running smtpd reads main.cf at its next start: it must find Dovecot answering.
            _reload_dovecot(target, outcome, record, backup_dir, reload)
            check_listener(target, outcome.dovecot_log_mark, outcome.progress)
        atomic.write_file_atomically(write.path, write.new, like=write.like,
                                     crash_prefix=f"file{index}")
        outcome.written.append(write.path)
        outcome.progress(f"wrote {write.path}")
        crash_point(f"file{index}-after-rename")
        last_of_its_daemon = index + 1 == len(writes) or \
            writes[index + 1].path.is_relative_to(dovecot) == is_main
        if reload and last_of_its_daemon and is_main and control.reload_postfix(target.postfix_dir):
            outcome.reloaded.append("postfix")
            outcome.progress("Postfix reloaded")
            _note_reloads(outcome, record, backup_dir)
    _reload_dovecot(target, outcome, record, backup_dir, reload)


def _reload_dovecot(target: Target, outcome: Outcome, record: dict, backup_dir: Path,
                    reload: bool, again: bool = False) -> None:
    """Reload Dovecot after its files are written (if any were, and it runs); once, unless
    `again` (the final text of a socket switch)."""
    dovecot = target.dovecot_dir.resolve()
    if not reload or ("dovecot" in outcome.reloaded and not again) or \
            not any(p.is_relative_to(dovecot) for p in outcome.written):
        return
    outcome.dovecot_log_mark = logs.dovecot_mark(target.dovecot_dir)
    if control.reload_dovecot(target.dovecot_dir):
        outcome.reloaded.append("dovecot")
        outcome.progress("Dovecot reloaded")
        _note_reloads(outcome, record, backup_dir)
        crash_point("dovecot-reloaded")
        if target.auth_socket:
            check_listener(target, outcome.dovecot_log_mark, outcome.progress)


def _note_reloads(outcome: Outcome, record: dict, backup_dir: Path) -> None:
    record["reloaded"] = list(outcome.reloaded)
    journal.write_journal(backup_dir, record)


def _undo(backup: BackupSet, record: dict, target: Target) -> list[str]:
    """Put every file of the backup set back to its old bytes; reload what had been reloaded."""
    restored = []
    backup.mark_completed(False)
    for entry in backup.entries:
        path = Path(entry["path"])
        stored = backup.stored(entry)
        if not path.exists() or atomic.sha256(path.read_bytes()) != entry["sha256"]:
            atomic.write_file_atomically(path, stored.read_bytes(), like=stored)
            restored.append(str(path))
        for stray in atomic.stray_temporaries(path.parent):
            stray.unlink()
    if "dovecot" in record.get("reloaded", []):
        control.reload_dovecot(target.dovecot_dir)
        _wait_for_auth_process(target)
    if "postfix" in record.get("reloaded", []):
        control.reload_postfix(target.postfix_dir)
    return restored


def _wait_for_auth_process(target: Target) -> None:
    """After the old files are back, give Dovecot time to serve on the listener again: a
    failed auth process leaves its service throttled for seconds (2, 4, 8, ... on 2.4.5), and a
    smtpd started meanwhile dies. Where the listener accepts but no auth process answers yet,
    wait (at most UNDO_WAIT_SECONDS); where nothing listens, the old files have no such
    listener: stop soon."""
    if target.auth_socket is None:
        return
    start = time.monotonic()
    while True:
        try:
            handshake.handshake(target.auth_socket, timeout=2)
            return
        except OSError:
            if time.monotonic() - start > 2:
                return
        except handshake.HandshakeError:
            if time.monotonic() - start > UNDO_WAIT_SECONDS:
                return
        time.sleep(0.2)


def recover(backup_dir: Path) -> list[str]:
    """Undo a transaction a crash interrupted; say what was done. Call with the lock held."""
    staging.remove_leftovers(backup_dir)          # a staging copy a crash left behind
    record = journal.read_journal(backup_dir)
    if record is None:
        return []
    directory = backup_dir / record["backup"]
    sets = [s for s in backups.backup_sets(backup_dir) if s.directory == directory]
    target = Target(Path(record["postfix_dir"]), Path(record["dovecot_dir"]))
    restored = _undo(sets[0], record, target) if sets else []
    journal.clear_journal(backup_dir)
    return [f"An earlier run was interrupted (backup set {record['backup']}); "
            + (f"put back: {', '.join(restored)}." if restored else "no file had been changed.")]


def recover_if_needed(backup_dir: Path) -> list[str]:
    if journal.read_journal(backup_dir) is None:
        return []
    with Lock(backup_dir):
        return recover(backup_dir)
