"""`postfix-wizard --version`: the package's version, the Python running it, and which log
scanner `traffic` uses (the C extension, or the Python one where it could not be built: see
setup.py), so that a report of a slow `traffic` can say which ran."""

from __future__ import annotations

import platform

PACKAGE = "postfix-wizard"


def package_version() -> str:
    """The installed distribution's version (its metadata); "unknown" where the package is
    run from a checkout that was never installed."""
    from importlib import metadata
    try:
        return metadata.version(PACKAGE)
    except metadata.PackageNotFoundError:
        return "unknown (not installed)"


def version_line() -> str:
    from wizard.traffic import describe, scanner
    kind, _ = scanner()
    return (f"{PACKAGE} {package_version()} (Python {platform.python_version()}, "
            f"log scanner: {describe(kind)})")
