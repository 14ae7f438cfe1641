import os
import shutil
import uuid
from pathlib import Path

import pytest

from tmux_session import Tmux
from wizard.settings import presets

ROOT = Path(__file__).resolve().parents[1]
# The RHEL 9 guide's recipe as shipped: the one place tests take its values from.
GUIDE = presets.load(presets.find("rhel9-guide")).settings
SAMPLE = ROOT / "samples" / "debian12"
SELINUX_FIXTURES = Path(__file__).resolve().parent / "fixtures" / "selinux"


@pytest.fixture(autouse=True)
def selinux_off(monkeypatch):
    """This machine's SELinux never reaches a test: every test (and the wizard it runs in a
    subprocess) reads a selinuxfs without an enforce file, SELinux disabled, unless the test
    points POSTFIX_WIZARD_SELINUXFS elsewhere."""
    monkeypatch.setenv("POSTFIX_WIZARD_SELINUXFS", str(SELINUX_FIXTURES / "selinuxfs-disabled"))


def c_scanner_missing() -> str:
    """Why the traffic reader's C extension cannot be loaded here; "" when it can."""
    try:
        import wizard.traffic._scan  # noqa: F401
    except ImportError as error:
        return f"the C log scanner (wizard.traffic._scan) is not built here: {error}"
    return ""


@pytest.fixture(params=["c", "python"])
def each_scanner(request, monkeypatch):
    """Runs a test once with each log scanner (wizard.traffic.scanner chooses): the C extension,
    then pyscan.py, forced through POSTFIX_WIZARD_SCANNER (which subprocesses inherit too)."""
    if request.param == "c" and c_scanner_missing():
        pytest.skip(c_scanner_missing())
    monkeypatch.setenv("POSTFIX_WIZARD_SCANNER", request.param)
    return request.param


@pytest.fixture
def sample_dirs(tmp_path):
    """A private copy of the bundled Debian 12 Postfix and Dovecot configuration."""
    postfix_dir, dovecot_dir = tmp_path / "postfix", tmp_path / "dovecot"
    shutil.copytree(SAMPLE / "postfix", postfix_dir)
    shutil.copytree(SAMPLE / "dovecot", dovecot_dir)
    return postfix_dir, dovecot_dir


@pytest.fixture
def tmux():
    session = Tmux(f"pwtest-{os.getpid()}-{uuid.uuid4().hex[:8]}")
    try:
        yield session
    finally:
        session.run("kill-server", check=False)
        if session.socket_path.endswith(session.socket):
            Path(session.socket_path).unlink(missing_ok=True)
        shutil.rmtree(os.path.dirname(session.status_file), ignore_errors=True)
