"""SELinux, as a file writer and the rules need it: the mode, file labels, and port labels.

RHEL 9 runs SELinux enforcing by default. There a configuration file needs its label (its
`security.selinux` extended attribute): a replaced main.cf must keep postfix_etc_t, or Postfix
may no longer read it, and a file the wizard creates must get the label the policy gives its
path (a temporary file inherits its directory's, which is not always its final name's: the
policy gives /etc/postfix/chroot-update postfix_exec_t in a postfix_etc_t directory). And
Dovecot may bind only ports whose label its policy names, so an auth inet_listener on an
unlabelled port never starts (wizard/rules/selinux.py).

- `mode()`: enforcing, permissive or disabled: /sys/fs/selinux/enforce, else `getenforce`.
  POSTFIX_WIZARD_SELINUXFS names another selinuxfs directory (the tests' fake one), and then
  only that directory is read.
- `read_label`, `copy_label`, `label_new`, `restore_label`: a file's label, read and set through
  the xattr named by `attribute`: `security.selinux`, or in tests a `user.` name passed through
  the same functions (where SELinux is loaded, it alone decides who may set security.selinux).
  A filesystem without extended attributes, or a file without a label, is no error.
- `parse_port_list` reads `semanage port -l`; `port_types` and `defined` answer what type a
  port has and whether semanage must modify (-m) rather than add (-a) it. `Facts` is what a
  Server holds: the mode read once, the port labels read the first time a rule asks.
"""

from __future__ import annotations

import errno
import os
import shutil
import subprocess
from dataclasses import dataclass, field
from pathlib import Path
from typing import Dict, Optional, Set, Tuple

LABEL = "security.selinux"
SELINUXFS = Path("/sys/fs/selinux")
SELINUXFS_ENV = "POSTFIX_WIZARD_SELINUXFS"
MODES = ("enforcing", "permissive", "disabled")
PROTOCOLS = ("tcp", "udp", "sctp", "dccp")
# errors that mean "this file or filesystem has no label", never a reason to fail a write
NO_LABEL = (errno.ENOTSUP, errno.EOPNOTSUPP, errno.ENODATA)

# {type: {(proto, (low, high)), ...}}, as `semanage port -l` lists them
Ports = Dict[str, Set[Tuple[str, Tuple[int, int]]]]


# The mode ------------------------------------------------------------------------------------

def mode() -> str:
    """'enforcing', 'permissive' or 'disabled' (no selinuxfs, or `getenforce` says so)."""
    hook = os.environ.get(SELINUXFS_ENV)
    if hook is not None:
        return _mode_from(Path(hook)) or "disabled"
    found = _mode_from(SELINUXFS)
    if found is not None:
        return found
    getenforce = tool("getenforce")
    if getenforce is None:
        return "disabled"
    try:
        said = subprocess.run([getenforce], capture_output=True, text=True, timeout=10).stdout
    except (OSError, subprocess.SubprocessError):
        return "disabled"
    said = said.strip().lower()
    return said if said in MODES else "disabled"


def _mode_from(selinuxfs: Path) -> Optional[str]:
    """None where this selinuxfs is not mounted (no enforce file)."""
    try:
        text = (selinuxfs / "enforce").read_text().strip()
    except OSError:
        return None
    return "enforcing" if text == "1" else "permissive"


def tool(name: str) -> Optional[str]:
    """An SELinux tool: on PATH, else in the sbin directories a non-root PATH may lack."""
    path = os.pathsep.join(filter(None, [os.environ.get("PATH"), "/usr/sbin", "/sbin"]))
    return shutil.which(name, path=path)


# File labels ---------------------------------------------------------------------------------

def read_label(path: Path, attribute: str = LABEL) -> Optional[bytes]:
    """The file's label as stored (with its trailing NUL), or None: none, or no xattrs here."""
    try:
        return os.getxattr(path, attribute)
    except OSError as error:
        if error.errno in NO_LABEL:
            return None
        raise


def write_label(path: Path, label: bytes, attribute: str = LABEL) -> bool:
    """Set the label; False where the filesystem keeps no such attribute."""
    try:
        os.setxattr(path, attribute, label)
        return True
    except OSError as error:
        if error.errno in NO_LABEL:
            return False
        raise


def copy_label(source: Path, target: Path, attribute: str = LABEL) -> bool:
    """Give `target` the label of `source`; False where `source` has none to give."""
    label = read_label(source, attribute)
    return label is not None and write_label(target, label, attribute)


def policy_label(path: Path) -> Optional[str]:
    """The label the loaded policy gives `path` (`matchpathcon -n`), or None: no
    matchpathcon, or no context for that path."""
    matchpathcon = tool("matchpathcon")
    if matchpathcon is None:
        return None
    try:
        result = subprocess.run([matchpathcon, "-n", str(path)], capture_output=True,
                                text=True, timeout=30)
    except (OSError, subprocess.SubprocessError):
        return None
    context = result.stdout.strip()
    return context if result.returncode == 0 and context.count(":") >= 3 else None


def label_new(temporary: Path, final: Path, attribute: str = LABEL) -> bool:
    """Give a new file, still at `temporary`, the label the policy gives `final`, before it is
    renamed there. True when done or nothing is to be done (SELinux disabled); False when
    matchpathcon is missing, so that `restore_label(final)` must run after the rename."""
    if mode() == "disabled":
        return True
    if tool("matchpathcon") is None:
        return False
    context = policy_label(final)
    if context is not None:
        write_label(temporary, context.encode() + b"\0", attribute)   # as setfilecon(3) does
    return True


def restore_label(path: Path) -> None:
    """`restorecon PATH` where SELinux is on and restorecon is installed."""
    restorecon = tool("restorecon")
    if mode() == "disabled" or restorecon is None:
        return
    try:
        subprocess.run([restorecon, str(path)], capture_output=True, timeout=30)
    except (OSError, subprocess.SubprocessError):
        pass


# Port labels ---------------------------------------------------------------------------------

def parse_port_list(text: str) -> Ports:
    """`semanage port -l`: 'TYPE  PROTO  PORT, LOW-HIGH, ...' under a heading line."""
    ports: Ports = {}
    for line in text.splitlines():
        fields = line.split(None, 2)
        if len(fields) < 3 or fields[1] not in PROTOCOLS:
            continue                                 # the heading and the blank line after it
        port_type, proto, numbers = fields
        for item in numbers.split(","):
            bounds = item.strip().split("-")
            if len(bounds) > 2 or not all(bound.isdigit() for bound in bounds):
                raise ValueError(f"not a port or a port range: {item.strip()!r} in {line!r}")
            ports.setdefault(port_type, set()).add((proto, (int(bounds[0]), int(bounds[-1]))))
    return ports


def port_types(ports: Ports, port: int, proto: str = "tcp") -> list[str]:
    """The type the kernel gives `port`: that of the narrowest listed range holding it (the
    policy compiler puts narrower portcon entries first, and a port given a type with semanage
    is a single port). More than one only where a local entry repeats a policy one."""
    holding = [(high - low, port_type) for port_type, ranges in ports.items()
               for each, (low, high) in ranges if each == proto and low <= port <= high]
    if not holding:
        return []
    narrowest = min(width for width, _ in holding)
    return sorted({port_type for width, port_type in holding if width == narrowest})


def defined(ports: Ports, port: int, proto: str = "tcp") -> Optional[str]:
    """The type of the record for exactly this one port, if there is one: `semanage port -a`
    then refuses ('already defined'), and -m is the way to change it."""
    return next((port_type for port_type, ranges in sorted(ports.items())
                 if (proto, (port, port)) in ranges), None)


def read_ports() -> Tuple[Optional[Ports], str]:
    """`semanage port -l`, parsed; or None and why not (not installed, not root, ...)."""
    semanage = tool("semanage")
    if semanage is None:
        return None, "semanage is not installed (package policycoreutils-python-utils)"
    try:
        result = subprocess.run([semanage, "port", "-l"], capture_output=True, text=True,
                                timeout=120)
    except (OSError, subprocess.SubprocessError) as error:
        return None, f"semanage port -l could not run ({error})"
    if result.returncode != 0:
        said = (result.stderr.strip().splitlines() or [f"exit status {result.returncode}"])[-1]
        return None, f"semanage port -l failed: {said}"
    try:
        return parse_port_list(result.stdout), ""
    except ValueError as error:
        return None, f"semanage port -l printed what the wizard cannot read ({error})"


@dataclass
class Facts:
    """A server's SELinux: the mode, read when the server is; the port labels, read with
    semanage (a second or so) the first time a rule asks, then kept."""
    mode: str = "disabled"
    _ports: Optional[Tuple[Optional[Ports], str]] = field(default=None, repr=False)

    @classmethod
    def read(cls) -> Facts:
        return cls(mode())

    def ports(self) -> Tuple[Optional[Ports], str]:
        """The port labels, or None and why they could not be read."""
        if self._ports is None:
            self._ports = read_ports()
        return self._ports
