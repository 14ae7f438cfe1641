"""Limits from the server's own traffic: what each value would have refused.

Postfix's documentation warns that the client rate and count limits must not regulate legitimate
mail, yet an admin choosing them has nothing but defaults to go on. Every server already logs the
evidence: smtpd logs each connection and, at disconnect, how many MAIL, RCPT and AUTH commands
the session made; anvil logs its peaks; smtpd logs each refusal.

- `reading`: the log sources (files plain or gzip, rotated sets, standard input, journalctl's
  JSON, the server's own log) and their lines, in every timestamp shape admins have.
- `replay`: the log replayed through anvil(8)'s own counting (fixed windows per client and
  service), for the peaks and for what a set of limits would have refused.
- `analysis`: per-client figures, the suggestions and the JSON the `traffic` command prints.
- the scanner that parses and counts the lines: the C extension (`_scan.c`) when it was built,
  else the same in Python (`pyscan`), slower; `scanner()` below is the one place that chooses.
"""

from __future__ import annotations

import os

from wizard.errors import WizardError

SCANNERS = {"c": "C extension", "python": "Python"}     # what POSTFIX_WIZARD_SCANNER may name
FORCE = "POSTFIX_WIZARD_SCANNER"


def scanner() -> tuple[str, type]:
    """The scanner the reader uses, "c" or "python", and its class: the C extension when it
    was built (setup.py makes it optional), else the Python one. POSTFIX_WIZARD_SCANNER=c or
    python forces one (the tests read every log with both); read at each call."""
    wanted = os.environ.get(FORCE, "").strip().lower()
    if wanted not in ("", *SCANNERS):
        raise WizardError(f"{FORCE}={os.environ[FORCE]!r} is not a log scanner: give "
                          f"{' or '.join(SCANNERS)}, or leave it unset")
    if wanted != "python":
        found = _extension()
        if not isinstance(found, ImportError):
            return "c", found
        if wanted == "c":
            raise WizardError(
                f"{FORCE}=c, but the C extension wizard.traffic._scan cannot be loaded "
                f"({found}); install postfix-wizard where a C compiler and Python's headers are "
                f"present (e.g. apt-get install gcc python3-dev), or unset {FORCE}")
    from wizard.traffic.pyscan import Scanner
    return "python", Scanner


def describe(kind: str) -> str:
    """A scanner as the report and --version name it: "C extension", or "Python (...: slower)"
    saying why the C one is not used."""
    if kind == "c":
        return SCANNERS["c"]
    why = "no C extension" if isinstance(_extension(), ImportError) else f"{FORCE}=python"
    return f"{SCANNERS['python']} ({why}: slower)"


def _extension():
    """The C extension's Scanner, or the ImportError saying why there is none."""
    try:
        from wizard.traffic._scan import Scanner
    except ImportError as error:
        return error
    return Scanner
