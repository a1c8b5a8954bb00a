"""The market's in-memory state as bytes and back: the encoding inside a snapshot (docs/formats.md §14).

A snapshot must rebuild exactly the objects the rules left, so this encodes the object graph as it
is, not a summary of it: dict insertion order (the rules iterate deposits and proxies in it), tuples
versus lists, shared mutable objects (encoded once, then referred to), and the state classes of the
pricing modes. It is MessagePack; every container is an array whose first element is a tag:

    [0, item...]              list                [1, item...]       tuple
    [2, k, v, k, v...]        dict, in its order  [3, item...]       set (items sorted by their bytes)
    [4, item...]              frozenset (sorted)  [5, class, v...]   a registered class, fields in order
    [6, n]                    the n-th mutable container or object met so far (shared, or a cycle)

and None, booleans, integers, strings and bytes stand for themselves. Floats are refused: nothing the
rules hold is a float. Only the classes in `CLASSES` are ever built, with their fields set directly
(no constructor, no code run), so a blob can make nothing but those plain data objects.

Equal states encode to equal bytes: `ledger replay` checks a snapshot by comparing its bytes with
the encoding of the state a replay folds from the ledger.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from typing import Any, ClassVar

import msgpack

from .bidder_keys import KeyState
from .params import SettlementParams
from .rules.agreement import AgreementParams, AgreementState, Objection
from .rules.base import Lot, Ranked
from .rules.dutch import DutchParams, DutchState
from .rules.english import EnglishParams, EnglishState, Proxy
from .rules.listing import ListingParams, ListingState
from .rules.sealed import Commitment, SealedParams, SealedState
from .rules.settlement import Deal

__all__ = ["CLASSES", "StateCodecError", "decode_state", "encode_state"]

LIST, TUPLE, DICT, SET, FROZENSET, OBJECT, REF = range(7)


class StateCodecError(ValueError):
    """The state holds something this encoding does not carry, or the bytes are not such an encoding."""


def _fields(cls: type) -> tuple[str, ...]:
    if dataclasses.is_dataclass(cls):
        return tuple(f.name for f in dataclasses.fields(cls))
    return tuple(cls._fields)  # type: ignore[attr-defined]  # a NamedTuple


_DATA_CLASSES: tuple[type, ...] = (
    Lot,
    Ranked,
    KeyState,
    SettlementParams,
    AgreementParams,
    AgreementState,
    Objection,
    DutchParams,
    DutchState,
    EnglishParams,
    EnglishState,
    Proxy,
    ListingParams,
    ListingState,
    SealedParams,
    SealedState,
    Commitment,
    Deal,
)
CLASSES: dict[str, tuple[type, tuple[str, ...]]] = {cls.__name__: (cls, _fields(cls)) for cls in _DATA_CLASSES}
"""Every class a state may hold, by the name the encoding gives it, with its fields in encoded order."""
_NAME_OF = {cls: name for name, (cls, _) in CLASSES.items()}
_NAMEDTUPLES = frozenset(cls for cls in _DATA_CLASSES if not dataclasses.is_dataclass(cls))
_FROZEN = frozenset(
    cls
    for cls in _DATA_CLASSES
    if dataclasses.is_dataclass(cls) and cls.__dataclass_params__.frozen  # type: ignore[attr-defined]
)
_ATOMS = (type(None), bool, int, str, bytes)
# What is numbered for references: every mutable container and object (an immutable one is encoded in full
# wherever it appears, which rebuilds an equal value).
_MUTABLE = frozenset({list, dict, set}) | (frozenset(_NAME_OF) - _FROZEN - _NAMEDTUPLES)


def encode_state(value: Any) -> bytes:
    """The bytes of `value` (a tree of atoms, containers and registered objects); StateCodecError if it
    holds anything else (a float, an unregistered class), naming where."""
    return msgpack.packb(_Encoder().tree(value, "state"), use_bin_type=True)


class _Encoder:
    def __init__(self) -> None:
        self.seen: dict[int, int] = {}  # id of a mutable container or object -> its reference number
        self.alive: list[Any] = []  # keeps every numbered object alive, so no id is reused meanwhile

    def _number(self, value: Any) -> list[Any] | None:
        ref = self.seen.get(id(value))
        if ref is not None:
            return [REF, ref]
        self.seen[id(value)] = len(self.alive)
        self.alive.append(value)
        return None

    def tree(self, value: Any, where: str) -> Any:
        kind = type(value)
        if kind in _ATOMS:
            return value
        if kind in _MUTABLE:
            ref = self._number(value)
            if ref is not None:
                return ref
        if kind is list:
            return [LIST, *(self.tree(v, f"{where}[{i}]") for i, v in enumerate(value))]
        if kind is tuple:
            return [TUPLE, *(self.tree(v, f"{where}[{i}]") for i, v in enumerate(value))]
        if kind is dict:
            out: list[Any] = [DICT]
            for k, v in value.items():
                out.append(self.tree(k, f"{where} key"))
                out.append(self.tree(v, f"{where}[{k!r}]"))
            return out
        if kind is set or kind is frozenset:
            items = sorted(msgpack.packb(self.tree(v, f"{where} item"), use_bin_type=True) for v in value)
            return [SET if kind is set else FROZENSET, *(msgpack.unpackb(b, raw=False) for b in items)]
        name = _NAME_OF.get(kind)
        if name is None:
            raise StateCodecError(f"{where}: a {kind.__module__}.{kind.__qualname__} cannot be encoded in a snapshot")
        fields = CLASSES[name][1]
        return [OBJECT, name, *(self.tree(getattr(value, f), f"{where}.{f}") for f in fields)]


def decode_state(data: bytes) -> Any:
    """The value `encode_state` encoded; StateCodecError naming what is wrong with bytes that are not one."""
    try:
        tree = msgpack.unpackb(data, raw=False, strict_map_key=True, use_list=True)
    except Exception as exc:  # msgpack raises several types for bad bytes
        raise StateCodecError(f"not a MessagePack value ({exc})") from None
    return _Decoder().value(tree)


class _Decoder:
    def __init__(self) -> None:
        self.made: list[Any] = []

    def value(self, tree: Any) -> Any:
        if type(tree) in _ATOMS:
            return tree
        if type(tree) is not list or not tree or type(tree[0]) is not int:
            raise StateCodecError(f"a value is neither an atom nor a tagged array: {tree!r:.60}")
        tag, body = tree[0], tree[1:]
        build = self._BUILDERS.get(tag)
        if build is None:
            raise StateCodecError(f"unknown tag {tag}")
        return build(self, body)

    def _list(self, body: list[Any]) -> list[Any]:
        out: list[Any] = []
        self.made.append(out)
        out.extend(self.value(v) for v in body)
        return out

    def _tuple(self, body: list[Any]) -> tuple[Any, ...]:
        return tuple(self.value(v) for v in body)

    def _dict(self, body: list[Any]) -> dict[Any, Any]:
        if len(body) % 2:
            raise StateCodecError("a dict has a key without a value")
        out: dict[Any, Any] = {}
        self.made.append(out)
        for i in range(0, len(body), 2):
            out[self._key(body[i])] = self.value(body[i + 1])
        return out

    def _key(self, tree: Any) -> Any:
        key = self.value(tree)
        try:
            hash(key)
        except TypeError:
            raise StateCodecError(f"a dict key or set item is not hashable: {key!r:.60}") from None
        return key

    def _set(self, body: list[Any]) -> set[Any]:
        out: set[Any] = set()
        self.made.append(out)
        out.update(self._key(v) for v in body)
        return out

    def _frozenset(self, body: list[Any]) -> frozenset[Any]:
        return frozenset(self._key(v) for v in body)

    def _object(self, body: list[Any]) -> Any:
        if not body or type(body[0]) is not str or body[0] not in CLASSES:
            raise StateCodecError(f"unknown class {body[0] if body else None!r:.60}")
        cls, fields = CLASSES[body[0]]
        if len(body) - 1 != len(fields):
            raise StateCodecError(f"a {body[0]} has {len(body) - 1} fields, not {len(fields)}")
        if cls in _NAMEDTUPLES:
            return cls._make(self.value(v) for v in body[1:])  # type: ignore[attr-defined]
        obj = object.__new__(cls)
        if cls not in _FROZEN:
            self.made.append(obj)
        for name, tree in zip(fields, body[1:], strict=True):
            object.__setattr__(obj, name, self.value(tree))
        return obj

    def _ref(self, body: list[Any]) -> Any:
        if len(body) != 1 or type(body[0]) is not int or not 0 <= body[0] < len(self.made):
            raise StateCodecError(f"a reference to an object not met yet: {body!r:.60}")
        return self.made[body[0]]

    _BUILDERS: ClassVar[dict[int, Callable[[_Decoder, list[Any]], Any]]] = {
        LIST: _list,
        TUPLE: _tuple,
        DICT: _dict,
        SET: _set,
        FROZENSET: _frozenset,
        OBJECT: _object,
        REF: _ref,
    }
