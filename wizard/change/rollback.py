"""Rollback: a backup set restored as a transaction of its own.

The set (the latest of a completed apply, or one named by id) is checked against its manifest's
checksums and written back through transaction.apply, so a rollback is backed up, journaled and
undone on failure like any change; its new files are not staged (apply's check_staged=False).
It is ordered like an apply: the listener the restored main.cf uses must answer before main.cf
is back, and the listener Postfix uses now stays until Postfix has moved.
"""

from __future__ import annotations

import shutil
import tempfile
from dataclasses import replace
from pathlib import Path

from wizard.change.backups import BackupSet, backup_sets
from wizard.change.staging import ignore_non_files
from wizard.change.transaction import (Outcome, Progress, Target, Write, apply, no_progress,
                                      target_for)
from wizard.errors import WizardError
from wizard.files.atomic import encode, sha256


def find_backup(backup_dir: Path, set_id: str | None) -> BackupSet:
    """A backup set by id, or the latest of a transaction that completed."""
    sets = backup_sets(backup_dir)
    completed = [s for s in sets if s.completed]
    if set_id is None and not completed:
        raise WizardError(f"{backup_dir} holds no backup set of a completed apply; there is "
                          "nothing to roll back to")
    chosen = completed[-1] if set_id is None else next((s for s in sets if s.id == set_id), None)
    if chosen is None:
        raise WizardError(f"no backup set '{set_id}' in {backup_dir}; see 'postfix-wizard backups'")
    return chosen


def rollback(target: Target, backup_dir: Path, set_id: str | None = None,
             reload: bool = True, progress: Progress = no_progress) -> tuple[BackupSet, Outcome]:
    """Restore a backup set (the latest by default) as a transaction of its own."""
    chosen = find_backup(backup_dir, set_id)
    writes = []
    for entry in chosen.entries:
        stored = chosen.stored(entry)
        data = stored.read_bytes()
        if sha256(data) != entry["sha256"]:
            raise WizardError(f"backup {chosen.id}: {entry['stored']} does not match its manifest "
                              "checksum; refusing to restore it. Nothing was written")
        path = Path(entry["path"])
        writes.append(Write(path, path.read_bytes(), data, like=stored))
    writes, target = _rollback_order(writes, target)
    outcome = apply(writes, target, backup_dir, reload=reload, reason=f"rollback to {chosen.id}",
                    check_staged=False, progress=progress)
    return chosen, outcome


def _rollback_order(writes: list[Write], target: Target) -> tuple[list[Write], Target]:
    """Order a rollback like an apply: the listener the restored main.cf uses must answer
    before main.cf is back, and the listener Postfix uses now stays until Postfix has moved."""
    from wizard.files.dovecot import SASL_LISTENER_NAME, InetListenerRequest, UnixListenerRequest
    from wizard.settings.model import Settings
    from wizard.server.state import Server

    try:
        now = Server.load(target.postfix_dir, target.dovecot_dir)
        with tempfile.TemporaryDirectory(prefix="postfix-wizard-rollback-") as work:
            copies = {target.postfix_dir: Path(work) / "postfix",
                      target.dovecot_dir: Path(work) / "dovecot"}
            for live, copy in copies.items():
                shutil.copytree(live, copy, symlinks=False, ignore=ignore_non_files)
            for write in writes:
                for live, copy in copies.items():
                    if write.path.resolve().is_relative_to(live.resolve()):
                        (copy / write.path.resolve().relative_to(live.resolve())).write_bytes(
                            write.new)
            restored = Server.load(copies[target.postfix_dir], copies[target.dovecot_dir])
            wanted = target_for(restored, Settings())
            listener = wanted.auth_socket
            target = replace(target, auth_socket=listener, mechanisms=wanted.mechanisms)
            current = target_for(now, Settings()).auth_socket
            if listener is None or current is None or current == listener or \
                    restored.dovecot is None:       # no Dovecot tree the wizard may edit
                return writes, target
            sasl = now.current().sasl
            keep = (UnixListenerRequest(current.path, sasl.mode, sasl.user, sasl.group)
                    if current.is_unix else InetListenerRequest(SASL_LISTENER_NAME, sasl.address,
                                                         sasl.port))
            interim = restored.dovecot.edit(**{"unix" if current.is_unix else "inet": keep})
            copy = copies[target.dovecot_dir].resolve()
            by_path = {target.dovecot_dir.resolve() / Path(path).resolve().relative_to(copy): text
                       for path, text in interim.items()}
    except (WizardError, OSError):
        return writes, target          # cannot judge: restore in the plain order
    return ([replace(w, interim=encode(by_path[w.path.resolve()]))
             if w.path.resolve() in by_path else w for w in writes], target)
