"""wizard.files.dovecot: lossless parsing, refusals, and edits checked against the real doveconf."""

from __future__ import annotations

import difflib
import os
import re
import shutil
import subprocess
from contextlib import contextmanager
from pathlib import Path

import debian13
import pytest
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st

from wizard.files.dovecot import (DovecotConfig, InetListenerRequest, Listener, Setting,
                                  UnixListenerRequest, parse)
from wizard.errors import ConfigError
from wizard.server import versions
from wizard.server.versions import installed_dovecot

CORPUS = Path(os.environ.get("POSTFIX_WIZARD_CORPUS")
              or Path(__file__).resolve().parents[2] / "shared" / "corpus")
DOVECOT_CORPUS = CORPUS / "dovecot"
SAMPLES = Path(__file__).resolve().parents[1] / "samples"
SAMPLE = SAMPLES / "debian12" / "dovecot"
DOVECONF = shutil.which("doveconf")
V24 = "dovecot_config_version = 2.4.0\ndovecot_storage_version = 2.4.0\n"

needs_doveconf = pytest.mark.skipif(DOVECONF is None, reason="doveconf is not installed")

# Corpus files the wizard must refuse, with a word the refusal has to contain.
REFUSED = {
    "Evolix__evoadmin-mail__etc_dovecot_dovecot.conf.1.x": "1.x",
    "YunoHost__yunohost__conf_dovecot_dovecot.conf.2.4": "Expecting '{'",        # Jinja
    "dovecot__core__doc_dovecot.conf.in.2.4.1": "placeholder",
    "iredmail__iRedMail__samples_dovecot_dovecot-2.4-mariadb.conf": "placeholder",
    "iredmail__iRedMail__samples_dovecot_dovecot-2.4-openldap.conf": "placeholder",
    "iredmail__iRedMail__samples_dovecot_dovecot-2.4-pgsql.conf.2.4": "placeholder",
    "iredmail__iRedMail__samples_dovecot_dovecot.conf": "placeholder",
    "modoboa__modoboa-installer__modoboa_installer_scripts_files_dovecot_2.4_conf.d_"
    "10-master.conf.tpl.2.4": "never closed",
    "pavelkova__arch-linux-virtual-mail-server__etc_dovecot_dovecot-all.conf": "never closed",
}

SASL = UnixListenerRequest("/var/spool/postfix/private/auth", "0660", "postfix", "postfix")
SASL_INET = InetListenerRequest("auth-inet", "127.0.0.1", 10001)



def generation_of(name: str) -> str:
    """SOURCES.md: a corpus file with "2.4" in its name comes from a Dovecot 2.4 tree."""
    return "2.4" if "2.4" in name else "2.3"


def refused(name: str) -> bool:
    return name in REFUSED


def corpus_params(which):
    if not DOVECOT_CORPUS.is_dir():
        return [pytest.param(None, marks=pytest.mark.skip(
            reason=f"corpus directory {DOVECOT_CORPUS} is missing (set POSTFIX_WIZARD_CORPUS)"))]
    names = sorted(p.name for p in DOVECOT_CORPUS.iterdir() if p.is_file())
    return [name for name in names if which(name)]


def checked_params(which):
    """Corpus names, each to be checked by the doveconf of its generation."""
    return [pytest.param(name, marks=debian13.needs_root if generation_of(name) == "2.4"
                         else needs_doveconf) if isinstance(name, str) else name
            for name in corpus_params(which)]


def read(path: Path) -> str:
    return path.read_bytes().decode("utf-8", errors="surrogateescape")


def write(path: Path, text: str) -> None:
    path.write_bytes(text.encode("utf-8", errors="surrogateescape"))


def apply(changes: dict[Path, str]) -> None:
    for path, text in changes.items():
        write(path, text)


# ---------------------------------------------------------------- round trip and refusals


@pytest.mark.parametrize("name", corpus_params(lambda name: True))
def test_corpus_file_renders_byte_for_byte(name):
    text = read(DOVECOT_CORPUS / name)
    assert parse(text, name).render() == text


def test_corpus_has_the_files_the_sources_describe():
    if not DOVECOT_CORPUS.is_dir():
        pytest.skip(f"corpus directory {DOVECOT_CORPUS} is missing (set POSTFIX_WIZARD_CORPUS)")
    sources = (CORPUS / "SOURCES.md").read_text().split("## Dovecot", 1)[1]
    described = set(re.findall(r"^\| `([^`]+)`", sources, re.MULTILINE))
    names = {p.name for p in DOVECOT_CORPUS.iterdir()}
    assert names == described and set(REFUSED) <= names


@pytest.mark.parametrize("name", corpus_params(refused))
def test_unsafe_corpus_file_is_refused_with_file_and_line(tmp_path, name):
    staged = tmp_path / name
    shutil.copyfile(DOVECOT_CORPUS / name, staged)
    before = staged.read_bytes()
    config = DovecotConfig.from_text(read(staged), staged)
    with pytest.raises(ConfigError) as refused:
        config.edit(unix=SASL, mechanisms=["plain", "login"])
    message = str(refused.value)
    assert str(staged) in message and re.search(r"line \d+", message)
    assert REFUSED[name] in message
    assert refused.value.fix
    assert staged.read_bytes() == before


def test_generations_of_corpus_files():
    if not DOVECOT_CORPUS.is_dir():
        pytest.skip(f"corpus directory {DOVECOT_CORPUS} is missing (set POSTFIX_WIZARD_CORPUS)")
    def generation(name):
        path = DOVECOT_CORPUS / name
        return DovecotConfig.from_text(read(path), path).generation
    assert generation("Evolix__evoadmin-mail__etc_dovecot_dovecot.conf.1.x") == "1.x"
    assert generation("GrapheneOS__mail.grapheneos.org__dovecot_dovecot.conf.2.4") == "2.4"
    assert generation("FeministWiki__FeministWiki__etc_dovecot_dovecot.conf.2.3") == "2.3"
    # no dovecot_config_version, but 2.4's %{… | filter} syntax: a 2.4 fragment
    assert generation("postfixadmin__postfixadmin__DOCUMENTS_examples_dovecot-2.4-local.conf.2.4"
                      ) == "2.4"


def test_unclosed_sections_are_named_with_their_lines():
    doc = parse("service imap-login {\n  inet_listener imap {\n    port = 0\n  }\n", "x.conf")
    assert doc.problems == [(1, "missing '}': section 'service imap-login' opened on line 1 "
                                "is never closed")]


def test_stray_closing_brace_is_a_problem():
    assert parse("a = 1\n}\n", "x.conf").problems[0][0] == 2


@pytest.mark.parametrize("text, reason", [
    ("service auth { user = root }\n", "Garbage after '{'"),  # doveconf refuses one-line blocks
    ("service auth {\n}}\n", "Expecting '{'"),
    ("service auth {\n} x\n", "Expecting '{'"),
    ("service auth{\n}\n", "Expecting '{'"),                   # doveconf needs a space before {
    ("unix_listener a b {\n}\n", "Expecting '{'"),
    ("auth_mechanisms\n", "Expecting '{'"),
    ("= plain\n", "missing key name"),
])
def test_forms_doveconf_rejects_are_problems(text, reason):
    problems = parse(text, "x.conf").problems
    assert any(reason in message for _, message in problems)


def test_refusals_are_worded_for_both_generations():
    """The parser reads 2.3 and 2.4 alike: what it says of a line holds for both."""
    def message(text: str) -> str:
        return parse(text, "x.conf").problems[0][1]
    assert message("service auth { user = root }\n") == (
        "Garbage after '{' (Dovecot wants nothing after '{' on a section line): "
        "'service auth { user = root }' is not a setting, section or !include Dovecot accepts")
    assert message("auth_mechanisms\n") == (
        "Expecting '{': 'auth_mechanisms' is not a setting, section or !include Dovecot accepts")
    assert message("auth default {\n}\n") == (
        "'auth default {' is Dovecot 1.x syntax (doveconf 2.3 calls it obsolete, 2.4 refuses it)")


@pytest.mark.parametrize("text", [
    "auth_mechanisms=plain login\n",
    'mailbox "Sent Messages" {\n  special_use = \\Sent\n}\n',
    "service auth { # comment\n} # comment\n",
    "auth_mechanisms = plain \\\n  login\n",
    "!include_try local.conf\n",
    "service auth {\n  !include_try auth.inc\n}\n",
    "login_greeting = it's # not a comment, the quote runs to the end of the line\n",
])
def test_forms_doveconf_accepts_are_not_problems(text):
    assert parse(text, "x.conf").problems == []


def test_values_are_read_as_dovecot_reads_them():
    config = DovecotConfig.from_text(
        'auth_mechanisms = "plain login" # two\nx = 1\nauth_mechanisms = plain \\\n'
        '  # skipped comment\n  login cram-md5\n', "d.conf")
    assert config.auth_mechanisms() == ["plain", "login", "cram-md5"]
    assert DovecotConfig.from_text("x = 1\n", "d.conf").auth_mechanisms() is None


def test_continuation_cut_off_by_the_end_of_file_is_a_problem():
    # doveconf drops it silently; appending after it would glue our text onto it
    doc = parse("a = 1\nauth_mechanisms = login \\\n# comment\n", "x.conf")
    assert [line for line, _ in doc.problems] == [2]


def test_lines_are_counted_like_dovecot_counts_them():
    doc = parse("a = 1\x0cb\r\nservice x {\r\n", "x.conf")  # \f and CR alone do not end lines
    assert doc.problems == [(2, "missing '}': section 'service x' opened on line 2 is never "
                                "closed")]


# ---------------------------------------------------------------- loading


def test_load_follows_includes_in_order(tmp_path):
    (tmp_path / "conf.d").mkdir()
    write(tmp_path / "dovecot.conf", "!include conf.d/*.conf\n!include_try local.conf\n"
                                     "!include_try missing.conf\n")
    write(tmp_path / "conf.d" / "20-b.conf", "auth_mechanisms = login\n")
    write(tmp_path / "conf.d" / "10-a.conf", "auth_mechanisms = plain\nservice auth {\n"
                                             "  !include_try listeners.inc\n}\n")
    write(tmp_path / "conf.d" / "listeners.inc", "unix_listener auth-x {\n  mode = 0600\n}\n")
    write(tmp_path / "local.conf", "service auth {\n  inet_listener {\n    port = 1234\n  }\n}\n")
    config = DovecotConfig.load(tmp_path / "dovecot.conf")
    assert [p.relative_to(tmp_path).as_posix() for p in config.files] == [
        "dovecot.conf", "conf.d/10-a.conf", "conf.d/listeners.inc", "conf.d/20-b.conf",
        "local.conf"]
    assert config.auth_mechanisms() == ["login"]
    assert config.auth_listeners() == [
        Listener("unix", "auth-x", {"mode": "0600"}, tmp_path / "conf.d" / "listeners.inc", 1),
        Listener("inet", "", {"port": "1234"}, tmp_path / "local.conf", 2)]


def test_missing_include_is_refused(tmp_path):
    write(tmp_path / "dovecot.conf", "a = 1\n!include nothere.conf\n")
    with pytest.raises(ConfigError, match=r"dovecot.conf, line 2: !include nothere.conf"):
        DovecotConfig.load(tmp_path / "dovecot.conf")


def test_include_glob_matching_nothing_fails_like_doveconf(tmp_path):
    (tmp_path / "conf.d").mkdir()
    write(tmp_path / "dovecot.conf", "!include_try conf.d/*.conf\n")
    assert list(DovecotConfig.load(tmp_path / "dovecot.conf").files) == [tmp_path / "dovecot.conf"]
    write(tmp_path / "dovecot.conf", "!include conf.d/*.conf\n")
    with pytest.raises(ConfigError, match="line 1: !include conf.d/\\*.conf: no file matches"):
        DovecotConfig.load(tmp_path / "dovecot.conf")


def test_include_loop_is_refused(tmp_path):
    write(tmp_path / "dovecot.conf", "!include a.conf\n")
    write(tmp_path / "a.conf", "\n!include dovecot.conf\n")
    with pytest.raises(ConfigError, match=r"a.conf, line 2: include loop"):
        DovecotConfig.load(tmp_path / "dovecot.conf")


def test_installed_dovecot_version_is_a_version_or_none():
    version = installed_dovecot()
    assert version is None or re.fullmatch(r"\d+\.\d+[\w.]*", version)
    if shutil.which("dovecot"):
        assert version.startswith("2.")


# ---------------------------------------------------------------- edits in place


def edited(text: str, **request) -> str:
    config = DovecotConfig.from_text(text, "d.conf")
    return config.edit(**request).get(Path("d.conf"), text)


def test_existing_listener_changes_only_its_values():
    text = ("service auth {\n\tunix_listener /var/spool/postfix/private/auth {\n"
            "\t\tmode=0666 # open\n\t\tuser = \"postfix\"\n\t}\n\tuser = root\n}\n")
    assert edited(text, unix=SASL) == (
        "service auth {\n\tunix_listener /var/spool/postfix/private/auth {\n"
        "\t\tmode=0660 # open\n\t\tuser = \"postfix\"\n\t\tgroup = postfix\n\t}\n\tuser = root\n}\n")


def test_new_listener_goes_before_the_last_service_auth_brace_with_its_indentation():
    text = "service auth {\n    user = root\n}\n\nservice auth {\n}\n"
    assert edited(text, unix=SASL) == (
        "service auth {\n    user = root\n}\n\nservice auth {\n"
        "    unix_listener /var/spool/postfix/private/auth {\n        mode = 0660\n"
        "        user = postfix\n        group = postfix\n    }\n}\n")


def test_appended_text_keeps_crlf_and_ends_the_unterminated_last_line():
    assert edited("ssl = no\r\nx = 1", mechanisms=["plain", "login"]) == (
        "ssl = no\r\nx = 1\r\nauth_mechanisms = plain login\r\n")


def test_mechanisms_replace_only_the_value():
    text = "auth_mechanisms=plain  # was\nprotocol imap {\n  auth_mechanisms = plain\n}\n"
    assert edited(text, mechanisms=["plain", "login"]) == (
        "auth_mechanisms=plain login  # was\nprotocol imap {\n  auth_mechanisms = plain\n}\n")


def test_inet_listener_is_found_by_port_and_updated():
    text = "service auth {\n  inet_listener {\n    port = 10001\n  }\n}\n"
    assert edited(text, inet=SASL_INET) == (
        "service auth {\n  inet_listener {\n    port = 10001\n    address = 127.0.0.1\n  }\n}\n")


def test_removal_deletes_exactly_the_block():
    text = ("service auth {\n  unix_listener a {\n  }\n  # keep\n  inet_listener x {\n"
            "    port = 9\n  }\n}\n")
    assert edited(text, remove_unix="a", remove_inet_port=9) == "service auth {\n  # keep\n}\n"
    assert edited(text, remove_unix="b", remove_inet_port=10) == text


def test_unchanged_request_returns_nothing():
    text = "auth_mechanisms = plain login\n"
    assert DovecotConfig.from_text(text, "d.conf").edit(mechanisms=["plain", "login"]) == {}


def test_service_auth_is_added_to_10_master_conf_when_missing(tmp_path):
    (tmp_path / "conf.d").mkdir()
    write(tmp_path / "dovecot.conf", "!include conf.d/*.conf\n")
    write(tmp_path / "conf.d" / "10-auth.conf", "x = 1\n")
    write(tmp_path / "conf.d" / "10-master.conf", "service imap {\n\tvsz_limit = 1G\n}")
    changes = DovecotConfig.load(tmp_path / "dovecot.conf").edit(unix=SASL, mechanisms=["plain"])
    assert changes == {
        tmp_path / "conf.d" / "10-master.conf":
            "service imap {\n\tvsz_limit = 1G\n}\nservice auth {\n"
            "\tunix_listener /var/spool/postfix/private/auth {\n\t\tmode = 0660\n"
            "\t\tuser = postfix\n\t\tgroup = postfix\n\t}\n}\n",
        tmp_path / "conf.d" / "10-auth.conf": "x = 1\nauth_mechanisms = plain\n"}


HOSTILE = ["a\nb", "}", "x}", "{", "#x", '"x"', "'x'", "!include /etc/shadow", " lead",
           "trail ", "a b", "$x", "%u", "</etc/passwd", "x\\", "\t", "", "x\x00", "x\r",
           "=x", "a\u2028b"]


@pytest.mark.parametrize("value", HOSTILE)
def test_hostile_values_are_refused_and_change_nothing(value):
    text = "service auth {\n  unix_listener old {\n  }\n}\nauth_mechanisms = plain\n"
    config = DovecotConfig.from_text(text, "d.conf")
    requests = [dict(unix=UnixListenerRequest(value, "0660", "postfix", "postfix")),
                dict(unix=UnixListenerRequest("/p", value, "postfix", "postfix")),
                dict(unix=UnixListenerRequest("/p", "0660", value, "postfix")),
                dict(unix=UnixListenerRequest("/p", "0660", "postfix", value)),
                dict(inet=InetListenerRequest("x", value, 1)),
                dict(mechanisms=["plain", value]),
                dict(remove_unix=value, mechanisms=["login"])]
    if value:  # an unnamed inet_listener is allowed
        requests.append(dict(inet=InetListenerRequest(value, "127.0.0.1", 1)))
    for request in requests:
        with pytest.raises(ConfigError, match="refusing to write"):
            config.edit(**request)
    assert config.files[Path("d.conf")].render() == text


@pytest.mark.parametrize("port", [0, 65536, -1, "25", True, 1.5])
def test_bad_ports_are_refused(port):
    config = DovecotConfig.from_text("a = 1\n", "d.conf")
    with pytest.raises(ConfigError):
        config.edit(inet=InetListenerRequest("x", "127.0.0.1", port))
    with pytest.raises(ConfigError):
        config.edit(remove_inet_port=port)


def test_mechanisms_must_be_a_non_empty_list():
    config = DovecotConfig.from_text("a = 1\n", "d.conf")
    for bad in ([], "plain login"):
        with pytest.raises(ConfigError):
            config.edit(mechanisms=bad)


# ---------------------------------------------------------------- doveconf checks


def run_doveconf(root: Path) -> subprocess.CompletedProcess:
    """doveconf -n by the Dovecot of the tree's generation: a tree staged inside the Debian 13
    root is read by that root's doveconf 2.4."""
    if root.is_relative_to(debian13.ROOT):
        return debian13.run("doveconf", "-c", debian13.inside(root), "-n", timeout=30)
    return subprocess.run([DOVECONF, "-c", str(root), "-n"], capture_output=True, text=True,
                          timeout=30, check=False)


@contextmanager
def staging(tmp_path: Path, generation: str):
    """Where to stage a tree: 2.4 trees go inside the Debian 13 root, for its doveconf."""
    if generation == "2.3":
        yield tmp_path
    else:
        with debian13.Staging() as directory:
            yield directory


def doveconf_n(root: Path) -> str:
    return checked_output(run_doveconf(root))


def without_auth_parts(output: str) -> str:
    """doveconf -n output minus the parts our edits may touch."""
    output = re.sub(r"(?ms)^(service auth|auth_mechanisms) \{\n.*?^\}\n", "", output)
    return re.sub(r"(?m)^auth_mechanisms = .*\n", "", output)


def effective(output: str) -> DovecotConfig:
    return DovecotConfig.from_text(output, "doveconf-n.conf")


def service_auth_settings(config: DovecotConfig) -> list[tuple[str, str]]:
    """The settings of service auth itself, outside its listeners."""
    return [(node.key, node.value) for _, node, stack in config.walk()
            if isinstance(node, Setting) and stack and stack[-1].is_service_auth()]


def listeners_of(config: DovecotConfig) -> dict[tuple[str, str], dict[str, str]]:
    return {(l.kind, l.label): l.settings for l in config.auth_listeners()}


def fragment_name(corpus_name: str) -> str | None:
    found = re.search(r"(10-[a-z]+\.conf|auth-[a-z]+\.conf\.ext)", corpus_name)
    return found.group() if found else None


def stage(directory: Path, corpus_name: str) -> Path:
    """Put a corpus file where it can stand on its own; returns the root to load. A 2.4 file
    without dovecot_config_version is a fragment of a tree whose dovecot.conf starts with it."""
    text = read(DOVECOT_CORPUS / corpus_name)
    version = V24 if generation_of(corpus_name) == "2.4" else ""
    fragment = fragment_name(corpus_name) or (
        "99-local.conf" if version and "dovecot_config_version" not in text else None)
    root = directory / "dovecot.conf"
    staged = directory / "conf.d" / fragment if fragment else root
    staged.parent.mkdir(exist_ok=True)
    write(staged, text)
    if fragment:
        write(root, f"{version}!include conf.d/{fragment}\n")
    stub_includes(staged)
    return root


def stub_includes(path: Path) -> None:
    """Empty files for the relative includes a lone file names, so doveconf finds them."""
    for line in read(path).splitlines():
        found = re.match(r"\s*!include(_try)?\s+(\S+)\s*$", line)
        if not found or found.group(2).startswith("/"):
            continue
        target = path.parent / found.group(2).replace("*", "stub")
        target.parent.mkdir(parents=True, exist_ok=True)
        target.touch()


WANTED_UNIX = {"mode": "0660", "user": "postfix", "group": "postfix"}


def has_settings(settings: dict[str, str], wanted: dict[str, str]) -> bool:
    return wanted.items() <= settings.items()


def without_line_numbers(stderr: str) -> str:
    return re.sub(r"line \d+", "line N", stderr)


@pytest.mark.parametrize("name", checked_params(lambda name: not refused(name)))
def test_sound_corpus_file_takes_the_edits_and_doveconf_agrees(tmp_path, name):
    with staging(tmp_path, generation_of(name)) as directory:
        takes_the_edits_and_doveconf_agrees(stage(directory, name), generation_of(name))


def takes_the_edits_and_doveconf_agrees(root: Path, generation: str) -> None:
    config = load_what_stands(root)
    assert config.generation == generation
    originals = {path: read(path) for path in config.files}
    before = run_doveconf(root)

    apply(config.edit(unix=SASL, mechanisms=["plain", "login"]))
    middle = run_doveconf(root)
    with_unix = load_what_stands(root)
    assert has_settings(listeners_of(with_unix)[("unix", SASL.path)], WANTED_UNIX)
    assert with_unix.auth_mechanisms() == ["plain", "login"]

    apply(with_unix.edit(inet=SASL_INET, remove_unix=SASL.path))
    after = run_doveconf(root)
    with_inet = load_what_stands(root)
    assert ("unix", SASL.path) not in listeners_of(with_inet)
    address = config.dialect.listener_address         # 2.3: address, 2.4: listen
    assert has_settings(listeners_of(with_inet)[("inet", "auth-inet")],
                        {address: "127.0.0.1", "port": "10001"})
    assert_only_auth_lines_changed(originals, with_inet)

    if before.returncode != 0:
        # the file needs more than this machine offers (e.g. protocol sieve without
        # managesieved): the edits must not add errors of their own
        for run in (middle, after):
            assert run.returncode == before.returncode
            assert without_line_numbers(run.stderr) == without_line_numbers(before.stderr)
        return
    assert_doveconf_agrees(*(checked_output(run) for run in (before, middle, after)))


def load_what_stands(root: Path) -> DovecotConfig:
    """The staged tree, or the root alone when it includes an absolute path we cannot stage."""
    try:
        return DovecotConfig.load(root)
    except ConfigError as refused:
        assert re.search(r"!include /\S+: no file matches", refused.problem), refused
        return DovecotConfig.from_text(read(root), root)


def checked_output(run: subprocess.CompletedProcess) -> str:
    """doveconf -n's output without its header comments; doveconf must be content."""
    assert run.returncode == 0, run.stderr
    assert "Error" not in run.stderr and "Fatal" not in run.stderr, run.stderr
    return "".join(line for line in run.stdout.splitlines(keepends=True)
                   if not line.startswith("# "))


def assert_doveconf_agrees(before: str, middle: str, after: str) -> None:
    old, mid, new = effective(before), effective(middle), effective(after)
    assert listeners_of(mid)[("unix", SASL.path)] == WANTED_UNIX
    assert mid.auth_mechanisms() == new.auth_mechanisms() == ["plain", "login"]
    assert ("unix", SASL.path) not in listeners_of(new)
    address = new.dialect.listener_address
    assert listeners_of(new)[("inet", "auth-inet")] == {address: "127.0.0.1", "port": "10001"}
    untouched = {key: value for key, value in listeners_of(old).items()
                 if key not in (("unix", SASL.path), ("inet", "auth-inet"))
                 and value.get("port") != "10001"}
    assert untouched.items() <= listeners_of(mid).items()
    assert untouched.items() <= listeners_of(new).items()
    assert service_auth_settings(old) == service_auth_settings(mid) == service_auth_settings(new)
    assert without_auth_parts(before) == without_auth_parts(middle) == without_auth_parts(after)


def assert_only_auth_lines_changed(originals: dict[Path, str], config: DovecotConfig) -> None:
    for path, text in originals.items():
        assert_changes_inside_auth_regions(parse(text, path), config.files[path])


def auth_region_lines(doc) -> set[int]:
    """0-based indexes of service auth blocks and top-level auth_mechanisms lines."""
    lines = set()
    for section in doc.sections():
        if section.is_service_auth():
            lines.update(range(section.line - 1, section.last_line))
    for setting in doc.root.settings("auth_mechanisms"):
        lines.update(range(setting.line - 1, setting.last_line))
    return lines


def assert_changes_inside_auth_regions(old_doc, new_doc) -> None:
    old = [line.rstrip("\r\n") for line in old_doc.lines]
    new = [line.rstrip("\r\n") for line in new_doc.lines]
    old_allowed, new_allowed = auth_region_lines(old_doc), auth_region_lines(new_doc)
    for tag, i1, i2, j1, j2 in difflib.SequenceMatcher(None, old, new, autojunk=False).get_opcodes():
        if tag == "equal":
            continue
        assert set(range(i1, i2)) <= old_allowed, (old[i1:i2], new[j1:j2])
        assert set(range(j1, j2)) <= new_allowed, (old[i1:i2], new[j1:j2])
    eols = {line[len(line.rstrip("\r\n")):] for line in old_doc.lines} - {""}
    added = {line[len(line.rstrip("\r\n")):] for line in new_doc.lines} - {""}
    assert added <= (eols or {"\n"})


def debian_trees():
    """Debian's stock trees: the installed one and the bundled sample of each generation."""
    root_dovecot = debian13.ROOT / "etc" / "dovecot"
    trees = [("debian12-installed", Path("/etc/dovecot"), "2.3", needs_doveconf),
             ("debian12-sample", SAMPLE, "2.3", needs_doveconf),
             ("debian13-installed", root_dovecot, "2.4", debian13.needs_root),
             ("debian13-sample", SAMPLES / "debian13" / "dovecot", "2.4", debian13.needs_root)]
    return [pytest.param(tree, generation, id=name, marks=[needs, pytest.mark.skipif(
        not (tree / "dovecot.conf").is_file(), reason=f"{tree}/dovecot.conf is missing")])
            for name, tree, generation, needs in trees]


def copy_config_tree(source: Path, target: Path) -> None:
    """The text configuration only: no private/ directory, no keys or certificates."""
    for path in sorted(source.rglob("*")):
        relative = path.relative_to(source)
        if relative.parts[0] == "private" or path.suffix in (".pem", ".key") or not path.is_file():
            continue
        (target / relative).parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(path, target / relative)


@pytest.mark.parametrize("tree, generation", debian_trees())
def test_stock_debian_layout(tmp_path, tree, generation):
    with staging(tmp_path, generation) as directory:
        copy_config_tree(tree, directory)
        stock_layout_takes_the_edits(directory / "dovecot.conf", generation)


def stock_layout_takes_the_edits(root: Path, generation: str) -> None:
    before = doveconf_n(root)
    config = DovecotConfig.load(root)
    assert config.generation == generation and config.problems() == []
    config.check_generation(generation + ".0")
    # Debian 12 says plain; Debian 13 leaves it to the default, which is plain too
    assert config.auth_mechanisms() == (["plain"] if generation == "2.3" else None)
    assert effective(before).auth_mechanisms() in (None, ["plain"])
    changes = config.edit(unix=SASL, mechanisms=["plain", "login"])
    conf_d = root.parent / "conf.d"
    assert sorted(changes) == [conf_d / "10-auth.conf", conf_d / "10-master.conf"]
    originals = {path: read(path) for path in changes}
    apply(changes)
    after = doveconf_n(root)
    effective_after = effective(after)
    assert listeners_of(effective_after)[("unix", SASL.path)] == {
        "mode": "0660", "user": "postfix", "group": "postfix"}
    assert effective_after.auth_mechanisms() == ["plain", "login"]
    assert without_auth_parts(before) == without_auth_parts(after)
    reloaded = DovecotConfig.load(root)
    assert_only_auth_lines_changed(originals, reloaded)
    assert [l.path for l in reloaded.auth_listeners() if l.label == SASL.path] == [
        conf_d / "10-master.conf"]

    apply(reloaded.edit(inet=SASL_INET, remove_unix=SASL.path))
    listener = listeners_of(effective(doveconf_n(root)))[("inet", "auth-inet")]
    assert listener == {config.dialect.listener_address: "127.0.0.1", "port": "10001"}


@pytest.mark.parametrize("sample, installed", [
    pytest.param(SAMPLE, Path("/etc/dovecot"), id="debian12"),
    pytest.param(SAMPLES / "debian13" / "dovecot", debian13.ROOT / "etc" / "dovecot",
                 id="debian13", marks=debian13.needs_root)])
def test_bundled_debian_sample_matches_the_installed_stock_config(sample, installed):
    if not (installed / "dovecot.conf").is_file():
        pytest.skip(f"needs {installed}")
    recorded = versions.recorded(sample.parent)
    if installed == Path("/etc/dovecot") and installed_dovecot() != recorded.dovecot:
        pytest.skip(f"this machine's Dovecot is {installed_dovecot()}, not the "
                    f"{recorded.dovecot} of {recorded.release} the sample was taken from")
    files = sorted(p.relative_to(sample) for p in sample.rglob("*.conf*"))
    assert files and files == sorted(p.relative_to(installed) for p in installed.rglob("*.conf*"))
    for path in files:
        if os.access(installed / path, os.R_OK):
            assert (installed / path).read_bytes() == (sample / path).read_bytes(), path


# ---------------------------------------------------------------- properties


WORD = st.text("abcdefghijklmnopqrstuvwxyz_", min_size=1, max_size=10)
VALUE = st.text("abcdefghijklmnopqrstuvwxyz0123456789 /._-:=,", max_size=20).map(str.strip)
SECTION_NAMES = st.sampled_from([("service", "auth"), ("service", "imap-login"),
                                 ("protocol", "imap"), ("namespace", "inbox"), ("plugin", ""),
                                 ("unix_listener", "auth-userdb"), ("inet_listener", "imap"),
                                 ("unix_listener", SASL.path), ("inet_listener", ""),
                                 ("mailbox", '"Sent Messages"'), ("passdb", "")])


@st.composite
def dovecot_items(draw, depth: int = 0):
    """Lines (without endings) of a balanced Dovecot-ish block body."""
    unit = draw(st.sampled_from(["  ", "    ", "\t"]))
    lines: list[str] = []
    for _ in range(draw(st.integers(0, 6))):
        kind = draw(st.sampled_from(["setting", "comment", "blank", "section", "mechanisms",
                                     "quoted"]))
        if kind == "setting":
            spacing = draw(st.sampled_from([" = ", "=", "  =  "]))
            lines.append(f"{draw(WORD)}{spacing}{draw(VALUE)}")
        elif kind == "quoted":
            lines.append(f'{draw(WORD)} = "{draw(VALUE)} # not a comment"')
        elif kind == "mechanisms":
            lines.append(f"auth_mechanisms = {draw(VALUE)} # {draw(VALUE)}")
        elif kind == "comment":
            lines.append(f"{draw(st.sampled_from(['', ' ']))}# {draw(VALUE)}")
        elif kind == "blank":
            lines.append(draw(st.sampled_from(["", "  ", "\t"])))
        elif depth < 3:
            name, label = draw(SECTION_NAMES)
            body = draw(dovecot_items(depth + 1))
            lines.append(f"{name} {label} {{".replace("  ", " "))
            lines.extend(unit + line if line.strip() else line for line in body)
            lines.append("}")
    return lines


@st.composite
def dovecot_files(draw):
    eol = draw(st.sampled_from(["\n", "\r\n"]))
    lines = draw(dovecot_items())
    text = "".join(line + eol for line in lines)
    if text and draw(st.booleans()):
        text = text[:-len(eol)]
    return text


ANY_TEXT = st.text(st.one_of(st.sampled_from(list(' \t\r\n{}"\'#\\=!')),
                            st.characters(codec="utf-8")), max_size=300)


@settings(max_examples=150, deadline=None)
@given(ANY_TEXT)
def test_any_text_round_trips(text):
    assert parse(text, "x.conf").render() == text


@settings(max_examples=150, deadline=None)
@given(ANY_TEXT)
def test_any_text_is_refused_or_edited_into_a_sound_file(text):
    config = DovecotConfig.from_text(text, "x.conf")
    try:
        changes = config.edit(unix=SASL, mechanisms=["plain", "login"])
    except ConfigError as refused:
        assert refused.line is not None
        return
    assert parse(changes.get(Path("x.conf"), text), "x.conf").problems == []


@settings(max_examples=150, deadline=None)
@given(dovecot_files())
def test_generated_files_round_trip_without_problems(text):
    doc = parse(text, "x.conf")
    assert doc.render() == text
    assert doc.problems == []


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(dovecot_files(), st.sampled_from([
    dict(unix=SASL), dict(inet=SASL_INET), dict(mechanisms=["plain", "login"]),
    dict(unix=SASL, remove_inet_port=10001, mechanisms=["login"]),
    dict(inet=SASL_INET, remove_unix=SASL.path), dict(remove_unix="auth-userdb")]))
def test_edits_of_generated_files_stay_in_the_auth_regions(text, request):
    config = DovecotConfig.from_text(text, "x.conf")
    assume(not config.problems())
    changes = config.edit(**request)
    new_doc = parse(changes.get(Path("x.conf"), text), "x.conf")
    assert new_doc.problems == []
    assert_changes_inside_auth_regions(config.files[Path("x.conf")], new_doc)
    again = DovecotConfig.from_text(new_doc.render(), "x.conf")
    if "mechanisms" in request:
        assert again.auth_mechanisms() == request["mechanisms"]
    if "unix" in request:
        assert has_settings(listeners_of(again)[("unix", SASL.path)], WANTED_UNIX)
    if "remove_unix" in request:
        assert ("unix", request["remove_unix"]) not in listeners_of(again)
    assert again.edit(**request) == {}


# ---------------------------------------------------------------- Dovecot 2.4


def test_24_mechanism_blocks_edit_the_list_as_dovecot_does():
    # as doveconf 2.4.1 -n reads them: blocks add (yes) or drop (no); a plain setting replaces
    def mechanisms(body: str):
        return DovecotConfig.from_text(V24 + body, "d.conf").auth_mechanisms()
    assert mechanisms("auth_mechanisms {\n  login = yes\n}\n") == ["plain", "login"]
    assert mechanisms("auth_mechanisms = plain login\nauth_mechanisms {\n  plain = no\n}\n") == [
        "login"]
    assert mechanisms("auth_mechanisms {\n  login = yes\n}\nauth_mechanisms = cram-md5\n") == [
        "cram-md5"]


def test_24_mechanisms_after_a_block_are_a_new_line_after_it():
    text = V24 + "auth_mechanisms = plain\n  auth_mechanisms {\n    login = yes\n  }\n# end\n"
    new = edited(text, mechanisms=["plain", "login", "cram-md5"])
    assert new == V24 + ("auth_mechanisms = plain\n  auth_mechanisms {\n    login = yes\n  }\n"
                         "  auth_mechanisms = plain login cram-md5\n# end\n")
    assert DovecotConfig.from_text(new, "d.conf").auth_mechanisms() == ["plain", "login",
                                                                         "cram-md5"]


def test_24_inet_listener_is_named_and_listens():
    text = V24 + "service auth {\n}\n"
    assert edited(text, inet=InetListenerRequest("", "127.0.0.1", 12345)) == V24 + (
        "service auth {\n  inet_listener postfix-sasl {\n    listen = 127.0.0.1\n"
        "    port = 12345\n  }\n}\n")
    assert edited("service auth {\n}\n", inet=InetListenerRequest("", "127.0.0.1", 12345)) == (
        "service auth {\n  inet_listener {\n    address = 127.0.0.1\n    port = 12345\n  }\n}\n")


@pytest.mark.parametrize("text, why", [
    (V24 + "disable_plaintext_auth = yes\n", "'disable_plaintext_auth' (2.4 calls it "
                                             "auth_allow_cleartext"),
    (V24 + "passdb {\n  driver = pam\n}\n", "unnamed 'passdb {'"),
    (V24 + "service auth {\n  inet_listener x {\n    address = 127.0.0.1\n  }\n}\n",
     "'address' in an inet_listener"),
    ("auth_allow_cleartext = no\nauth_username_format = %{user | lower}\nauth_mechanisms = plain"
     "\npassdb {\n}\n", "is Dovecot 2.4 syntax in a Dovecot 2.3 configuration"),
])
def test_a_tree_mixing_the_generations_is_refused_with_the_upgrade_guide(tmp_path, text, why):
    write(tmp_path / "dovecot.conf", text)
    config = DovecotConfig.load(tmp_path / "dovecot.conf")
    for attempt in (lambda: config.check_generation(None),
                    lambda: config.edit(unix=SASL)):
        with pytest.raises(ConfigError) as refused:
            attempt()
        assert why in refused.value.problem and "upgrade" in refused.value.fix
        assert re.search(r"dovecot\.conf, line \d+", str(refused.value))


def test_24_syntax_without_dovecot_config_version_is_refused(tmp_path):
    write(tmp_path / "dovecot.conf", "auth_allow_cleartext = no\n")
    with pytest.raises(ConfigError, match="line 1: 'auth_allow_cleartext' is Dovecot 2.4 syntax, "
                                          "but dovecot.conf does not start with"):
        DovecotConfig.load(tmp_path / "dovecot.conf").check_generation(None)
    write(tmp_path / "dovecot.conf", "auth_verbose = yes\n" + V24)
    with pytest.raises(ConfigError, match="line 2: dovecot_config_version is not the first"):
        DovecotConfig.load(tmp_path / "dovecot.conf").check_generation(None)


@pytest.mark.parametrize("text, installed", [(V24, "2.3.19.1"), ("auth_mechanisms = plain\n",
                                                                 "2.4.1")])
def test_a_tree_the_installed_dovecot_cannot_read_is_refused(tmp_path, text, installed):
    write(tmp_path / "dovecot.conf", text)
    config = DovecotConfig.load(tmp_path / "dovecot.conf")
    with pytest.raises(ConfigError, match=f"Dovecot {installed} is installed, but this "
                                          "configuration is written for Dovecot 2.[34]"):
        config.check_generation(installed)
    config.check_generation(None)                    # no Dovecot here: the files decide
