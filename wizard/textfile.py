"""Configuration files as text: read losslessly, split into lines the way the daemons do."""

from __future__ import annotations

from pathlib import Path

from .errors import ConfigError


def read_text(path: Path) -> str:
    """Read a configuration file, refusing what is not a readable regular file.

    surrogateescape keeps any byte that is not UTF-8 (a Latin-1 comment) exactly as it was;
    the writer encodes with the same handler.
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
