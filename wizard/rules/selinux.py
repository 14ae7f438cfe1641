"""SELinux and Dovecot's auth listener over TCP: the port must carry a label Dovecot may bind.

RHEL 9 runs SELinux enforcing. Its policy (fedora-selinux/selinux-policy, branch c9s,
policy/modules/contrib/dovecot.te) lets Dovecot's master (dovecot_t, which opens every listener,
the auth one included) bind only ports labelled mail_port_t, pop_port_t, lmtp_port_t,
sieve_port_t or smtp_port_t. On any other port, such as the 12345 of the guide's example
(unreserved_port_t), the bind is denied: Dovecot's auth listener never opens, and smtpd, which
cannot reach it, dies with 'no SASL authentication mechanisms'. The fix is one semanage command,
which this rule gives before anything is written.

Postfix's side needs nothing: smtpd runs as postfix_smtpd_t, which postfix.te declares with
postfix_server_domain_template, and that template (postfix.if) grants
corenet_tcp_connect_all_ports, name_connect to every port type. Read in the c9s branch (commit
73a2d29) and in rawhide; not tried on a running RHEL 9, which was not reachable.

The server's SELinux is read once, with the server (Server.selinux); semanage runs only when
this rule first needs the port labels.
"""

from __future__ import annotations

from wizard.files.selinux import defined, port_types
from wizard.findings import Finding
from wizard.rules.context import Context

DOVECOT_MAY_BIND = ("mail_port_t", "pop_port_t", "lmtp_port_t", "sieve_port_t", "smtp_port_t")
FIX_TYPE = "mail_port_t"     # the generic one; the others name mail protocols


def dovecot_port_label(c: Context) -> list[Finding]:
    if not c.sasl_on or c.sasl.socket != "tcp" or c.sasl.port is None or c.dovecot_remote:
        return []
    if c.server.selinux.mode != "enforcing":
        return []
    port = c.sasl.port
    ports, problem = c.server.selinux.ports()
    if ports is None:
        return [Finding(
            "warning", "selinux-port-unchecked", ("sasl.port",),
            f"SELinux is enforcing, and Dovecot may bind only ports labelled "
            f"{', '.join(DOVECOT_MAY_BIND)}; the wizard could not check port {port} ({problem}). "
            "On any other port Dovecot's auth listener never opens and smtpd cannot "
            "authenticate anyone.",
            f"As root, run 'semanage port -l | grep -w {port}'; unless it shows one of those "
            f"types for tcp, run 'semanage port -a -t {FIX_TYPE} -p tcp {port}'.")]
    types = port_types(ports, port)
    if any(t in DOVECOT_MAY_BIND for t in types):
        return []
    owner = defined(ports, port)
    labelled = f"labelled {' and '.join(types)}" if types else "not labelled"
    if owner:
        fix = (f"As root, run 'semanage port -m -t {FIX_TYPE} -p tcp {port}' (the port is "
               f"defined as {owner}, so -a would refuse; that takes it from {owner}, so choose "
               "another port if a service of that type uses it).")
    else:
        fix = f"As root, run 'semanage port -a -t {FIX_TYPE} -p tcp {port}'."
    return [Finding(
        "error", "selinux-port-denied", ("sasl.port",),
        f"SELinux is enforcing and port {port}/tcp is {labelled}, which Dovecot (dovecot_t) may "
        f"not bind: it may bind only {', '.join(DOVECOT_MAY_BIND)}. Its auth listener would "
        "never open, and smtpd would die with 'no SASL authentication mechanisms'.",
        fix)]
