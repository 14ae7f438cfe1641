"""What the wizard knows about a server: its files as read, its current settings, and the facts
of the machine the rules read (its SELinux: read here, once, so that the rules stay pure)."""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath

from wizard import values
from wizard.server import availability, postconf
from wizard.server.versions import Versions, installed
from wizard.files import mastercf
from wizard.files.dovecot import DovecotConfig
from wizard.files.dovecot.dialects import DEFAULT_MECHANISMS
from wizard.errors import ConfigError
from wizard.locations import DEFAULT_DOVECOT_DIR, DEFAULT_POSTFIX_DIR
from wizard.files.maincf import MainCf
from wizard.files.selinux import Facts as SELinux
from wizard.settings.model import GUIDE_SASL, LIMIT_PARAMS, SASL_PARAMS, Limits, Sasl, Settings


@dataclass
class Server:
    postfix_dir: Path
    dovecot_dir: Path
    main: MainCf
    services: list[mastercf.Service]
    dovecot: DovecotConfig | None
    dovecot_problem: ConfigError | None     # why the Dovecot files could not be read, if so
    versions: Versions
    _current: Settings | None = None
    selinux: SELinux = field(default_factory=SELinux.read)    # this machine's

    @classmethod
    def load(cls, postfix_dir: Path = DEFAULT_POSTFIX_DIR,
             dovecot_dir: Path = DEFAULT_DOVECOT_DIR,
             versions: Versions | None = None) -> Server:
        """Read a server's files. `versions` are its tools' (by default, this machine's)."""
        versions = versions or installed()
        main = MainCf.load(postfix_dir / "main.cf")
        main.check_editable()
        master_path = postfix_dir / "master.cf"
        services = mastercf.load(master_path) if master_path.exists() else []
        dovecot, problem = None, None
        root = dovecot_dir / "dovecot.conf"
        if root.exists():
            try:
                dovecot = DovecotConfig.load(root)
                dovecot.check_generation(versions.dovecot)
            except ConfigError as error:
                dovecot, problem = None, error
        else:
            problem = ConfigError(root, None, "Dovecot's configuration was not found",
                                  "Install dovecot-core or give --dovecot-dir")
        return cls(postfix_dir, dovecot_dir, main, services, dovecot, problem, versions)

    # main.cf values ------------------------------------------------------------------------

    def raw(self, name: str) -> str:
        """The value as main.cf (or, when unset, Postfix's default) writes it."""
        value = self.main.get(name)
        return value if value is not None else postconf.defaults().get(name, "")

    def value(self, name: str) -> str:
        """The value with $parameter references expanded, as a running Postfix sees it."""
        return postconf.expand(self.raw(name), self.raw)

    @property
    def queue_directory(self) -> str:
        return self.value("queue_directory")

    @property
    def smtpd_chrooted(self) -> list[str]:
        return [s.name for s in mastercf.smtpd_services(self.services) if s.chroot]

    def overrides(self, name: str) -> list[tuple[mastercf.Service, str]]:
        return [(s, s.overrides[name]) for s in self.services if name in s.overrides]

    def managed_overrides(self) -> list[tuple[mastercf.Service, str, str]]:
        """master.cf `-o` overrides of parameters the wizard manages: (service, name, value)."""
        found = [(service, name, value) for name in postconf.MANAGED_MAIN_PARAMS
                 for service, value in self.overrides(name)]
        return sorted(found, key=lambda item: (item[0].line, item[1]))

    def socket_path(self, path: str) -> str:
        """Where Dovecot must create a socket that Postfix names `path`."""
        if path.startswith("/"):
            return path
        return str(PurePosixPath(self.queue_directory) / path)

    @property
    def postfix_version(self) -> str:
        return self.versions.postfix

    @property
    def dovecot_version(self) -> str | None:
        return self.versions.dovecot

    @property
    def dovecot_syntax(self) -> str:
        """How the wizard writes Dovecot's files here, for the reader."""
        if self.dovecot is None:
            return ""
        version = self.dovecot.config_version
        return f"Dovecot {self.dovecot.generation} syntax" + (
            f" (dovecot_config_version = {version})" if version else "")

    def queue_free_bytes(self) -> int | None:
        try:
            stats = os.statvfs(self.queue_directory)
        except OSError:
            return None
        return stats.f_bavail * stats.f_frsize

    # Current settings ----------------------------------------------------------------------

    def after(self, desired: Settings) -> Settings:
        """The settings the server would have once `desired` is applied."""
        current = self.current()
        limits = current.limits.model_copy(update=desired.limits.model_dump(exclude_none=True))
        sasl = current.sasl.model_copy(update=desired.sasl.model_dump(exclude_none=True))
        if desired.sasl.enabled and sasl.type is None:
            sasl = sasl.model_copy(update={"type": "dovecot"})   # the SASL this wizard sets up
        if sasl.type == "dovecot" and desired.sasl.touches_socket():
            # the guide's values for what the change leaves open; without a change, the server
            # is judged as it is (a missing port stays missing)
            guide = {k: v for k, v in GUIDE_SASL.items() if getattr(sasl, k) is None}
            sasl = sasl.model_copy(update=guide)
        return Settings(limits=limits, sasl=sasl)

    def current(self) -> Settings:
        """The server's settings now, each field filled where the file holds a readable value."""
        if self._current is None:
            self._current = self._read_current()
        return self._current

    def _read_current(self) -> Settings:
        limits = {}
        for field, param in LIMIT_PARAMS.items():
            if availability.missing_since(self, param):
                continue        # this Postfix ignores it, whatever main.cf says
            # address lists stay as written ($mynetworks); numbers need $references expanded
            text = self.raw(param.name) if param.kind == "addresses" else self.value(param.name)
            limits[field] = _readable(param, text)
        return Settings(limits=Limits(**limits), sasl=Sasl(**self._current_sasl()))

    def _current_sasl(self) -> dict:
        sasl = {field: _readable(param, self.value(param.name))
                for field, param in SASL_PARAMS.items()
                if param.file == "main.cf" and field not in ("type", "socket", "path")}
        if self.value("smtpd_sasl_type") == "dovecot":
            sasl.update(type="dovecot", **self._current_socket())
        if self.dovecot is not None:
            mechanisms = self.dovecot.auth_mechanisms()
            sasl["mechanisms"] = _readable(SASL_PARAMS["mechanisms"],
                                           " ".join(mechanisms if mechanisms is not None
                                                    else DEFAULT_MECHANISMS))
        return sasl

    def _current_socket(self) -> dict:
        path = self.value("smtpd_sasl_path")
        inet = values.sasl_inet_path(path)
        if inet is not None:
            host, port = inet
            return {"socket": "tcp", "address": _readable(SASL_PARAMS["address"], host),
                    "port": _readable(SASL_PARAMS["port"], port)}
        found = {"socket": "unix", "path": _readable(SASL_PARAMS["path"], path)}
        listener = self.unix_listener(path)
        if listener is not None:
            for key in ("mode", "user", "group"):
                found[key] = _readable(SASL_PARAMS[key], listener.settings.get(key, ""))
        return found

    def unix_listener(self, path: str):
        if self.dovecot is None:
            return None
        target = self.socket_path(path)
        return next((listener for listener in self.dovecot.auth_listeners()
                     if listener.kind == "unix" and listener.label == target), None)

    def inet_listener(self, port: int | None):
        if self.dovecot is None or port is None:
            return None
        return next((listener for listener in self.dovecot.auth_listeners()
                     if listener.kind == "inet" and listener.settings.get("port") == str(port)), None)


def _readable(param, text: str):
    try:
        return param.from_text(text)
    except (ValueError, TypeError):
        return None
