"""SMTP AUTH: the mechanisms Dovecot offers, and which of them smtpd offers when.

Dovecot's auth process dies on a mechanism it has no plugin or passdb for, and every smtpd that
asks it dies with it. Postfix's security options decide what smtpd offers before and after
STARTTLS: no mechanism left kills smtpd, a plaintext one before STARTTLS sends passwords in the
clear, anonymous makes an open relay. And AUTH without permit_sasl_authenticated lets users log
in but not send.
"""

from __future__ import annotations

from wizard.findings import Finding
from wizard.rules.context import Context
from wizard.rules.tls import tls_offered
from wizard.settings.model import PLAINTEXT_MECHANISMS


UNKNOWN_MECHANISM_DIES = ("Dovecot's auth process dies ('Unknown authentication mechanism'), "
                          "and with it smtpd ('no SASL authentication mechanisms').")


def _offered(mechanisms: list[str], options: list[str]) -> list[str]:
    offered = list(mechanisms)
    if "noplaintext" in options:
        offered = [m for m in offered if m not in PLAINTEXT_MECHANISMS]
    if "noanonymous" in options:
        offered = [m for m in offered if m != "anonymous"]
    return offered


def _tls_options(c: Context) -> list[str]:
    options = c.sasl.tls_security_options
    if options is None or options == ["$smtpd_sasl_security_options"]:
        return c.sasl.security_options or []
    return options


def _tls_offered(c: Context) -> bool:
    return tls_offered(c.server)


def mechanisms_present(c: Context) -> list[Finding]:
    if c.sasl.mechanisms is None or c.sasl.mechanisms:
        return []
    return [Finding(
        "error", "no-mechanisms", ("sasl.mechanisms",),
        "auth_mechanisms is empty: Dovecot offers no way to log in.",
        "Use plain login.")]


def mechanism_plugins(c: Context) -> list[Finding]:
    from wizard.server.versions import installed_dovecot_auth_plugins
    from wizard.settings.model import PLUGIN_MECHANISMS
    wanted = [m for m in c.sasl.mechanisms or [] if m in PLUGIN_MECHANISMS]
    plugins = installed_dovecot_auth_plugins() if wanted else None
    if plugins is None:
        return []
    return [Finding(
        "error", "mechanism-plugin-missing", ("sasl.mechanisms",),
        f"auth_mechanisms has {m}, but Dovecot's {PLUGIN_MECHANISMS[m][0]} is not installed: "
        + UNKNOWN_MECHANISM_DIES,
        f"Install {PLUGIN_MECHANISMS[m][1]}, or remove {m} from the mechanisms.")
        for m in wanted if PLUGIN_MECHANISMS[m][0] not in plugins]


def mechanism_passdbs(c: Context) -> list[Finding]:
    from wizard.settings.model import CREDENTIAL_MECHANISMS, NO_CREDENTIAL_LOOKUP
    wanted = [m for m in c.sasl.mechanisms or [] if m in CREDENTIAL_MECHANISMS]
    if not wanted or c.server.dovecot is None or c.dovecot_remote:
        return []
    drivers = c.server.dovecot.passdb_drivers()
    if drivers and not all(driver in NO_CREDENTIAL_LOOKUP for driver in drivers):
        return []
    which = (f"its passdbs ({', '.join(drivers)}) check passwords but cannot look one up"
             if drivers else "it has no passdb")
    return [Finding(
        "error", "mechanism-passdb-unsupported", ("sasl.mechanisms",),
        f"auth_mechanisms has {' '.join(wanted)}, which needs the stored password, and {which}: "
        f"Dovecot's auth process dies at start ('{wanted[0].upper()} mechanism can't be "
        "supported with given passdbs'), and with it every smtpd that asks it, so the server "
        "stops taking mail.",
        f"Remove {' '.join(wanted)} from the mechanisms (plain login over TLS need no stored "
        "password), or add a passdb that stores passwords (passwd-file, sql, ldap).")]


def anonymous_relay(c: Context) -> list[Finding]:
    if not c.sasl_on or "anonymous" not in (c.sasl.mechanisms or []):
        return []
    phases = [name for name, options in (("before STARTTLS", c.sasl.security_options or []),
                                         ("after STARTTLS", _tls_options(c)))
              if "noanonymous" not in options]
    if not phases:
        return []
    return [Finding(
        "error", "anonymous-relay", ("sasl.mechanisms", "sasl.security_options"),
        f"Dovecot offers the anonymous mechanism and Postfix allows it {' and '.join(phases)}: "
        "anyone could authenticate without a password and, through permit_sasl_authenticated, "
        "relay mail through this server (an open relay).",
        "Remove anonymous from auth_mechanisms and keep noanonymous in both option lists.")]


def _auth_after_tls_only(c: Context) -> bool:
    """smtpd_tls_auth_only, or what implies it (postconf(5))."""
    return bool(c.sasl.tls_auth_only) or c.server.value("smtpd_tls_wrappermode") == "yes" or \
        c.server.value("smtpd_tls_security_level") == "encrypt"


def plaintext_passwords_exposed(c: Context) -> list[Finding]:
    if not c.sasl_on or _auth_after_tls_only(c):
        return []
    exposed = [m for m in _offered(c.sasl.mechanisms or [], c.sasl.security_options or [])
               if m in PLAINTEXT_MECHANISMS]
    if not exposed:
        return []
    return [Finding(
        "error", "plaintext-exposed",
        ("sasl.tls_auth_only", "sasl.security_options", "sasl.mechanisms"),
        f"AUTH {' and '.join(m.upper() for m in exposed)} would be offered before STARTTLS, so "
        "users' passwords could cross the network unencrypted.",
        "Set smtpd_tls_auth_only = yes, or add noplaintext to smtpd_sasl_security_options.")]


def auth_never_offered(c: Context) -> list[Finding]:
    if not c.sasl_on or c.sasl.mechanisms is None:
        return []
    after_tls = _offered(c.sasl.mechanisms, _tls_options(c))
    if not after_tls:
        return [Finding(
            "error", "no-mechanism-after-tls", ("sasl.tls_security_options", "sasl.mechanisms"),
            "smtpd_sasl_tls_security_options filters out every mechanism Dovecot offers: "
            "smtpd dies with 'fatal: no SASL authentication mechanisms' after every STARTTLS, "
            "so every TLS client loses its connection.",
            "Use noanonymous alone in smtpd_sasl_tls_security_options.")]
    if not _auth_after_tls_only(c) and not _offered(c.sasl.mechanisms,
                                                      c.sasl.security_options or []):
        return [Finding(
            "error", "no-mechanism-before-tls",
            ("sasl.security_options", "sasl.tls_auth_only", "sasl.mechanisms"),
            "smtpd_sasl_security_options filters out every mechanism Dovecot offers "
            f"({' '.join(c.sasl.mechanisms)}) before STARTTLS while smtpd_tls_auth_only is no: "
            "smtpd dies on every connection with 'fatal: no SASL authentication mechanisms' "
            "and the server stops taking mail (seen on Postfix 3.7 with the RHEL 9 recipe).",
            "Set smtpd_tls_auth_only = yes, so AUTH is offered only after STARTTLS.")]
    if _tls_offered(c):
        return []
    return [Finding(
        "warning", "auth-needs-tls", ("sasl.tls_auth_only", "sasl.security_options"),
        "AUTH is offered only after STARTTLS, but STARTTLS cannot work: main.cf has no "
        "readable TLS certificate or no smtpd_tls_security_level (STARTTLS gets 454), so "
        "users will never be offered AUTH.",
        "Configure smtpd_tls_chain_files (or smtpd_tls_cert_file/key_file) and "
        "smtpd_tls_security_level = may.")]


def relay_without_sasl(c: Context) -> list[Finding]:
    if not c.sasl_on or c.desired.sasl.enabled is not True:
        return []
    # raw text: the 3.7 default is a compatibility_level expression that still names it
    restrictions = c.server.raw("smtpd_relay_restrictions") or c.server.raw(
        "smtpd_recipient_restrictions")
    if "permit_sasl_authenticated" in restrictions:
        return []
    return [Finding(
        "warning", "sasl-cannot-relay", ("sasl.enabled",),
        "Users will be able to log in, but smtpd_relay_restrictions has no "
        "permit_sasl_authenticated, so they still cannot send mail to other domains.",
        "Add permit_sasl_authenticated before the reject/defer rule in smtpd_relay_restrictions.")]
