"""Errors a user can act on: each names the file, the line (when known), the problem and the fix."""

from __future__ import annotations

from pathlib import Path


class WizardError(Exception):
    """A problem caused by input or the environment, never a bug: shown without a traceback."""


class ConfigError(WizardError):
    """A configuration file the wizard cannot read or will not edit."""

    def __init__(self, path: Path | str | None, line: int | None, problem: str, fix: str = ""):
        self.path = Path(path) if path is not None else None
        self.line = line
        self.problem = problem
        self.fix = fix
        super().__init__(self.message)

    @property
    def message(self) -> str:
        where = str(self.path) if self.path is not None else "configuration"
        if self.line is not None:
            where += f", line {self.line}"
        text = f"{where}: {self.problem}"
        return f"{text}. {self.fix}" if self.fix else text


class WriteError(WizardError):
    """The write itself failed; everything was left as it was."""
