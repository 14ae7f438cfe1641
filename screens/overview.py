"""The overview's text, and a reader that builds it on the other core while Textual loads.

The overview needs the whole core (the settings model is pydantic, whose import is most of the
cost) and Textual needs about as long to import and paint. In one process they queue behind each
other on the interpreter lock, so the versions appeared long after the first paint. Started from
the command line before Textual is imported, `EarlyOverview` forks a child that reads the server
and sends back only the overview's text; the app shows it once its own first paint is whole
(the Footer's keys are drawn a refresh after the rest). The app's own
worker still reads the configuration, and its text replaces the early one, so the child only
ever makes the screen complete sooner: if it fails, hangs or is slow, nothing else changes.

This module imports rich and the core, never Textual, so the child stays light.
"""

from __future__ import annotations

import os
import pickle
import signal
import sys
from typing import TYPE_CHECKING, Callable

from rich.text import Text

from wizard.styled import Display

from .styled_text import to_text

if TYPE_CHECKING:
    from wizard.server.state import Server


def overview_text(server: Server, show_path: Display = str, notes: tuple[str, ...] = ()) -> Text:
    from wizard import overview
    return to_text(overview.styled(server, show_path, notes))


class EarlyOverview:
    """A forked child that builds the overview text and sends it down a pipe."""

    def __init__(self, read_server: Callable[[], Server], show_path: Display,
                 notes: tuple[str, ...]) -> None:
        read_end, write_end = os.pipe()
        self.reaped = False
        self.pid = os.fork()
        if self.pid == 0:                                       # the child
            os.close(read_end)
            self._send(write_end, lambda: overview_text(read_server(), show_path, notes))
        os.close(write_end)
        self.pipe = read_end

    @staticmethod
    def _send(pipe: int, build: Callable[[], Text]) -> None:
        """Write the pickled text and leave without running the parent's cleanups (the demo's
        temporary directory belongs to the parent). The terminal is the parent's: the child
        writes nothing to it. Any failure sends nothing."""
        status = 1
        try:
            quiet = os.open(os.devnull, os.O_RDWR)
            for terminal in (0, 1, 2):
                os.dup2(quiet, terminal)
            sys.stdout = sys.stderr = open(os.devnull, "w")
            with os.fdopen(pipe, "wb") as out:
                out.write(pickle.dumps(build()))
            status = 0
        finally:
            os._exit(status)

    def receive(self) -> Text | None:
        """Blocks until the child is done (run it in a thread); None when it sent nothing."""
        with os.fdopen(self.pipe, "rb") as pipe:
            data = pipe.read()
        os.waitpid(self.pid, 0)
        self.reaped = True
        return pickle.loads(data) if data else None

    def cancel(self) -> None:
        """End the child if it is still at work; receive() then returns None and reaps it."""
        if not self.reaped:
            try:
                os.kill(self.pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
