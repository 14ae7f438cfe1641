"""Fields a server's Postfix lacks: not offered, not accepted, and refused in a preset.

A tree like samples/debian12 recorded as Postfix 3.5.25 (Debian 11's, RHEL 9's generation)
stands for an old server; debian12's own recording (3.7.11) for one that has the fields. The
command line runs in-process on those trees (a demo's sample must be a shipped one), the
screens through Textual's Pilot.
"""

from __future__ import annotations

import hashlib
import io
import shutil
import subprocess
from pathlib import Path

import debian13
import pytest

from wizard import cli, rules
from wizard.cli.output import Output
from wizard.cli.parser import build_parser
from wizard.server import availability, versions
from wizard.server.state import Server
from wizard.session import Session
from wizard.settings import presets
from wizard.settings.model import OLDEST_POSTFIX, PARAMS, Param, Settings, param_for

ROOT = Path(__file__).resolve().parents[1]
SAMPLE = ROOT / "samples" / "debian12"
NEW = ("limits.smtpd_per_request_deadline", "limits.smtpd_min_data_rate")
SLOW_CLIENTS = """\
[preset]
name = "slow-clients"
description = "Deadlines against clients that trickle data"

[limits]
smtpd_per_request_deadline = true
smtpd_min_data_rate = 1000
"""
needs_postconf = pytest.mark.skipif(not shutil.which("postconf"),
                                    reason="needs Postfix's postconf")


def installed_postfix() -> str:
    from wizard.server.postconf import defaults
    return defaults().get("mail_version", "") if shutil.which("postconf") else ""


needs_postfix_37 = pytest.mark.skipif(
    availability.release(installed_postfix() or "0") < (3, 7),
    reason=f"this machine's Postfix ({installed_postfix() or 'none'}) has no 3.7 fields to write")


@pytest.fixture
def sample35(tmp_path) -> Path:
    """samples/debian12's files, recorded as Postfix 3.5.25."""
    sample = tmp_path / "sample35"
    shutil.copytree(SAMPLE, sample)
    (sample / "versions.toml").write_text(
        'release = "Debian 11"\npostfix = "3.5.25"\ndovecot = "2.3.19.1"\n')
    return sample


def copy(sample: Path, where: Path) -> Path:
    shutil.copytree(sample, where, ignore=shutil.ignore_patterns("*.toml"))
    return where


def load(tree: Path, sample: Path) -> Server:
    return Server.load(tree / "postfix", tree / "dovecot", versions.recorded(sample))


def preset_file(tmp_path: Path) -> Path:
    path = tmp_path / "slow-clients.toml"
    path.write_text(SLOW_CLIENTS)
    return path


def add_to_main_cf(tree: Path, line: str) -> None:
    main_cf = tree / "postfix" / "main.cf"
    main_cf.write_text(main_cf.read_text() + line + "\n")


def files(tree: Path) -> dict:
    return {str(p.relative_to(tree)): hashlib.sha256(p.read_bytes()).hexdigest()
            for p in sorted(tree.rglob("*")) if p.is_file()}


def every_key() -> list[str]:
    return [f"{section}.{field}" for section, params in PARAMS.items() for field in params]


# Versions and the one function that decides ------------------------------------------------------

def test_releases_compare_as_numbers():
    release = availability.release
    assert release("3.5.25") < release("3.7") <= release("3.7.11") < release("3.10.13")
    assert release("3.11-20250101") == (3, 11)
    assert release(OLDEST_POSTFIX) <= release("3.5.9")


def test_a_35_sample_lacks_exactly_the_fields_that_came_later(sample35, tmp_path):
    old = load(copy(sample35, tmp_path / "old"), sample35)
    new = load(copy(SAMPLE, tmp_path / "new"), SAMPLE)
    lacking = {key: availability.missing_since(old, param_for(key)) for key in every_key()}
    assert {key: since for key, since in lacking.items() if since} == {key: "3.7" for key in NEW}
    assert not any(availability.missing_since(new, param_for(key)) for key in every_key())


@needs_postconf
def test_on_an_installed_postfix_its_own_names_decide(sample_dirs):
    """The machine's postconf -d, not the version number: a claimed 3.5 is overruled by a 3.7
    that is installed (and a claimed 3.7 by an installed 3.5), and a name no Postfix knows is
    missing whatever its `since`."""
    postfix_dir, dovecot_dir = sample_dirs
    has_them = availability.release(installed_postfix()) >= (3, 7)
    claimed = "3.5.25" if has_them else "3.7.11"      # a version that says the opposite
    server = Server.load(postfix_dir, dovecot_dir, versions.Versions(
        claimed, None, versions.INSTALLED))
    for key in NEW:
        assert availability.missing_since(server, param_for(key)) == (None if has_them else "3.7")
    unknown = Param("no_such_parameter_anywhere", "count", "0", "Nothing.", since="3.6")
    assert availability.missing_since(server, unknown) == "3.6"


def test_current_settings_leave_out_what_that_postfix_ignores(sample35, tmp_path):
    old, new = copy(sample35, tmp_path / "old"), copy(SAMPLE, tmp_path / "new")
    for tree in (old, new):
        add_to_main_cf(tree, "smtpd_min_data_rate = 1000")
    assert load(old, sample35).current().limits.smtpd_min_data_rate is None
    assert load(new, SAMPLE).current().limits.smtpd_min_data_rate == 1000


def test_an_unreadable_value_that_postfix_ignores_is_no_error(sample35, tmp_path):
    """smtpd_min_data_rate = 0 stops a 3.7 smtpd (it exits at start: checked by hand with
    `smtpd -S -o smtpd_min_data_rate=0`); a 3.5 smtpd ignores the line."""
    old, new = copy(sample35, tmp_path / "old"), copy(SAMPLE, tmp_path / "new")
    for tree in (old, new):
        add_to_main_cf(tree, "smtpd_min_data_rate = 0")
    codes = {f.code for f in rules.check(load(new, SAMPLE), Settings())
             if "limits.smtpd_min_data_rate" in f.fields}
    assert codes == {"unreadable-current"}
    assert not [f for f in rules.check(load(old, sample35), Settings())
                if "limits.smtpd_min_data_rate" in f.fields]


# The rule ---------------------------------------------------------------------------------------

def test_the_rule_comes_first():
    from wizard.rules import availability as rule
    assert rules.ORDER[0] is rule.fields_postfix_lacks


def test_a_preset_setting_them_is_refused_on_35_with_the_versions_and_the_fix(sample35, tmp_path):
    server = load(copy(sample35, tmp_path / "old"), sample35)
    settings = presets.load(preset_file(tmp_path)).settings
    found = [f for f in rules.check(server, settings) if f.code == "needs-newer-postfix"]
    assert [f.fields for f in found] == [(key,) for key in NEW]
    for finding, key in zip(found, NEW):
        name = param_for(key).name
        assert finding.severity == "error"
        assert finding.message.startswith(f"{name} needs Postfix 3.7 or later; this server has "
                                          f"Postfix 3.5.25"), finding.message
        assert f"Remove {key} from the preset" in finding.fix
        assert "upgrade Postfix to 3.7" in finding.fix


def test_the_same_preset_is_accepted_on_37(tmp_path):
    server = load(copy(SAMPLE, tmp_path / "new"), SAMPLE)
    settings = presets.load(preset_file(tmp_path)).settings
    assert not rules.errors(rules.check(server, settings))


# The command line -------------------------------------------------------------------------------

def command(tree: Path, sample: Path, *argv: str) -> tuple[int, str]:
    """A command run in-process on `tree`, with `sample`'s recorded versions (as --demo does)."""
    args = build_parser().parse_args([*argv, "--postfix-dir", str(tree / "postfix"),
                                      "--dovecot-dir", str(tree / "dovecot"),
                                      "--backup-dir", str(tree / "backups")])
    args.sample = sample
    text = io.StringIO()
    status = cli.dispatch(args, Output(text))
    return status, text.getvalue()


def test_apply_refuses_on_35_and_writes_nothing(sample35, tmp_path):
    tree = copy(sample35, tmp_path / "old")
    before = files(tree)
    status, output = command(tree, sample35, "apply", "--preset", str(preset_file(tmp_path)),
                             "--yes", "--no-reload", "--no-probe")
    assert status == cli.EXIT_INVALID
    assert "smtpd_per_request_deadline needs Postfix 3.7 or later; this server has Postfix " \
           "3.5.25" in output
    assert "Nothing was written" in output
    assert files(tree) == before and not (tree / "backups").exists()


@needs_postfix_37
def test_apply_writes_them_on_37(tmp_path):
    tree = copy(SAMPLE, tmp_path / "new")
    status, output = command(tree, SAMPLE, "apply", "--preset", str(preset_file(tmp_path)),
                             "--yes", "--no-reload", "--no-probe")
    assert status == cli.EXIT_OK, output
    main_cf = (tree / "postfix" / "main.cf").read_text()
    assert "smtpd_per_request_deadline = yes\n" in main_cf
    assert "smtpd_min_data_rate = 1000\n" in main_cf


def test_check_reports_the_error_on_35(sample35, tmp_path):
    tree = copy(sample35, tmp_path / "old")
    status, output = command(tree, sample35, "check", "--preset", str(preset_file(tmp_path)))
    assert status == cli.EXIT_INVALID and "smtpd_min_data_rate needs Postfix 3.7" in output


def test_save_on_35_leaves_out_what_postfix_ignores(sample35, tmp_path):
    tree = copy(sample35, tmp_path / "old")
    add_to_main_cf(tree, "smtpd_min_data_rate = 1000")
    output = tmp_path / "saved.toml"
    status, _ = command(tree, sample35, "save", "--output", str(output))
    assert status == cli.EXIT_OK
    assert "smtpd_min_data_rate" not in output.read_text()
    assert "smtpd_client_connection_count_limit = 50" in output.read_text()


# The interactive session ------------------------------------------------------------------------

def test_session_on_35_refuses_a_typed_or_loaded_value(sample35, tmp_path):
    session = Session(load(copy(sample35, tmp_path / "old"), sample35))
    assert [session.missing_since(key) for key in NEW] == ["3.7", "3.7"]
    assert session.fields["limits.smtpd_min_data_rate"].text == ""
    session.set_text("limits.smtpd_min_data_rate", "1000")
    assert [f.code for f in session.errors_in(["limits.smtpd_min_data_rate"])] == \
        ["needs-newer-postfix"]
    session.load_preset(presets.load(preset_file(tmp_path)))
    assert session.plan().blocked
    assert {f.fields[0] for f in session.errors_in(list(NEW))} == set(NEW)


def test_session_on_37_offers_them_with_the_expanded_default(tmp_path):
    session = Session(load(copy(SAMPLE, tmp_path / "new"), SAMPLE))
    assert [session.missing_since(key) for key in NEW] == [None, None]
    assert session.current_text("limits.smtpd_per_request_deadline") == "no"
    assert session.default_text("limits.smtpd_per_request_deadline") == "no"
    assert session.current_text("limits.smtpd_min_data_rate") == "500"
    _, findings = rules.check_field("limits.smtpd_min_data_rate", "0")
    assert findings and "smtpd_min_data_rate" in findings[0].message


# What ships -------------------------------------------------------------------------------------

@pytest.mark.parametrize("name", sorted(p.stem for p in presets.presets_dir().glob("*.toml")))
def test_shipped_presets_need_nothing_newer_than_35(name, sample35, tmp_path):
    """Every shipped preset works on RHEL 9's Postfix: it sets no field that came later, and
    its plan writes only parameters every supported Postfix knows."""
    from wizard.change.plan import make_plan
    server = load(copy(sample35, tmp_path / "old"), sample35)
    plan = make_plan(server, presets.load(presets.find(name)).settings)
    assert not [f for f in plan.findings if f.code == "needs-newer-postfix"]
    old_enough = {p.name for params in PARAMS.values() for p in params.values()
                  if p.since == OLDEST_POSTFIX and p.file == "main.cf"}
    assert set(plan.main_cf) <= old_enough


# The screens ------------------------------------------------------------------------------------

async def resources_rows(app_workdir: Path, sample: Path, preset: Path | None = None):
    """The rows of the new fields on the Resources step, and each one's facts and message."""
    from textual.widgets import Static
    from screens.fields import FieldRow
    from snapshot_apps.factory import make_app, started
    app = make_app(app_workdir, str(preset) if preset else None, sample=sample)
    async with started(app, size=(80, 24)) as pilot:
        await pilot.press("enter", "ctrl+n")             # Resources, sizes
        await pilot.pause()
        shown = {}
        for key in NEW:
            row = app.query_one(f"#field-{key.replace('.', '-')}", FieldRow)
            shown[key] = (len(row.query("Input, Checkbox, RadioSet")),
                          str(row.query_one(".facts", Static).render()),
                          str(row.query_one(".message", Static).render()))
        return shown


@needs_postconf
@pytest.mark.asyncio
async def test_screens_on_35_show_what_is_needed_without_an_input(sample35, tmp_path):
    shown = await resources_rows(tmp_path / "demo", sample35, preset_file(tmp_path))
    for key, (inputs, facts, message) in shown.items():
        assert inputs == 0, key
        assert facts.startswith("not offered: needs Postfix 3.7; this server has Postfix "
                                "3.5.25"), facts
        assert param_for(key).help in facts
        assert message.startswith(f"ERROR: {param_for(key).name} needs Postfix 3.7"), message


@needs_postconf
@pytest.mark.asyncio
async def test_screens_on_37_offer_them(tmp_path):
    shown = await resources_rows(tmp_path / "demo", SAMPLE)
    for key, (inputs, facts, message) in shown.items():
        assert inputs == 1 and "needs Postfix" not in facts and not message, (key, facts)
    assert shown["limits.smtpd_min_data_rate"][1].startswith("now: 500 · bytes per second")


# The real programs: each generation's own postconf ----------------------------------------------

def host_postconf(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run(["postconf", *args], capture_output=True, text=True, timeout=60)


POSTCONFS = {
    "host": pytest.param(host_postconf, marks=needs_postconf),
    "debian13": pytest.param(lambda *a: debian13.DEBIAN13.run("postconf", *a),
                             marks=debian13.needs_root),
    "bullseye": pytest.param(lambda *a: debian13.BULLSEYE.run("postconf", *a),
                             marks=debian13.BULLSEYE.needs),
    "forky": pytest.param(lambda *a: debian13.FORKY.run("postconf", *a),
                          marks=debian13.FORKY.needs),
}


@pytest.mark.parametrize("postconf", POSTCONFS.values(), ids=POSTCONFS.keys())
def test_since_matches_each_postfix(postconf):
    """Every main.cf field is in that Postfix's `postconf -d` exactly when its `since` is not
    newer than that Postfix's mail_version."""
    result = postconf("-d")
    assert result.returncode == 0, result.stderr
    table = dict(line.partition(" = ")[::2] for line in result.stdout.splitlines())
    version = availability.release(table["mail_version"])
    for params in PARAMS.values():
        for param in params.values():
            if param.file == "main.cf":
                assert (param.name in table) == (availability.release(param.since) <= version), \
                    (param.name, param.since, table["mail_version"])


needs_bullseye = debian13.BULLSEYE.needs


@needs_bullseye
@pytest.mark.parametrize("name", sorted(p.stem for p in presets.presets_dir().glob("*.toml")))
def test_what_the_wizard_writes_is_valid_on_postfix_35(name):
    """Each shipped preset planned on Debian 11's own stock files (Postfix 3.5.25, Dovecot
    2.3.13), written into a copy inside that root: its postconf -n warns of nothing (an unknown
    parameter would be an "unused parameter" warning), `postfix check` passes, doveconf -n reads
    the Dovecot files, and compatibility_level stays as Debian 11 wrote it."""
    from wizard.change.plan import make_plan
    root = debian13.BULLSEYE
    version = root.run("postconf", "-dh", "mail_version").stdout.strip()
    dovecot = root.run("dovecot", "--version").stdout.split()[0]
    with root.staging() as staging:
        for part in ("postfix", "dovecot"):
            shutil.copytree(root.path / "etc" / part, staging / part, symlinks=True)
        server = Server.load(staging / "postfix", staging / "dovecot",
                             versions.Versions(version, dovecot, "the Debian 11 root"))
        plan = make_plan(server, presets.load(presets.find(name)).settings)
        assert not rules.errors(plan.findings), plan.findings
        for change in plan.changes:
            change.path.write_text(change.new)
        main_cf = (staging / "postfix" / "main.cf").read_text()
        assert main_cf.count("compatibility_level") == \
            (root.path / "etc/postfix/main.cf").read_text().count("compatibility_level")
        config = root.inside(staging / "postfix")
        checked = root.run("postconf", "-c", config, "-n")
        assert checked.returncode == 0 and checked.stderr == "", checked.stderr
        assert root.run("postfix", "-c", config, "check").returncode == 0
        doveconf = root.run("doveconf", "-c", root.inside(staging / "dovecot" / "dovecot.conf"),
                            "-n")
        assert doveconf.returncode == 0, doveconf.stderr


@needs_bullseye
def test_postfix_35_warns_of_the_37_fields_the_wizard_refuses():
    """The judge above can fail: written anyway, the 3.7 fields are "unused parameter" on 3.5."""
    root = debian13.BULLSEYE
    with root.staging() as staging:
        shutil.copytree(root.path / "etc" / "postfix", staging / "postfix", symlinks=True)
        main_cf = staging / "postfix" / "main.cf"
        main_cf.write_text(main_cf.read_text() + "smtpd_per_request_deadline = yes\n"
                           "smtpd_min_data_rate = 1000\n")
        checked = root.run("postconf", "-c", root.inside(staging / "postfix"), "-n")
    assert "unused parameter: smtpd_per_request_deadline=yes" in checked.stderr
    assert "unused parameter: smtpd_min_data_rate=1000" in checked.stderr
