"""Configuration files as text: read losslessly, split into lines the way the daemons do."""

from __future__ import annotations

from pathlib import Path
from typing import Iterator

from wizard.errors import ConfigError


def read_text(path: Path) -> str:
    """Read a configuration file, refusing what is not a readable regular file.

    surrogateescape keeps any byte that is not UTF-8 (a Latin-1 comment) exactly as it was;
    files are written with the same handler (wizard/files/atomic.py).
    """
    try:
        if not path.is_file():
            kind = "missing" if not path.exists() else "not a regular file"
            raise ConfigError(path, None, f"the file is {kind}",
                              "Point the wizard at the directory that holds it")
        data = path.read_bytes()
    except OSError as error:
        raise ConfigError(path, None, f"cannot be read ({error.strerror})",
                          "Run the wizard as root or check the file's permissions") from None
    return data.decode("utf-8", errors="surrogateescape")


def split_lines(text: str) -> list[str]:
    """The physical lines, each with its ending (CRLF kept; the last may have none).

    Not str.splitlines: it also breaks at \\r, \\f, \\x85, U+2028 and others, where Postfix
    and Dovecot break only at \\n, and our lines must be theirs.
    """
    parts = text.split("\n")
    lines = [part + "\n" for part in parts[:-1]]
    return lines + [parts[-1]] if parts[-1] else lines


def strip_eol(line: str) -> str:
    return line.rstrip("\r\n")


def is_postfix_skipped(text: str) -> bool:
    """Blank, whitespace-only and comment lines: Postfix skips them, even inside an entry."""
    stripped = text.strip()
    return not stripped or stripped.startswith("#")


def postfix_logical_lines(lines: list[str]) -> Iterator[list[tuple[int, str]]]:
    """main.cf's and master.cf's logical lines, each as its physical lines (index, text without
    the line ending). Postfix joins a line that starts with whitespace to the entry before it,
    skipping comment and blank lines in between (checked against postconf 3.7). A logical line
    whose first line is indented had nothing before it to continue."""
    group: list[tuple[int, str]] = []
    for index, line in enumerate(lines):
        text = strip_eol(line)
        if is_postfix_skipped(text):
            continue
        if text[0] not in " \t" and group:
            yield group
            group = []
        group.append((index, text))
    if group:
        yield group
