"""The settings model: every field the wizard manages, declared once.

Each field carries a `Param` with its Postfix or Dovecot name, kind, unit, the Postfix default
(as `postconf -d` prints it for Postfix 3.7), the Postfix version that introduced it and a
one-line help text. The screens, presets, the
command line and the change plan all read these declarations; nothing repeats them.
A value of None means "keep what the server has now".
"""

from __future__ import annotations

import ipaddress
import re
from dataclasses import dataclass
from typing import Annotated, Any, Literal, Optional

from pydantic import BaseModel, ConfigDict, Field, field_validator

from wizard import values
from wizard.files.dovecot.dialects import DEFAULT_MECHANISMS

# The oldest Postfix the wizard supports (RHEL 9's 3.5): a parameter it already has needs no `since`.
OLDEST_POSTFIX = "3.5"

Kind = Literal["count", "time", "size", "addresses", "bool", "choice", "path", "mode", "name",
               "address", "port", "words"]


@dataclass(frozen=True)
class Param:
    name: str                       # the Postfix or Dovecot name
    kind: Kind
    default: str                    # Postfix (or Dovecot) default, as its own tools print it
    help: str
    unit: str = ""
    minimum: int = 0
    maximum: int = values.INT_MAX
    file: Literal["main.cf", "dovecot"] = "main.cf"
    choices: tuple[str, ...] = ()   # allowed words for "choice" and "words"
    title: str = ""                 # a short label for the screens
    agent: str = ""                 # the one delivery agent that reads it (wizard.delivery)
    since: str = OLDEST_POSTFIX     # the Postfix version that introduced it (main.cf only)

    def parse(self, text: str) -> Any:
        """Turn what a user typed into the field's value, or raise ValueError."""
        if self.kind in ("count", "port"):
            return values.parse_count(text, minimum=self.minimum, maximum=self.maximum)
        if self.kind == "size":
            return self.check(values.parse_size(text))
        if self.kind == "bool":
            return _parse_bool(text)
        if self.kind == "words":
            return self.check(values.split_list(text))
        return self.check(text)

    def check(self, value: Any) -> Any:
        """Check a typed value (from a preset or `parse`); raise ValueError naming the fix."""
        if self.kind in ("count", "port", "size"):
            return values.check_range(value, self.minimum, self.maximum, self.unit_word)
        if self.kind == "time":
            seconds = values.parse_time(value)
            values.check_range(seconds, self.minimum, self.maximum, "seconds")
            return value
        if self.kind == "addresses":
            values.check_address_list(value)
        elif self.kind == "words":
            _check_words(value, self.choices)
        elif self.kind == "choice" and value not in self.choices:
            raise ValueError(f"'{value}' is not one of: {', '.join(self.choices)}")
        elif self.kind in ("path", "mode", "name", "address"):
            values.check_text(value, allow_spaces=False)
            _FORMATS[self.kind](value)
        return value

    @property
    def unit_word(self) -> str:
        return "bytes" if self.kind == "size" else ""

    def to_text(self, value: Any) -> str:
        """The value as the configuration file spells it."""
        if self.kind == "bool":
            return "yes" if value else "no"
        if self.kind == "words":
            return (", " if self.file == "main.cf" else " ").join(value)
        return str(value)

    def from_text(self, text: str) -> Any:
        """Read the value as a configuration file holds it; raise ValueError if Postfix would not."""
        if self.kind == "words":
            return self.check(values.split_list(text))
        if self.kind == "bool":
            return _parse_bool(text)
        if self.kind in ("count", "port", "size"):
            if not text.isdigit():
                raise ValueError(f"'{text}' is not a whole number")
            return self.check(int(text))
        return self.check(text)


def _parse_bool(text: str) -> bool:
    lowered = text.lower()
    if lowered in ("yes", "true", "on"):
        return True
    if lowered in ("no", "false", "off"):
        return False
    raise ValueError(f"'{text}' is not yes or no")


def _check_words(words: list[str], choices: tuple[str, ...]) -> None:
    for word in words:
        values.check_text(word, allow_spaces=False)
        if choices and word.lower() not in choices:
            raise ValueError(f"'{word}' is not one of: {', '.join(choices)}")


def _check_path(path: str) -> None:
    parts = path.split("/")
    if ".." in parts or not all(p.replace(".", "").replace("-", "").replace("_", "").isalnum()
                                for p in parts if p):
        raise ValueError(f"'{path}' is not a plain socket path; use letters, digits, '.', '-', '_' "
                         "and '/', without '..', like private/auth")
    if path.endswith("/") or not path.strip("/"):
        raise ValueError(f"'{path}' does not name a socket file; write a path like private/auth")


def _check_mode(mode: str) -> None:
    if not (len(mode) in (3, 4) and all(c in "01234567" for c in mode)):
        raise ValueError(f"'{mode}' is not an octal file mode; write it like 0660")


def _check_name(name: str) -> None:
    if not re.fullmatch(r"[A-Za-z_][A-Za-z0-9_.-]*", name):
        raise ValueError(f"'{name}' is not a valid user or group name")


def _check_address(address: str) -> None:
    try:
        ipaddress.ip_address(address)
    except ValueError:
        raise ValueError(f"'{address}' is not an IP address; write one like 127.0.0.1 or ::1") from None


_FORMATS = {"path": _check_path, "mode": _check_mode, "name": _check_name, "address": _check_address}

SECURITY_OPTIONS = ("noanonymous", "noplaintext", "noactive", "nodictionary", "mutual_auth",
                    "forward_secrecy")
# The names Dovecot 2.3.19 and 2.4.1 know (their auth binaries; OTP and SKEY are gone from both).
MECHANISMS = ("plain", "login", "cram-md5", "digest-md5", "scram-sha-1", "scram-sha-256",
              "oauthbearer", "xoauth2", "external", "anonymous", "gssapi", "gss-spnego", "ntlm",
              "apop")
# Mechanisms only a plugin serves, and the plugin's file in Dovecot's auth module directory.
PLUGIN_MECHANISMS = {"gssapi": ("libmech_gssapi.so", "dovecot-gssapi")}
# Mechanisms that need the stored password (Dovecot's passdb_need LOOKUP_CREDENTIALS), and the
# passdb drivers that cannot look one up (no lookup_credentials in Dovecot 2.3 and 2.4): with only
# those, Dovecot's auth process dies at start ("mechanism can't be supported with given passdbs").
CREDENTIAL_MECHANISMS = ("cram-md5", "digest-md5", "scram-sha-1", "scram-sha-256", "ntlm",
                         "apop")
NO_CREDENTIAL_LOOKUP = ("pam", "bsdauth", "imap", "oauth2")
# Mechanisms that send the password itself; Postfix's noplaintext option hides them.
PLAINTEXT_MECHANISMS = ("plain", "login")


class StrictModel(BaseModel):
    model_config = ConfigDict(strict=True, extra="forbid", validate_assignment=True,
                              defer_build=True)

    @field_validator("*")
    @classmethod
    def _check_param(cls, value: Any, info: Any) -> Any:
        if value is None:
            return value
        return param_of(cls, info.field_name).check(value)


def param_of(model: type[BaseModel], field: str) -> Param:
    return next(m for m in model.model_fields[field].metadata if isinstance(m, Param))


def _p(name: str, kind: Kind, default: str, help: str, **extra: Any) -> Param:
    return Param(name, kind, default, help, **extra)


RATE_UNIT = "per anvil_rate_time_unit"

Count = Optional[int]
Text = Optional[str]


class Limits(StrictModel):
    """main.cf limits against denial of service (RHEL 9 hardening guide, section 8.2, and related)."""

    smtpd_client_connection_rate_limit: Annotated[Count, _p(
        "smtpd_client_connection_rate_limit", "count", "0", title="Connection rate per client", help=
        "Connections one client may open per time unit; 0 means no limit.", unit=RATE_UNIT)] = None
    anvil_rate_time_unit: Annotated[Text, _p(
        "anvil_rate_time_unit", "time", "60s", title="Rate time unit", help=
        "The time window over which every client rate limit is counted.", minimum=1)] = None
    smtpd_client_event_limit_exceptions: Annotated[Text, _p(
        "smtpd_client_event_limit_exceptions", "addresses",
        "${smtpd_client_connection_limit_exceptions:$mynetworks}", title="Clients never limited",
        help="Clients never rate- or count-limited, e.g. $mynetworks; keep your own networks here.")] = None
    smtpd_client_message_rate_limit: Annotated[Count, _p(
        "smtpd_client_message_rate_limit", "count", "0", title="Message rate per client", help=
        "Messages (MAIL FROM commands) one client may send per time unit; 0 means no limit.",
        unit=RATE_UNIT)] = None
    default_process_limit: Annotated[Count, _p(
        "default_process_limit", "count", "100", title="Process limit per service", help=
        "Most processes of each service (smtpd included) unless master.cf sets its own maxproc.",
        unit="processes", minimum=1)] = None
    queue_minfree: Annotated[Count, _p(
        "queue_minfree", "size", "0", title="Free queue space required", help=
        "Free space the queue file system must keep; below it smtpd refuses mail (452).",
        unit="bytes", maximum=values.LONG_MAX)] = None
    header_size_limit: Annotated[Count, _p(
        "header_size_limit", "size", "102400", title="Header size limit", help=
        "Most bytes of message headers kept; the excess is discarded.", unit="bytes", minimum=1,
        maximum=values.INT_MAX)] = None          # an int in Postfix, unlike the other sizes
    message_size_limit: Annotated[Count, _p(
        "message_size_limit", "size", "10240000", title="Message size limit", help=
        "Largest message accepted, envelope included; 0 means no limit.", unit="bytes",
        maximum=values.LONG_MAX)] = None
    mailbox_size_limit: Annotated[Count, _p(
        "mailbox_size_limit", "size", "51200000", title="Mailbox size limit (local)", help=
        "Largest mailbox file local(8) writes; 0 means no limit; not below the message size "
        "limit.", unit="bytes", maximum=values.LONG_MAX, agent="local")] = None
    virtual_mailbox_limit: Annotated[Count, _p(
        "virtual_mailbox_limit", "size", "51200000", title="Mailbox size limit (virtual)", help=
        "Largest mailbox file virtual(8) writes; 0 means no limit; not below the message size "
        "limit.", unit="bytes", maximum=values.LONG_MAX, agent="virtual")] = None
    smtpd_client_connection_count_limit: Annotated[Count, _p(
        "smtpd_client_connection_count_limit", "count", "50", title="Simultaneous connections per client", help=
        "Connections one client may hold open at the same time; 0 means no limit.",
        unit="connections")] = None
    smtpd_client_recipient_rate_limit: Annotated[Count, _p(
        "smtpd_client_recipient_rate_limit", "count", "0", title="Recipient rate per client", help=
        "Recipients (RCPT TO) one client may send per time unit; 0 means no limit.",
        unit=RATE_UNIT)] = None
    smtpd_client_new_tls_session_rate_limit: Annotated[Count, _p(
        "smtpd_client_new_tls_session_rate_limit", "count", "0", title="New TLS sessions per client", help=
        "New TLS sessions (not resumed) one client may start per time unit; 0 means no limit.",
        unit=RATE_UNIT)] = None
    smtpd_client_auth_rate_limit: Annotated[Count, _p(
        "smtpd_client_auth_rate_limit", "count", "0", title="AUTH attempts per client", help=
        "AUTH attempts one client may make per time unit; 0 means no limit.",
        unit=RATE_UNIT)] = None
    smtpd_error_sleep_time: Annotated[Text, _p(
        "smtpd_error_sleep_time", "time", "1s", title="Delay after errors", help=
        "Pause before each error reply once a client has made a few errors.")] = None
    smtpd_soft_error_limit: Annotated[Count, _p(
        "smtpd_soft_error_limit", "count", "10", title="Soft error limit", help=
        "Errors after which smtpd slows down its replies to a client.", unit="errors")] = None
    smtpd_hard_error_limit: Annotated[Count, _p(
        "smtpd_hard_error_limit", "count", "${stress?{1}:{20}}", title="Hard error limit", help=
        "Errors after which smtpd disconnects a client (1 under stress).", unit="errors",
        minimum=1)] = None
    smtpd_junk_command_limit: Annotated[Count, _p(
        "smtpd_junk_command_limit", "count", "${stress?{1}:{100}}", title="Junk command limit", help=
        "NOOP, VRFY, ETRN or RSET commands allowed before the error count grows.",
        unit="commands", minimum=1)] = None
    smtpd_per_request_deadline: Annotated[Optional[bool], _p(
        "smtpd_per_request_deadline", "bool",
        "${smtpd_per_record_deadline?{$smtpd_per_record_deadline}:{${stress?{yes}:{no}}}}",
        title="Deadline per request", help=
        "Yes makes smtpd_timeout limit each whole request, not each read: no trickling bytes.",
        since="3.7")] = None
    smtpd_min_data_rate: Annotated[Count, _p(
        "smtpd_min_data_rate", "count", "500", title="Minimum DATA rate", help=
        "With deadlines per request: each N bytes of DATA read extend the deadline by N/rate seconds.",
        unit="bytes per second", minimum=1, since="3.7")] = None


class Sasl(StrictModel):
    """SMTP AUTH through Dovecot SASL (RHEL 9 hardening guide, section 8.3)."""

    enabled: Annotated[bool | None, _p(
        "smtpd_sasl_auth_enable", "bool", "no", title="SMTP AUTH", help=
        "Offer SMTP AUTH so your users can log in to send mail.")] = None
    type: Annotated[Literal["dovecot"] | None, _p(
        "smtpd_sasl_type", "choice", "cyrus", title="SASL implementation", help=
        "The SASL implementation Postfix asks; the wizard sets up Dovecot.",
        choices=("dovecot",))] = None
    socket: Annotated[Literal["unix", "tcp"] | None, _p(
        "smtpd_sasl_path", "choice", "smtpd", title="Socket kind", help=
        "How Postfix reaches Dovecot: a UNIX socket in the queue directory, or TCP.",
        choices=("unix", "tcp"))] = None
    path: Annotated[Text, _p(
        "smtpd_sasl_path", "path", "smtpd", title="Socket path", help=
        "UNIX socket, relative to queue_directory so it works inside the chroot (private/auth).")] = None
    mode: Annotated[Text, _p(
        "unix_listener mode", "mode", "0600", title="Socket mode", help=
        "Permissions of Dovecot's socket; Postfix must be able to read and write it.",
        file="dovecot")] = None
    user: Annotated[Text, _p(
        "unix_listener user", "name", "", title="Socket owner", help=
        "Owner of Dovecot's socket; usually postfix.", file="dovecot")] = None
    group: Annotated[Text, _p(
        "unix_listener group", "name", "", title="Socket group", help=
        "Group of Dovecot's socket; usually postfix.", file="dovecot")] = None
    address: Annotated[Text, _p(
        "inet_listener address", "address", "", title="Dovecot address", help=
        "TCP: the address Dovecot listens on and Postfix connects to; keep it 127.0.0.1.",
        file="dovecot")] = None
    port: Annotated[Count, _p(
        "inet_listener port", "port", "", title="Dovecot port", help=
        "TCP: the port of Dovecot's auth listener.", minimum=1, maximum=65535, file="dovecot")] = None
    mechanisms: Annotated[list[str] | None, _p(
        "auth_mechanisms", "words", " ".join(DEFAULT_MECHANISMS), title="Mechanisms", help=
        "Login methods Dovecot offers; plain and login suit nearly every mail client.",
        file="dovecot", choices=MECHANISMS)] = None
    security_options: Annotated[list[str] | None, _p(
        "smtpd_sasl_security_options", "words", "noanonymous", title="Options before STARTTLS", help=
        "Mechanism filter before STARTTLS; noplaintext keeps passwords off unencrypted links.",
        choices=SECURITY_OPTIONS)] = None
    tls_security_options: Annotated[list[str] | None, _p(
        "smtpd_sasl_tls_security_options", "words", "$smtpd_sasl_security_options", title="Options after STARTTLS", help=
        "Mechanism filter after STARTTLS; noanonymous is usual.", choices=SECURITY_OPTIONS)] = None
    tls_auth_only: Annotated[bool | None, _p(
        "smtpd_tls_auth_only", "bool", "no", title="AUTH only after STARTTLS", help=
        "Offer AUTH only after STARTTLS, so passwords never cross the network in clear.")] = None

    def touches_socket(self) -> bool:
        """Whether this change sets up or moves the Dovecot socket (the plan then writes the
        listener)."""
        return self.enabled is True or any(getattr(self, f) is not None for f in SOCKET_FIELDS)


SOCKET_FIELDS = ("type", "socket", "path", "address", "port", "mode", "user", "group")


class Settings(StrictModel):
    limits: Limits = Field(default_factory=Limits)
    sasl: Sasl = Field(default_factory=Sasl)

    @field_validator("*")
    @classmethod
    def _check_param(cls, value: Any, info: Any) -> Any:
        return value


LIMIT_PARAMS: dict[str, Param] = {f: param_of(Limits, f) for f in Limits.model_fields}
SASL_PARAMS: dict[str, Param] = {f: param_of(Sasl, f) for f in Sasl.model_fields}
# Each section of the settings (a preset's table) and its fields; a key is "section.field".
PARAMS: dict[str, dict[str, Param]] = {"limits": LIMIT_PARAMS, "sasl": SASL_PARAMS}


def param_for(key: str) -> Param:
    section, field = key.split(".")
    return PARAMS[section][field]
# The hardening guide's values, used for any SASL field a change to Dovecot SASL leaves open.
GUIDE_SASL = {"socket": "unix", "path": "private/auth", "mode": "0660", "user": "postfix",
              "group": "postfix", "address": "127.0.0.1", "port": 12345}
