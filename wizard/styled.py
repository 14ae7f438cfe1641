"""Styled text: what the core says, as spans of (text, style), for either face to paint.

The command line and the screens show the same findings, diffs, server description and change
results; the words are made once, here in the core, and each face only paints the styles: the
command line as ANSI colours (wizard/cli/output.py), the screens as Rich styles (a style here is
a Rich style string, from the words in COLOURS).
"""

from __future__ import annotations

from pathlib import Path
from typing import Callable, List, Tuple

Span = Tuple[str, str]          # (text, style): style is "" or words from COLOURS
Styled = List[Span]
Display = Callable[[Path], str]      # how a path is shown (a demo shows <demo>/...)

COLOURS = ("bold", "red", "green", "yellow", "cyan")


def diff(text: str) -> Styled:
    """A unified diff, coloured by line: files bold, added green, removed red, hunks cyan."""
    spans = []
    for line in text.splitlines():
        colour = {"+": "green", "-": "red", "@": "cyan"}.get(line[:1], "")
        spans.append((line + "\n", "bold" if line[:3] in ("+++", "---") else colour))
    return spans


def plain(spans: Styled) -> str:
    return "".join(text for text, _ in spans)
