"""Field rules: one typed value, parsed or refused as the user types it.

Each field's type, range and syntax are declared once, with the field, in wizard.settings.model.
This module finds the field for a key ("limits.queue_minfree", "sasl.path") and turns a value
that does not parse into an error finding with its fix, so that a value Postfix or Dovecot could
not read is refused before it reaches a file.
"""

from __future__ import annotations

from typing import Any

from wizard.findings import Finding
from wizard.settings.model import PARAMS, Param, param_for  # noqa: F401 (the rules' public face)


def check_field(key: str, text: str) -> tuple[Any, list[Finding]]:
    """Parse what the user typed into field `key`; return the value or an error finding."""
    param = param_for(key)
    try:
        return param.parse(text), []
    except ValueError as error:
        return None, [Finding("error", "syntax", (key,), f"{param.name}: {error}.",
                              _syntax_fix(param))]


def _syntax_fix(param: Param) -> str:
    if param.default and param.file == "main.cf":
        return f"Correct the value, or use Postfix's default ({param.default})."
    return "Correct the value."
