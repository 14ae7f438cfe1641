"""Build a WizardApp on a private copy of samples/debian12, deterministic enough for snapshots.

Used by tests/test_snapshots.py, tests/test_screens.py and bench/bench_ui.py.

* the copy's smtpd_tls_cert_file/key_file point at files made inside the copy (the sample names
  the Debian snakeoil pair, which a machine may or may not have: STARTTLS "configured" vs
  "not usable" and the auth-needs-tls warning would depend on it);
* paths are shown with the copy's directory as <demo>, as `postfix-wizard --demo` does;
* the installed Postfix and Dovecot versions are shown as major.minor only, so a security
  update of the packages does not change the overview.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
SAMPLE = ROOT / "samples" / "debian12"
DEMO_LOG = ROOT / "samples" / "traffic" / "mail.log"    # recorded from the daemons
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from screens.app import Loaded, WizardApp  # noqa: E402
from wizard.server import versions
from wizard.settings import presets
from wizard.cli import demo_display
from wizard.server.state import Server

SNAKEOIL_CERT = "/etc/ssl/certs/ssl-cert-snakeoil.pem"
SNAKEOIL_KEY = "/etc/ssl/private/ssl-cert-snakeoil.key"


def demo_copy(workdir: Path, sample: Path = SAMPLE) -> Path:
    """Copy samples/debian12 (or a tree like it) into workdir (postfix/, dovecot/) with a TLS
    pair of its own."""
    workdir.mkdir(parents=True, exist_ok=True)
    shutil.copytree(sample, workdir, dirs_exist_ok=True)
    tls = workdir / "tls"
    tls.mkdir(exist_ok=True)
    cert, key = tls / "cert.pem", tls / "key.pem"
    cert.write_text("-----BEGIN CERTIFICATE-----\nnot a real certificate\n"
                    "-----END CERTIFICATE-----\n")
    key.write_text("-----BEGIN PRIVATE KEY-----\nnot a real key\n-----END PRIVATE KEY-----\n")
    key.chmod(0o600)
    main_cf = workdir / "postfix" / "main.cf"
    text = main_cf.read_text()
    assert SNAKEOIL_CERT in text and SNAKEOIL_KEY in text, "the sample main.cf changed"
    main_cf.write_text(text.replace(SNAKEOIL_CERT, str(cert)).replace(SNAKEOIL_KEY, str(key)))
    age(workdir / "postfix")
    return workdir


def recorded_as(directory: Path, postfix: str, release: str) -> Path:
    """A tree like samples/debian12 whose versions.toml records another Postfix (e.g. 3.5.25,
    RHEL 9's generation), for the screens of a server that lacks the newer fields."""
    shutil.copytree(SAMPLE, directory)
    (directory / "versions.toml").write_text(
        f'release = "{release}"\npostfix = "{postfix}"\ndovecot = "2.3.19.1"\n')
    return directory


def age(directory: Path, seconds: int = 3600) -> None:
    """Date main.cf and master.cf back: postconf waits about 2 s before it reads a main.cf
    modified within the last second or two (seen with Postfix 3.7), which would make every
    apply in these tests 2 s slower."""
    then = time.time() - seconds
    for path in (directory / "main.cf", directory / "master.cf", directory):
        os.utime(path, (then, then))


def make_app(workdir: Path, preset: str | None = None, *, copy: bool = True,
             logs: list[str] | None = None, sample: Path = SAMPLE) -> WizardApp:
    """A WizardApp on a fresh copy in workdir; backups go to workdir/backups; no reloads.
    It reads the copy in its worker, as the real one does: drive it through `started`.
    `sample` is a tree like samples/debian12 (its versions.toml says which Postfix it is)."""
    if copy:
        demo_copy(workdir, sample)

    def load() -> Loaded:
        loaded = presets.load(presets.find(preset)) if preset else None
        # the sample's recorded versions: the same on every machine
        server = Server.load(workdir / "postfix", workdir / "dovecot", versions.recorded(sample))
        return Loaded(server, loaded)
    return WizardApp(load, workdir / "backups", reload=False, display=demo_display(workdir),
                     logs=[str(DEMO_LOG)] if logs is None else logs)


@contextlib.asynccontextmanager
async def started(app: WizardApp, **options):
    """app.run_test(**options), once the configuration is read and the overview complete."""
    async with app.run_test(**options) as pilot:
        await app.ready.wait()
        await app.workers.wait_for_complete()        # the mail log, read for the limits
        await pilot.pause()
        yield pilot


# Driving the app with keys (used from Pilot callbacks) ---------------------------------------------

def no_blink(app) -> None:
    """Cursor blink off in every Input of every screen (snapshots must not depend on timing)."""
    from textual.widgets import Input
    for screen in app.screen_stack:
        for field in screen.query(Input):
            field.cursor_blink = False


def focused_key(app) -> str | None:
    """The settings key of the FieldRow holding the focus, if any."""
    return row.key if (row := app.focused_row()) is not None else None


async def tab_until(pilot, predicate, what: str, limit: int = 40, key: str = "tab") -> None:
    """Press Tab (or `key`) until predicate(app) holds; fail after `limit` presses."""
    for _ in range(limit):
        if predicate(pilot.app):
            return
        await pilot.press(key)
    raise AssertionError(f"{key} never reached {what}; focus is on {pilot.app.focused!r}")


async def tab_to(pilot, field: str, limit: int = 40, key: str = "tab") -> None:
    """Tab (or `key`) to the field of settings key `field` (e.g. "limits.queue_minfree")."""
    await tab_until(pilot, lambda app: focused_key(app) == field, field, limit, key)


async def tab_to_id(pilot, widget_id: str, limit: int = 40, key: str = "tab") -> None:
    await tab_until(pilot, lambda app: app.focused is not None and app.focused.id == widget_id,
                    f"#{widget_id}", limit, key)


async def type_into_focused(pilot, text: str) -> None:
    """Clear the focused Input (Home, Ctrl+K: Textual's Input bindings) and type `text`."""
    await pilot.press("home", "ctrl+k", *text)


async def pick_option(pilot, option_id: str, limit: int = 20) -> None:
    """In the focused OptionList, move down to `option_id` and press Enter."""
    from textual.widgets import OptionList
    options = pilot.app.screen.query_one(OptionList)
    for _ in range(limit):
        highlighted = options.highlighted
        if highlighted is not None and options.get_option_at_index(highlighted).id == option_id:
            await pilot.press("enter")
            return
        await pilot.press("down")
    raise AssertionError(f"no option {option_id} in the list")


async def focus_field(pilot, field: str) -> None:
    """Focus the input of the field `field` directly (what Tab does, without the walk: Tab costs
    0.2-0.4 s a press on the SMTP AUTH step, and snapshots need only where it ends)."""
    await settle(pilot)                 # a row just shown or hidden must be laid out first
    row = pilot.app.query_one(f"#field-{field.replace('.', '-')}")
    row.query("Input, Checkbox, RadioSet").first().focus()
    await settle(pilot)                 # focus scrolls the field to the middle, after a refresh


async def settle(pilot) -> None:
    """Wait for pending refreshes and (scroll) animations."""
    await pilot.pause()
    await pilot.wait_for_scheduled_animations()
    await pilot.pause()


async def set_focused(pilot, text: str) -> None:
    """Replace the focused Input's text at once (one Input.Changed, as a paste would)."""
    pilot.app.focused.value = text
    await pilot.pause()
