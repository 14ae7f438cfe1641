"""The command line's text output, and the interface it shares with --json's.

A command writes to an output object: `Output` here prints lines, painting the core's styled
text (wizard/styled.py) in ANSI colours; `JsonOutput` (wizard/cli/json_output.py) collects the
same calls into one JSON document. `Out` names the calls both answer, so that a command need not
know which one it has.
"""

from __future__ import annotations

import os
import sys
from typing import TYPE_CHECKING, Protocol

from wizard import styled

if TYPE_CHECKING:
    from wizard.findings import Finding
    from wizard.styled import Styled

COLOURS = {"red": "31", "yellow": "33", "green": "32", "bold": "1", "cyan": "36"}


class Out(Protocol):
    """What a command writes to: the text `Output` below or `json_output.JsonOutput`."""

    def line(self, text: str = "", colour: str = "") -> None: ...
    def styled(self, spans: Styled) -> None: ...
    def finding(self, finding: Finding) -> None: ...
    def diff(self, text: str) -> None: ...
    def record(self, **fields) -> None: ...
    def close(self, status: int) -> None: ...


class Output:
    """Plain text, coloured only on a terminal and when NO_COLOR is not set."""

    def __init__(self, stream=sys.stdout):
        self.stream = stream
        self.colour = stream.isatty() and not os.environ.get("NO_COLOR")

    def line(self, text: str = "", colour: str = "") -> None:
        if self.colour and colour:
            text = f"\033[{COLOURS[colour]}m{text}\033[0m"
        print(text, file=self.stream)

    def styled(self, spans: Styled) -> None:
        """The core's styled text (wizard/styled.py), each line coloured on its own."""
        painted = []
        for text, style in spans:
            codes = ";".join(COLOURS[word] for word in style.split())
            painted.append("\n".join(f"\033[{codes}m{part}\033[0m" if part and codes and
                                     self.colour else part for part in text.split("\n")))
        text = "".join(painted)
        print(text[:-1] if text.endswith("\n") else text, file=self.stream)

    def finding(self, finding: Finding) -> None:
        from wizard import findings      # dataclasses, on the way: not for `backups` or `presets`
        self.styled(findings.styled([finding]))

    def diff(self, text: str) -> None:
        self.styled(styled.diff(text))

    def record(self, **fields) -> None:
        """What --json reports (wizard/cli/json_output.py); text says it in lines instead."""

    def close(self, status: int) -> None:
        pass
