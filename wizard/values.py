"""Value syntax shared by the model, the validation rules and the editors.

Each parser takes the text a user typed (or a file holds) and returns the value Postfix would
see, or raises ValueError with a sentence that says what is wrong and how to write it instead.
"""

from __future__ import annotations

import ipaddress
import re

INT_MAX = 2**31 - 1          # Postfix reads counts and times into a C int
LONG_MAX = 2**63 - 1         # sizes are C longs

TIME_UNITS = {"s": 1, "m": 60, "h": 3600, "d": 86400, "w": 604800}
_TIME = re.compile(r"(\d+)([smhdw]?)")
_SIZE = re.compile(r"(\d+)\s*(k|kb|kib|m|mb|mib|g|gb|gib|b)?", re.IGNORECASE)
_SIZE_FACTORS = {
    "": 1, "b": 1,
    "k": 1024, "kib": 1024, "kb": 1000,
    "m": 1024**2, "mib": 1024**2, "mb": 1000**2,
    "g": 1024**3, "gib": 1024**3, "gb": 1000**3,
}
_BARE_DOLLAR = re.compile(r"\$(?![A-Za-z0-9_{$])")
_TABLE = re.compile(r"[a-z][a-z0-9_]*:\S.*")
_HOSTNAME = re.compile(r"\.?[A-Za-z0-9*]([A-Za-z0-9*-]*[A-Za-z0-9*])?(\.[A-Za-z0-9*]([A-Za-z0-9*-]*[A-Za-z0-9*])?)*")


def check_text(value: str, *, allow_spaces: bool = True, allow_hash: bool = False) -> str:
    """Refuse text that would become a new line, key or comment in a configuration file."""
    if not value.isprintable():
        raise ValueError("contains a control character or line break; type the value on one line")
    if value != value.strip():
        raise ValueError("starts or ends with a space; remove the surrounding spaces")
    if not allow_spaces and any(c.isspace() for c in value):
        raise ValueError("must be a single word without spaces")
    if not allow_hash and "#" in value:
        raise ValueError("contains '#', which Postfix keeps as part of the value, not as a comment; "
                         "remove it")
    if value.count("{") != value.count("}"):
        raise ValueError("has unbalanced braces '{' and '}'")
    return value


def check_references(value: str) -> str:
    """A lone `$` makes Postfix stop with 'empty macro name'; a literal dollar is `$$`."""
    if _BARE_DOLLAR.search(value.replace("$$", "")):
        raise ValueError("has a '$' that starts no parameter name; write $name, or $$ for a "
                         "literal dollar sign")
    return value


def parse_count(text: str, *, minimum: int = 0, maximum: int = INT_MAX) -> int:
    text = check_text(text)
    if not text.isdigit() or not text.isascii():
        raise ValueError(f"'{text}' is not a whole number; write digits only, like 100")
    value = int(text)
    return check_range(value, minimum, maximum)


def check_range(value: int, minimum: int, maximum: int, unit: str = "") -> int:
    suffix = f" {unit}" if unit else ""
    if value < minimum:
        raise ValueError(f"{value}{suffix} is below the smallest allowed value, {minimum}{suffix}")
    if value > maximum:
        raise ValueError(f"{value}{suffix} is above the largest value Postfix can hold, {maximum}{suffix}")
    return value


def parse_time(text: str) -> int:
    """Postfix time syntax: digits and an optional unit letter (s m h d w). Returns seconds."""
    text = check_text(text)
    match = _TIME.fullmatch(text)
    if not match:
        raise ValueError(f"'{text}' is not a Postfix time; write a whole number with an optional "
                         "unit s, m, h, d or w, like 60s or 5m (no fractions, no spaces)")
    seconds = int(match.group(1)) * TIME_UNITS[match.group(2) or "s"]
    return check_range(seconds, 0, INT_MAX, "seconds")


def parse_size(text: str) -> int:
    """Bytes. Accepts 10240000, 10M / 10MiB (binary) and 10MB (decimal); files get plain bytes."""
    text = check_text(text)
    match = _SIZE.fullmatch(text)
    if not match:
        raise ValueError(f"'{text}' is not a size; write bytes (10240000) or a number with "
                         "K, M or G (10M = 10 MiB, 10MB = 10,000,000 bytes)")
    value = int(match.group(1)) * _SIZE_FACTORS[(match.group(2) or "").lower()]
    return check_range(value, 0, LONG_MAX, "bytes")


def format_size(value: int) -> str:
    """A human reading of a byte count, for display next to the exact number."""
    for unit, factor in (("GiB", 1024**3), ("MiB", 1024**2), ("KiB", 1024)):
        if value >= factor:
            return f"{value / factor:.4g} {unit}"
    return f"{value} bytes"


# Lookup table types kept in a file: the suffix Postfix adds to the name to open it. The name
# itself is the source text ("key value" lines; "/re/ value" for regexp and pcre).
FILE_TABLES = {"hash": ".db", "btree": ".db", "lmdb": ".lmdb", "cdb": ".cdb", "dbm": ".dir",
               "cidr": "", "pcre": "", "regexp": "", "texthash": ""}


def split_list(value: str, commas: bool = True) -> list[str]:
    """Split a Postfix list on whitespace (and commas), keeping `{...}` groups whole."""
    items, depth, current = [], 0, ""
    for char in value:
        if char == "{":
            depth += 1
        elif char == "}":
            depth -= 1
        if depth == 0 and (char.isspace() or commas and char == ","):
            if current:
                items.append(current)
            current = ""
        else:
            current += char
    if current:
        items.append(current)
    return items


def check_address_item(item: str) -> None:
    """One element of a mynetworks-style address list, as match_list(3) will read it."""
    body = item[1:] if item.startswith("!") else item
    if not body:
        raise ValueError("'!' must be followed by an address, network or table")
    if body.startswith("$"):
        if not re.fullmatch(r"\$(\w+|\{\w+([?:].*)?\})", body):
            raise ValueError(f"'{body}' is not a valid $parameter reference")
        return
    if body.startswith("/"):
        return                                      # a file of patterns
    if body.startswith("["):
        _check_bracketed(body)
        return
    if _looks_like_ip(body):
        _check_ip_network(body)
        return
    if ":" in body:
        if _looks_like_ipv6(body):
            address, _, length = body.partition("/")
            raise ValueError(f"'{body}' is an IPv6 address without brackets; Postfix would read it "
                             f"as a lookup table. Write it as [{address}]" + (f"/{length}" if length else ""))
        if not _TABLE.fullmatch(body):
            raise ValueError(f"'{body}' is neither an address nor a 'type:table' lookup")
        return
    if not _HOSTNAME.fullmatch(body):
        raise ValueError(f"'{body}' is not an address, network, host name, /file or type:table")


def _looks_like_ip(text: str) -> bool:
    return bool(re.fullmatch(r"[\d.]+(/\d+)?", text)) and text[0].isdigit()


def _looks_like_ipv6(text: str) -> bool:
    try:
        ipaddress.ip_network(text, strict=False)
        return True
    except ValueError:
        return False


def _check_ip_network(text: str, shown: str | None = None) -> None:
    try:
        if "/" in text:
            network = ipaddress.ip_network(text, strict=False)
            if network.network_address != ipaddress.ip_address(text.split("/")[0]):
                better = (f"[{network.network_address}]/{network.prefixlen}" if shown
                          else str(network))
                raise ValueError(f"'{shown or text}' has host bits set; Postfix refuses it. "
                                 f"Write {better} instead")
        else:
            ipaddress.ip_address(text)
    except ValueError as error:
        if "host bits" in str(error):
            raise
        raise ValueError(f"'{shown or text}' is not a valid IP address or network") from None


def _check_bracketed(text: str) -> None:
    match = re.fullmatch(r"\[([^\]]+)\](/\d+)?", text)
    if not match:
        raise ValueError(f"'{text}' is not a valid bracketed address like [2001:db8::]/32")
    _check_ip_network(match.group(1) + (match.group(2) or ""), shown=text)


def check_address_list(value: str) -> list[str]:
    """Postfix stops matching at a bad entry, so one bad entry breaks the whole list."""
    check_references(check_text(value))
    items = split_list(value)
    for item in items:
        check_address_item(item)
    return items


def sasl_inet_path(path: str) -> tuple[str, str] | None:
    """smtpd_sasl_path's `inet:HOST:PORT` (`inet:[IPv6]:PORT`) as (HOST, PORT) as written;
    None for a UNIX socket path."""
    if not path.startswith("inet:"):
        return None
    host, _, port = path[len("inet:"):].rpartition(":")
    return host.strip("[]"), port
