"""Run a private, real Postfix + Dovecot pair for tests.

Nothing under /etc/postfix, /etc/dovecot or any system service is touched:
every file lives in a private directory below /tmp, the daemons listen on
free 127.0.0.1 ports, and both master processes are children of the test
process (Postfix ``master -s`` in the foreground, ``dovecot -F``), so they
are always reaped and killed -- also when the test body raises.

Typical use::

    from tests.harness import MailPair, daemons_available

    ok, why = daemons_available()
    if not ok:
        pytest.skip(why)

    with MailPair(tmp_path, sasl="unix",
                  main_cf_extra={"smtpd_sasl_security_options": "noanonymous"}) as pair:
        with pair.smtp() as s:
            s.ehlo(); s.starttls(); s.ehlo()
            code, _ = pair.auth_plain(s, pair.user, pair.password)
        assert code == 235, pair.format_logs()

``MailPair(...)`` starts both daemons on ``__enter__`` (``autostart=True``)
and stops them on ``__exit__``.  The same object can be re-configured
(``set_main``/``set_master``/``write_dovecot_conf``) and restarted, so one
start-up can be shared by several independent checks; ``mark()`` +
``logs(since=...)`` slice the logs per check.

API summary:

    daemons_available() -> (bool, reason)     skip tests when False
    dovecot_generation() -> "2.3" | "2.4"     the installed Dovecot's configuration syntax;
                                              dovecot.conf and listeners are written in it
    MailPair(logdir, sasl="unix"|"tcp"|None, main_cf_extra={}, auth_mechanisms="plain login",
             dovecot_extra="", chroot=None, autostart=True, keep=False,
             configure_sasl=True, dovecot_base_dir=None)
      .root .postfix_dir .queue_dir .dovecot_dir .dovecot_conf .dovecot_base_dir .backup_dir
      .smtp_port .auth_port .auth_socket
      .user .password .local_rcpt .file_rcpt .virtual_rcpt .smtpd_service
      .start() .stop() .restart() .reload() .start_postfix() .stop_postfix()
      .start_dovecot() .stop_dovecot() .postfix_running() .dovecot_running()
      .set_main(name=value, ...) / set_main({...})   postconf -c DIR -e
      .get_main(name) .unset_main(*names) .set_master("smtpd/chroot", "n")
      .set_smtpd_option(name, value)                 master.cf -o on the smtpd service
      .write_dovecot_conf(auth_mechanisms=, extra=, listener=) .dovecot_listener(**opts)
      .postfix_command(*args) .postfix_check() .doveconf_check()   -> (rc, output)
      .smtp(source=) .smtp_tls(source=) .probe(timeout, send=[...], source=)
      .auth_plain(s, user, pw)       source: client address in 127/8 (own anvil counters)
      .send_test_mail(s=None, rcpt=None) .queue_ids()
      .logs(since=mark) .postfix_logs() .dovecot_logs() .fatal_lines() .mark()
      .wait_for_log(regex, timeout) .format_logs()      (also shows the last wizard runs)
      the wizard's real CLI (python -m wizard, subprocess, this pair's three dirs):
      .wizard(*args) .apply_preset(preset, reload=True, expect=0) .rollback(id, reload, expect)
      .write_preset(path, base="rhel9-guide"|None, limits={}, sasl={})  tcp -> .auth_port
      .sasl_preset(path, limits={}, kind=None)   rhel9-guide (unix) / sasl-tcp (tcp) derived
    attach_logs(request.node, pair, since) + `pytest_plugins`/register this module: the
    logs are added to a failing test's exception (see the end of this file).
    On exit (also on exceptions) both daemons are killed, logs and configs are
    copied to logdir (e.g. pytest's tmp_path), the private root is removed, and
    the formatted logs are attached to the exception as a PEP 678 note.

The private instance (``pair.root``):

    conf/       main.cf, master.cf (stock Debian copy), aliases, vmailbox, TLS cert
    q/          queue_directory (smtpd chroot; ``q/private/auth`` = Dovecot socket)
    data/       data_directory (owner postfix)
    mail/       mail_spool_directory and alias file deliveries (mode 1777)
    vmail/      virtual_mailbox_base (owner nobody)
    dc/         dovecot.conf, users (passwd-file)       (the wizard's --dovecot-dir)
    dcrun/ dcstate/  Dovecot base_dir (master.pid, sockets) and state_dir
    backups/    the wizard's --backup-dir
    postfix.log, dovecot.log, *.stderr
"""
from __future__ import annotations

import atexit
import os
import pwd
import grp
import re
import shutil
import signal
import smtplib
import socket
import subprocess
import sys
import tempfile
import time
import base64
from pathlib import Path

try:
    import wizard_process
except ImportError:                 # imported as tests.harness, without tests/ on sys.path
    from tests import wizard_process

POSTFIX = "/usr/sbin/postfix"
POSTCONF = "/usr/sbin/postconf"
POSTALIAS = "/usr/sbin/postalias"
POSTMAP = "/usr/sbin/postmap"
DOVECOT = "/usr/sbin/dovecot"
DOVEADM = "/usr/bin/doveadm"
DOVECONF = "/usr/bin/doveconf"
OPENSSL = "/usr/bin/openssl"
STOCK_MASTER_CF = "/etc/postfix/master.cf"
REPO_ROOT = Path(__file__).resolve().parent.parent
PRESETS_DIR = REPO_ROOT / "presets"
TMP_PREFIX = "mpair-"

DOMAIN = "test.example"
VDOMAIN = "virt.example"

FATAL_RE = re.compile(r"\b(fatal|panic|error)\b|Fatal:|Panic:|Error:", re.I)

_live: "set[MailPair]" = set()
_cache: dict = {}


# --------------------------------------------------------------------------
# availability, small helpers
# --------------------------------------------------------------------------

def _daemon_directory() -> str:
    if "daemon_directory" not in _cache:
        try:
            out = subprocess.run([POSTCONF, "-dh", "daemon_directory"],
                                 capture_output=True, text=True, timeout=10)
            _cache["daemon_directory"] = out.stdout.strip() or "/usr/lib/postfix/sbin"
        except Exception:
            _cache["daemon_directory"] = "/usr/lib/postfix/sbin"
    return _cache["daemon_directory"]


def dovecot_generation() -> str:
    """"2.4" when the installed Dovecot (`dovecot --version`) is 2.4 or newer, else "2.3"
    (also when it cannot be run).  Asked once per process.  2.4 changed the configuration
    syntax (dovecot_config_version first, named passdb/userdb with their own settings,
    inet_listener `listen` instead of `address`): write_dovecot_conf() and
    dovecot_listener() write the generation installed here."""
    from wizard.server.versions import installed_dovecot
    major, minor = map(int, (installed_dovecot() or "2.3").split(".")[:2])
    return "2.4" if (major, minor) >= (2, 4) else "2.3"


def daemons_available() -> "tuple[bool, str]":
    """(True, "") when a private Postfix + Dovecot pair can run here."""
    need = [POSTFIX, POSTCONF, POSTALIAS, POSTMAP, DOVECOT, DOVEADM, DOVECONF, OPENSSL,
            STOCK_MASTER_CF if os.path.exists(STOCK_MASTER_CF)
            else "/usr/share/postfix/master.cf.dist"]
    for p in need:
        if not os.path.exists(p):
            return False, f"{p} is not installed"
    master = os.path.join(_daemon_directory(), "master")
    if not os.access(master, os.X_OK):
        return False, f"{master} is not installed"
    if os.geteuid() != 0:
        return False, "the Postfix master and Dovecot must run as root (euid is %d)" % os.geteuid()
    for user in ("postfix", "nobody", "dovecot", "dovenull"):
        try:
            pwd.getpwnam(user)
        except KeyError:
            return False, f"system user {user!r} is missing (packages not installed?)"
    try:
        grp.getgrnam("postdrop")
    except KeyError:
        return False, "system group 'postdrop' is missing"
    return True, ""


def daemon_marks() -> list:
    """pytestmark for a module of real-daemon tests: marked `daemons`, skipped (saying why)
    only where a private pair cannot run."""
    import pytest
    ok, why = daemons_available()
    return [pytest.mark.daemons, pytest.mark.skipif(not ok, reason=why or "daemons not available")]


def free_port() -> int:
    """A currently unused TCP port on 127.0.0.1."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _wait(pred, timeout: float, step: float = 0.02) -> bool:
    end = time.monotonic() + timeout
    while True:
        if pred():
            return True
        if time.monotonic() > end:
            return False
        time.sleep(step)


def _port_open(port: int) -> bool:
    """True when something LISTENs on 127.0.0.1:port or 0.0.0.0:port (read from
    /proc/net/tcp, so that no connection is made: a probe connection would show
    up in the logs and count against anvil rate limits)."""
    try:
        with open("/proc/net/tcp") as f:
            next(f)
            for ln in f:
                parts = ln.split()
                addr, port_hex = parts[1].split(":")
                if parts[3] == "0A" and int(port_hex, 16) == port and addr in ("0100007F", "00000000"):
                    return True
        return False
    except (OSError, StopIteration):
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.2):
                return True
        except OSError:
            return False


def _proc_start_time(pid: int) -> "str | None":
    try:
        with open(f"/proc/{pid}/stat") as f:
            return f.read().rsplit(")", 1)[1].split()[19]
    except OSError:
        return None


def _pid_alive(pid: int) -> bool:
    """True when pid exists and is not a zombie."""
    try:
        with open(f"/proc/{pid}/stat") as f:
            return f.read().rsplit(")", 1)[1].split()[0] != "Z"
    except OSError:
        return False


def _record_proc(path: Path, pid: int) -> None:
    path.write_text(f"{pid} {_proc_start_time(pid)}\n")


def _kill_recorded(path: Path) -> None:
    """Kill the process group recorded in path, if it is still the same process."""
    try:
        pid_s, start = path.read_text().split()
        pid = int(pid_s)
    except (OSError, ValueError):
        return
    if _proc_start_time(pid) != start:
        return
    for sig in (signal.SIGTERM, signal.SIGKILL):
        try:
            os.killpg(pid, sig)
        except (ProcessLookupError, PermissionError):
            pass
        if _wait(lambda: not _pid_alive(pid), 2.0):
            break


def cleanup_stale(tmp: str = None) -> None:
    """Stop daemons left behind by crashed test runs (owner process gone)."""
    tmp = tmp or tempfile.gettempdir()
    try:
        entries = os.listdir(tmp)
    except OSError:
        return
    for name in entries:
        if not name.startswith(TMP_PREFIX):
            continue
        d = Path(tmp, name)
        try:
            owner = int((d / "owner.pid").read_text().split()[0])
        except (OSError, ValueError, IndexError):
            continue
        if owner != os.getpid() and _pid_alive(owner):
            continue
        _kill_recorded(d / "postfix-master.proc")
        _kill_recorded(d / "dovecot-master.proc")
        shutil.rmtree(d, ignore_errors=True)


def _sh(args, **kw) -> subprocess.CompletedProcess:
    kw.setdefault("capture_output", True)
    kw.setdefault("text", True)
    kw.setdefault("timeout", 30)
    return subprocess.run(args, **kw)


def _tls_material() -> "tuple[str, str]":
    """A self-signed key + cert (PEM text), made once per process."""
    if "tls" not in _cache:
        with tempfile.TemporaryDirectory() as d:
            key, crt = os.path.join(d, "k.pem"), os.path.join(d, "c.pem")
            r = _sh([OPENSSL, "req", "-x509", "-newkey", "ec", "-pkeyopt",
                     "ec_paramgen_curve:prime256v1", "-nodes", "-days", "3",
                     "-subj", f"/CN=mail.{DOMAIN}", "-keyout", key, "-out", crt])
            if r.returncode:
                raise RuntimeError("openssl failed: " + r.stderr)
            _cache["tls"] = (Path(key).read_text(), Path(crt).read_text())
    return _cache["tls"]


def password_hash(password: str) -> str:
    key = ("pw", password)
    if key not in _cache:
        r = _sh([DOVEADM, "pw", "-s", "SHA512-CRYPT", "-p", password])
        if r.returncode:
            raise RuntimeError("doveadm pw failed: " + r.stderr)
        _cache[key] = r.stdout.strip()
    return _cache[key]


def _atexit():
    for p in list(_live):
        try:
            p.stop()
        except Exception:
            pass


atexit.register(_atexit)


# --------------------------------------------------------------------------
# the pair
# --------------------------------------------------------------------------

class DaemonStartError(RuntimeError):
    pass


class MailPair:
    """A private Postfix instance plus (optionally) a private Dovecot auth server.

    sasl: "unix"  -- Dovecot auth unix_listener at <queue>/private/auth,
                     smtpd_sasl_path = private/auth
          "tcp"   -- Dovecot auth inet_listener on 127.0.0.1:<auth_port>,
                     smtpd_sasl_path = inet:127.0.0.1:<auth_port>
          None    -- no SASL, no Dovecot.
    main_cf_extra: {name: value} written into main.cf after the base config.
    auth_mechanisms: Dovecot auth_mechanisms.
    dovecot_extra: text appended to dovecot.conf.
    chroot: None keeps the stock master.cf chroot column of the smtpd service
            (Debian: y); True/False forces y/n.
    autostart: start both daemons on __enter__.
    configure_sasl: False starts with NO SASL (no smtpd_sasl_* in main.cf, an empty
            `service auth {}` in dovecot.conf) for the wizard to set up; `sasl` then only
            names the kind expected (start_dovecot() waits for that listener once
            dovecot.conf has it; auth_port is reserved for "tcp").
    dovecot_base_dir: Dovecot's base_dir (default <root>/dcrun, outside dovecot_dir as on a
            real server); a str may contain "{root}".
    """

    user = "alice"
    password = "S3cret-pw"
    local_rcpt = f"devnull@{DOMAIN}"        # aliased to /dev/null
    file_rcpt = f"testuser@{DOMAIN}"        # aliased to a file in mail/
    virtual_rcpt = f"vuser@{VDOMAIN}"       # virtual(8) mailbox

    def __init__(self, logdir=None, sasl: "str | None" = "unix", main_cf_extra: dict = None,
                 auth_mechanisms: str = "plain login", dovecot_extra: str = "",
                 chroot: "bool | None" = None, autostart: bool = True, keep: bool = None,
                 configure_sasl: bool = True, dovecot_base_dir: "str | Path" = None):
        if sasl not in ("unix", "tcp", None):
            raise ValueError("sasl must be 'unix', 'tcp' or None")
        cleanup_stale()
        self.logdir = Path(logdir) if logdir else None
        self.sasl = sasl
        # False: start with NO SASL at all (main.cf without smtpd_sasl_*, Dovecot with an
        # empty `service auth {}`), so that the wizard's apply is what sets SASL up.
        # `sasl` then only says which kind the test expects (auth_port is reserved for tcp).
        self.configure_sasl = configure_sasl
        self.wizard_runs: "list[tuple[list[str], int, str, str]]" = []
        self.autostart = autostart
        self.keep = bool(os.environ.get("MAILPAIR_KEEP")) if keep is None else keep
        # short private root (unix socket paths are limited to 107 bytes; pytest's
        # tmp_path is also mode 0700, which the dovecot/postfix users cannot traverse)
        self.root = Path(tempfile.mkdtemp(prefix=TMP_PREFIX, dir="/tmp"))
        os.chmod(self.root, 0o755)
        (self.root / "owner.pid").write_text(f"{os.getpid()}\n")
        self.postfix_dir = self.root / "conf"
        self.queue_dir = self.root / "q"
        self.data_dir = self.root / "data"
        self.mail_dir = self.root / "mail"
        self.vmail_dir = self.root / "vmail"
        self.dovecot_dir = self.root / "dc"
        self.dovecot_conf = self.dovecot_dir / "dovecot.conf"
        # base_dir and state_dir live outside the configuration directory, as on a real
        # server (/run/dovecot, /var/lib/dovecot): the wizard copies dovecot_dir to stage.
        self.dovecot_base_dir = Path(dovecot_base_dir.format(root=self.root)) \
            if isinstance(dovecot_base_dir, str) else dovecot_base_dir or self.root / "dcrun"
        self.dovecot_state_dir = self.root / "dcstate"
        self.backup_dir = self.root / "backups"
        self.postfix_log = self.root / "postfix.log"
        self.dovecot_log = self.root / "dovecot.log"
        self.smtp_port = free_port()
        self.auth_port = free_port() if sasl == "tcp" else None
        self.auth_socket = self.queue_dir / "private" / "auth"
        self._master: "subprocess.Popen | None" = None
        self._dovecot: "subprocess.Popen | None" = None
        self._stopped = False
        self._build_postfix(main_cf_extra or {}, chroot)
        self._dovecot_args = dict(auth_mechanisms=auth_mechanisms, extra=dovecot_extra)
        self._build_dovecot()
        _live.add(self)

    # -- building -----------------------------------------------------------

    def _mkdir(self, path: Path, mode: int, user="root", group="root") -> Path:
        path.mkdir(parents=True, exist_ok=True)
        os.chown(path, pwd.getpwnam(user).pw_uid, grp.getgrnam(group).gr_gid)
        os.chmod(path, mode)
        return path

    def _build_postfix(self, extra: dict, chroot) -> None:
        conf = self._mkdir(self.postfix_dir, 0o755)
        self._mkdir(self.queue_dir, 0o755)
        for d in ("active", "bounce", "corrupt", "defer", "deferred", "flush", "hold",
                  "incoming", "private", "saved", "trace"):
            self._mkdir(self.queue_dir / d, 0o700, "postfix", "root")
        self._mkdir(self.queue_dir / "maildrop", 0o730, "postfix", "postdrop")
        self._mkdir(self.queue_dir / "public", 0o710, "postfix", "postdrop")
        self._mkdir(self.queue_dir / "pid", 0o755)
        self._mkdir(self.data_dir, 0o700, "postfix", "postfix")
        self._mkdir(self.mail_dir, 0o1777)
        self._mkdir(self.vmail_dir, 0o755, "nobody", "nogroup")

        src = STOCK_MASTER_CF if os.path.exists(STOCK_MASTER_CF) else "/usr/share/postfix/master.cf.dist"
        master = Path(src).read_text()
        master, n = re.subn(r"(?m)^smtp(\s+)inet", f"127.0.0.1:{self.smtp_port}\\1inet", master, count=1)
        if n != 1:
            raise RuntimeError("no 'smtp inet' service in " + src)
        (conf / "master.cf").write_text(master)
        for f in ("dynamicmaps.cf",):
            for base in ("/etc/postfix", "/usr/share/postfix"):
                if os.path.exists(os.path.join(base, f)):
                    shutil.copy(os.path.join(base, f), conf / f)
                    break

        key, crt = _tls_material()
        (conf / "key.pem").write_text(key)
        os.chmod(conf / "key.pem", 0o600)
        (conf / "cert.pem").write_text(crt)

        (conf / "aliases").write_text(
            "postmaster: root\nMAILER-DAEMON: postmaster\n"
            f"root: {self.mail_dir}/root\n"
            "devnull: /dev/null\n"
            f"testuser: {self.mail_dir}/testuser\n")
        (conf / "vmailbox").write_text(f"{self.virtual_rcpt} vuser\n")

        nobody = pwd.getpwnam("nobody")
        base = self._base_main_cf(nobody)
        params = {}
        if os.path.exists("/usr/share/postfix/main.cf.debian"):
            for ln in Path("/usr/share/postfix/main.cf.debian").read_text().splitlines():
                m = re.match(r"^([a-z0-9_]+)\s*=\s*(.*?)\s*$", ln)
                if m:
                    params[m.group(1)] = m.group(2)
        params.setdefault("compatibility_level", "3.6")
        params.update(base)
        # postalias/postmap would try to log through postlogd (not running yet)
        # and stall ~1.5 s: build the tables before maillog_file is set.
        logp = {k: params.pop(k) for k in ("maillog_file", "maillog_file_prefixes")}
        lines = ["# private test instance (tests/harness.py), based on main.cf.debian"]
        lines += [f"{k} = {v}" for k, v in params.items()]
        (conf / "main.cf").write_text("\n".join(lines) + "\n")
        self._age_config()
        for cmd in ([POSTALIAS, "-c", str(conf), f"hash:{conf}/aliases"],
                    [POSTMAP, "-c", str(conf), f"hash:{conf}/vmailbox"]):
            r = _sh(cmd)
            if r.returncode:
                raise RuntimeError(f"{cmd[0]} failed: {r.stderr}")
        with open(conf / "main.cf", "a") as f:
            f.write("".join(f"{k} = {v}\n" for k, v in logp.items()))
        self._age_config()
        # main_cf_extra via postconf -e, exactly as an admin would
        if extra:
            self.set_main(**extra)
        if chroot is not None:
            self.set_master(f"127.0.0.1:{self.smtp_port}/inet/chroot", "y" if chroot else "n")

    def _base_main_cf(self, nobody) -> dict:
        conf = self.postfix_dir
        base = {
            "queue_directory": str(self.queue_dir),
            "data_directory": str(self.data_dir),
            "inet_interfaces": "loopback-only",
            "inet_protocols": "ipv4",
            "maillog_file": str(self.postfix_log),
            "maillog_file_prefixes": str(self.root),
            "myhostname": f"mail.{DOMAIN}",
            "mydomain": DOMAIN,
            "myorigin": "$mydomain",
            "mydestination": f"$myhostname, localhost, {DOMAIN}",
            "mynetworks": "127.0.0.0/8",
            "alias_maps": f"hash:{conf}/aliases",
            "alias_database": f"hash:{conf}/aliases",
            "mail_spool_directory": str(self.mail_dir),
            "virtual_mailbox_domains": VDOMAIN,
            "virtual_mailbox_maps": f"hash:{conf}/vmailbox",
            "virtual_mailbox_base": str(self.vmail_dir),
            "virtual_uid_maps": f"static:{nobody.pw_uid}",
            "virtual_gid_maps": f"static:{nobody.pw_gid}",
            "default_transport": "error:5.3.0 no remote delivery from this test instance",
            "relay_transport": "error:5.3.0 no remote delivery from this test instance",
            "smtpd_tls_cert_file": f"{conf}/cert.pem",
            "smtpd_tls_key_file": f"{conf}/key.pem",
            "smtpd_tls_security_level": "may",
            "smtp_tls_security_level": "none",
            "delay_warning_time": "0",
            "smtpd_banner": "$myhostname ESMTP",
        }
        if self.sasl and self.configure_sasl:
            base.update({
                "smtpd_sasl_auth_enable": "yes",
                "smtpd_sasl_type": "dovecot",
                "smtpd_sasl_path": ("private/auth" if self.sasl == "unix"
                                    else f"inet:127.0.0.1:{self.auth_port}"),
            })
        return base

    def dovecot_listener(self, kind: str = None, **opts) -> str:
        """The `service auth { ... }` listener block for kind 'unix' or 'tcp'."""
        kind = kind or self.sasl
        if kind == "unix":
            o = {"mode": "0660", "user": "postfix", "group": "postfix"}
            o.update(opts)
            body = "".join(f"    {k} = {v}\n" for k, v in o.items())
            return f"  unix_listener {self.auth_socket} {{\n{body}  }}\n"
        if dovecot_generation() == "2.4":
            # 2.4: `address` is gone ("Unknown setting: address"), `listen` replaces it
            if "address" in opts:
                opts["listen"] = opts.pop("address")
            o = {"listen": "127.0.0.1", "port": str(self.auth_port)}
        else:
            o = {"address": "127.0.0.1", "port": str(self.auth_port)}
        o.update(opts)
        body = "".join(f"    {k} = {v}\n" for k, v in o.items())
        return f"  inet_listener sasl {{\n{body}  }}\n"

    def write_dovecot_conf(self, auth_mechanisms: str = None, extra: str = None,
                           listener: str = None) -> None:
        """(Re)write dovecot.conf; listener=None builds the default for self.sasl."""
        if auth_mechanisms is not None:
            self._dovecot_args["auth_mechanisms"] = auth_mechanisms
        if extra is not None:
            self._dovecot_args["extra"] = extra
        if listener is None:
            listener = self.dovecot_listener() if self.sasl and self.configure_sasl else ""
        d = self.dovecot_dir
        common = f"""protocols =
base_dir = {self.dovecot_base_dir}
state_dir = {self.dovecot_state_dir}
log_path = {self.dovecot_log}
ssl = no
auth_mechanisms = {self._dovecot_args['auth_mechanisms']}
"""
        if dovecot_generation() == "2.4":
            # Dovecot 2.4 (checked with doveconf 2.4.1): the version settings must come
            # first; passdb/userdb are named and take settings instead of `args`; the
            # static userdb's fields go into a `fields {}` block.
            head = ("dovecot_config_version = 2.4.0\ndovecot_storage_version = 2.4.0\n"
                    "# private test Dovecot (tests/harness.py, Dovecot 2.4 syntax)\n")
            databases = f"""passdb passwd-file {{
  driver = passwd-file
  default_password_scheme = SHA512-CRYPT
  passwd_file_path = {d}/users
}}
userdb static {{
  driver = static
  fields {{
    uid = nobody
    gid = nogroup
    home = /nonexistent
  }}
}}
"""
        else:
            head = "# private test Dovecot (tests/harness.py)\n"
            databases = f"""passdb {{
  driver = passwd-file
  args = scheme=SHA512-CRYPT {d}/users
}}
userdb {{
  driver = static
  args = uid=nobody gid=nogroup home=/nonexistent
}}
"""
        text = f"""{head}{common}{databases}service auth {{
{listener}}}
{self._dovecot_args['extra']}
"""
        self.dovecot_conf.write_text(text)

    def _build_dovecot(self) -> None:
        self._mkdir(self.dovecot_dir, 0o755)
        (self.dovecot_dir / "users").write_text(
            f"{self.user}:{password_hash(self.password)}:::::\n")
        os.chmod(self.dovecot_dir / "users", 0o644)
        self.write_dovecot_conf()

    # -- configuration --------------------------------------------------------

    def _age_config(self) -> None:
        """Postfix programs that read a main.cf/master.cf modified within the
        current second sleep until it is older (dict_load_file: up to ~2 s per
        program).  Back-date the files so every start stays fast."""
        t = time.time() - 3
        for f in ("main.cf", "master.cf"):
            try:
                os.utime(self.postfix_dir / f, (t, t))
            except OSError:
                pass

    def postconf(self, *args: str, check=True) -> subprocess.CompletedProcess:
        r = _sh([POSTCONF, "-c", str(self.postfix_dir), *args])
        if any(a in ("-e", "-X", "-#", "-F", "-P") or a.startswith(("-e", "-X", "-F", "-P"))
               for a in args):
            self._age_config()
        if check and r.returncode:
            raise RuntimeError(f"postconf {' '.join(args)} failed: {r.stderr}")
        return r

    def set_main(self, _params: dict = None, **params) -> None:
        """postconf -c DIR -e name=value ... (no validation, like an admin)."""
        allp = dict(_params or {})
        allp.update(params)
        if allp:
            self.postconf("-e", *[f"{k}={v}" for k, v in allp.items()])

    def unset_main(self, *names: str) -> None:
        self.postconf("-X", *names)

    def get_main(self, name: str) -> str:
        return self.postconf("-h", name).stdout.rstrip("\n")

    def set_master(self, field: str, value: str) -> None:
        """postconf -F service/type/field=value, e.g. set_master('smtp/inet/chroot','n').
        The name 'smtpd' means this instance's smtpd service."""
        if field.startswith("smtpd/"):
            field = f"127.0.0.1:{self.smtp_port}/inet/" + field.split("/", 1)[1]
        self.postconf("-F", f"{field}={value}")

    def set_smtpd_option(self, name: str, value: str) -> None:
        """master.cf '-o name=value' on this instance's smtpd service."""
        self.postconf("-P", f"127.0.0.1:{self.smtp_port}/inet/{name}={value}")

    @property
    def smtpd_service(self) -> str:
        return f"127.0.0.1:{self.smtp_port}"

    # -- running --------------------------------------------------------------

    def start(self, postfix: bool = True, dovecot: bool = None, check: bool = True) -> None:
        """Start Dovecot (when sasl is set) and then Postfix.
        check=True raises DaemonStartError (with logs) when a daemon does not come up."""
        if dovecot is None:
            dovecot = bool(self.sasl)
        if dovecot:
            self.start_dovecot(check=check)
        if postfix:
            self.start_postfix(check=check)

    def start_postfix(self, check: bool = True, timeout: float = 10) -> bool:
        if self.postfix_running():
            return True
        self._stopped = False
        master = os.path.join(_daemon_directory(), "master")
        out = open(self.root / "master.stderr", "ab")
        env = dict(os.environ, MAIL_CONFIG=str(self.postfix_dir))
        self._master = subprocess.Popen([master, "-c", str(self.postfix_dir), "-s"],
                                        stdin=subprocess.DEVNULL, stdout=out, stderr=out,
                                        env=env, cwd="/")
        out.close()
        _record_proc(self.root / "postfix-master.proc", self._master.pid)
        up = _wait(lambda: self._master.poll() is not None or _port_open(self.smtp_port), timeout)
        ok = up and self._master.poll() is None
        if not ok and self._master.poll() is not None:
            # master logs its own start-up fatal only to syslog (postlogd is not
            # up yet).  `postfix status` runs `master -t`, which re-reads main.cf
            # and, in the postfix(1) environment, logs the fatal to maillog_file.
            self.postfix_command("status", timeout=20)
        if not ok and check:
            raise DaemonStartError("Postfix master did not start\n" + self.format_logs())
        return ok

    def start_dovecot(self, check: bool = True, timeout: float = 10) -> bool:
        if self.dovecot_running():
            return True
        self._stopped = False
        out = open(self.root / "dovecot.stderr", "ab")
        self._dovecot = subprocess.Popen([DOVECOT, "-F", "-c", str(self.dovecot_conf)],
                                         stdin=subprocess.DEVNULL, stdout=out, stderr=out,
                                         start_new_session=True, cwd="/")
        out.close()
        _record_proc(self.root / "dovecot-master.proc", self._dovecot.pid)

        expect = self._configured_listener()

        def ready():
            if self._dovecot.poll() is not None:
                return True
            if expect == "unix":
                return self.auth_socket.exists()
            if expect == "tcp":
                return _port_open(self.auth_port)
            return (self.dovecot_base_dir / "master.pid").exists()
        up = _wait(ready, timeout)
        ok = up and self._dovecot.poll() is None
        if not ok and check:
            raise DaemonStartError("Dovecot did not start\n" + self.format_logs())
        return ok

    def _configured_listener(self) -> "str | None":
        """'unix'/'tcp' when dovecot.conf (as written now) has the listener start_dovecot()
        should wait for, else None (then it waits for master.pid only)."""
        if not self.sasl:
            return None
        if self.configure_sasl:
            return self.sasl
        text = _sh([DOVECONF, "-c", str(self.dovecot_conf), "-n"]).stdout
        if str(self.auth_socket) in text:
            return "unix"
        if self.auth_port and re.search(rf"(?m)^\s*port = {self.auth_port}\s*$", text):
            return "tcp"
        return None

    def postfix_running(self) -> bool:
        return self._master is not None and self._master.poll() is None

    def dovecot_running(self) -> bool:
        return self._dovecot is not None and self._dovecot.poll() is None

    @staticmethod
    def _stop_proc(p: "subprocess.Popen | None", pgid: int = None, grace: float = 5) -> None:
        if p is None:
            return
        pgid = pgid or p.pid
        if p.poll() is None:
            try:
                p.send_signal(signal.SIGTERM)
                p.wait(grace)
            except subprocess.TimeoutExpired:
                pass
        # children (smtpd, auth, ...) share the master's process group
        try:
            os.killpg(pgid, signal.SIGKILL)
        except (ProcessLookupError, PermissionError):
            pass
        try:
            p.wait(5)
        except subprocess.TimeoutExpired:
            pass

    def stop_postfix(self) -> None:
        self._stop_proc(self._master)
        self._master = None
        # a master started by `postfix start` (postfix_command) runs detached
        pidf = self.queue_dir / "pid" / "master.pid"
        try:
            pid = int(pidf.read_text().split()[0])
            if _pid_alive(pid) and f"{self.postfix_dir}" in Path(f"/proc/{pid}/environ").read_text(errors="replace"):
                os.killpg(pid, signal.SIGTERM)
                if not _wait(lambda: not _pid_alive(pid), 5):
                    os.killpg(pid, signal.SIGKILL)
        except (OSError, ValueError, IndexError):
            pass

    def stop_dovecot(self, grace: float = 5) -> None:
        """SIGTERM (Dovecot then removes its sockets; takes ~1 s), SIGKILL after grace."""
        self._stop_proc(self._dovecot, grace=grace)
        self._dovecot = None

    def stop(self, grace: float = 5) -> None:
        """Stop both daemons (idempotent)."""
        try:
            self.stop_postfix()
        finally:
            self.stop_dovecot(grace)

    def restart(self) -> None:
        self.stop()
        self.start()

    def restart_postfix(self, check: bool = True) -> bool:
        self.stop_postfix()
        return self.start_postfix(check=check)

    def reload(self) -> None:
        """`postfix reload` / `doveadm reload` equivalent (SIGHUP to both masters)."""
        for p in (self._master, self._dovecot):
            if p is not None and p.poll() is None:
                p.send_signal(signal.SIGHUP)
        time.sleep(0.3)

    def cleanup(self) -> None:
        self.stop(grace=0.2)
        _live.discard(self)
        if self.logdir:
            try:
                self.logdir.mkdir(parents=True, exist_ok=True)
                for f in ("postfix.log", "dovecot.log", "master.stderr", "dovecot.stderr"):
                    if (self.root / f).exists():
                        shutil.copy(self.root / f, self.logdir / f)
                for f in ("main.cf", "master.cf"):
                    shutil.copy(self.postfix_dir / f, self.logdir / f)
                shutil.copy(self.dovecot_conf, self.logdir / "dovecot.conf")
            except OSError:
                pass
        if not self.keep:
            shutil.rmtree(self.root, ignore_errors=True)

    def __enter__(self) -> "MailPair":
        try:
            if self.autostart:
                self.start()
        except BaseException:
            self.cleanup()
            raise
        return self

    def __exit__(self, et, ev, tb) -> bool:
        if ev is not None and isinstance(ev, BaseException) and not isinstance(ev, KeyboardInterrupt):
            try:
                ev.add_note(self.format_logs())
            except Exception:
                pass
        self.cleanup()
        return False

    # -- external commands -----------------------------------------------------

    def postfix_command(self, *args: str, timeout: float = 60) -> "tuple[int, str]":
        """Run `postfix -c DIR <args>` on a pseudo-tty (Postfix prints its early
        fatal errors only to a tty or syslog).  Returns (exit status, output)."""
        if not shutil.which("script"):
            r = _sh([POSTFIX, "-c", str(self.postfix_dir), *args], timeout=timeout)
            return r.returncode, r.stdout + r.stderr
        cmd = " ".join([POSTFIX, "-c", str(self.postfix_dir), *args])
        r = _sh(["script", "-qec", cmd, "/dev/null"], timeout=timeout)
        return r.returncode, r.stdout.replace("\r\n", "\n") + r.stderr

    def postfix_check(self) -> "tuple[int, str]":
        return self.postfix_command("check")

    def doveconf_check(self) -> "tuple[int, str]":
        r = _sh([DOVECONF, "-c", str(self.dovecot_conf), "-n"])
        return r.returncode, r.stdout + r.stderr

    # -- logs -----------------------------------------------------------------

    def _read(self, path: Path, since: int = 0) -> str:
        try:
            with open(path, "rb") as f:
                f.seek(since)
                return f.read().decode("utf-8", "replace")
        except OSError:
            return ""

    def mark(self) -> dict:
        """Current log offsets, for logs(since=...)."""
        m = {}
        for p in (self.postfix_log, self.dovecot_log, self.root / "master.stderr",
                  self.root / "dovecot.stderr"):
            try:
                m[p.name] = p.stat().st_size
            except OSError:
                m[p.name] = 0
        return m

    def postfix_logs(self, since: dict = None) -> str:
        return self._read(self.postfix_log, (since or {}).get(self.postfix_log.name, 0)) + \
            self._read(self.root / "master.stderr", (since or {}).get("master.stderr", 0))

    def dovecot_logs(self, since: dict = None) -> str:
        return self._read(self.dovecot_log, (since or {}).get(self.dovecot_log.name, 0)) + \
            self._read(self.root / "dovecot.stderr", (since or {}).get("dovecot.stderr", 0))

    def logs(self, since: dict = None) -> str:
        """Text of both daemon logs (optionally only what was written after mark())."""
        return self.postfix_logs(since) + self.dovecot_logs(since)

    def fatal_lines(self, since: dict = None) -> "list[str]":
        """Log lines with fatal / panic / error (both daemons)."""
        return [ln for ln in self.logs(since).splitlines() if FATAL_RE.search(ln)]

    def wait_for_log(self, pattern: str, timeout: float = 5, since: dict = None) -> "str | None":
        """Wait until a log line matches the regex; return that line (or None)."""
        rx = re.compile(pattern)
        found = []

        def look():
            for ln in self.logs(since).splitlines():
                if rx.search(ln):
                    found.append(ln)
                    return True
            return False
        _wait(look, timeout, 0.05)
        return found[0] if found else None

    def format_logs(self, since: dict = None, tail: int = 80) -> str:
        """Both logs, ready to attach to an assertion message."""
        def last(t):
            lines = t.splitlines()
            if len(lines) > tail:
                lines = [f"... ({len(lines) - tail} earlier lines)"] + lines[-tail:]
            return "\n".join(lines)
        runs = ""
        for args, rc, out, err in self.wizard_runs[-4:]:
            runs += (f"----- wizard {' '.join(args[:3])} ... -> exit {rc} -----\n"
                     f"{last(out + err)}\n")
        return (f"\n===== private pair {self.root} (smtp 127.0.0.1:{self.smtp_port}"
                f", auth {self.sasl}:{self.auth_port or self.auth_socket}) =====\n"
                f"----- postfix log -----\n{last(self.postfix_logs(since))}\n"
                f"----- dovecot log -----\n{last(self.dovecot_logs(since))}\n" + runs)

    # -- the wizard's real command line -----------------------------------------

    def wizard(self, *args: str, timeout: float = 120) -> subprocess.CompletedProcess:
        """Run `python -m wizard ARGS --postfix-dir .. --dovecot-dir .. --backup-dir ..`
        (the real CLI, in a subprocess, from the repository root) on this pair.
        The run is recorded and shown by format_logs()."""
        argv = [*args, "--postfix-dir", str(self.postfix_dir), "--dovecot-dir",
                str(self.dovecot_dir), "--backup-dir", str(self.backup_dir)]
        env = dict(os.environ, NO_COLOR="1",
                   PATH=os.environ.get("PATH", "") + ":/usr/sbin:/usr/bin:/sbin:/bin")
        r = _sh([*wizard_process.python(), "-m", "wizard", *argv],
                cwd=str(REPO_ROOT), env=env, timeout=timeout, stdin=subprocess.DEVNULL)
        self.wizard_runs.append((argv, r.returncode, r.stdout, r.stderr))
        # the wizard rewrote main.cf just now; see _age_config()
        self._age_config()
        return r

    def apply_preset(self, preset, reload: bool = True, expect: "int | None" = 0
                     ) -> subprocess.CompletedProcess:
        """`wizard apply --preset PRESET --yes [--no-reload]`; asserts the exit status
        (unless expect=None) with the wizard's output and the daemon logs."""
        args = ["apply", "--preset", str(preset), "--yes"] + ([] if reload else ["--no-reload"])
        r = self.wizard(*args)
        if expect is not None and r.returncode != expect:
            raise AssertionError(f"wizard apply --preset {preset}: exit {r.returncode}, "
                                 f"expected {expect}\n{r.stdout}{r.stderr}")
        return r

    def rollback(self, set_id: str = None, reload: bool = True, expect: "int | None" = 0
                 ) -> subprocess.CompletedProcess:
        """`wizard rollback [ID] --yes [--no-reload]`."""
        args = ["rollback"] + ([set_id] if set_id else []) + ["--yes"] + \
            ([] if reload else ["--no-reload"])
        r = self.wizard(*args)
        if expect is not None and r.returncode != expect:
            raise AssertionError(f"wizard rollback: exit {r.returncode}, expected {expect}\n"
                                 f"{r.stdout}{r.stderr}")
        return r

    def write_preset(self, path, base: "str | None" = None, limits: dict = None,
                     sasl: dict = None, name: str = None) -> Path:
        """Write a preset file derived from a shipped one (tomlkit, comments kept).

        base: a shipped preset's name (or a path) or None for an empty one; limits/sasl:
        keys to set in [limits]/[sasl] (value None deletes the key).  When the result uses
        a TCP socket, `port` becomes this pair's private auth_port (reserved on demand)."""
        import tomlkit
        if base is None:
            doc = tomlkit.document()
            doc["preset"] = {"format": 1}
        else:
            src = Path(base) if ("/" in str(base) or str(base).endswith(".toml")) \
                else PRESETS_DIR / f"{base}.toml"
            doc = tomlkit.parse(src.read_text())
        doc["preset"]["name"] = name or Path(str(path)).stem
        for table, values in (("limits", limits), ("sasl", sasl)):
            if not values:
                continue
            if table not in doc:
                doc[table] = tomlkit.table()
            for k, v in values.items():
                if v is None:
                    doc[table].pop(k, None)
                else:
                    doc[table][k] = v
        if "sasl" in doc and doc["sasl"].get("socket") == "tcp":
            if self.auth_port is None:
                self.auth_port = free_port()
            doc["sasl"]["port"] = self.auth_port
        path = Path(path)
        path.write_text(tomlkit.dumps(doc))
        return path

    def sasl_preset(self, path, limits: dict = None, sasl: dict = None,
                    kind: str = None, name: str = None) -> Path:
        """A preset that sets up SASL over this pair's socket kind: derived from the shipped
        rhel9-guide (unix) or sasl-tcp (tcp, with this pair's free port), plus `limits`."""
        kind = kind or self.sasl
        base = {"unix": "rhel9-guide", "tcp": "sasl-tcp"}[kind]
        return self.write_preset(path, base, limits=limits, sasl=sasl, name=name)

    # -- clients --------------------------------------------------------------

    def probe(self, timeout: float = 3.0, send: "list[str]" = (),
              source: str = None) -> "str | None":
        """Connect to smtpd and read the greeting without smtplib.
        Returns the banner text, '' when smtpd closed the connection without one
        (it died), or None when nothing arrived within timeout (smtpd throttled
        or hanging).  Lines in `send` are sent afterwards, replies appended.
        source: the client's own address, e.g. '127.0.0.2' (all of 127/8 is loopback):
        anvil counts rates per client address, so checks can stay out of each
        other's way."""
        try:
            sock = socket.create_connection(("127.0.0.1", self.smtp_port), timeout=timeout,
                                            source_address=(source, 0) if source else None)
        except OSError as e:
            return f"<connect failed: {e}>"
        with sock:
            try:
                data = sock.recv(4096)
            except socket.timeout:
                return None
            except ConnectionResetError:
                return ""
            out = data.decode("utf-8", "replace")
            for line in send:
                if not data:
                    break
                try:
                    sock.sendall(line.encode() + b"\r\n")
                    data = sock.recv(4096)
                except (socket.timeout, OSError):
                    break
                out += data.decode("utf-8", "replace")
            return out

    def smtp(self, timeout: float = 10, source: str = None) -> smtplib.SMTP:
        """A connected smtplib.SMTP (banner read); source: see probe()."""
        return smtplib.SMTP("127.0.0.1", self.smtp_port, local_hostname="client.test",
                            timeout=timeout, source_address=(source, 0) if source else None)

    def smtp_tls(self, timeout: float = 10, source: str = None) -> smtplib.SMTP:
        """Connected, EHLO, STARTTLS (certificate not verified), EHLO again."""
        import ssl
        s = self.smtp(timeout, source)
        s.ehlo()
        ctx = ssl.create_default_context()
        ctx.check_hostname = False
        ctx.verify_mode = ssl.CERT_NONE
        s.starttls(context=ctx)
        s.ehlo()
        return s

    @staticmethod
    def auth_plain(s: smtplib.SMTP, user: str, password: str) -> "tuple[int, bytes]":
        """Raw `AUTH PLAIN <b64>`; returns (code, text) without raising."""
        tok = base64.b64encode(f"\0{user}\0{password}".encode()).decode()
        return s.docmd("AUTH", "PLAIN " + tok)

    def send_test_mail(self, s: smtplib.SMTP = None, rcpt: str = None, size: int = 0,
                       sender: str = None) -> dict:
        """MAIL/RCPT/DATA one message; returns {'mail':(c,t),'rcpt':(c,t),'data':(c,t)}
        stopping at the first non-2xx/3xx step."""
        own = s is None
        s = s or self.smtp()
        try:
            if own:
                s.ehlo()
            res = {}
            res["mail"] = s.docmd("MAIL", f"FROM:<{sender or 'sender@' + DOMAIN}>")
            if res["mail"][0] >= 400:
                return res
            res["rcpt"] = s.docmd("RCPT", f"TO:<{rcpt or self.local_rcpt}>")
            if res["rcpt"][0] >= 400:
                return res
            code, text = s.docmd("DATA")
            if code != 354:
                res["data"] = (code, text)
                return res
            body = "Subject: test\r\n\r\n" + ("x" * 76 + "\r\n") * (size // 78 + 1) + ".\r\n"
            s.send(body.encode())
            res["data"] = s.getreply()
            return res
        finally:
            if own:
                try:
                    s.quit()
                except Exception:
                    s.close()

    def queue_ids(self) -> "list[str]":
        ids = []
        for sub in ("incoming", "active", "deferred", "hold", "maildrop"):
            for dp, dn, fn in os.walk(self.queue_dir / sub):
                ids += fn
        return ids


# --------------------------------------------------------------------------
# pytest integration: daemon logs in the failure message of a fixture's test
# --------------------------------------------------------------------------
#
# A yield fixture never sees the test's exception, so MailPair.__exit__ cannot add
# the logs there.  A test module that lists this module in `pytest_plugins` gets the
# hook below; its fixtures call attach_logs(request.node, pair, pair.mark()) and the
# logs of every attached pair (since the mark) are added to the exception of a
# failing setup/call/teardown as a PEP 678 note, i.e. printed with the failure.

def attach_logs(node, pair: MailPair, since: dict = None) -> None:
    node.__dict__.setdefault("_mailpairs", []).append((pair, since))


try:
    import pytest as _pytest
except ImportError:  # pragma: no cover - harness used without pytest
    _pytest = None

if _pytest is not None:
    @_pytest.hookimpl(hookwrapper=True)
    def pytest_runtest_makereport(item, call):
        excinfo = call.excinfo
        if excinfo is not None and not excinfo.errisinstance(
                (_pytest.skip.Exception, KeyboardInterrupt)):
            for pair, since in item.__dict__.get("_mailpairs", []):
                try:
                    text = pair.format_logs(since)
                except Exception as e:  # pragma: no cover
                    text = f"(daemon logs unavailable: {e!r})"
                notes = getattr(excinfo.value, "__notes__", [])
                if text not in notes and hasattr(excinfo.value, "add_note"):
                    excinfo.value.add_note(text)
        yield


def _main():  # pragma: no cover - manual smoke test
    ok, why = daemons_available()
    print("available:", ok, why)
    if not ok:
        return
    t = time.time()
    with MailPair(None, sasl=sys.argv[1] if len(sys.argv) > 1 else "unix") as p:
        print("started in %.2fs" % (time.time() - t))
        with p.smtp_tls() as s:
            print(p.auth_plain(s, p.user, p.password))
        print(p.format_logs())


if __name__ == "__main__":
    _main()
