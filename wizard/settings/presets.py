"""Presets: hardening profiles as TOML files (format 1), loaded strictly and saved with comments.

A preset names only what it changes: every table and key is optional, and a key left out keeps
the server's current value. Keys are the settings model's: Postfix names under [limits], the
wizard's SASL fields under [sasl].
"""

from __future__ import annotations

import difflib
import json
import re
import stat
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import tomlkit
from pydantic import ValidationError
from tomlkit.exceptions import KeyAlreadyPresent, ParseError, TOMLKitError

from wizard.errors import ConfigError
from wizard.settings.model import OLDEST_POSTFIX, PARAMS, Limits, Param, Sasl, Settings
from wizard.resources import presets_dir

FORMAT = 1
MAX_BYTES = 64 * 1024
HEADER_KEYS = ("name", "description", "format")


@dataclass
class Preset:
    name: str
    description: str
    settings: Settings
    path: Path | None = None
    document: tomlkit.TOMLDocument | None = None     # kept so re-saving keeps the user's comments


class PresetError(ConfigError):
    pass


def shipped() -> list[Preset]:
    return [load(path) for path in sorted(presets_dir().glob("*.toml"))]


def find(name_or_path: str) -> Path:
    """A shipped preset by name, or a file by path."""
    path = Path(name_or_path)
    if path.suffix in (".toml", ".json") or "/" in name_or_path:
        return path
    candidate = presets_dir() / f"{name_or_path}.toml"
    if candidate.exists():
        return candidate
    names = [p.stem for p in presets_dir().glob("*.toml")]
    raise PresetError(name_or_path, None, "no shipped preset has that name",
                      _suggest(name_or_path, names, "Shipped presets: " + ", ".join(sorted(names))))


def load(path: Path) -> Preset:
    """A preset file: TOML, or the same tables as JSON (a `.json` file: what the Ansible
    collection writes from a playbook's inline `settings`)."""
    text = _read(path)
    if path.suffix == ".json":
        return _from_data(path, text, _json(path, text), None)
    try:
        document = tomlkit.parse(text)
    except ParseError as error:
        raise PresetError(path, error.line, f"is not valid TOML ({_reason(error)})",
                          "Correct the TOML syntax") from None
    except KeyAlreadyPresent as error:
        key = re.search(r'"(.+?)"', str(error))
        raise PresetError(path, _last_line_of(text, key.group(1)) if key else None,
                          f"sets {key.group(1) if key else 'a key'} twice",
                          "Keep one of the two lines") from None
    except TOMLKitError as error:
        raise PresetError(path, None, f"is not valid TOML ({error})",
                          "Correct the TOML syntax") from None
    return _from_data(path, text, document.unwrap(), document)


def _from_data(path: Path, text: str, data: dict, document) -> Preset:
    header = _header(path, text, data)
    settings = Settings(limits=_section(path, text, data, "limits", Limits),
                        sasl=_section(path, text, data, "sasl", Sasl))
    return Preset(header.get("name") or path.stem, header.get("description", ""), settings,
                  path, document)


def _json(path: Path, text: str) -> dict:
    try:
        data = json.loads(text)
    except ValueError as error:
        line = getattr(error, "lineno", None)
        raise PresetError(path, line, f"is not valid JSON ({getattr(error, 'msg', error)})",
                          "Correct the JSON syntax") from None
    if not isinstance(data, dict):
        raise PresetError(path, None, "must hold one JSON object, with the tables of a preset",
                          'Write {"limits": {...}, "sasl": {...}}')
    return data


def _read(path: Path) -> str:
    try:
        info = path.stat()
    except OSError as error:
        raise PresetError(path, None, f"cannot be read ({error.strerror})",
                          "Give the path of a preset file, or a shipped preset's name") from None
    if not stat.S_ISREG(info.st_mode):
        raise PresetError(path, None, "is not a regular file", "Give the path of a .toml file")
    if info.st_size > MAX_BYTES:
        raise PresetError(path, None, f"is {info.st_size} bytes, over the {MAX_BYTES // 1024} KiB "
                          "a preset may have", "A preset holds a few dozen settings; check the file")
    try:
        return path.read_bytes().decode("utf-8")
    except UnicodeDecodeError:
        raise PresetError(path, None, "is not UTF-8 text", "Save the preset as UTF-8") from None
    except OSError as error:
        raise PresetError(path, None, f"cannot be read ({error.strerror})") from None


def _reason(error: ParseError) -> str:
    return re.sub(r" at line \d+ col \d+$", "", str(error))


def _header(path: Path, text: str, data: dict) -> dict:
    unknown = set(data) - {"preset", *PARAMS}
    for name in sorted(unknown):
        if not isinstance(data[name], dict):
            raise PresetError(path, _line_of(text, "", name), f"{name} stands outside any table",
                              "Put it under [limits] or [sasl]")
        raise PresetError(path, _line_of(text, None, name), f"unknown table [{name}]",
                          _suggest(name, ["preset", *PARAMS], "Tables are [preset], [limits], [sasl]"))
    header = data.get("preset", {})
    if not isinstance(header, dict):
        raise PresetError(path, _line_of(text, None, "preset"), "'preset' must be a table",
                          "Write it as [preset]")
    for key in header:
        if key not in HEADER_KEYS:
            raise PresetError(path, _line_of(text, "preset", key), f"unknown key preset.{key}",
                              _suggest(key, HEADER_KEYS, "Keys of [preset]: name, description, format"))
    form = header.get("format", FORMAT)
    if type(form) is not int or form != FORMAT:
        raise PresetError(path, _line_of(text, "preset", "format"),
                          f"preset.format is {header['format']!r}; this wizard reads format {FORMAT}",
                          "Use a preset written for format 1, or a newer postfix-wizard")
    for key in ("name", "description"):
        if not isinstance(header.get(key, ""), str):
            raise PresetError(path, _line_of(text, "preset", key), f"preset.{key} must be a string",
                              'Put the text in double quotes')
    return header


def _section(path: Path, text: str, data: dict, table: str, model: type) -> Any:
    values = data.get(table, {})
    if not isinstance(values, dict):
        raise PresetError(path, _line_of(text, None, table), f"'{table}' must be a table",
                          f"Write it as [{table}]")
    for key in values:
        if key not in PARAMS[table]:
            raise PresetError(path, _line_of(text, table, key), f"unknown key {table}.{key}",
                              _suggest(key, PARAMS[table], f"See the keys listed in the "
                                       f"documentation of [{table}]"))
    try:
        return model(**values)
    except ValidationError as error:
        first = error.errors()[0]
        key = str(first["loc"][0])
        # A value error carries its own fix (from the field's rule); a type error gets one here.
        is_value_error = first["type"] == "value_error"
        raise PresetError(path, _line_of(text, table, key), f"{table}.{key}: "
                          f"{first['msg'].removeprefix('Value error, ')}",
                          "" if is_value_error else _type_fix(PARAMS[table][key])) from None


def _type_fix(param: Param) -> str:
    examples = {"count": "a whole number without quotes, like 100",
                "size": "a number of bytes without quotes, like 10240000",
                "port": "a whole number without quotes, like 12345",
                "time": 'a quoted time, like "60s"',
                "bool": "true or false, without quotes",
                "words": 'a list of quoted words, like ["plain", "login"]'}
    if param.kind == "choice":
        return "Write one of: " + ", ".join(f'"{c}"' for c in param.choices)
    example = f', like "{param.default}"' if param.default else ""
    return "Write " + examples.get(param.kind, "a quoted string" + example)


def _suggest(word: str, choices, fallback: str) -> str:
    close = difflib.get_close_matches(word, list(choices), n=1, cutoff=0.6)
    return f"Did you mean '{close[0]}'?" if close else fallback


def _last_line_of(text: str, key: str) -> int | None:
    lines = [n for n, line in enumerate(text.splitlines(), start=1)
             if re.match(rf'\s*["\']?{re.escape(key)}["\']?\s*=', line)]
    return lines[-1] if lines else None


def _line_of(text: str, table: str | None, key: str) -> int | None:
    """The line where `key` is set in [table] (or where [key] opens, for table None)."""
    current = ""           # the top level, before any [table]
    for number, line in enumerate(text.splitlines(), start=1):
        stripped = line.strip()
        header = re.fullmatch(r"\[\s*([A-Za-z0-9_.-]+)\s*\]\s*(#.*)?", stripped)
        if header:
            current = header.group(1)
            if table is None and current == key:
                return number
            continue
        if table is not None and current == table and re.match(
                rf'["\']?{re.escape(key)}["\']?\s*=', stripped):
            return number
    return None


# Saving ------------------------------------------------------------------------------------

def dumps(settings: Settings, name: str, description: str,
          document: tomlkit.TOMLDocument | None = None) -> str:
    """The preset as TOML; given the document it was loaded from, the user's comments stay."""
    document = document if document is not None else tomlkit.document()
    if "preset" not in document:
        document.add("preset", tomlkit.table())
    header = document["preset"]
    header["name"] = name
    header["description"] = description
    header["format"] = FORMAT
    for table, params in PARAMS.items():
        values = getattr(settings, table).model_dump(exclude_none=True)
        if table not in document:
            if not values:
                continue
            document.add(tomlkit.nl())
            document.add(table, tomlkit.table())
        _fill(document[table], params, values)
    return tomlkit.dumps(document)


def _fill(table, params: dict[str, Param], values: dict) -> None:
    for key in [k for k in table if k not in values]:
        del table[key]
    for key, value in values.items():
        if key in table:
            table[key] = value
            continue
        for comment in _comments(params[key]):
            table.add(tomlkit.comment(comment))
        table.add(key, value)


def _comments(param: Param) -> list[str]:
    where = "Postfix" if param.file == "main.cf" else "Dovecot"
    facts = [f"{where}: {param.name}"]
    if param.unit:
        facts.append(f"unit: {param.unit}")
    facts.append(f"default: {param.default or '(none)'}")
    if param.since != OLDEST_POSTFIX:
        facts.append(f"needs Postfix {param.since} or later")
    return [param.help, "; ".join(facts)]


def save(path: Path, settings: Settings, name: str, description: str,
         document: tomlkit.TOMLDocument | None = None) -> None:
    from wizard.files.atomic import encode, write_file_atomically
    try:
        write_file_atomically(path, encode(dumps(settings, name, description, document)))
    except OSError as error:
        raise PresetError(path, None, f"cannot be written ({error.strerror})",
                          "Choose a path in a writable directory") from None
