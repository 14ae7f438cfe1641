"""master.cf -o overrides: services where a new main.cf value would not apply.

A master.cf service that sets `-o name=value` keeps that value whatever main.cf says, so a limit
the change writes to main.cf would silently not reach that service. A warning: it is legal, and
may be what the admin wants.
"""

from __future__ import annotations

from wizard.findings import Finding
from wizard.rules.context import Context
from wizard.rules.fields import PARAMS


def master_overrides(c: Context) -> list[Finding]:
    found = []
    for section, params in PARAMS.items():
        for field, param in params.items():
            wanted = getattr(getattr(c.desired, section), field)
            if wanted is None or param.file != "main.cf" or field in ("socket", "path"):
                continue
            for service, value in c.server.overrides(param.name):
                if value != param.to_text(wanted):
                    found.append(Finding(
                        "warning", "master-override", (f"{section}.{field}",),
                        f"master.cf service {service.name} (line {service.line}) sets "
                        f"-o {param.name}={value}, so the new main.cf value does not apply there.",
                        f"Edit or remove that -o line in master.cf if {service.name} should use "
                        "the new value."))
    return found
