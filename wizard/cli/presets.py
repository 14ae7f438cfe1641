"""`postfix-wizard presets` (the shipped presets) and `postfix-wizard save` (the server's current
values written as a preset): the two commands about preset files (wizard/settings/presets.py).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from wizard.cli.common import EXIT_OK, load_server

if TYPE_CHECKING:
    import argparse

    from wizard.cli.output import Out


def run_presets(args: argparse.Namespace, out: Out) -> int:
    from wizard.settings import presets
    for preset in presets.shipped():
        out.line(preset.name, "bold")
        out.line(f"  {preset.description}")
    return EXIT_OK


def run_save(args: argparse.Namespace, out: Out) -> int:
    from wizard.settings import presets
    server = load_server(args)
    name = args.name or args.output.stem
    presets.save(args.output, server.current(), name, args.description)
    out.line(f"wrote {args.output}")
    return EXIT_OK
