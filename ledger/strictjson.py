"""Strict JSON: the one reader of every JSON document the tools take in.

Certificates (`ledger.certificate`, `auction_engine.certificates`), the CLI's input files and the
server's request bodies are read by `loads`: RFC 8259 JSON exactly as the standard library's `json`
reads it (the same objects; bytes in UTF-8, or UTF-16/32 as `json.loads` detects them), except that
three things `json` accepts silently are refused:

- **a key repeated within one object, at any depth.** RFC 8259 §4 leaves the meaning to the reader:
  `json` keeps the last copy, other readers (and people) the first, so a certificate with a forged
  first ``deal`` and the genuine one last would verify as one thing and be read as another;
- **NaN, Infinity and -Infinity**, which are not JSON at all (RFC 8259 §6);
- **a string or key holding a lone surrogate** (``"\\ud800"``): it has no UTF-8 form, and readers
  disagree on it too (RFC 8259 §8.2; I-JSON, RFC 7493 §2.1, forbids it).

Every refusal is a `StrictJSONError` (a ValueError) with a one-line message and, when the problem is
at a place in the document, `.path` naming it (``deal.price_fen``, ``transcript[3].index``,
``records["a.b"]``) and `.key` the key concerned; a repeated key is a `DuplicateKeyError`. Text that
is not JSON at all (a syntax error, invalid UTF-8, nesting deeper than the parser's own limit) is a
`StrictJSONError` with `.path` None.

A valid document costs one `json` parse with a small hook per object; only a refused one is read a
second time, to find and name the first problem in document order.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from typing import Any, NoReturn

__all__ = ["DuplicateKeyError", "StrictJSONError", "loads", "quick_loads"]


class StrictJSONError(ValueError):
    """A JSON text refused by `loads`: `.path` says where (None: the text as a whole), `.key` which key."""

    def __init__(self, message: str, *, path: str | None = None, key: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.path = path
        self.key = key


class DuplicateKeyError(StrictJSONError):
    """An object repeats a key: `.key` is the key, `.path` where its second copy is (``deal.amount``)."""

    key: str
    path: str

    def __init__(self, key: str, path: str) -> None:
        super().__init__(f"duplicate key {key!r} at {path}", path=path, key=key)


class _Refused(Exception):
    """Raised by the first parse's hooks: something is refused; the second parse names it."""


def _object(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    """object_pairs_hook of the first parse: the object as json builds it, unless a key repeats."""
    d = dict(pairs)
    if len(d) != len(pairs):
        raise _Refused
    return d


def _constant(name: str) -> NoReturn:
    """parse_constant of the first parse: NaN, Infinity, -Infinity are refused."""
    raise _Refused


_decoder = json.JSONDecoder(object_pairs_hook=_object, parse_constant=_constant)
# An escape \uD800-\uDFFF: a lone surrogate, or half of a pair (fine: json joins it into one character).
# Only a text that has one is searched further. (The pattern begins with a literal, which `re` finds fast.)
_SURROGATE_ESCAPE = re.compile(r"\\u[dD][89abcdefABCDEF]")


def loads(text: str | bytes | bytearray) -> Any:
    """Parse a JSON text strictly (see the module's docstring); raise StrictJSONError naming the problem."""
    if isinstance(text, bytes | bytearray):
        try:
            # The encoding json.loads reads bytes in: UTF-8 (a BOM skipped), or the UTF-16/32 it detects;
            # decoded strictly (json passes surrogates through), so the text holds no surrogate character.
            text = bytes(text).decode(json.detect_encoding(text))
        except UnicodeDecodeError as exc:
            raise StrictJSONError(f"not valid {exc.encoding.upper()}: {exc.reason} at byte {exc.start}") from None
        raw_surrogates = False
    elif isinstance(text, str):
        raw_surrogates = not text.isascii() and _has_lone_surrogate(text)
    else:
        raise TypeError(f"a JSON text is str, bytes or bytearray, not {type(text).__name__}")
    refused = False
    try:
        value = _parse(_decoder, text)
    except _Refused:
        refused = True
    if refused or raw_surrogates or ("\\u" in text and _SURROGATE_ESCAPE.search(text)):
        # None: nothing refused after all (a surrogate pair, or "\\ud800" spelling a backslash and "ud800")
        problem = _first_problem(text)
        if problem is not None:
            raise problem
        if refused:  # the hooks refused something the walk does not find: cannot happen
            raise StrictJSONError("refused on a first reading, not found on a second")
    return value


def quick_loads(text: str | bytes) -> Any | None:
    """The document `loads` would return, read by a fast reader when that reader can show it clean; None
    when it cannot (the caller then reads the text with `loads`, which refuses or accepts it and names any
    problem). Never accepts what `loads` refuses.

    orjson reads strict RFC 8259 JSON in UTF-8 with `json`'s objects (refusing NaN, Infinity and lone
    surrogates), but keeps one copy of a repeated key silently. So the text is taken only when orjson
    writes what it read back to exactly the same bytes, 2-space indented (as `json.dumps(indent=2,
    ensure_ascii=False)` writes, a final newline allowed) or compact: then every member of the text is
    one key of its object, and no key repeats. Any other layout or spelling (an escape, an exponent,
    a repeated key) is left to `loads`.
    """
    if _orjson_loads is None or not (type(text) is bytes or type(text) is str):
        return None
    try:
        obj = _orjson_loads(text)
        again = _orjson_dumps(obj, option=_INDENTED)
        raw = text if type(text) is bytes else text.encode()
    except (ValueError, TypeError):  # not JSON orjson reads; a value it cannot write back
        return None
    if raw.startswith(again) and (len(raw) == len(again) or raw[len(again) :] == b"\n"):
        return obj
    if raw == _orjson_dumps(obj):
        return obj
    return None


try:  # orjson (a dependency): several times faster than json for the texts it reads
    from orjson import OPT_INDENT_2 as _INDENTED
    from orjson import dumps as _orjson_dumps
    from orjson import loads as _orjson_loads
except ImportError:  # a partial install: `loads` alone
    _orjson_loads = None


def _parse(decoder: json.JSONDecoder, text: str) -> Any:
    """`decoder.decode(text)`, every way it fails as a one-line StrictJSONError (its hooks' errors pass)."""
    try:
        return decoder.decode(text)
    except json.JSONDecodeError as exc:
        raise StrictJSONError(str(exc)) from None
    except RecursionError:
        raise StrictJSONError("nested too deeply for the JSON parser") from None
    except ValueError as exc:  # an integer of more digits than int() reads, ...
        raise StrictJSONError(str(exc)) from None


# -- the second parse: every member kept, found in document order ---------------------------------


class _Pairs(list[tuple[str, Any]]):
    """An object's members as written, in order, repeats included."""


class _Constant(str):
    """NaN, Infinity or -Infinity as written."""


_reader = json.JSONDecoder(object_pairs_hook=_Pairs, parse_constant=_Constant)
_PLAIN_KEY = re.compile(r"[A-Za-z_][A-Za-z0-9_\-]*")


def _member_path(parent: str, key: str) -> str:
    """The path of key `key` in the object at `parent`: ``parent.key``, or ``parent["…"]`` for another key."""
    if _PLAIN_KEY.fullmatch(key):
        return f"{parent}.{key}" if parent else key
    # JSON string syntax, readable (其他 stays 其他), but a lone surrogate escaped: a message must be UTF-8
    return f"{parent}[{json.dumps(key, ensure_ascii=_has_lone_surrogate(key))}]"


Member = tuple[str, str | None, Any]  # (path, key or None for a list item, value)


def _members(parent: str, pairs: _Pairs) -> Iterator[Member]:
    for k, x in pairs:
        yield _member_path(parent, k), k, x


def _items(parent: str, items: list[Any]) -> Iterator[Member]:
    for i, x in enumerate(items):
        yield f"{parent}[{i}]", None, x


def _has_lone_surrogate(s: str) -> bool:
    if s.isascii():
        return False
    try:
        s.encode("utf-8")
    except UnicodeEncodeError:
        return True
    return False


def _first_problem(text: str) -> StrictJSONError | None:
    """The first refused thing in `text`, in document order (None: nothing is), or its syntax error.

    The walk is iterative, so however deep the document, it never recurses.
    """
    value = _parse(_reader, text)  # a syntax error after the first refused thing: that is the error
    # One frame per open container: its members still to see, and the keys seen so far.
    start: Iterator[Member] = iter([("", None, value)])
    frames: list[tuple[Iterator[Member], set[str]]] = [(start, set())]
    while frames:
        members, seen = frames[-1]
        item = next(members, None)
        if item is None:
            frames.pop()
            continue
        path, key, v = item
        if key is not None:
            if _has_lone_surrogate(key):
                return StrictJSONError(
                    f"{path}: a key with a lone surrogate (it has no UTF-8 form)", path=path, key=key
                )
            if key in seen:
                return DuplicateKeyError(key, path)
            seen.add(key)
        t = type(v)
        if t is _Pairs:
            frames.append((_members(path, v), set()))
        elif t is list:
            frames.append((_items(path, v), set()))
        elif t is _Constant:
            return StrictJSONError(f"{path or 'the document'}: {v} is not JSON (not a number)", path=path, key=key)
        elif t is str and _has_lone_surrogate(v):
            return StrictJSONError(
                f"{path or 'the document'}: a string with a lone surrogate (it has no UTF-8 form)", path=path, key=key
            )
    return None
