"""The unified diff of a file's text now and after a change, as the wizard shows it.

difflib is slow on long files, so the unchanged head and tail (beyond the 3 lines of context)
are cut off first and the hunk line numbers shifted back. The texts are split into physical
lines with their endings kept (wizard/files/text.py).
"""

from __future__ import annotations

import difflib
import re

from wizard.files.text import split_lines

CONTEXT = 3
_HUNK = re.compile(r"@@ -(\d+)(,\d+)? \+(\d+)(,\d+)? @@")


def unified_diff(old_text: str, new_text: str, name: str) -> str:
    """The unified diff, with the file called `name` in its header lines."""
    old, new = split_lines(old_text), split_lines(new_text)
    head = max(0, _common_prefix(old, new) - CONTEXT)
    tail = max(0, _common_prefix(old[head:][::-1], new[head:][::-1]) - CONTEXT)
    lines = difflib.unified_diff(old[head:len(old) - tail], new[head:len(new) - tail],
                                 fromfile=f"{name} (now)", tofile=f"{name} (after)",
                                 n=CONTEXT)
    return "".join(_shift_hunk(line, head) for line in lines)


def _common_prefix(a: list[str], b: list[str]) -> int:
    count = 0
    for x, y in zip(a, b):
        if x != y:
            break
        count += 1
    return count


def _shift_hunk(line: str, offset: int) -> str:
    match = _HUNK.match(line) if offset and line.startswith("@@") else None
    if not match:
        return line
    old_start, old_len, new_start, new_len = match.groups()
    return (f"@@ -{int(old_start) + offset}{old_len or ''} "
            f"+{int(new_start) + offset}{new_len or ''} @@" + line[match.end():])
