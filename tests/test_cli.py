"""The real command line, run in a subprocess on private copies of real configurations."""

from __future__ import annotations

import hashlib
import io
import json
import os
import pty
import re
import shutil
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import pytest

import wizard_process
from wizard import cli
from wizard.server import versions
from wizard.server.postconf import defaults as postconf_defaults
from wizard.cli import json_output
from wizard.change import pending
from wizard.settings import presets
from wizard.server.state import Server

ROOT = Path(__file__).resolve().parents[1]
SAMPLE = ROOT / "samples" / "debian12"
CORPUS = Path(os.environ.get("POSTFIX_WIZARD_CORPUS")
              or Path(__file__).resolve().parents[2] / "shared" / "corpus")
COMMANDS = ["apply", "check", "presets", "save", "backups", "rollback"]
SHIPPED = sorted(p.stem for p in presets.presets_dir().glob("*.toml"))

PLAINTEXT_SASL = '[sasl]\nenabled = true\ntype = "dovecot"\nsecurity_options = ["noanonymous"]\n'


def environment(**extra: str) -> dict:
    env = {k: v for k, v in os.environ.items() if k != "NO_COLOR"}
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(ROOT), env.get("PYTHONPATH")]))
    env.update(extra)
    return env


def sentences(text: str) -> int:
    return len([s for s in re.split(r"[.!?](?:\s+|$)", text.strip()) if s.strip()])


def run(*args, cwd: Path, stdin=subprocess.DEVNULL, env: dict | None = None):
    """`postfix-wizard ARGS`; stderr never holds a traceback, and at most two plain sentences."""
    result = subprocess.run([*wizard_process.python(), "-m", "wizard", *map(str, args)], cwd=cwd,
                            stdin=stdin, capture_output=True, text=True, timeout=120,
                            env=env or environment(), preexec_fn=lambda: os.umask(0o022))
    assert "Traceback" not in result.stderr, result.stderr
    if result.stderr:
        assert result.stderr.startswith("postfix-wizard: "), result.stderr
        assert len(result.stderr.strip().splitlines()) == 1, result.stderr
        assert sentences(result.stderr.removeprefix("postfix-wizard: ")) <= 2, result.stderr
    assert "\x1b[" not in result.stdout + result.stderr      # piped: never colour
    return result


def snapshot(root: Path, skip: tuple[Path, ...] = ()) -> dict:
    """Every file and directory under root: content hash and mode."""
    found = {}
    for path in sorted(root.rglob("*")):
        if any(path == s or s in path.parents for s in skip):
            continue
        info = path.lstat()
        digest = hashlib.sha256(path.read_bytes()).hexdigest() if path.is_file() else None
        found[str(path.relative_to(root))] = (digest, info.st_mode)
    return found


@dataclass
class Box:
    """A private server: Postfix and Dovecot configuration, backups, a work directory."""
    root: Path
    postfix: Path
    dovecot: Path
    backups: Path

    @property
    def dirs(self) -> list:
        return ["--postfix-dir", self.postfix, "--dovecot-dir", self.dovecot,
                "--backup-dir", self.backups]

    def run(self, *args, **kwargs):
        return run(*args, *self.dirs, cwd=self.root, **kwargs)

    def config(self) -> dict:
        return {**snapshot(self.postfix, ()), **{"dovecot/" + k: v
                                                 for k, v in snapshot(self.dovecot).items()}}

    def backup_sets(self) -> list[Path]:
        if not self.backups.is_dir():
            return []
        return sorted(p for p in self.backups.iterdir() if p.is_dir())

    def preset(self, name: str, text: str) -> Path:
        path = self.root / name
        path.write_text(text)
        return path


@pytest.fixture
def box(sample_dirs, tmp_path) -> Box:
    postfix, dovecot = sample_dirs
    return Box(tmp_path, postfix, dovecot, tmp_path / "backups")


@pytest.fixture
def corpus() -> Path:
    if not (CORPUS / "postfix").is_dir():
        pytest.skip(f"the configuration corpus is not at {CORPUS} (set POSTFIX_WIZARD_CORPUS)")
    return CORPUS


def corpus_box(box: Box, corpus: Path, name: str) -> Box:
    """The Box with a corpus main.cf in place of Debian's (Debian's master.cf kept)."""
    shutil.copyfile(corpus / "postfix" / name, box.postfix / "main.cf")
    return box


# Success paths -------------------------------------------------------------------------------

def test_presets_lists_each_shipped_preset_with_its_description(box):
    before = snapshot(box.root)
    result = box.run("presets")
    assert result.returncode == 0
    for preset in presets.shipped():
        assert preset.name in result.stdout
        assert preset.description in result.stdout
    assert snapshot(box.root) == before


def test_check_on_stock_debian_finds_nothing_and_changes_nothing(box):
    before = snapshot(box.root)
    result = box.run("check")
    assert result.returncode == 0, result.stderr
    assert "ERROR" not in result.stdout and "WARNING" not in result.stdout
    assert str(box.postfix) in result.stdout            # it says which server it looked at
    assert snapshot(box.root) == before


@pytest.mark.parametrize("name", SHIPPED)
def test_check_with_each_shipped_preset_passes_on_stock_debian(box, name):
    result = box.run("check", "--preset", name)
    assert result.returncode == 0, result.stdout
    assert "ERROR" not in result.stdout


def test_check_with_a_preset_prints_severity_and_fix(box):
    risky = box.preset("risky.toml", '[sasl]\nenabled = true\ntype = "dovecot"\nmode = "0666"\n'
                                     "tls_auth_only = true\n")
    before = snapshot(box.root)
    result = box.run("check", "--preset", risky)
    assert result.returncode == 0                      # a warning does not fail the check
    assert "WARNING:" in result.stdout and "0666" in result.stdout
    assert "Fix:" in result.stdout and "0660" in result.stdout
    assert snapshot(box.root) == before


def test_apply_dry_run_shows_the_diff_and_changes_nothing(box):
    before = snapshot(box.root)
    result = box.run("apply", "--preset", "rhel9-guide", "--dry-run")
    assert result.returncode == 0, result.stderr
    out = result.stdout
    assert f"--- {box.postfix / 'main.cf'}" in out and f"+++ {box.postfix / 'main.cf'}" in out
    assert "@@ " in out
    assert "+smtpd_client_connection_rate_limit = 30" in out
    assert "+smtpd_sasl_path = private/auth" in out
    assert "+  unix_listener /var/spool/postfix/private/auth {" in out
    assert snapshot(box.root) == before                # not even a backup directory


def test_apply_backups_and_rollback(box):
    main_cf = box.postfix / "main.cf"
    auth_conf = box.dovecot / "conf.d" / "10-auth.conf"
    main_cf.chmod(0o664)                               # unusual modes must survive the trip
    auth_conf.chmod(0o640)
    original = box.config()
    originals = {p: (p.read_bytes(), p.stat().st_mode & 0o7777)
                 for p in (box.postfix / "main.cf", auth_conf,
                           box.dovecot / "conf.d" / "10-master.conf")}
    empty = box.run("backups")
    assert empty.returncode == 0 and "No backup sets" in empty.stdout

    result = box.run("apply", "--preset", "rhel9-guide", "--yes", "--no-reload")
    assert result.returncode == 0, result.stderr
    assert "smtpd_client_connection_rate_limit = 30\n" in main_cf.read_text()
    assert "auth_mechanisms = plain login\n" in auth_conf.read_text()
    assert main_cf.stat().st_mode & 0o7777 == 0o664        # the new file keeps the old mode
    assert auth_conf.stat().st_mode & 0o7777 == 0o640
    (backup,) = box.backup_sets()
    assert backup.name in result.stdout
    assert re.search(rf"postfix-wizard rollback {re.escape(backup.name)}\b", result.stdout)
    stored = {(f.read_bytes(), f.stat().st_mode & 0o7777) for f in backup.iterdir() if f.is_file()}
    for path, original_file in originals.items():
        assert original_file in stored, f"{path} is not in the backup set with its mode"

    listing = box.run("backups")
    assert listing.returncode == 0
    assert backup.name in listing.stdout
    for path in originals:
        assert str(path) in listing.stdout

    applied = box.config()
    refused = box.run("rollback")                      # no terminal and no --yes
    assert refused.returncode == 2
    assert "--yes" in refused.stderr
    assert box.config() == applied

    restored = box.run("rollback", backup.name, "--yes", "--no-reload")
    assert restored.returncode == 0, restored.stderr
    assert box.config() == original                    # bytes and modes


def test_save_writes_a_preset_that_loads_and_applies_as_no_change(box):
    output = box.root / "team.toml"
    result = box.run("save", "--output", output)
    assert result.returncode == 0, result.stderr
    assert str(output) in result.stdout
    preset = presets.load(output)
    assert preset.name == "team"
    assert preset.settings == Server.load(box.postfix, box.dovecot).current()

    before = snapshot(box.root)
    again = box.run("apply", "--preset", output, "--yes", "--no-reload")
    assert again.returncode == 0, again.stderr
    assert "changes nothing" in again.stdout
    assert snapshot(box.root) == before


def test_saved_preset_of_a_hardened_server_round_trips(box):
    assert box.run("apply", "--preset", "rhel9-guide", "--yes", "--no-reload").returncode == 0
    output = box.root / "hardened.toml"
    assert box.run("save", "--output", output, "--name", "hardened").returncode == 0
    saved = presets.load(output)
    assert saved.name == "hardened"
    assert saved.settings.sasl.path == "private/auth" and saved.settings.sasl.enabled is True
    before = snapshot(box.root)
    again = box.run("apply", "--preset", output, "--yes", "--no-reload")
    assert again.returncode == 0 and "changes nothing" in again.stdout
    assert snapshot(box.root) == before


# Exit status 1: validation errors ------------------------------------------------------------

def test_validation_error_exits_1_and_writes_nothing(box):
    preset = box.preset("plaintext.toml", PLAINTEXT_SASL)
    before = snapshot(box.root)
    for command in (["apply", "--preset", preset, "--yes", "--no-reload"],
                    ["check", "--preset", preset]):
        result = box.run(*command)
        assert result.returncode == 1, (command, result.stdout, result.stderr)
        assert "ERROR:" in result.stdout and "STARTTLS" in result.stdout
        assert "Fix:" in result.stdout and "smtpd_tls_auth_only" in result.stdout
    assert snapshot(box.root) == before


def test_enabling_sasl_without_type_is_still_checked(box):
    preset = box.preset("plaintext.toml",
                        '[sasl]\nenabled = true\nsecurity_options = ["noanonymous"]\n')
    before = snapshot(box.root)
    result = box.run("apply", "--preset", preset, "--yes", "--no-reload")
    assert snapshot(box.root) == before
    assert result.returncode == 1


# Exit status 2: bad usage, bad preset, unreadable configuration -------------------------------

BAD_PRESETS = {
    "bad.toml": '[preset]\nname = "bad"\n[limits]\nmessage_size_limit = "10M"\n',
    "typo.toml": "[limits]\nsmtpd_client_conection_rate_limit = 30\n",
    "dup.toml": "[limits]\nmessage_size_limit = 5\nmessage_size_limit = 6\n",
    "v6.toml": '[limits]\nsmtpd_client_event_limit_exceptions = "::1"\n',
}


@pytest.mark.parametrize("case", [
    "unknown-command", "unknown-preset", "bad-toml", "unknown-key", "missing-preset-option",
    "missing-postfix-dir", "main-cf-is-a-directory", "no-terminal", "duplicate-key",
    "ipv6-exceptions",
])
def test_refusals_exit_2_and_leave_everything_as_it_was(box, case):
    for name, text in BAD_PRESETS.items():
        box.preset(name, text)
    (box.root / "empty" / "main.cf").mkdir(parents=True)
    elsewhere = ["--dovecot-dir", box.dovecot, "--backup-dir", box.backups]
    args, says = {
        "unknown-command": (["frobnicate", *box.dirs], ["frobnicate"]),
        "unknown-preset": (["apply", "--preset", "rhel9-gide", "--yes", *box.dirs],
                           ["rhel9-gide", "rhel9-guide"]),
        "bad-toml": (["apply", "--preset", "bad.toml", "--yes", *box.dirs],
                     ["bad.toml", "line 4", "bytes"]),
        "unknown-key": (["check", "--preset", "typo.toml", *box.dirs],
                        ["typo.toml", "line 2", "smtpd_client_connection_rate_limit"]),
        "duplicate-key": (["check", "--preset", "dup.toml", *box.dirs],
                          ["dup.toml", "message_size_limit"]),
        "ipv6-exceptions": (["check", "--preset", "v6.toml", *box.dirs], ["v6.toml", "[::1]"]),
        "missing-preset-option": (["apply", "--yes", *box.dirs], ["--preset"]),
        "missing-postfix-dir": (["check", "--postfix-dir", box.root / "nowhere", *elsewhere],
                                ["nowhere", "main.cf"]),
        "main-cf-is-a-directory": (["check", "--postfix-dir", box.root / "empty", *elsewhere],
                                   ["main.cf"]),
        "no-terminal": (["apply", "--preset", "rhel9-guide", "--no-reload", *box.dirs], ["--yes"]),
    }[case]
    before = snapshot(box.root)
    result = run(*args, cwd=box.root)
    assert result.returncode == 2, (result.stdout, result.stderr)
    for word in says:
        assert word in result.stderr, result.stderr
    assert snapshot(box.root) == before


def test_rollback_of_an_unknown_set_is_bad_usage(box):
    box.backups.mkdir()
    before = snapshot(box.root)
    result = box.run("rollback", "20200101-000000", "--yes", "--no-reload")
    assert result.returncode == 2
    assert "20200101-000000" in result.stderr or "no backup sets" in result.stderr
    assert snapshot(box.root) == before


@pytest.mark.parametrize("name, line", [
    ("iredmail__iRedMail__samples_postfix_main.cf", "line 5"),
    ("modoboa__modoboa-installer__modoboa_installer_scripts_files_postfix_main.cf.tpl", "line 3"),
])
def test_installer_template_main_cf_is_refused_by_name_and_line(box, corpus, name, line):
    corpus_box(box, corpus, name)
    before = snapshot(box.root)
    result = box.run("apply", "--preset", "baseline", "--yes", "--no-reload")
    assert result.returncode == 2
    assert str(box.postfix / "main.cf") in result.stderr and line in result.stderr
    assert "placeholder" in result.stderr
    assert snapshot(box.root) == before


def corpus_main_cfs() -> list[str]:
    directory = CORPUS / "postfix"
    if not directory.is_dir():
        return ["(corpus missing)"]
    return sorted(p.name for p in directory.iterdir() if "master.cf" not in p.name)


@pytest.mark.parametrize("name", corpus_main_cfs())
def test_dry_run_on_every_corpus_main_cf_is_clean(box, corpus, name):
    corpus_box(box, corpus, name)
    before = snapshot(box.root)
    result = box.run("apply", "--preset", "rhel9-guide", "--dry-run")
    assert result.returncode in (0, 1, 2), result.stderr
    if result.returncode == 2:
        assert "main.cf" in result.stderr and "line" in result.stderr
    else:
        assert result.stdout.strip()
    assert snapshot(box.root) == before


def test_corpus_apply_and_rollback_restore_the_exact_bytes(box, corpus):
    # Debian 9 main.cf: trailing whitespace, aligned '=', key=value lines
    corpus_box(box, corpus, "fincham__small-mail-server__etc_postfix_main.cf")
    original = box.config()
    applied = box.run("apply", "--preset", "baseline", "--yes", "--no-reload")
    assert applied.returncode == 0, applied.stderr
    assert "smtpd_client_connection_rate_limit = 60" in (box.postfix / "main.cf").read_text()
    restored = box.run("rollback", "--yes", "--no-reload")      # the latest set
    assert restored.returncode == 0, restored.stderr
    assert box.config() == original


# Exit status 3: the write itself failed ------------------------------------------------------

def _read_only_bind_mount(directory: Path) -> bool:
    if os.geteuid() != 0 or not shutil.which("mount"):
        return False
    if subprocess.run(["mount", "--bind", directory, directory], capture_output=True).returncode:
        return False
    if subprocess.run(["mount", "-o", "remount,ro,bind", directory, directory],
                      capture_output=True).returncode:
        subprocess.run(["umount", directory], capture_output=True)
        return False
    return True


def test_write_failure_exits_3_and_puts_every_file_back(box):
    """main.cf's directory is a read-only bind mount: the Dovecot files are written, then
    main.cf cannot be, and the Dovecot files must be put back."""
    original = box.config()
    if not _read_only_bind_mount(box.postfix):
        pytest.skip("needs root and mount(8) to make a read-only bind mount")
    try:
        result = box.run("apply", "--preset", "rhel9-guide", "--yes", "--no-reload")
        config_after = box.config()
        leftovers = [p.name for p in box.postfix.iterdir()] + \
                    [p.name for p in (box.dovecot / "conf.d").iterdir()]
    finally:
        subprocess.run(["umount", box.postfix], check=True)
    assert result.returncode == 3, (result.stdout, result.stderr)
    assert "Read-only file system" in result.stderr
    assert config_after == original
    assert not [n for n in leftovers if "postfix-wizard" in n]   # no temporary files left


def test_backup_set_that_cannot_be_created_exits_3_and_writes_nothing(box):
    blocker = box.root / "not-a-directory"
    blocker.write_text("a regular file where the backup directory should go\n")
    before = snapshot(box.root)
    result = run("apply", "--preset", "rhel9-guide", "--yes", "--no-reload",
                 "--postfix-dir", box.postfix, "--dovecot-dir", box.dovecot,
                 "--backup-dir", blocker / "sets", cwd=box.root)
    assert result.returncode == 3, (result.stdout, result.stderr)
    assert str(blocker) in result.stderr
    assert snapshot(box.root) == before


# Help, colour, terminals ---------------------------------------------------------------------

@pytest.mark.parametrize("command", [None, *COMMANDS])
def test_help_shows_examples_without_colour(tmp_path, command):
    result = run(*([command] if command else []), "--help", cwd=tmp_path)
    assert result.returncode == 0
    assert "examples:" in result.stdout
    assert "--backup-dir" in result.stdout and "--postfix-dir" in result.stdout
    if command:
        assert f"postfix-wizard {command}" in result.stdout.split("examples:")[1]


def on_terminal(box: Box, *args, answer: bytes = b"", **env: str) -> tuple[int, str, str]:
    """Run with stdin and stdout on a pseudo-terminal; return the exit status, output, stderr."""
    master, slave = pty.openpty()
    process = subprocess.Popen([*wizard_process.python(), "-m", "wizard", *map(str, args), *box.dirs],
                               cwd=box.root, stdin=slave, stdout=slave, stderr=subprocess.PIPE,
                               env=environment(**env), preexec_fn=lambda: os.umask(0o022))
    os.close(slave)
    if answer:
        os.write(master, answer)
    chunks = []
    while True:
        try:
            chunk = os.read(master, 65536)
        except OSError:                                # EIO: the child closed the terminal
            break
        if not chunk:
            break
        chunks.append(chunk)
    os.close(master)
    stderr = process.stderr.read().decode()
    process.stderr.close()
    status = process.wait(timeout=120)
    assert "Traceback" not in stderr, stderr
    return status, b"".join(chunks).decode(errors="replace"), stderr


def test_colour_on_a_terminal_but_not_with_no_color(box):
    status, coloured, _ = on_terminal(box, "apply", "--preset", "rhel9-guide", "--dry-run")
    assert status == 0 and "\x1b[" in coloured
    status, plain, _ = on_terminal(box, "apply", "--preset", "rhel9-guide", "--dry-run", NO_COLOR="1")
    assert status == 0 and "\x1b[" not in plain
    assert "+smtpd_client_connection_rate_limit = 30" in plain
    piped = box.run("apply", "--preset", "rhel9-guide", "--dry-run")
    assert "\x1b[" not in piped.stdout


def test_answering_no_on_a_terminal_writes_nothing(box):
    before = snapshot(box.root)
    status, output, prompt = on_terminal(box, "apply", "--preset", "rhel9-guide", "--no-reload",
                                         answer=b"n\n", NO_COLOR="1")
    assert status == 0
    assert "[y/N]" in output + prompt              # input() prompts on stderr without readline
    assert "Nothing was written" in output
    assert snapshot(box.root) == before


# --demo --------------------------------------------------------------------------------------

def test_demo_check_and_apply_stay_inside_their_temporary_directory(tmp_path):
    temporary, cwd = tmp_path / "tmp", tmp_path / "cwd"
    temporary.mkdir()
    cwd.mkdir()
    samples = snapshot(ROOT / "samples")
    system_backups = Path("/var/backups/postfix-wizard").exists()
    system = {d: snapshot(Path(d)) for d in ("/etc/postfix", "/etc/dovecot") if Path(d).is_dir()}
    env = environment(TMPDIR=str(temporary), HOME=str(tmp_path))

    checked = run("--demo", "check", cwd=cwd, env=env)
    assert checked.returncode == 0, checked.stderr
    assert "Demo" in checked.stdout and "ERROR" not in checked.stdout

    applied = run("--demo", "apply", "--preset", "rhel9-guide", "--yes", cwd=cwd, env=env)
    assert applied.returncode == 0, applied.stderr
    assert "wrote" in applied.stdout and "main.cf" in applied.stdout
    assert str(temporary) in applied.stdout            # it wrote into the temporary copy

    assert list(temporary.iterdir()) == []             # and removed it afterwards
    assert list(cwd.iterdir()) == []
    assert snapshot(ROOT / "samples") == samples
    assert Path("/var/backups/postfix-wizard").exists() == system_backups
    assert {d: snapshot(Path(d)) for d in system} == system


@pytest.mark.parametrize("demo, versions, listener", [
    ("debian12", "Postfix 3.7.11 and Dovecot 2.3.19.1 files in Dovecot 2.3 syntax; versions "
                 "from Debian 12's", "address"),
    ("debian13", "Postfix 3.10.13 and Dovecot 2.4.1 files in Dovecot 2.4 syntax "
                 "(dovecot_config_version = 2.4.0); versions from Debian 13's", "listen"),
    ("rhel9", "Postfix 3.5.9 and Dovecot 2.3.16 files in Dovecot 2.3 syntax; versions from "
              "RHEL 9's", "address")])
def test_one_preset_shows_each_generation_its_own_syntax(tmp_path, demo, versions, listener):
    result = run("--demo", demo, "apply", "--preset", "sasl-tcp", "--dry-run", cwd=tmp_path)
    assert result.returncode == 0, result.stdout + result.stderr
    assert f"Editing {versions}" in result.stdout
    added = [line[1:].strip() for line in result.stdout.splitlines() if line.startswith("+ ")]
    assert added[added.index("inet_listener postfix-sasl {"):][:3] == [
        "inet_listener postfix-sasl {", f"{listener} = 127.0.0.1", "port = 12345"], added
    assert "+auth_mechanisms = plain login" in result.stdout


def test_an_unknown_demo_name_lists_the_samples(tmp_path):
    result = run("--demo", "debian14", "check", cwd=tmp_path)
    assert result.returncode == 2
    assert "invalid choice: 'debian14' (choose from 'debian12', 'debian13', 'rhel9')" in result.stderr


def test_a_tree_of_the_other_dovecot_generation_is_refused_before_any_edit(box):
    installed = versions.installed_dovecot()
    if installed is None:
        pytest.skip("Dovecot is not installed: the files alone decide the generation")
    other = "debian13" if installed.startswith("2.3") else "debian12"
    shutil.rmtree(box.dovecot)
    shutil.copytree(ROOT / "samples" / other / "dovecot", box.dovecot)
    before = box.config()
    checked = box.run("check", "--preset", "rhel9-guide")
    assert checked.returncode == 1
    assert f"Dovecot {installed} is installed, but this configuration is written for " \
           "Dovecot 2." in checked.stdout and "upgrade/2.3-to-2.4" in checked.stdout
    applied = box.run("apply", "--preset", "rhel9-guide", "--yes")
    assert applied.returncode == 1 and "Nothing was written" in applied.stdout
    assert box.config() == before and box.backup_sets() == []
    limits_only = box.run("apply", "--preset", "baseline", "--yes")   # Postfix alone still works
    assert limits_only.returncode == 0, limits_only.stdout + limits_only.stderr


@pytest.mark.parametrize("demo, generation", [("debian12", "2.3"), ("debian13", "2.4"),
                                              ("rhel9", "2.3")])
def test_the_apply_report_names_the_checks_that_ran(tmp_path, demo, generation):
    """A demo of another generation than this host's tools is not claimed to be checked by them."""
    result = run("--demo", demo, "apply", "--preset", "rhel9-guide", "--yes", "--json",
                 cwd=tmp_path)
    assert result.returncode == 0, result.stdout + result.stderr
    done = json.loads(result.stdout)
    postfix = postconf_defaults().get("mail_version", "")
    dovecot = versions.installed_dovecot()
    if shutil.which("postconf"):
        assert "Postfix files by postconf -n" in done["checked"]
    else:
        assert "Postfix files by the wizard's rules only, no postconf" in done["checked"]
    if dovecot is None or not shutil.which("doveconf"):
        assert "Dovecot files by the wizard's rules only, no doveconf" in done["checked"]
    elif dovecot.startswith(generation + "."):
        assert "Dovecot files by doveconf -n" in done["checked"]
    else:
        assert "Dovecot files by the wizard's rules only, not by this" in done["checked"]
        assert "doveconf -n" not in done["checked"]
        assert any(f"the files are Dovecot {generation}'s" in note for note in done["notes"])
    recorded = versions.recorded(ROOT / "samples" / demo).postfix
    other_postfix = [note for note in done["notes"] if "the postconf here" in note]
    assert bool(other_postfix) == (postfix.split(".")[:2] != recorded.split(".")[:2])


def test_the_overview_reads_rhel9s_layout(tmp_path):
    """RHEL 9: smtpd not chrooted, so private/auth is Dovecot's socket in the queue directory
    itself; inet_interfaces = localhost keeps every other host off port 25."""
    postfix, dovecot = tmp_path / "postfix", tmp_path / "dovecot"
    shutil.copytree(ROOT / "samples" / "rhel9" / "postfix", postfix)
    shutil.copytree(ROOT / "samples" / "rhel9" / "dovecot", dovecot)
    dirs = ["--postfix-dir", postfix, "--dovecot-dir", dovecot, "--backup-dir", tmp_path / "b"]
    before = run("check", *dirs, cwd=tmp_path).stdout
    assert "smtpd chrooted: no" in before
    assert "inet_interfaces = localhost: no other host can reach port 25" in before
    applied = run("apply", "--preset", "rhel9-guide", "--yes", "--no-reload", *dirs, cwd=tmp_path)
    assert applied.returncode == 0, applied.stdout + applied.stderr
    after = run("check", *dirs, cwd=tmp_path).stdout
    assert ("SASL socket: private/auth, Dovecot's /var/spool/postfix/private/auth "
            "(smtpd is not chrooted)") in after
    debian = run("--demo", "debian12", "check", cwd=tmp_path).stdout
    assert "smtpd chrooted: yes" in debian and "inet_interfaces =" not in debian


def test_demo_apply_never_reloads_the_system_services(tmp_path):
    bin_dir, log = tmp_path / "bin", tmp_path / "postfix-calls"
    bin_dir.mkdir()
    fake = bin_dir / "postfix"           # stands in for a running system Postfix
    fake.write_text(f'#!/bin/sh\necho "$@" >> {log}\nexit 0\n')
    fake.chmod(0o755)
    env = environment(TMPDIR=str(tmp_path), PATH=f"{bin_dir}{os.pathsep}{os.environ['PATH']}")
    result = run("--demo", "apply", "--preset", "rhel9-guide", "--yes", cwd=tmp_path, env=env)
    assert result.returncode == 0, result.stderr
    calls = log.read_text().splitlines() if log.exists() else []
    assert not [call for call in calls if call.split()[-1] == "reload"], calls


# The installed console script ----------------------------------------------------------------

def test_installed_console_script_runs(tmp_path):
    script = shutil.which("postfix-wizard") or str(Path(sys.executable).parent / "postfix-wizard")
    if not os.access(script, os.X_OK):
        pytest.skip("the postfix-wizard script is not installed (pip install -e .)")
    result = subprocess.run([script, "--help"], capture_output=True, text=True, cwd=tmp_path,
                            timeout=60)
    assert result.returncode == 0 and "examples:" in result.stdout


# Raising the message size (issue: a false refusal on the most common change) ------------------

BIG_MESSAGES = ('[preset]\nname = "big"\nformat = 1\n[limits]\nmessage_size_limit = 104857600\n'
                'queue_minfree = 209715200\n')


def main_value(box: Box, name: str) -> str:
    return Server.load(box.postfix, box.dovecot).main.get(name)


def test_a_100_mb_message_limit_applies_on_stock_debian_12(box):
    preset = box.preset("big.toml", BIG_MESSAGES)
    result = box.run("apply", "--preset", preset, "--yes", "--no-reload")
    assert result.returncode == 0, result.stdout + result.stderr
    assert "WARNING" in result.stdout and "virtual_mailbox_limit" in result.stdout
    assert main_value(box, "message_size_limit") == "104857600"


def test_with_virtual_domains_the_raise_needs_virtual_mailbox_limit_in_the_same_preset(box):
    with open(box.postfix / "main.cf", "a") as main_cf:
        main_cf.write("virtual_mailbox_domains = example.net\n")
    before = box.config()
    refused = box.run("apply", "--preset", box.preset("big.toml", BIG_MESSAGES), "--yes",
                      "--no-reload")
    assert refused.returncode == 1 and "Nothing was written" in refused.stdout
    assert "Raise virtual_mailbox_limit to at least 104857600" in refused.stdout
    assert box.config() == before
    raised = box.preset("raised.toml", BIG_MESSAGES + "virtual_mailbox_limit = 104857600\n")
    result = box.run("apply", "--preset", raised, "--yes", "--no-reload")
    assert result.returncode == 0, result.stdout + result.stderr
    assert main_value(box, "virtual_mailbox_limit") == "104857600"


def test_on_the_upstream_main_cf_the_raise_needs_mailbox_size_limit(box, corpus):
    shutil.copyfile(corpus / "postfix" / "vdukhovni__postfix__postfix_conf_main.cf",
                    box.postfix / "main.cf")
    before = box.config()
    refused = box.run("apply", "--preset", box.preset("big.toml", BIG_MESSAGES), "--yes",
                      "--no-reload")
    assert refused.returncode == 1, refused.stdout + refused.stderr
    assert "mailbox_size_limit (51200000)" in refused.stdout and "local(8)" in refused.stdout
    assert box.config() == before
    raised = box.preset("raised.toml", BIG_MESSAGES + "mailbox_size_limit = 0\n")
    result = box.run("apply", "--preset", raised, "--yes", "--no-reload")
    assert result.returncode == 0, result.stdout + result.stderr
    assert main_value(box, "mailbox_size_limit") == "0"


def test_the_systemd_timer_runs_the_same_expiry():
    """systemd is not PID 1 on these machines: the timer's command line is checked here, and
    the expiry it runs is the one the detached-process tests drive."""
    command = pending.expire_command("20261202-101500", Path("/etc/postfix"),
                                     Path("/etc/dovecot"), Path("/var/backups/pw"))
    timer = pending.systemd_run_command("postfix-wizard-expire-20261202-101500", 300, command)
    assert timer[:5] == ["systemd-run", "--quiet", "--unit=postfix-wizard-expire-20261202-101500",
                         "--on-active=300s", "--timer-property=AccuracySec=1s"]
    assert timer[timer.index("--") + 1:] == command
    assert command[1:5] == ["-m", "wizard", "expire", "20261202-101500"]
    env = [a for a in timer if a.startswith("--setenv=PYTHONPATH=")]
    assert env and Path(env[0].split("=", 2)[2], "wizard", "change", "pending.py").exists()
    result = subprocess.run([*command, "--backup-dir", "/nonexistent-postfix-wizard"],
                            capture_output=True, text=True, cwd="/",
                            env=dict(os.environ, PYTHONPATH=env[0].split("=", 2)[2]))
    assert result.returncode == cli.EXIT_OK and "nothing to do" in result.stdout, result.stderr


# traffic ---------------------------------------------------------------------------------------

def test_traffic_json_from_the_demo_log_under_a_preset(tmp_path):
    preset = tmp_path / "tight.toml"
    preset.write_text('[preset]\nname = "tight"\nformat = 1\n[limits]\n'
                      'smtpd_client_connection_rate_limit = 20\n'
                      'smtpd_client_recipient_rate_limit = 50\n')
    result = run("--demo", "debian12", "traffic", "--json", "--preset", preset, cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    data = json.loads(result.stdout)               # stdout is JSON alone; the demo note is on stderr
    assert "demo: working on a temporary copy" in result.stderr
    assert data["window_seconds"] == 60 and len(data["clients"]) == 6
    # the demo log's bot opened 26 connections in a minute, the newsletter sent 60 RCPT
    assert data["would_refuse"] == [
        {"parameter": "smtpd_client_connection_rate_limit", "client": "203.0.113.66",
         "service": "smtp", "times": 6},
        {"parameter": "smtpd_client_recipient_rate_limit", "client": "203.0.113.25",
         "service": "smtp", "times": 10}]


@pytest.mark.parametrize("count", [0, 1, 999, 1000, 1001, 2500])
def test_json_output_streams_a_long_list_in_batches_and_stays_json(count):
    out = io.StringIO()
    json_output.write({"first": 1, "clients": iter({"n": n} for n in range(count)),
                       "notes": ["a"]}, out)
    assert json.loads(out.getvalue()) == {"first": 1, "clients": [{"n": n} for n in range(count)],
                                          "notes": ["a"]}


def test_traffic_reads_journal_json_from_standard_input():
    entries = [{"__REALTIME_TIMESTAMP": str((1_780_000_000 + i) * 1_000_000),
                "SYSLOG_IDENTIFIER": "postfix/smtpd", "_PID": str(100 + i),
                "MESSAGE": f"connect from a.example[192.0.2.{i % 3}]"} for i in range(9)]
    text = "\n".join(json.dumps(e) for e in entries) + "\n"
    result = subprocess.run([*wizard_process.python(), "-m", "wizard", "--demo", "traffic", "--log", "-",
                             "--json"], input=text, capture_output=True, text=True, cwd=ROOT)
    assert result.returncode == 0, result.stderr
    data = json.loads(result.stdout)
    assert sorted((c["client"], c["connections"]) for c in data["clients"]) == \
        [("192.0.2.0", 3), ("192.0.2.1", 3), ("192.0.2.2", 3)]


def test_traffic_refuses_a_log_it_cannot_read_clearly():
    result = run("--demo", "traffic", "--log", "/nonexistent/mail.log", cwd=ROOT)
    assert result.returncode == cli.EXIT_USAGE and "Traceback" not in result.stderr
    assert "cannot read the log /nonexistent/mail.log (no such file)" in result.stderr
