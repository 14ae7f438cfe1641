"""Above the limits: what the server's mail log says about its traffic (or why it says nothing),
with a progress bar while the app's worker reads it (wizard/traffic)."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Union

from textual.containers import Horizontal
from textual.widgets import Static

if TYPE_CHECKING:
    from wizard.traffic.analysis import Traffic

    Read = Union[Traffic, Exception, None]       # None: still being read


class TrafficStatus(Horizontal):
    """One line of status, and the progress bar until the log is read."""

    def __init__(self, traffic: Read) -> None:
        from textual.widgets import ProgressBar     # loads after the first paint, with the steps
        self.status = Static(status_text(traffic), classes="traffic-status", markup=False)
        self.bar = ProgressBar(total=None, show_eta=False, classes="traffic-bar")
        self.bar.display = traffic is None
        super().__init__(self.status, self.bar, classes="traffic-row")

    def show_progress(self, done: int, total: int) -> None:
        self.bar.update(total=total or None, progress=done)

    def show(self, traffic: Read) -> None:
        """The log is read (or could not be)."""
        self.status.update(status_text(traffic))
        self.bar.display = False


def status_text(traffic: Read) -> str:
    if traffic is None:
        return "Reading the mail log, for the limits below…"
    if isinstance(traffic, Exception):
        return f"The mail log could not be read ({traffic}): limits judged without traffic."
    if not traffic.clients:
        return "No mail log with smtpd traffic to read: limits judged without traffic."
    import time
    when = "–".join(time.strftime("%b %d %H:%M", time.gmtime(t))
                    for t in (traffic.first, traffic.last) if t is not None)
    names = ", ".join(Path(source).name for source in traffic.tally.sources)
    return (f"Traffic in {names} ({when}): {sum(c.connections for c in traffic.clients)} "
            f"connections from {len(traffic.clients)} clients.")
