"""A lot's session: the ledger entries a certificate's transcript carries and replay reads.

A session is the genesis entry, the opening of the lot's sub-market and every entry naming the lot.
Other lots' entries are left out: the rules of one lot do not depend on another lot, and replay
compares each entry by its own recorded index, so the subset replays byte for byte.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable, Iterable, Mapping, MutableSequence, Sequence
from typing import Any

from ledger import canonical

SessionIndex = tuple[Mapping[str, Sequence[int]], Mapping[str, Sequence[int]]]
"""Each lot's entries and each sub-market's openings (`open_submarket` entries), by index."""

# An entry naming a lot holds the encoded key "lot"; a sub-market's opening, its kind. An entry without
# either needs no decoding to be left out.
_LOT_KEY = canonical.encode_value("lot")
_OPEN_SUBMARKET = canonical.encode_value("open_submarket")


def transcript_indices(entries: Sequence[bytes], lot: str, submarket: str = "main") -> list[int]:
    """The entries a lot's session replays from: genesis, its sub-market's opening, every entry naming it.

    Only the entries holding the encoded lot id or sub-market name are decoded.
    """
    needle = canonical.encode_value(lot)
    sub_needle = canonical.encode_value(submarket)
    out = [0]
    for i in range(1, len(entries)):
        data = entries[i]
        if needle not in data and sub_needle not in data:
            continue
        entry = canonical.decode(data)
        if entry.get("lot") == lot or (entry.get("kind") == "open_submarket" and entry.get("submarket") == submarket):
            out.append(i)
    return out


def new_session_index(
    factory: Callable[[], MutableSequence[int]],
) -> tuple[defaultdict[str, MutableSequence[int]], defaultdict[str, MutableSequence[int]]]:
    """An empty session index to fill with `index_entry` (`factory` makes each list: `list`, an array...)."""
    return defaultdict(factory), defaultdict(factory)


def index_entry(
    index: tuple[Mapping[str, MutableSequence[int]], ...], seq: int, kind: Any, fields: Mapping[str, Any]
) -> None:
    """Add entry `seq` (its kind and fields) to a session index made by `new_session_index`."""
    by_lot, openings = index
    lot = fields.get("lot")
    if type(lot) is str:
        by_lot[lot].append(seq)
    if kind == "open_submarket" and type(fields.get("submarket")) is str:
        openings[fields["submarket"]].append(seq)


def index_sessions(entries: Sequence[bytes], decoded: Callable[[int], Mapping[str, Any]]) -> SessionIndex:
    """The session index of every lot in `entries` in one pass; `decoded(i)` is entry i decoded."""
    index = new_session_index(list)
    for i in range(1, len(entries)):
        data = entries[i]
        if _LOT_KEY in data or _OPEN_SUBMARKET in data:
            entry = decoded(i)
            index_entry(index, i, entry.get("kind"), entry)
    return index


def session_indices(
    by_lot: Mapping[str, Iterable[int]], openings: Mapping[str, Iterable[int]], lot: str, submarket: str, size: int
) -> list[int]:
    """`transcript_indices` of the first `size` entries, from an index of them: each lot's entries and
    each sub-market's openings (`open_submarket` entries)."""
    found = {i for i in by_lot.get(lot, ()) if i < size}
    found.update(i for i in openings.get(submarket, ()) if i < size)
    found.discard(0)
    return [0, *sorted(found)]
