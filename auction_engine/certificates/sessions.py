"""A lot's session: the ledger entries a certificate's transcript carries and replay reads.

A session is the genesis entry, the opening of the lot's sub-market, every entry naming the lot, and
the key entries (`bind_key`, `reset_key`: auction_engine/bidder_keys.py) of every actor of those
entries, since whether a bidder's command is accepted depends on its key in force. Other lots'
entries are left out: the rules of one lot do not depend on another lot, and replay compares each
entry by its own recorded index, so the subset replays byte for byte.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable, Iterable, Mapping, MutableSequence, Sequence
from typing import Any

from ledger import canonical

SessionIndex = tuple[
    Mapping[str, Sequence[int]], Mapping[str, Sequence[int]], Mapping[str, set[str]], Mapping[str, Sequence[int]]
]
"""Each lot's entries, each sub-market's openings (`open_submarket` entries), each lot's actors and
each bidder's key entries, by index."""

# An entry naming a lot holds the encoded key "lot"; a sub-market's opening or a key entry, its kind.
# An entry without any of them needs no decoding to be left out.
_LOT_KEY = canonical.encode_value("lot")
_OPEN_SUBMARKET = canonical.encode_value("open_submarket")
_KEY_KINDS = (canonical.encode_value("bind_key"), canonical.encode_value("reset_key"))


def key_holder(kind: Any, fields: Mapping[str, Any]) -> str | None:
    """The bidder whose key a key entry binds or resets (None for any other entry)."""
    if kind == "bind_key":
        holder = fields.get("actor")
    elif kind == "reset_key":
        holder = fields.get("bidder")
    else:
        return None
    return holder if type(holder) is str else None


def _maybe_key_entry(data: bytes) -> bool:
    return _KEY_KINDS[0] in data or _KEY_KINDS[1] in data


def transcript_indices(entries: Sequence[bytes], lot: str, submarket: str = "main") -> list[int]:
    """The entries a lot's session replays from: genesis, its sub-market's opening, every entry naming it.

    Only the entries holding the encoded lot id or sub-market name are decoded.
    """
    needle = canonical.encode_value(lot)
    sub_needle = canonical.encode_value(submarket)
    out = [0]
    actors: set[str] = set()
    key_entries: list[tuple[int, str]] = []
    for i in range(1, len(entries)):
        data = entries[i]
        maybe_key = _maybe_key_entry(data)
        if needle not in data and sub_needle not in data and not maybe_key:
            continue
        entry = canonical.decode(data)
        if entry.get("lot") == lot:
            out.append(i)
            if type(entry.get("actor")) is str:
                actors.add(entry["actor"])
        elif entry.get("kind") == "open_submarket" and entry.get("submarket") == submarket:
            out.append(i)
        elif maybe_key:
            holder = key_holder(entry.get("kind"), entry)
            if holder is not None:
                key_entries.append((i, holder))
    out.extend(i for i, holder in key_entries if holder in actors)
    return sorted(out)


def new_session_index(
    factory: Callable[[], MutableSequence[int]],
) -> tuple[
    defaultdict[str, MutableSequence[int]],
    defaultdict[str, MutableSequence[int]],
    defaultdict[str, set[str]],
    defaultdict[str, MutableSequence[int]],
]:
    """An empty session index to fill with `index_entry` (`factory` makes each list: `list`, an array...)."""
    return defaultdict(factory), defaultdict(factory), defaultdict(set), defaultdict(factory)


def index_entry(index: tuple[Mapping[str, Any], ...], seq: int, kind: Any, fields: Mapping[str, Any]) -> None:
    """Add entry `seq` (its kind and fields) to a session index made by `new_session_index`."""
    by_lot, openings, actors, key_entries = index
    lot = fields.get("lot")
    if type(lot) is str:
        by_lot[lot].append(seq)
        actor = fields.get("actor")
        if type(actor) is str:
            actors[lot].add(actor)
    elif kind == "open_submarket" and type(fields.get("submarket")) is str:
        openings[fields["submarket"]].append(seq)
    else:
        holder = key_holder(kind, fields)
        if holder is not None:
            key_entries[holder].append(seq)


def index_sessions(entries: Sequence[bytes], decoded: Callable[[int], Mapping[str, Any]]) -> SessionIndex:
    """The session index of every lot in `entries` in one pass; `decoded(i)` is entry i decoded."""
    index = new_session_index(list)
    for i in range(1, len(entries)):
        data = entries[i]
        if _LOT_KEY in data or _OPEN_SUBMARKET in data or _maybe_key_entry(data):
            entry = decoded(i)
            index_entry(index, i, entry.get("kind"), entry)
    return index


def session_indices(
    by_lot: Mapping[str, Iterable[int]],
    openings: Mapping[str, Iterable[int]],
    actors: Mapping[str, Iterable[str]],
    key_entries: Mapping[str, Iterable[int]],
    lot: str,
    submarket: str,
    size: int,
) -> list[int]:
    """`transcript_indices` of the first `size` entries, from an index of them (`new_session_index`)."""
    found = {i for i in by_lot.get(lot, ()) if i < size}
    found.update(i for i in openings.get(submarket, ()) if i < size)
    for actor in actors.get(lot, ()):
        found.update(i for i in key_entries.get(actor, ()) if i < size)
    found.discard(0)
    return [0, *sorted(found)]
