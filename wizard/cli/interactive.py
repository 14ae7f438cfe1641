"""The interactive wizard: what `postfix-wizard` opens without a command (screens/).

Textual and the settings model load only here, and late: the early overview forks before
Textual loads, and the server and preset are read in the app's worker once the first screen is
painted, so the wizard appears quickly over SSH.
"""

from __future__ import annotations

import sys
from typing import TYPE_CHECKING

from wizard.cli.common import EXIT_OK, UsageError, backup_dir, load_server, logs_to_read, option
from wizard.errors import WizardError

if TYPE_CHECKING:
    import argparse

    from wizard.styled import Display


def run_wizard(args: argparse.Namespace, notes: tuple[str, ...], display: Display) -> int:
    if not sys.stdout.isatty() or not sys.stdin.isatty():
        raise UsageError("the interactive wizard needs a terminal; use a command such as "
                         "'check' or 'apply' in scripts")
    from screens.overview import EarlyOverview     # forks before Textual loads
    early = EarlyOverview(lambda: load_server(args), display, notes)
    from screens.app import Loaded, WizardApp     # Textual is loaded only for the wizard

    def load() -> Loaded:      # in the app's worker, after the first screen is painted
        from wizard.settings import presets
        preset_name = option(args, "preset", None)
        preset = presets.load(presets.find(preset_name)) if preset_name else None
        return Loaded(load_server(args), preset)

    app = WizardApp(load, backup_dir(args), reload=not option(args, "no_reload", False),
                    notes=notes, display=display, light=option(args, "theme", "dark") == "light",
                    early=early, logs=logs_to_read(args))
    result = app.run()
    if isinstance(result, WizardError):       # the configuration or the preset was refused
        raise result
    return EXIT_OK
