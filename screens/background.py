"""The slow work the app runs in worker threads: importing the core and reading the server,
reading its mail log, applying a change. Nothing here touches a widget: each function returns
what the app shows (or the error to show), and reports progress through the callback it is
given, which the app hands on to its own thread (screens/app.py)."""

from __future__ import annotations

from typing import TYPE_CHECKING, Callable, NamedTuple

from .overview import overview_text

if TYPE_CHECKING:
    from pathlib import Path

    from rich.text import Text

    from wizard.change.live import Result
    from wizard.change.plan import Plan
    from wizard.errors import WizardError
    from wizard.server.state import Server
    from wizard.session import Session
    from wizard.styled import Display
    from wizard.traffic.analysis import Traffic

    from .app import Loader


class Configuration(NamedTuple):
    """The server as read, the session that starts from it, and the overview of what was found."""
    server: Server
    session: Session
    overview: Text


def read_configuration(load: Loader, show_path: Display,
                       notes: tuple[str, ...]) -> Configuration | WizardError:
    """Import the core (pydantic is most of the start-up time), read the server, judge it."""
    from wizard.errors import WizardError
    from wizard.session import Session
    try:
        server, preset = load()
        session = Session(server)
        if preset is not None:
            session.load_preset(preset)
        return Configuration(server, session, overview_text(server, show_path, notes))
    except WizardError as error:
        return error


def read_traffic(server: Server, logs: list[str] | None,
                 progress: Callable[[int, int], None]) -> Traffic | Exception:
    """The mail log, read for the limits screens (wizard/traffic); `logs` None: the server's
    own. `progress` is told how far it is (done, total)."""
    from wizard.errors import WizardError
    from wizard.traffic import server_logs
    try:
        return server_logs.read(server, logs, progress=progress)
    except (OSError, WizardError, ValueError) as error:
        return error


def apply_change(server: Server, session: Session, plan: Plan, backup_dir: Path, *,
                 reload: bool, confirm_seconds: int | None,
                 progress: Callable[[str], None]) -> Result | Exception:
    """The transaction, the live check and, if it fails, the way back (wizard/change/live.py);
    `progress` is told each thing done, as a line of text."""
    from wizard.change import live
    from wizard.errors import WizardError
    try:
        return live.apply_plan(server, session.chosen(), plan, backup_dir, reload=reload,
                               probe_after=reload, confirm_seconds=confirm_seconds,
                               progress=progress)
    except (WizardError, OSError) as error:
        return error
