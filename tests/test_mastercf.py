"""wizard.files.mastercf: the smtpd services, their chroot flag and -o overrides, as the real postconf reads them."""

from __future__ import annotations

import os
import shutil
import subprocess
import time
from pathlib import Path

import pytest

from wizard.files import mastercf

CORPUS = Path(os.environ.get("POSTFIX_WIZARD_CORPUS")
              or Path(__file__).resolve().parents[2] / "shared" / "corpus")
POSTFIX_CORPUS = CORPUS / "postfix"
DEBIAN_MASTER_CF = Path("/etc/postfix/master.cf")
RHEL9_MASTER_CF = Path(__file__).resolve().parents[1] / "samples/rhel9/postfix/master.cf"
POSTCONF = shutil.which("postconf") or ("/usr/sbin/postconf" if Path("/usr/sbin/postconf").exists()
                                        else None)

pytestmark = pytest.mark.skipif(POSTCONF is None, reason="postconf (Postfix) is not installed")


def master_files():
    params = []
    if POSTFIX_CORPUS.is_dir():
        params += [pytest.param(path, id=path.name)
                   for path in sorted(POSTFIX_CORPUS.iterdir()) if "master.cf" in path.name]
    else:
        params.append(pytest.param(None, id="corpus", marks=pytest.mark.skip(
            reason=f"corpus directory {POSTFIX_CORPUS} is missing (set POSTFIX_WIZARD_CORPUS)")))
    params.append(pytest.param(RHEL9_MASTER_CF, id="sample-rhel9"))
    params.append(pytest.param(DEBIAN_MASTER_CF, id="debian-stock", marks=pytest.mark.skipif(
        not DEBIAN_MASTER_CF.is_file(), reason=f"{DEBIAN_MASTER_CF} is not present (Postfix package)")))
    return params


def read(path: Path) -> str:
    return path.read_bytes().decode("utf-8", errors="surrogateescape")


def _lines(output: str) -> list[str]:
    """postconf folds a long field onto an indented next line; join it back."""
    lines: list[str] = []
    for line in output.splitlines():
        if line[:1].isspace() and lines:
            lines[-1] = lines[-1].rstrip() + " " + line.strip()
        else:
            lines.append(line)
    return lines


def _name_value(line: str) -> tuple[str, str]:
    name, _, value = line.partition(" =")          # an empty value prints as `name =`
    return name, value[1:] if value.startswith(" ") else value


def postfix_smtpd_services(text: str, directory: Path) -> dict:
    """{(service, type): (chrooted, process_limit, overrides)} for smtpd services, per postconf -F/-P.
    master.cf sits beside an empty main.cf; mtimes are a minute back so postconf does not wait
    for the files to settle."""
    directory.mkdir(parents=True, exist_ok=True)
    (directory / "main.cf").write_bytes(b"")
    (directory / "master.cf").write_bytes(text.encode("utf-8", errors="surrogateescape"))
    past = time.time() - 60
    for name in ("main.cf", "master.cf"):
        os.utime(directory / name, (past, past))

    def run(flag: str) -> list[str]:
        result = subprocess.run([POSTCONF, "-c", str(directory), flag], capture_output=True)
        assert result.returncode == 0, result.stderr.decode(errors="replace")
        return _lines(result.stdout.decode("utf-8", errors="surrogateescape"))

    fields: dict[tuple[str, str], dict[str, str]] = {}
    for line in run("-F"):                       # smtp/inet/chroot = y
        key, value = _name_value(line)
        service, kind, field = key.rsplit("/", 2)
        fields.setdefault((service, kind), {})[field] = value
    overrides: dict[tuple[str, str], dict[str, str]] = {}
    for line in run("-P"):                       # submission/inet/smtpd_sasl_auth_enable = yes
        key, value = _name_value(line)
        service, kind, parameter = key.split("/", 2)
        overrides.setdefault((service, kind), {})[parameter] = value
    # Postfix 3.x reads '-' in the chroot column as n.
    return {key: (field["chroot"] == "y", field["process_limit"], overrides.get(key, {}))
            for key, field in fields.items() if field["command"].split()[0] == "smtpd"}


def wizard_smtpd_services(text: str) -> dict:
    return {(s.name, s.type): (s.chroot, s.maxproc, s.overrides)
            for s in mastercf.smtpd_services(mastercf.parse(text))}


@pytest.mark.parametrize("path", master_files())
def test_smtpd_services_chroot_and_overrides_match_postfix(path, tmp_path):
    text = read(path)
    reference = text
    if path.name == "iredmail__iRedMail__samples_postfix_master.cf":
        # postconf dies on this template's amavis maxproc placeholder (an smtp client, not smtpd);
        # it gets a number so postconf can read the rest, the wizard reads the file as it is.
        assert "PH_AMAVISD_MAX_SERVERS" in text
        reference = text.replace("PH_AMAVISD_MAX_SERVERS", "2")
    expected = postfix_smtpd_services(reference, tmp_path)
    assert expected, "every master.cf in the corpus runs smtpd somewhere"
    assert wizard_smtpd_services(text) == expected


def test_debian_stock_smtp_service_is_chrooted():
    if not DEBIAN_MASTER_CF.is_file():
        pytest.skip(f"{DEBIAN_MASTER_CF} is not present (Postfix package)")
    (smtp,) = [s for s in mastercf.smtpd_services(mastercf.parse(read(DEBIAN_MASTER_CF)))
               if s.name == "smtp"]
    assert smtp.type == "inet" and smtp.chroot and smtp.overrides == {}


def test_rhel9_stock_smtp_service_is_not_chrooted():
    (smtp,) = [s for s in mastercf.smtpd_services(mastercf.parse(read(RHEL9_MASTER_CF)))
               if s.name == "smtp"]
    assert smtp.type == "inet" and not smtp.chroot and smtp.overrides == {}


def test_tricky_layout_matches_postfix(tmp_path):
    text = (
        "# service type  private unpriv  chroot  wakeup  maxproc command + args\n"
        "smtp      inet  n       -       y       -       -       smtpd\n"
        "# a comment between the -o lines does not end the entry\n"
        "  -o smtpd_tls_security_level=may\n"
        "   \n"
        "  -o smtpd_tls_security_level=encrypt\n"
        "  -o\n"
        "     smtpd_sasl_auth_enable=yes\n"
        "  -o { smtpd_client_restrictions = permit_mynetworks, reject }\n"
        "  -o smtpd_discard_ehlo_keywords=\n"
        "submission inet n - - - 5 smtpd -v -o milter_macro_daemon_name=ORIGINATING\n"
        "#smtps     inet  n       -       y       -       -       smtpd\n"
        "#  -o smtpd_tls_wrappermode=yes\n"
        "pickup    unix  n       -       y       60      1       pickup\n"
    )
    services = wizard_smtpd_services(text)
    assert services == postfix_smtpd_services(text, tmp_path)
    assert services[("smtp", "inet")] == (True, "-", {
        "smtpd_tls_security_level": "encrypt",          # the last -o wins
        "smtpd_sasl_auth_enable": "yes",
        "smtpd_client_restrictions": "permit_mynetworks, reject",
        "smtpd_discard_ehlo_keywords": "",
    })
    assert services[("submission", "inet")][0] is False  # '-' means not chrooted


def test_commented_out_services_are_not_services():
    if not POSTFIX_CORPUS.is_dir():
        pytest.skip(f"corpus directory {POSTFIX_CORPUS} is missing (set POSTFIX_WIZARD_CORPUS)")
    text = read(POSTFIX_CORPUS / "vdukhovni__postfix__postfix_conf_master.cf")
    names = [s.name for s in mastercf.smtpd_services(mastercf.parse(text))]
    assert names == ["smtp"]                     # submission/smtps exist only as comments
