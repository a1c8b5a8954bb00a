"""Where a key path of a scenario is defined in its TOML text: the line a `ScenarioError` names.

A light scan of the text, not a second TOML parser: tables, arrays of tables and keys, with inline
values (`params = { a = 1 }`, a mode rule's array of inline tables spread over lines) walked too.
"""

from __future__ import annotations

import contextlib
import re

_HEADER = re.compile(r"^\s*(\[\[?)\s*([^\]]+?)\s*\]\]?\s*(#.*)?$")
_KEY = re.compile(r"^\s*([A-Za-z0-9_.\-\"' ]+?)\s*=")


def _split_key(key: str) -> list[str]:
    return [part.strip().strip("\"'") for part in key.split(".")]


def locate(text: str, path: list[str | int]) -> int | None:
    """The 1-based line that defines `path` (or its nearest ancestor), found by a light TOML scan.

    Inline values (`params = { a = 1 }`, and arrays of inline tables spread over several lines, as
    a mode rule is) are walked too, so a key inside them is found on its own line.
    """
    counters: dict[tuple[str, ...], int] = {}
    table: list[str | int] = []
    found: dict[tuple[str | int, ...], int] = {}
    lines = text.splitlines()
    skip_to = 0
    for lineno, line in enumerate(lines, start=1):
        if lineno <= skip_to:
            continue
        stripped = line.strip()
        if not stripped or stripped.startswith("#"):
            continue
        header = _HEADER.match(line)
        if header and stripped.startswith("["):
            names = _split_key(header.group(2))
            if header.group(1) == "[[":
                key = tuple(names)
                counters[key] = counters.get(key, -1) + 1
                for nested in [k for k in counters if len(k) > len(key) and k[: len(key)] == key]:
                    del counters[nested]  # a new [[mechanism]] numbers its [[mechanism.option]] from 0 again
                table = [*names[:-1], names[-1], counters[key]]
                # arrays of tables nested under an array element: resolve earlier components
                if len(names) > 1:
                    parent = tuple(names[:-1])
                    if parent in counters:
                        table = [*names[:-1], counters[parent], names[-1], counters[key]]
            else:
                table = list(names)
                if len(names) > 1 and tuple(names[:1]) in counters:
                    table = [names[0], counters[(names[0],)], *names[1:]]
            found.setdefault(tuple(table), lineno)
            continue
        m = _KEY.match(line)
        if m:
            full = tuple(table + _split_key(m.group(1)))
            found.setdefault(full, lineno)
            # keys inside an inline table on this line: `params = { a = 1, b = 2 }`
            for inner in re.finditer(r"[{,]\s*([A-Za-z0-9_\-]+)\s*=", line):
                found.setdefault((*full, inner.group(1)), lineno)
            rest = line[m.end() :].lstrip()
            if rest[:1] in ("[", "{"):
                with contextlib.suppress(IndexError, ValueError):  # a value this scan cannot follow: keep what it has
                    skip_to = _walk_value(lines, lineno - 1, len(line) - len(rest), full, found)
    for end in range(len(path), 0, -1):
        hit = found.get(tuple(path[:end]))
        if hit is not None:
            return hit
    return None


def _walk_value(
    lines: list[str], row: int, col: int, path: tuple[str | int, ...], found: dict[tuple[str | int, ...], int]
) -> int:
    """Record the line of every key and element of the inline value at lines[row][col]; return its last line."""

    def skip(r: int, c: int) -> tuple[int, int]:  # past blanks, newlines and comments
        while True:
            if r >= len(lines):
                raise ValueError("unterminated value")
            text = lines[r]
            while c < len(text) and text[c] in " \t":
                c += 1
            if c >= len(text) or text[c] == "#":
                r, c = r + 1, 0
                continue
            return r, c

    def value(r: int, c: int, here: tuple[str | int, ...]) -> tuple[int, int]:
        r, c = skip(r, c)
        found.setdefault(here, r + 1)
        ch = lines[r][c]
        if ch == "[":
            r, c, k = r, c + 1, 0
            while True:
                r, c = skip(r, c)
                if lines[r][c] == "]":
                    return r, c + 1
                r, c = value(r, c, (*here, k))
                k += 1
                r, c = skip(r, c)
                if lines[r][c] == ",":
                    c += 1
        if ch == "{":
            r, c = r, c + 1
            while True:
                r, c = skip(r, c)
                if lines[r][c] == "}":
                    return r, c + 1
                m = re.compile(r"([A-Za-z0-9_\-]+|\"[^\"]*\"|'[^']*')\s*=").match(lines[r], c)
                if m is None:
                    raise ValueError("not a key")
                r, c = value(r, m.end(), (*here, m.group(1).strip("\"'")))
                r, c = skip(r, c)
                if lines[r][c] == ",":
                    c += 1
        if ch in "\"'":
            end = lines[r].index(ch, c + 1)
            while ch == '"' and lines[r][end - 1] == "\\":  # an escaped quote
                end = lines[r].index(ch, end + 1)
            return r, end + 1
        m = re.compile(r"[^,\]}\s#]+").match(lines[r], c)  # a number, boolean or date
        if m is None:
            raise ValueError("not a value")
        return r, m.end()

    end_row, _ = value(row, col, path)
    return end_row + 1


def path_text(path: list[str | int]) -> str:
    out = ""
    for part in path:
        if isinstance(part, int):
            out += f"[{part}]"
        else:
            out += ("." if out else "") + part
    return out
