"""wizard.files.maincf: lossless reading and minimal editing of main.cf, checked against the real postconf."""

from __future__ import annotations

import difflib
import os
import re
import shutil
import string
import subprocess
import tempfile
import time
from collections import Counter
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from conftest import GUIDE
from wizard.errors import ConfigError
from wizard.files.maincf import MainCf
from wizard.change.plan import limit_texts

CORPUS = Path(os.environ.get("POSTFIX_WIZARD_CORPUS")
              or Path(__file__).resolve().parents[2] / "shared" / "corpus")
POSTFIX_CORPUS = CORPUS / "postfix"
POSTCONF = shutil.which("postconf") or ("/usr/sbin/postconf" if Path("/usr/sbin/postconf").exists()
                                        else None)
needs_postconf = pytest.mark.skipif(POSTCONF is None, reason="postconf (Postfix) is not installed")

# Installer templates and a genuinely broken file: the wizard must refuse to edit these.
BROKEN = {
    "iredmail__iRedMail__samples_postfix_main.cf",
    "modoboa__modoboa-installer__modoboa_installer_scripts_files_postfix_main.cf.tpl",
    "pavelkova__arch-linux-virtual-mail-server__etc_postfix_main.cf",
}

# The eight RHEL 9 DoS directives (from the shipped preset) and the Dovecot SASL settings, as
# the wizard writes them.
HARDENING = {
    **limit_texts(GUIDE.limits),
    "smtpd_sasl_auth_enable": "yes",
    "smtpd_sasl_type": "dovecot",
    "smtpd_sasl_path": "private/auth",
    "smtpd_sasl_security_options": "noanonymous, noplaintext",
}

# postconf itself interprets these and dies on a made-up value.
CHECKED_BY_POSTCONF = {"inet_protocols", "compatibility_level", "config_directory"}


# Helpers -------------------------------------------------------------------------------------

def corpus_files(which):
    if not POSTFIX_CORPUS.is_dir():
        return [pytest.param(None, marks=pytest.mark.skip(
            reason=f"corpus directory {POSTFIX_CORPUS} is missing (set POSTFIX_WIZARD_CORPUS)"))]
    return sorted(p.name for p in POSTFIX_CORPUS.iterdir() if p.is_file() and which(p.name))


def is_main_cf(name: str) -> bool:
    return "master.cf" not in name


# RHEL 9's stock main.cf, shipped as the rhel9 demo (an absolute path: POSTFIX_CORPUS / it is it)
RHEL9_SAMPLE = pytest.param(str(Path(__file__).resolve().parents[1] / "samples/rhel9/postfix/main.cf"),
                            id="sample-rhel9-main.cf")
SOUND = corpus_files(lambda name: is_main_cf(name) and name not in BROKEN) + [RHEL9_SAMPLE]


def read(path: Path) -> str:
    if not POSTFIX_CORPUS.is_dir() and not path.exists():
        pytest.skip(f"corpus directory {POSTFIX_CORPUS} is missing (set POSTFIX_WIZARD_CORPUS)")
    return path.read_bytes().decode("utf-8", errors="surrogateescape")


def stage(directory: Path, text: str) -> Path:
    """Write DIR/main.cf. Its mtime is set a minute back: postconf re-reads a config file that
    changed within the last second or so (it may still be being written), which costs ~2 s."""
    directory.mkdir(parents=True, exist_ok=True)
    path = directory / "main.cf"
    path.write_bytes(text.encode("utf-8", errors="surrogateescape"))
    past = time.time() - 60
    os.utime(path, (past, past))
    return path


def _name_value(line: str) -> tuple[str, str]:
    name, _, value = line.partition(" =")          # an empty value prints as `name =`
    return name, value[1:] if value.startswith(" ") else value


_UNUSED = re.compile(r"(?:\S*/)?postconf: warning: .*main\.cf: unused parameter: ([^=]*)=(.*)")


class Postconf:
    """What `postconf -c DIR -n` says: stdout lines, and unused-parameter warnings on stderr."""

    def __init__(self, directory: Path):
        result = subprocess.run([POSTCONF, "-c", str(directory), "-n"], capture_output=True)
        out = result.stdout.decode("utf-8", errors="surrogateescape")
        err = result.stderr.decode("utf-8", errors="surrogateescape")
        assert result.returncode == 0, err
        self.stdout = out.replace(str(directory), "DIR")
        self.unused = sorted(f"{m[1]}={m[2]}" for m in map(_UNUSED.fullmatch, err.splitlines()) if m)
        self.values = dict(_name_value(line) for line in out.splitlines())
        if not re.search(r"(?m)^config_directory\s*=", read(directory / "main.cf")):
            self.values.pop("config_directory", None)       # printed because of -c DIR
        for m in filter(None, map(_UNUSED.fullmatch, err.splitlines())):
            self.values[m[1]] = m[2]

    def normalized(self) -> dict[str, str]:
        return {name: collapse(value) for name, value in self.values.items()}


def postconf_n(text: str) -> Postconf:
    with tempfile.TemporaryDirectory(prefix="maincf-") as directory:
        stage(Path(directory), text)
        return Postconf(Path(directory))


def collapse(value: str | None) -> str | None:
    """Postfix joins continuation lines; compare values with whitespace runs collapsed."""
    return None if value is None else " ".join(value.split())


def physical_lines(text: str) -> list[str]:
    """Lines as Postfix splits them (on LF only), end-of-line characters removed."""
    return [line.rstrip("\r") for line in text.split("\n")][: -1 if text.endswith("\n") else None]


def skipped(line: str) -> bool:
    return not line.strip() or line.strip().startswith("#")


def variant(text: str, kind: str) -> str:
    if kind == "crlf":
        return text.replace("\n", "\r\n")
    if kind == "no-final-newline":
        return text.rstrip("\n")
    return text


def changes_for(doc: MainCf) -> tuple[dict[str, str], str]:
    """The full hardening set plus a new value for a parameter the file already defines."""
    existing = next(e.name for e in reversed(doc.entries)
                    if e.name not in HARDENING and e.name not in CHECKED_BY_POSTCONF)
    return {**HARDENING, existing: "wizard-test-value"}, existing


# 1. Round trip -------------------------------------------------------------------------------

@pytest.mark.parametrize("name", corpus_files(lambda name: True) + [RHEL9_SAMPLE])
def test_every_corpus_file_renders_back_byte_for_byte(name):
    data = (POSTFIX_CORPUS / name).read_bytes()
    doc = MainCf.parse(data.decode("utf-8", errors="surrogateescape"), POSTFIX_CORPUS / name)
    assert doc.render().encode("utf-8", errors="surrogateescape") == data


# 2. Reading agrees with Postfix ---------------------------------------------------------------

@needs_postconf
@pytest.mark.parametrize("name", SOUND)
def test_every_value_is_the_one_postfix_reads(name):
    text = read(POSTFIX_CORPUS / name)
    doc = MainCf.parse(text, POSTFIX_CORPUS / name)
    assert doc.problems == []
    mine = {entry.name: collapse(doc.get(entry.name)) for entry in doc.entries}
    assert mine == postconf_n(text).normalized()


# 3. Editing agrees with `postconf -e` and changes the fewest lines ----------------------------

def _postconf_edit(text: str, changes: dict[str, str], directory: Path) -> Postconf:
    path = stage(directory, text)
    subprocess.run([POSTCONF, "-c", str(directory), "-e", *(f"{k}={v}" for k, v in changes.items())],
                   check=True, capture_output=True)
    past = time.time() - 60
    os.utime(path, (past, past))
    return Postconf(directory)


@needs_postconf
@pytest.mark.parametrize("kind", ["as-is", "crlf", "no-final-newline"])
@pytest.mark.parametrize("name", SOUND)
def test_hardening_edits_match_postconf_e_and_touch_only_their_lines(name, kind, tmp_path):
    text = variant(read(POSTFIX_CORPUS / name), kind)
    doc = MainCf.parse(text, POSTFIX_CORPUS / name)
    changes, existing = changes_for(doc)

    new = doc.edited(changes)

    ours = Postconf(stage(tmp_path / "wizard", new).parent)
    # postconf 3.7.11 -e glues its first appended line onto an unterminated last line
    # ("myhostname = xqueue_minfree = ..."), so it gets the file with its final newline.
    reference = text + "\n" if kind == "no-final-newline" else text
    theirs = _postconf_edit(reference, changes, tmp_path / "postconf")
    assert ours.stdout == theirs.stdout
    assert ours.unused == theirs.unused
    assert MainCf.parse(new).get(existing) == "wizard-test-value"

    # Only the lines of the edited definitions go; each edit adds exactly one line.
    replaced = [doc.last(n) for n, v in changes.items() if doc.last(n) and doc.get(n) != v]
    appended = [n for n in changes if doc.last(n) is None]
    before, after = physical_lines(text), physical_lines(new)
    removed = Counter(before[i] for e in replaced for i in range(e.start, e.end)
                      if not skipped(before[i]))
    assert Counter(before) - Counter(after) == removed
    added = Counter(after) - Counter(before)
    assert sum(added.values()) == len(replaced) + len(appended)
    assert {e.name: e.value for e in MainCf.parse("\n".join(added.elements())).entries} == \
        {n: changes[n] for n in [e.name for e in replaced] + appended}
    assert after[len(after) - len(appended):] == [f"{n} = {changes[n]}" for n in appended]
    opcodes = difflib.SequenceMatcher(None, before, after, autojunk=False).get_opcodes()
    assert sum(i2 - i1 for tag, i1, i2, _, _ in opcodes if tag != "equal") == sum(removed.values())
    assert sum(j2 - j1 for tag, _, _, j1, j2 in opcodes if tag != "equal") == sum(added.values())

    # Line endings stay those of the file: no bare LF in a CRLF file, no line glued to another.
    assert new.endswith("\r\n" if kind == "crlf" else "\n")
    if kind == "crlf":
        assert new.count("\n") == new.count("\r\n")
    else:
        assert "\r" not in new


@pytest.mark.parametrize("name", SOUND)
def test_setting_the_current_values_leaves_the_file_untouched(name):
    text = read(POSTFIX_CORPUS / name)
    doc = MainCf.parse(text, POSTFIX_CORPUS / name)
    current = {}
    for entry in doc.entries:
        value = doc.get(entry.name)
        try:
            assert doc.edited({entry.name: value}) == text
            current[entry.name] = value
        except ValueError:
            pass                # a value the wizard would not write itself (e.g. holds '#')
    assert current
    assert doc.edited(current) == text


def test_an_existing_one_line_parameter_changes_exactly_its_line():
    text = read(POSTFIX_CORPUS / "FlorinAndrei__server__etc_postfix_main.cf")
    before = text.splitlines(keepends=True)
    after = MainCf.parse(text).edited({"message_size_limit": "10240000"}).splitlines(keepends=True)
    assert before[60] == "message_size_limit = 20480000\n"
    assert len(after) == len(before)
    assert [i for i, (a, b) in enumerate(zip(before, after)) if a != b] == [60]
    assert after[60] == "message_size_limit = 10240000\n"


def test_a_new_parameter_is_one_line_appended_at_the_end():
    text = read(POSTFIX_CORPUS / "FlorinAndrei__server__etc_postfix_main.cf")
    new = MainCf.parse(text).edited({"anvil_rate_time_unit": "60s", "queue_minfree": "30720000"})
    assert new == text + "anvil_rate_time_unit = 60s\nqueue_minfree = 30720000\n"


def test_a_multi_line_value_becomes_one_line_and_keeps_the_comments_inside_it():
    text = ("smtpd_recipient_restrictions = permit_mynetworks,\n"
            "    # local blacklist\n"
            "    check_recipient_access hash:/etc/postfix/rcpt,\n"
            "\n"
            "    reject_unauth_destination\n"
            "myhostname = mail.example.org\n")
    new = MainCf.parse(text).edited({"smtpd_recipient_restrictions": "reject_unauth_destination"})
    assert new == ("smtpd_recipient_restrictions = reject_unauth_destination\n"
                   "    # local blacklist\n"
                   "\n"
                   "myhostname = mail.example.org\n")


# 4. Broken files and templates are refused, naming the file and line --------------------------

REFUSALS = [
    # file, first problem line, words of the problem (verified by reading the files)
    ("iredmail__iRedMail__samples_postfix_main.cf", 5, ["queue_directory", "PH_QUEUE_DIRECTORY",
                                                        "placeholder"]),
    ("modoboa__modoboa-installer__modoboa_installer_scripts_files_postfix_main.cf.tpl", 3,
     ["myhostname", "%hostname", "placeholder"]),
    ("pavelkova__arch-linux-virtual-mail-server__etc_postfix_main.cf", 687,
     ["'smt'", "is not a 'name = value' line"]),
]


@pytest.mark.parametrize("name, line, words", REFUSALS)
def test_templates_and_broken_files_are_refused_with_file_and_line(name, line, words):
    if not POSTFIX_CORPUS.is_dir():
        pytest.skip(f"corpus directory {POSTFIX_CORPUS} is missing (set POSTFIX_WIZARD_CORPUS)")
    path = POSTFIX_CORPUS / name
    doc = MainCf.parse(read(path), path)
    for attempt in (doc.check_editable, lambda: doc.edited({"message_size_limit": "10240000"})):
        with pytest.raises(ConfigError) as caught:
            attempt()
        message = str(caught.value)
        assert caught.value.line == line
        assert name in message and f"line {line}" in message
        for word in words:
            assert word in message


@needs_postconf
@pytest.mark.parametrize("name, line", [
    ("modoboa__modoboa-installer__modoboa_installer_scripts_files_postfix_main.cf.tpl", 80),
    ("pavelkova__arch-linux-virtual-mail-server__etc_postfix_main.cf", 687),
])
def test_the_line_postfix_dies_on_is_among_the_reported_problems(name, line):
    text = read(POSTFIX_CORPUS / name)
    with tempfile.TemporaryDirectory() as directory:
        stage(Path(directory), text)
        result = subprocess.run([POSTCONF, "-c", directory, "-n"], capture_output=True, text=True)
    assert result.returncode != 0 and f"main.cf, line {line}: missing '='" in result.stderr
    assert line in [number for number, _ in MainCf.parse(text).problems]


# 5. Duplicate names: the last one wins, and only it is edited ---------------------------------

@pytest.mark.parametrize("name, parameter, lines, value", [
    ("FlorinAndrei__server__etc_postfix_main.cf", "mailbox_size_limit", (42, 60), "0"),
    ("OpenDarwin-CVS__Administrative-Project__etc_postfix_main.cf", "inet_interfaces",
     (105, 648), "all"),
    ("OpenDarwin-CVS__Administrative-Project__etc_postfix_main.cf", "mynetworks_style",
     (246, 652), "host"),
    ("OpenDarwin-CVS__Administrative-Project__etc_postfix_main.cf", "mailbox_command",
     (448, 686), "/usr/bin/procmail"),
    ("OpenDarwin-CVS__Administrative-Project__etc_postfix_main.cf", "debug_peer_level",
     (579, 703), "2"),
    ("OpenDarwin-CVS__Administrative-Project__etc_postfix_main.cf", "smtpd_error_sleep_time",
     (700, 704), "50s"),
])
def test_duplicates_last_definition_wins_and_only_it_is_rewritten(name, parameter, lines, value):
    if not POSTFIX_CORPUS.is_dir():
        pytest.skip(f"corpus directory {POSTFIX_CORPUS} is missing (set POSTFIX_WIZARD_CORPUS)")
    text = read(POSTFIX_CORPUS / name)
    doc = MainCf.parse(text)
    assert [e.start + 1 for e in doc.entries if e.name == parameter] == list(lines)
    assert doc.get(parameter) == value

    before = text.splitlines(keepends=True)
    after = doc.edited({parameter: "7"}).splitlines(keepends=True)
    assert [i + 1 for i, (a, b) in enumerate(zip(before, after)) if a != b] == [lines[-1]]
    assert after[lines[-1] - 1] == f"{parameter} = 7\n"
    assert after[lines[0] - 1] == before[lines[0] - 1]
    assert MainCf.parse("".join(after)).get(parameter) == "7"


# 6. Properties --------------------------------------------------------------------------------

NAMES = ["myhostname", "mydomain", "relayhost", "mynetworks", "message_size_limit", "smtpd_banner",
         "alias_maps", "smtpd_recipient_restrictions", "wizard_custom_list", "x_1"]
# No '$': postconf expands some parameters itself and dies on `myhostname = $`.
WORD = st.text(alphabet=string.ascii_lowercase + string.digits + ".,:/_-", min_size=1, max_size=10)
VALUE = st.lists(WORD, max_size=4).map(" ".join)
SPACE = st.sampled_from(["", " ", "  ", "\t"])
ASSIGNMENT = st.tuples(st.sampled_from(NAMES), SPACE, SPACE, VALUE, st.sampled_from(["", " ", "\t "]))
CONTINUATION = st.builds(str.__add__, st.sampled_from([" ", "  ", "\t", "    ", " \t"]),
                         VALUE.filter(bool))
COMMENT = st.builds(lambda indent, body: f"{indent}#{body}", st.sampled_from(["", " ", "    ", "\t"]),
                    st.text(alphabet=string.ascii_letters + string.digits + " \t=#$,é", max_size=20))
BLANK = st.sampled_from(["", " ", "\t", "  \t "])


@st.composite
def main_cf(draw):
    """A sound main.cf and the (name, joined value) of each definition, in order."""
    lines, defined = [], []
    for _ in range(draw(st.integers(0, 10))):
        if draw(st.booleans()):
            name, before, after, value, trailing = draw(ASSIGNMENT)
            lines.append(f"{name}{before}={after}{value}{trailing}")
            parts = [value]
            for line in draw(st.lists(st.one_of(CONTINUATION, CONTINUATION, COMMENT, BLANK),
                                      max_size=3)):
                lines.append(line)
                if not skipped(line):
                    parts.append(line)
            defined.append((name, collapse(" ".join(parts))))
        else:
            lines.append(draw(st.one_of(COMMENT, BLANK)))
    eols = draw(st.lists(st.sampled_from(["\n", "\r\n"]), min_size=len(lines), max_size=len(lines)))
    text = "".join(line + eol for line, eol in zip(lines, eols))
    if text and draw(st.booleans()):
        text = text.rstrip("\r\n")                     # no final newline
    return text, defined


@given(main_cf())
def test_generated_files_round_trip_and_read_as_written(generated):
    text, defined = generated
    doc = MainCf.parse(text)
    assert doc.render() == text
    assert doc.problems == []
    assert [(e.name, collapse(e.value)) for e in doc.entries] == defined


@given(st.text())
def test_any_text_round_trips(text):
    assert MainCf.parse(text).render() == text


@needs_postconf
@settings(max_examples=30, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(main_cf(), st.sampled_from(NAMES + ["wizard_new_param"]), VALUE)
def test_an_edit_changes_only_its_parameter_in_postfix(generated, name, value):
    text, _ = generated
    new = MainCf.parse(text).edited({name: value})
    before, after = postconf_n(text).normalized(), postconf_n(new).normalized()
    assert after == {**before, name: collapse(value)}
    assert MainCf.parse(new).get(name) == value


PRINTED_RAW = ["smtpd_banner", "relayhost", "mynetworks", "alias_maps",
               "smtpd_recipient_restrictions", "message_size_limit", "smtpd_client_message_rate_limit"]
HOSTILE = ["\n", "\r", "\r\n", "\x00", "\x07", "\x08", "\x0b", "\x0c", "\x1b", "\x1f", "\x7f", "#",
           "{", "}", "{{}", "x}{{"]


@given(st.sampled_from(NAMES), VALUE, st.sampled_from(HOSTILE), VALUE)
def test_values_that_could_break_the_file_are_refused(name, head, hostile, tail):
    doc = MainCf.parse("myhostname = mail.example.org\n# keep me\n")
    with pytest.raises(ValueError):
        doc.edited({name: head + hostile + tail})
    assert doc.render() == "myhostname = mail.example.org\n# keep me\n"


@pytest.mark.parametrize("value", [
    "x\nmynetworks = 0.0.0.0/0", "x\r\nmynetworks = 0.0.0.0/0", "x\rmynetworks = 0.0.0.0/0",
    "x\n  0.0.0.0/0", "0.0.0.0/0 # comment", " 10.0.0.0/8", "10.0.0.0/8 ", "\t10.0.0.0/8",
    "{10.0.0.0/8", "10.0.0.0/8}", "",  # the empty value is fine: checked below it is accepted
])
def test_injection_attempts_are_refused(value):
    doc = MainCf.parse("myhostname = mail.example.org\n")
    if value == "":
        assert MainCf.parse(doc.edited({"mynetworks": value})).get("mynetworks") == ""
        return
    with pytest.raises(ValueError):
        doc.edited({"mynetworks": value})
    with pytest.raises(ValueError):
        doc.edited({"myhostname": value})


@needs_postconf
@settings(max_examples=30, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(main_cf(), st.sampled_from(PRINTED_RAW),
       st.one_of(st.text(st.characters(blacklist_characters="$"), max_size=30),
                 st.builds(lambda a, b: f"{a}\nmynetworks = 0.0.0.0/0{b}", st.text(max_size=5),
                           st.text(max_size=5))))
def test_no_accepted_value_adds_a_parameter_in_postfix(generated, name, value):
    """Known names, whose values postconf prints raw on stdout (stderr warnings turn non-ASCII
    into '?'); the last one never occurs in generated files, so it is always a new name."""
    text, _ = generated
    try:
        new = MainCf.parse(text).edited({name: value})
    except ValueError:
        return
    before, after = postconf_n(text).values, postconf_n(new).values
    assert set(after) <= set(before) | {name}
    assert after[name] == value


# Line breaks and control characters: only \n ends a line, as in Postfix ---

LINE_BREAKS_PYTHON_ONLY = ["\x0b", "\x0c", "\x1c", "\x1d", "\x1e", "\x85", "\u2028", "\u2029", "\r"]


@needs_postconf
@pytest.mark.parametrize("separator", LINE_BREAKS_PYTHON_ONLY, ids=repr)
def test_only_newline_ends_a_line_as_in_postfix(separator):
    text = f"# old limit{separator}message_size_limit = 5\nmyhostname = mail.example.org\n"
    postfix = postconf_n(text).values
    assert "message_size_limit" not in postfix           # Postfix reads a comment there
    doc = MainCf.parse(text)
    assert doc.get("message_size_limit") is None
    # and the wizard's edit must reach Postfix, not land inside the comment
    assert postconf_n(doc.edited({"message_size_limit": "10240000"})).values.get(
        "message_size_limit") == "10240000"


@pytest.mark.parametrize("value", ["x\x85mynetworks = 0.0.0.0/0", "x\u2028mynetworks = 0.0.0.0/0",
                                   "x\u2029mynetworks = 0.0.0.0/0", "x\x9b31mred", "x\x80"], ids=repr)
def test_c1_controls_and_unicode_line_separators_are_refused(value):
    doc = MainCf.parse("myhostname = mail.example.org\n")
    try:
        new = doc.edited({"myhostname": value})
    except ValueError:
        return
    assert [e.name for e in MainCf.parse(new).entries] == ["myhostname"]
    pytest.fail(f"{value!r} was accepted")
