"""Which fields each step of the wizard shows. Layout only: every fact about a field comes
from the core's settings model."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Step:
    id: str
    title: str
    keys: tuple[str, ...] = ()
    advanced: tuple[str, ...] = ()
    advanced_title: str = "Advanced"

    @property
    def all_keys(self) -> tuple[str, ...]:
        return self.keys + self.advanced


def _limits(*names: str) -> tuple[str, ...]:
    return tuple(f"limits.{name}" for name in names)


STEPS = (
    Step("overview", "Overview"),
    Step("rates", "Connection limits",
         _limits("smtpd_client_connection_rate_limit", "smtpd_client_message_rate_limit",
                 "anvil_rate_time_unit", "smtpd_client_event_limit_exceptions"),
         _limits("smtpd_client_connection_count_limit", "smtpd_client_recipient_rate_limit",
                 "smtpd_client_new_tls_session_rate_limit", "smtpd_client_auth_rate_limit"),
         "Advanced: count, recipient, TLS session and AUTH rates"),
    Step("resources", "Resources, sizes",
         _limits("default_process_limit", "queue_minfree", "header_size_limit",
                 "message_size_limit", "mailbox_size_limit", "virtual_mailbox_limit"),
         _limits("smtpd_error_sleep_time", "smtpd_soft_error_limit", "smtpd_hard_error_limit",
                 "smtpd_junk_command_limit", "smtpd_per_request_deadline", "smtpd_min_data_rate"),
         "Advanced: errors and slow clients"),
    Step("sasl", "SMTP AUTH",
         ("sasl.enabled", "sasl.socket", "sasl.path", "sasl.mode", "sasl.user", "sasl.group",
          "sasl.address", "sasl.port", "sasl.mechanisms", "sasl.security_options",
          "sasl.tls_security_options", "sasl.tls_auth_only")),
    Step("review", "Review"),
    Step("apply", "Save and apply"),
)
STEP_IDS = [step.id for step in STEPS]
UNIX_ONLY = ("sasl.path", "sasl.mode", "sasl.user", "sasl.group")
TCP_ONLY = ("sasl.address", "sasl.port")
TRAFFIC_STEPS = ("rates", "resources")       # the steps whose limits the mail log speaks about


def step(step_id: str) -> Step:
    return STEPS[STEP_IDS.index(step_id)]
