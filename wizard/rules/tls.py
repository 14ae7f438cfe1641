"""STARTTLS: whether smtpd can offer it, and what breaks when it must but cannot.

With smtpd_tls_security_level = encrypt and no readable certificate, every sender is refused.
`tls_offered` is also asked by the SASL rules (AUTH only after STARTTLS needs a STARTTLS that
works) and by the overview.
"""

from __future__ import annotations

from pathlib import Path

from wizard import values
from wizard.findings import Finding
from wizard.rules.context import Context, agent_severity
from wizard.server.state import Server


def tls_offered(server: Server) -> bool:
    """Whether smtpd can offer STARTTLS: a security level and a readable certificate."""
    level = server.value("smtpd_tls_security_level") or (
        "may" if server.value("smtpd_use_tls") == "yes" else "")
    return level in ("may", "encrypt") and _certificate_present(server)


def _certificate_present(server: Server) -> bool:
    files = values.split_list(server.value("smtpd_tls_chain_files")) or \
        values.split_list(server.value("smtpd_tls_cert_file"))
    return bool(files) and all(Path(f).is_file() for f in files)


def encrypt_without_certificate(c: Context) -> list[Finding]:
    if c.server.value("smtpd_tls_security_level") != "encrypt" or _certificate_present(c.server):
        return []
    severity, when = agent_severity(c, "smtpd")
    return [Finding(
        severity, "encrypt-without-certificate", (),
        "smtpd_tls_security_level = encrypt but no TLS certificate file is readable: STARTTLS "
        "fails (454) and every MAIL FROM gets '530 5.7.0 Must issue a STARTTLS command first', "
        f"so senders bounce their mail.{when}",
        "Fix smtpd_tls_chain_files (or smtpd_tls_cert_file/key_file), or use level may.")]
