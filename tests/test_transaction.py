"""Issue 4: all files or none, nothing lost, metadata kept, one run at a time.

Real subprocesses of the CLI on private copies of the bundled Debian 12 configuration, killed
at every step boundary (POSTFIX_WIZARD_CRASH_AT), on a full tmpfs and a read-only bind mount,
plus the transaction API for what the CLI cannot provoke (a file edited behind the wizard's back,
a staged file the real postconf/doveconf reject).
"""

from __future__ import annotations

import json
import os
import pwd
import shutil
import subprocess
import time
from pathlib import Path

import pytest

import wizard_process
from wizard.settings import presets
from wizard.change import backups, journal, rollback, staging, transaction
from wizard.change.plan import make_plan
from wizard.server.state import Server
from wizard.change.transaction import ChangedOnDisk, Target, Write
from wizard.daemons import control
from wizard.errors import WriteError
from wizard.files import atomic

ROOT = Path(__file__).resolve().parents[1]
SAMPLE = ROOT / "samples" / "debian12"
TEMP_GLOB = f".*{atomic.TEMP_MARK}*"
UNKNOWN_PARAM = b"foo_bar_unknown = 1\n"          # postconf -n: "unused parameter" warning


# Helpers -------------------------------------------------------------------------------------

def environment(**extra: str) -> dict:
    env = {k: v for k, v in os.environ.items() if k != "POSTFIX_WIZARD_CRASH_AT"}
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(ROOT), env.get("PYTHONPATH")]))
    env.update(extra)
    return env


def wizard_command(*args) -> list[str]:
    return [*wizard_process.python(), "-m", "wizard", *map(str, args)]


def cli(*args) -> subprocess.CompletedProcess:
    """`postfix-wizard ARGS`; stderr is empty or one plain line, never a traceback."""
    result = subprocess.run(wizard_command(*args), capture_output=True, text=True, timeout=120,
                            env=environment(), stdin=subprocess.DEVNULL)
    assert "Traceback" not in result.stderr, result.stderr
    if result.stderr:
        assert result.stderr.startswith("postfix-wizard: "), result.stderr
        assert len(result.stderr.strip().splitlines()) == 1, result.stderr
    return result


def dir_options(postfix_dir: Path, dovecot_dir: Path, backup_dir: Path) -> list:
    return ["--postfix-dir", postfix_dir, "--dovecot-dir", dovecot_dir, "--backup-dir", backup_dir]


def apply_cli(preset: str, postfix_dir: Path, dovecot_dir: Path,
              backup_dir: Path) -> subprocess.CompletedProcess:
    return cli("apply", "--preset", preset, *dir_options(postfix_dir, dovecot_dir, backup_dir),
               "--yes", "--no-reload")


def age(*roots: Path) -> None:
    """Postfix re-reads a main.cf younger than a second until it settles (~1 s per postconf):
    date the test's own copies back so that only the wizard's staged file pays for that."""
    past = time.time() - 3600
    for root in roots:
        for path in [root, *root.rglob("*")] if root.is_dir() else [root]:
            if path.is_file() and not path.is_symlink():
                os.utime(path, (past, past))


def snapshot(*roots: Path) -> dict:
    """Every file under the roots: bytes (or a symlink's target), owner, group and mode."""
    found = {}
    for root in roots:
        for path in sorted(root.rglob("*")):
            info = path.lstat()
            if path.is_symlink():
                found[str(path)] = ("link", os.readlink(path))
            elif path.is_file():
                found[str(path)] = (path.read_bytes(), info.st_uid, info.st_gid,
                                    info.st_mode & 0o7777)
    return found


def strays(*roots: Path) -> list[Path]:
    return [p for root in roots for p in root.rglob(TEMP_GLOB)]


def set_dirs(backup_dir: Path) -> list[Path]:
    """Backup sets (directories with a manifest), oldest first."""
    if not backup_dir.is_dir():
        return []
    return sorted(d for d in backup_dir.iterdir() if (d / backups.MANIFEST).is_file())


def manifest(set_dir: Path) -> list[dict]:
    return json.loads((set_dir / backups.MANIFEST).read_text())


def plan_writes(postfix_dir: Path, dovecot_dir: Path, preset: str) -> list[Write]:
    server = Server.load(postfix_dir, dovecot_dir)
    plan = make_plan(server, presets.load(presets.find(preset)).settings)
    assert plan.changes and not plan.blocked
    return [Write(c.path, atomic.encode(c.old), atomic.encode(c.new)) for c in plan.changes]


@pytest.fixture
def dirs(sample_dirs, tmp_path):
    """(postfix_dir, dovecot_dir, backup_dir) on private copies; the backup dir does not exist."""
    postfix_dir, dovecot_dir = sample_dirs
    age(postfix_dir, dovecot_dir)
    return postfix_dir, dovecot_dir, tmp_path / "backups"


# Mounts ----------------------------------------------------------------------------------------

@pytest.fixture
def mounts():
    """mount(args..., target): mounts, skipping the test if that is impossible; always unmounts."""
    mounted: list[Path] = []

    def mount(*args, target: Path) -> None:
        if os.geteuid() != 0:
            pytest.skip("mounting needs root")
        target.mkdir(parents=True, exist_ok=True)
        result = subprocess.run(["mount", *map(str, args), str(target)], capture_output=True,
                                text=True)
        if result.returncode != 0:
            pytest.skip(f"mount {' '.join(map(str, args))} failed: {result.stderr.strip()}")
        if target not in mounted:
            mounted.append(target)

    yield mount
    for target in reversed(mounted):
        subprocess.run(["umount", str(target)], capture_output=True)


def tmpfs(mount, target: Path, size: str) -> None:
    mount("-t", "tmpfs", "-o", f"size={size},mode=0755", "tmpfs", target=target)


def read_only(mount, target: Path) -> None:
    mount("--bind", target, target=target)
    mount("-o", "remount,bind,ro", target=target)


def fill(directory: Path, leave: int) -> None:
    """Fill the file system of `directory` until `leave` bytes (at most) are free."""
    stats = os.statvfs(directory)
    free = stats.f_bavail * stats.f_frsize
    with open(directory / "filler", "wb") as filler:
        filler.write(b"\0" * max(0, free - leave))
    stats = os.statvfs(directory)
    assert stats.f_bavail * stats.f_frsize <= leave


def postfix_on_tmpfs(mount, tmp_path: Path, size: str = "64k") -> Path:
    """A Postfix directory on its own tmpfs holding the sample main.cf and master.cf."""
    postfix_dir = tmp_path / "postfix"
    shutil.rmtree(postfix_dir)
    tmpfs(mount, postfix_dir, size)
    for name in ("main.cf", "master.cf"):
        shutil.copy2(SAMPLE / "postfix" / name, postfix_dir / name)
    age(postfix_dir)
    return postfix_dir


# 1. A crash at every step boundary -----------------------------------------------------------

BEFORE_WRITING = ["locked", "staged", "backed-up", "journaled"]
CRASH_POINTS = (BEFORE_WRITING
                + [f"file{i}-{when}-rename" for i in range(3) for when in ("before", "after")]
                + ["before-done", "done"])


@pytest.fixture(scope="module")
def rhel9_versions(tmp_path_factory):
    """From a clean apply on a separate copy: the touched files in write order, as
    (path relative to the copy, old bytes, new bytes)."""
    base = tmp_path_factory.mktemp("clean")
    shutil.copytree(SAMPLE / "postfix", base / "postfix")
    shutil.copytree(SAMPLE / "dovecot", base / "dovecot")
    age(base)
    before = snapshot(base)
    result = apply_cli("rhel9-guide", base / "postfix", base / "dovecot", base / "backups")
    assert result.returncode == 0, result.stderr
    (backup,) = set_dirs(base / "backups")
    versions = [(Path(e["path"]).relative_to(base), before[e["path"]][0],
                 Path(e["path"]).read_bytes()) for e in manifest(backup)]
    assert [str(v[0]) for v in versions] == ["dovecot/conf.d/10-auth.conf",
                                             "dovecot/conf.d/10-master.conf", "postfix/main.cf"]
    assert all(old != new for _, old, new in versions)
    changed = {k for k, v in snapshot(base / "postfix", base / "dovecot").items() if before[k] != v}
    assert changed == {str(base / rel) for rel, _, _ in versions}
    return versions


def expected_after_kill(point: str) -> tuple[int, int | None]:
    """(how many files, in write order, are new right after the kill; which one has a temporary)"""
    if point in BEFORE_WRITING:
        return 0, None
    if point.startswith("file"):
        index = int(point[4])
        return (index, index) if "before" in point else (index + 1, None)
    return 3, None


@pytest.fixture(scope="module")
def crashed(tmp_path_factory, rhel9_versions):
    """For every crash point, a private copy on which `apply --preset rhel9-guide` was killed
    there: {point: (returncode, stderr, base, snapshot before)}. The runs share nothing (own
    directories, own backup dir, own lock), so they are started together to save time."""
    runs = {}
    for point in CRASH_POINTS:
        base = tmp_path_factory.mktemp(f"crash-{point}")
        shutil.copytree(SAMPLE / "postfix", base / "postfix")
        shutil.copytree(SAMPLE / "dovecot", base / "dovecot")
        age(base)
        original = snapshot(base / "postfix", base / "dovecot")
        command = wizard_command("apply", "--preset", "rhel9-guide",
                                 *dir_options(base / "postfix", base / "dovecot", base / "b"),
                                 "--yes", "--no-reload")
        process = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                                   text=True, stdin=subprocess.DEVNULL,
                                   env=environment(POSTFIX_WIZARD_CRASH_AT=point))
        runs[point] = (process, base, original)
    found = {}
    for point, (process, base, original) in runs.items():
        _, stderr = process.communicate(timeout=120)
        found[point] = (process.returncode, stderr, base, original)
    return found


@pytest.mark.parametrize("point", CRASH_POINTS)
def test_crash_at_every_step_leaves_all_old_or_all_new(point, crashed, rhel9_versions):
    returncode, stderr, base, original = crashed[point]
    postfix_dir, dovecot_dir, backup_dir = base / "postfix", base / "dovecot", base / "b"
    paths = [base / rel for rel, _, _ in rhel9_versions]
    assert returncode == -9, (returncode, stderr)          # every point is reached

    # Right after the kill: every file is whole, old or new, exactly as far as the run got.
    new_count, half_written = expected_after_kill(point)
    for index, (path, (_, old, new)) in enumerate(zip(paths, rhel9_versions)):
        assert path.read_bytes() == (new if index < new_count else old), (point, path)
    temporaries = strays(postfix_dir, dovecot_dir)
    if half_written is None:
        assert temporaries == []
    else:
        assert [t.parent for t in temporaries] == [paths[half_written].parent]
        assert temporaries[0].name.startswith(f".{paths[half_written].name}.")
        assert temporaries[0].read_bytes() == rhel9_versions[half_written][2]
    journaled = point not in ("locked", "staged", "backed-up", "done")
    assert (backup_dir / journal.JOURNAL).exists() == journaled

    # Any command recovers: the set is all old again (all new when the run had finished).
    recovered = cli("backups", "--backup-dir", backup_dir)
    assert recovered.returncode == 0, recovered.stderr
    assert ("interrupted" in recovered.stdout) == journaled, recovered.stdout
    for path, (_, old, new) in zip(paths, rhel9_versions):
        assert path.read_bytes() == (new if point == "done" else old), (point, path)
    after = snapshot(postfix_dir, dovecot_dir)
    if point != "done":
        assert after == original          # bytes, owner, group and mode; nothing else left
    assert strays(postfix_dir, dovecot_dir) == []
    assert not (backup_dir / journal.JOURNAL).exists()

    # And the wizard works again.
    age(postfix_dir, dovecot_dir)
    again = apply_cli("rhel9-guide", postfix_dir, dovecot_dir, backup_dir)
    if point == "done":
        assert again.returncode == 0 and "changes nothing" in again.stdout, again.stdout
    else:
        assert again.returncode == 0, again.stderr
    for path, (_, _, new) in zip(paths, rhel9_versions):
        assert path.read_bytes() == new


# 2. Full disk ------------------------------------------------------------------------------------

def test_full_disk_for_main_cf_exits_3_and_puts_the_dovecot_files_back(mounts, tmp_path, sample_dirs):
    _, dovecot_dir = sample_dirs
    postfix_dir = postfix_on_tmpfs(mounts, tmp_path)
    backup_dir = tmp_path / "backups"                    # not on the full file system
    age(dovecot_dir)
    fill(postfix_dir, leave=300)
    before = snapshot(postfix_dir, dovecot_dir)

    result = apply_cli("rhel9-guide", postfix_dir, dovecot_dir, backup_dir)

    assert result.returncode == 3, (result.stdout, result.stderr)
    assert "No space left on device" in result.stderr
    assert "put back" in result.stderr, result.stderr
    assert snapshot(postfix_dir, dovecot_dir) == before    # Dovecot's files were written first
    assert strays(postfix_dir, dovecot_dir) == []
    assert not (backup_dir / journal.JOURNAL).exists()


def test_full_backup_dir_exits_3_without_a_traceback(mounts, tmp_path, dirs):
    postfix_dir, dovecot_dir, backup_dir = dirs
    tmpfs(mounts, backup_dir, "64k")
    fill(backup_dir, leave=2 * 4096)         # room for the lock, not for the three backups
    before = snapshot(postfix_dir, dovecot_dir)

    result = apply_cli("rhel9-guide", postfix_dir, dovecot_dir, backup_dir)

    assert snapshot(postfix_dir, dovecot_dir) == before
    assert "Traceback" not in result.stderr, result.stderr
    assert result.returncode == 3
    assert "No space left on device" in result.stderr


# 3. Read-only file system ---------------------------------------------------------------------

def test_read_only_postfix_dir_exits_3_and_changes_nothing(mounts, dirs):
    postfix_dir, dovecot_dir, backup_dir = dirs
    read_only(mounts, postfix_dir)
    before = snapshot(postfix_dir, dovecot_dir)

    result = apply_cli("rhel9-guide", postfix_dir, dovecot_dir, backup_dir)

    assert result.returncode == 3, (result.stdout, result.stderr)
    assert "Read-only file system" in result.stderr
    assert snapshot(postfix_dir, dovecot_dir) == before
    assert strays(dovecot_dir) == []


def test_read_only_backup_dir_exits_3_without_a_traceback(mounts, dirs):
    postfix_dir, dovecot_dir, backup_dir = dirs
    backup_dir.mkdir()
    read_only(mounts, backup_dir)
    before = snapshot(postfix_dir, dovecot_dir)

    result = apply_cli("rhel9-guide", postfix_dir, dovecot_dir, backup_dir)

    assert snapshot(postfix_dir, dovecot_dir) == before
    assert "Traceback" not in result.stderr, result.stderr
    assert result.returncode == 3
    assert "Read-only file system" in result.stderr


# 4. Owner, group, mode and extended attributes --------------------------------------------------

def test_write_backup_and_rollback_keep_owner_mode_and_xattrs(mounts, tmp_path, sample_dirs):
    _, dovecot_dir = sample_dirs
    postfix_dir = postfix_on_tmpfs(mounts, tmp_path, size="1m")
    backup_dir = tmp_path / "backups"
    main_cf = postfix_dir / "main.cf"
    postfix = pwd.getpwnam("postfix")
    os.chown(main_cf, postfix.pw_uid, postfix.pw_gid)
    os.chmod(main_cf, 0o640)
    os.setxattr(main_cf, "user.test", b"kept")
    old = main_cf.read_bytes()

    def metadata(path: Path) -> tuple:
        info = path.stat()
        return info.st_uid, info.st_gid, info.st_mode & 0o7777, os.getxattr(path, "user.test")

    expected = (postfix.pw_uid, postfix.pw_gid, 0o640, b"kept")
    result = apply_cli("baseline", postfix_dir, dovecot_dir, backup_dir)
    assert result.returncode == 0, result.stderr
    assert main_cf.read_bytes() != old
    assert metadata(main_cf) == expected

    (backup,) = set_dirs(backup_dir)
    (entry,) = manifest(backup)
    assert entry["path"] == str(main_cf)
    assert entry["size"] == len(old)
    assert entry["sha256"] == atomic.sha256(old)
    assert (entry["uid"], entry["gid"], entry["mode"]) == (postfix.pw_uid, postfix.pw_gid, "0640")
    stored = backup / entry["stored"]
    assert stored.read_bytes() == old
    assert stored.stat().st_mode & 0o007 == 0                     # not world-readable
    assert metadata(stored) == expected

    # Someone loosens the live file; rollback brings back the bytes and the metadata.
    os.chown(main_cf, 0, 0)
    os.chmod(main_cf, 0o644)
    os.removexattr(main_cf, "user.test")
    rolled = cli("rollback", "--yes", "--no-reload", *dir_options(postfix_dir, dovecot_dir,
                                                                  backup_dir))
    assert rolled.returncode == 0, rolled.stderr
    assert main_cf.read_bytes() == old
    assert metadata(main_cf) == expected


# 5. Concurrent runs --------------------------------------------------------------------------

def test_concurrent_applies_never_interleave_and_lose_nothing(dirs):
    postfix_dir, dovecot_dir, backup_dir = dirs
    original = snapshot(postfix_dir, dovecot_dir)
    names = ["baseline", "busy-relay", "rhel9-guide", "sasl-tcp"]
    runs = [subprocess.Popen(wizard_command("apply", "--preset", name,
                                            *dir_options(postfix_dir, dovecot_dir, backup_dir),
                                            "--yes", "--no-reload"),
                             stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                             env=environment(), stdin=subprocess.DEVNULL) for name in names]
    results = [(run.wait(timeout=120), *run.communicate()) for run in runs]

    for code, stdout, stderr in results:
        assert code in (0, 3), (code, stdout, stderr)
        assert "Traceback" not in stderr
        if code == 3:                                       # a clear refusal, never silence
            assert stderr.startswith("postfix-wizard: ") and "nothing was written" in stderr
            assert "changed on disk" in stderr or "another postfix-wizard" in stderr, stderr
    successes = [r for r in results if r[0] == 0]
    assert successes
    sets = set_dirs(backup_dir)
    assert len(sets) == len(successes)
    for _, stdout, _ in successes:
        assert any(s.name in stdout for s in sets)

    # The result is a consistent configuration the real tools read without a word.
    postconf = subprocess.run(["postconf", "-c", str(postfix_dir), "-n"], capture_output=True,
                              text=True)
    assert postconf.returncode == 0 and postconf.stderr == "", postconf.stderr
    doveconf = subprocess.run(["doveconf", "-c", str(dovecot_dir / "dovecot.conf"), "-n"],
                              capture_output=True, text=True)
    assert doveconf.returncode == 0, doveconf.stderr
    assert strays(postfix_dir, dovecot_dir) == []

    # Nothing lost: undoing the successful runs, newest first, gives back the original files.
    for backup in reversed(sets):
        rollback.rollback(Target(postfix_dir, dovecot_dir), backup_dir, backup.name,
                          reload=False)
    assert snapshot(postfix_dir, dovecot_dir) == original


def test_second_lock_waits_then_names_the_holder(tmp_path):
    with journal.Lock(tmp_path, wait_seconds=0.2):
        with pytest.raises(WriteError, match=f"pid {os.getpid()}\\b"):
            with journal.Lock(tmp_path, wait_seconds=0.2):
                pass
    with journal.Lock(tmp_path, wait_seconds=0.2):          # released: free again
        pass


def test_apply_waits_for_a_held_lock_and_writes_nothing_meanwhile(dirs):
    postfix_dir, dovecot_dir, backup_dir = dirs
    backup_dir.mkdir()
    before = snapshot(postfix_dir, dovecot_dir)
    lock_file = str(backup_dir / journal.LOCK)
    with journal.Lock(backup_dir):
        run = subprocess.Popen(wizard_command("apply", "--preset", "baseline",
                                              *dir_options(postfix_dir, dovecot_dir, backup_dir),
                                              "--yes", "--no-reload"),
                               stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                               env=environment(), stdin=subprocess.DEVNULL)
        try:
            deadline = time.monotonic() + 60          # a bound for a stuck run, not a check
            while run.poll() is None and time.monotonic() < deadline:
                fds = Path(f"/proc/{run.pid}/fd")
                try:
                    if any(os.readlink(fd) == lock_file for fd in fds.iterdir()):
                        break
                except FileNotFoundError:
                    pass
                time.sleep(0.05)
            time.sleep(0.5)
            assert run.poll() is None, run.communicate()      # still waiting for the lock
            assert snapshot(postfix_dir, dovecot_dir) == before
            assert set_dirs(backup_dir) == []
        except BaseException:
            run.kill()
            raise
    stdout, stderr = run.communicate(timeout=120)
    assert run.returncode == 0, stderr
    assert b"smtpd_client_connection_rate_limit = 60" in (postfix_dir / "main.cf").read_bytes()
    assert len(set_dirs(backup_dir)) == 1


# 6. A file changed behind the wizard's back ---------------------------------------------------

@pytest.mark.parametrize("changed", ["postfix/main.cf", "dovecot/conf.d/10-master.conf"])
def test_file_changed_after_reading_is_detected_and_nothing_written(changed, dirs):
    postfix_dir, dovecot_dir, backup_dir = dirs
    writes = plan_writes(postfix_dir, dovecot_dir, "rhel9-guide")
    with open(postfix_dir.parent / changed, "a") as file:
        file.write("# another admin was here\n")
    before = snapshot(postfix_dir, dovecot_dir)

    with pytest.raises(ChangedOnDisk, match="changed on disk"):
        transaction.apply(writes, Target(postfix_dir, dovecot_dir), backup_dir, reload=False)

    assert snapshot(postfix_dir, dovecot_dir) == before
    assert set_dirs(backup_dir) == []


def test_file_changed_while_the_new_files_are_staged_is_detected(dirs, monkeypatch):
    postfix_dir, dovecot_dir, backup_dir = dirs
    writes = plan_writes(postfix_dir, dovecot_dir, "rhel9-guide")
    stage = staging.stage

    def stage_while_an_admin_edits(*args, **kwargs):
        notes = stage(*args, **kwargs)
        with open(postfix_dir / "main.cf", "a") as file:      # e.g. postconf -e meanwhile
            file.write("# another admin was here\n")
        return notes

    monkeypatch.setattr(staging, "stage", stage_while_an_admin_edits)
    try:
        with pytest.raises(ChangedOnDisk):
            transaction.apply(writes, Target(postfix_dir, dovecot_dir), backup_dir, reload=False)
    finally:
        assert b"another admin was here" in (postfix_dir / "main.cf").read_bytes()


# 7. Symbolic and hard links ---------------------------------------------------------------------

def test_symlink_inside_the_config_dir_is_written_through(dirs):
    postfix_dir, dovecot_dir, backup_dir = dirs
    (postfix_dir / "real").mkdir()
    target = postfix_dir / "real" / "main.cf"
    os.rename(postfix_dir / "main.cf", target)
    os.symlink("real/main.cf", postfix_dir / "main.cf")
    old = target.read_bytes()

    result = apply_cli("baseline", postfix_dir, dovecot_dir, backup_dir)

    assert result.returncode == 0, result.stderr
    assert os.readlink(postfix_dir / "main.cf") == "real/main.cf"
    assert b"smtpd_client_connection_rate_limit = 60" in target.read_bytes()
    assert strays(postfix_dir) == []

    rolled = cli("rollback", "--yes", "--no-reload", *dir_options(postfix_dir, dovecot_dir,
                                                                  backup_dir))
    assert rolled.returncode == 0, rolled.stderr
    assert os.readlink(postfix_dir / "main.cf") == "real/main.cf"
    assert target.read_bytes() == old


def test_symlink_leaving_the_config_dirs_is_refused(dirs, tmp_path):
    postfix_dir, dovecot_dir, backup_dir = dirs
    outside = tmp_path / "elsewhere"
    outside.mkdir()
    os.rename(postfix_dir / "main.cf", outside / "main.cf")
    os.symlink(outside / "main.cf", postfix_dir / "main.cf")
    before = snapshot(postfix_dir, dovecot_dir, outside)

    result = apply_cli("rhel9-guide", postfix_dir, dovecot_dir, backup_dir)

    assert result.returncode == 3, (result.stdout, result.stderr)
    assert "outside the configuration directories" in result.stderr
    assert snapshot(postfix_dir, dovecot_dir, outside) == before
    assert set_dirs(backup_dir) == []


def test_hard_linked_file_is_refused(dirs, tmp_path):
    postfix_dir, dovecot_dir, backup_dir = dirs
    other = tmp_path / "elsewhere"
    other.mkdir()
    os.link(postfix_dir / "main.cf", other / "main.cf")
    before = snapshot(postfix_dir, dovecot_dir, other)

    result = apply_cli("rhel9-guide", postfix_dir, dovecot_dir, backup_dir)

    assert result.returncode == 3, (result.stdout, result.stderr)
    assert "hard links" in result.stderr
    assert snapshot(postfix_dir, dovecot_dir, other) == before
    assert os.stat(postfix_dir / "main.cf").st_ino == os.stat(other / "main.cf").st_ino
    assert set_dirs(backup_dir) == []


# 8. Rollback -----------------------------------------------------------------------------------

def test_rollback_restores_the_originals_and_backs_up_what_it_replaces(dirs):
    postfix_dir, dovecot_dir, backup_dir = dirs
    original = snapshot(postfix_dir, dovecot_dir)
    assert apply_cli("rhel9-guide", postfix_dir, dovecot_dir, backup_dir).returncode == 0
    applied = snapshot(postfix_dir, dovecot_dir)
    (first,) = set_dirs(backup_dir)

    result = cli("rollback", "--yes", "--no-reload", *dir_options(postfix_dir, dovecot_dir,
                                                                  backup_dir))

    assert result.returncode == 0, result.stderr
    assert snapshot(postfix_dir, dovecot_dir) == original
    sets = set_dirs(backup_dir)
    assert len(sets) == 2 and sets[0] == first
    entries = manifest(sets[1])
    assert entries[0]["reason"] == f"rollback to {first.name}"
    assert len(entries) == 3
    for entry in entries:                    # the rollback's own set holds what it replaced
        assert (sets[1] / entry["stored"]).read_bytes() == applied[entry["path"]][0]
        assert entry["sha256"] == atomic.sha256(applied[entry["path"]][0])


def test_rollback_of_a_chosen_set(dirs):
    postfix_dir, dovecot_dir, backup_dir = dirs
    original = snapshot(postfix_dir, dovecot_dir)
    assert apply_cli("rhel9-guide", postfix_dir, dovecot_dir, backup_dir).returncode == 0
    age(postfix_dir)
    assert apply_cli("busy-relay", postfix_dir, dovecot_dir, backup_dir).returncode == 0
    first, second = set_dirs(backup_dir)
    assert len(manifest(second)) == 1                     # busy-relay: main.cf only

    result = cli("rollback", first.name, "--yes", "--no-reload",
                 *dir_options(postfix_dir, dovecot_dir, backup_dir))

    assert result.returncode == 0, result.stderr
    assert snapshot(postfix_dir, dovecot_dir) == original


def test_rollback_without_id_takes_the_latest_set_even_many_in_one_second(dirs, monkeypatch):
    postfix_dir, dovecot_dir, backup_dir = dirs
    second = time.gmtime()
    monkeypatch.setattr(time, "gmtime", lambda *args: second)   # a burst within one second
    main_cf = postfix_dir / "main.cf"
    for number in range(12):
        old = main_cf.read_bytes()
        transaction.apply([Write(main_cf, old, old + f"# edit {number}\n".encode())],
                          Target(postfix_dir, dovecot_dir), backup_dir, reload=False,
                          check_staged=False)
    before_last = old

    rollback.rollback(Target(postfix_dir, dovecot_dir), backup_dir, reload=False)

    assert main_cf.read_bytes() == before_last


def test_tampered_backup_is_refused(dirs):
    postfix_dir, dovecot_dir, backup_dir = dirs
    assert apply_cli("rhel9-guide", postfix_dir, dovecot_dir, backup_dir).returncode == 0
    (backup,) = set_dirs(backup_dir)
    stored = backup / manifest(backup)[-1]["stored"]
    stored.write_bytes(stored.read_bytes() + b"relayhost = [evil.example]\n")
    before = snapshot(postfix_dir, dovecot_dir)

    result = cli("rollback", "--yes", "--no-reload", *dir_options(postfix_dir, dovecot_dir,
                                                                  backup_dir))

    assert result.returncode in (2, 3), (result.stdout, result.stderr)
    assert "checksum" in result.stderr
    assert snapshot(postfix_dir, dovecot_dir) == before
    assert set_dirs(backup_dir) == [backup]


# 9. Staging with the real postconf and doveconf ----------------------------------------------

def test_new_postconf_warning_is_refused_before_writing(dirs):
    postfix_dir, dovecot_dir, backup_dir = dirs
    main_cf = postfix_dir / "main.cf"
    old = main_cf.read_bytes()
    before = snapshot(postfix_dir, dovecot_dir)

    with pytest.raises(WriteError, match="postconf") as refused:
        transaction.apply([Write(main_cf, old, old + UNKNOWN_PARAM)],
                          Target(postfix_dir, dovecot_dir), backup_dir, reload=False)

    assert "foo_bar_unknown" in str(refused.value)
    assert snapshot(postfix_dir, dovecot_dir) == before
    assert set_dirs(backup_dir) == []


def test_dovecot_file_doveconf_rejects_is_refused_before_writing(dirs):
    postfix_dir, dovecot_dir, backup_dir = dirs
    auth = dovecot_dir / "conf.d" / "10-auth.conf"
    old = auth.read_bytes()
    before = snapshot(postfix_dir, dovecot_dir)

    with pytest.raises(WriteError, match="doveconf") as refused:
        transaction.apply([Write(auth, old, old + b"}\n")], Target(postfix_dir, dovecot_dir),
                          backup_dir, reload=False)

    assert "Unexpected '}'" in str(refused.value)
    assert snapshot(postfix_dir, dovecot_dir) == before
    assert set_dirs(backup_dir) == []


def test_warnings_already_in_the_live_main_cf_do_not_block(dirs):
    postfix_dir, dovecot_dir, backup_dir = dirs
    main_cf = postfix_dir / "main.cf"
    main_cf.write_bytes(main_cf.read_bytes() + UNKNOWN_PARAM)
    age(postfix_dir)
    live = subprocess.run(["postconf", "-c", str(postfix_dir), "-n"], capture_output=True,
                          text=True)
    assert "foo_bar_unknown" in live.stderr                 # the premise: it does warn

    result = apply_cli("baseline", postfix_dir, dovecot_dir, backup_dir)

    assert result.returncode == 0, result.stderr
    text = main_cf.read_bytes()
    assert UNKNOWN_PARAM in text and b"smtpd_client_connection_rate_limit = 60" in text


def test_absolute_symlink_inside_the_config_dir_is_still_checked(dirs):
    postfix_dir, dovecot_dir, backup_dir = dirs
    (postfix_dir / "real").mkdir()
    target = postfix_dir / "real" / "main.cf"
    os.rename(postfix_dir / "main.cf", target)
    os.symlink(target, postfix_dir / "main.cf")              # absolute, still inside
    old = target.read_bytes()
    before = snapshot(postfix_dir, dovecot_dir)

    try:
        with pytest.raises(WriteError, match="postconf"):
            transaction.apply([Write(postfix_dir / "main.cf", old, old + UNKNOWN_PARAM)],
                              Target(postfix_dir, dovecot_dir), backup_dir, reload=False)
    finally:
        assert snapshot(postfix_dir, dovecot_dir) == before



def record_postfix_reload(monkeypatch, postfix_dir: Path, master: Path) -> dict:
    """Pretend both daemons run; record main.cf and Dovecot's 10-master.conf at the moment
    Postfix is reloaded (the order of a socket switch is what these tests are about)."""
    seen: dict[str, str] = {}
    monkeypatch.setattr(control, "postfix_running", lambda directory: True)
    monkeypatch.setattr(transaction, "check_listener", lambda target, *_: None)
    monkeypatch.setattr(control, "reload_dovecot", lambda directory: True)

    def reload_postfix(directory):
        seen["dovecot"] = master.read_text()
        seen["main.cf"] = (postfix_dir / "main.cf").read_text()
        return True
    monkeypatch.setattr(control, "reload_postfix", reload_postfix)
    return seen

def test_socket_switch_moves_postfix_while_both_listeners_exist(dirs, tmp_path, monkeypatch):
    """Dovecot gets both listeners, then main.cf and the Postfix reload, then the old listener
    goes: a running smtpd never points at a socket that is gone."""
    from wizard.settings.model import Sasl, Settings
    from wizard.change.plan import make_plan
    from wizard.server.state import Server

    postfix_dir, dovecot_dir, _ = dirs
    unix = Settings(sasl=Sasl(enabled=True, type="dovecot", socket="unix", path="private/auth",
                              tls_auth_only=True))
    first = make_plan(Server.load(postfix_dir, dovecot_dir), unix)
    transaction.apply(transaction.writes_for(first.changes),
                      transaction.Target(postfix_dir, dovecot_dir), tmp_path / "b1", reload=False)

    master = dovecot_dir / "conf.d" / "10-master.conf"
    seen = record_postfix_reload(monkeypatch, postfix_dir, master)

    tcp = Settings(sasl=Sasl(socket="tcp", address="127.0.0.1", port=12345))
    server = Server.load(postfix_dir, dovecot_dir)
    plan = make_plan(server, tcp)
    outcome = transaction.apply(transaction.writes_for(plan.changes),
                                transaction.target_for(server, tcp), tmp_path / "b2")
    during = seen["dovecot"]
    assert live(during, "unix_listener /var/spool/postfix/private/auth")
    assert live(during, "inet_listener postfix-sasl")
    assert "smtpd_sasl_path = inet:127.0.0.1:12345" in seen["main.cf"]
    after = master.read_text()
    assert not live(after, "unix_listener /var/spool/postfix/private/auth")
    assert live(after, "inet_listener postfix-sasl")
    assert outcome.reloaded == ["dovecot", "postfix", "dovecot"]


def live(text: str, start: str) -> bool:
    """Whether a line that is not a comment starts with `start`."""
    return any(line.strip().startswith(start) for line in text.splitlines())


def test_rollback_of_a_socket_switch_keeps_both_listeners_while_postfix_moves(dirs, tmp_path,
                                                                             monkeypatch):
    from wizard.settings.model import Sasl, Settings
    from wizard.change.plan import make_plan
    from wizard.server.state import Server

    postfix_dir, dovecot_dir, backups = dirs
    target = transaction.Target(postfix_dir, dovecot_dir)
    for sasl in (Sasl(enabled=True, type="dovecot", socket="unix", path="private/auth",
                      tls_auth_only=True),
                 Sasl(socket="tcp", address="127.0.0.1", port=12345)):
        plan = make_plan(Server.load(postfix_dir, dovecot_dir), Settings(sasl=sasl))
        transaction.apply(transaction.writes_for(plan.changes), target, backups, reload=False)

    master = dovecot_dir / "conf.d" / "10-master.conf"
    seen = record_postfix_reload(monkeypatch, postfix_dir, master)

    _, outcome = rollback.rollback(target, backups)       # back from TCP to the UNIX socket
    assert "smtpd_sasl_path = private/auth" in seen["main.cf"]
    assert live(seen["dovecot"], "unix_listener /var/spool/postfix/private/auth {")
    assert live(seen["dovecot"], "inet_listener postfix-sasl {")
    assert not live(master.read_text(), "inet_listener postfix-sasl {")
    assert outcome.reloaded == ["dovecot", "postfix", "dovecot"]
