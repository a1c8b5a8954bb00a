"""Replay: rebuild a market from its ledger alone and check that the rules reproduce every entry.

The inputs of a market are its command entries (those with an `ok` field), each at its time `t`;
everything else (acceptances, rejections, timer firings, deals, refunds) is derived. Replay feeds
the commands to a fresh engine on a manual clock and demands that the engine write, entry for
entry, the same canonical bytes. The same code rebuilds a live market after a crash.

The entries need not be a whole ledger: a lot's transcript (the genesis entry, the lot's
sub-market, and every entry naming the lot) replays too, because each entry is compared using
its own recorded `seq` and `prev`, and the replaying engine numbers what it writes by the
ledger's indices (so a transaction code, derived from the deal entry's index, comes out right).

Sealed fields (a proxy's maximum, auction_engine/vault.py) are replayed from the recorded commitment
and `sealed` bytes: the market's own vault (the live server restarting) opens them with its key; an
auditor's replay, by default, knows them from the ledger's reveal entries, each checked against the
commitment it opens. A sealed command that neither can open, and that a rule needs, stops the replay
with a ReplayMismatch naming it (its lot is still being priced: the values are not public yet).
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

from ledger import canonical

from .clock import ManualClock
from .engine import RULES_VERSION, Engine
from .model import Ms
from .signing import check_entries
from .vault import RevealVault, SealError, Vault

__all__ = ["ReplayMismatch", "ReplayReport", "command_of", "replay", "replay_engine", "replay_onto"]

_NOTHING: dict[str, Any] = {}
_RESULT = ("seq", "prev", "t", "kind", "ok", "rule", "reason", "message", "out", "redacted", "lot_seq")


class ReplayMismatch(Exception):
    """The rules, replayed, write something other than what the ledger holds at `index`.

    `unrevealed`: the replay stopped at a sealed field that is not public yet (its lot is still being
    priced), which is no divergence: the ledger may be right, it just cannot be checked beyond that yet.
    """

    def __init__(self, index: int, message: str, *, unrevealed: bool = False) -> None:
        super().__init__(f"entry {index}: {message}")
        self.index = index
        self.message = message
        self.unrevealed = unrevealed


def command_of(entry: dict[str, Any]) -> dict[str, Any]:
    """The command a command entry records (its fields less the recorded result)."""
    cmd = {k: v for k, v in entry.items() if k not in _RESULT}
    cmd["op"] = entry["kind"]
    for name in entry.get("redacted", ()):  # withheld secrets: the rule rejected without reading them
        cmd[name] = None
    return cmd


def _describe(entry: dict[str, Any]) -> str:
    keep = {k: v for k, v in entry.items() if k not in ("seq", "prev", "out")}
    return ", ".join(f"{k}={v!r}" for k, v in sorted(keep.items()))


class _Expectation:
    """Compares each entry the engine writes with the ledger's entry at the same index."""

    def __init__(self, raw: list[bytes], decoded: list[dict[str, Any]]) -> None:
        self.raw = raw
        self.decoded = decoded
        self.at = 0

    def __call__(self, kind: str, payload: dict[str, Any], t: Ms) -> bytes:
        i = self.at
        if i >= len(self.raw):
            raise ReplayMismatch(i, f"the rules write a {kind} entry at t={t} that the ledger does not have")
        exp = self.decoded[i]
        entry = dict(payload)
        entry.update(seq=exp.get("seq"), prev=exp.get("prev"), t=t, kind=kind)
        produced = canonical.encode(entry)
        if produced != self.raw[i]:
            raise ReplayMismatch(
                i,
                f"the ledger holds [{_describe(exp)}] but the rules produce [{_describe(entry)}]",
            )
        self.at += 1
        return hashlib.sha256(b"\x00" + produced).digest()


class _LedgerNumbering:
    """The replaying engine's recorder: it writes nothing and numbers each entry as the ledger did.

    `_Expectation` has just matched the entry being written, so its index is the recorded `seq`
    of that ledger entry, not a count of the entries replayed (they differ for a lot's subset).
    """

    log = None

    def __init__(self, expect: _Expectation) -> None:
        self.expect = expect

    @property
    def size(self) -> int:
        """The index the next entry gets: the next ledger entry's own (a lot's subset skips indices), or
        one past the last entry once every entry was replayed. So the engine knows each command's index."""
        at, decoded = self.expect.at, self.expect.decoded
        if at < len(decoded):
            return decoded[at]["seq"]  # type: ignore[no-any-return]
        return decoded[at - 1]["seq"] + 1 if at else 0  # type: ignore[no-any-return]

    def write(self, kind: str, payload: dict[str, Any], t: Ms) -> tuple[int, bytes | None]:
        return self.expect.decoded[self.expect.at - 1]["seq"], None


def replay_engine(entries: Iterable[bytes], vault: Vault | None = None, **engine_options: Any) -> Engine:
    """Rebuild the market from canonical entry bytes; raise ReplayMismatch at the first divergence.

    `vault` opens the sealed fields (the market's `MarketVault`, which holds the key); by default an
    auditor's `RevealVault` built from the entries' own reveals.
    """
    raw = list(entries)
    if not raw:
        raise ReplayMismatch(0, "the ledger is empty")
    decoded = _decoded(raw)
    genesis = decoded[0]
    if genesis.get("kind") != "open_market":
        raise ReplayMismatch(0, "the first entry is not open_market")
    version = genesis.get("rules_version")
    if version != RULES_VERSION:
        raise ReplayMismatch(
            0,
            f"the ledger was recorded under rules version {version!r}; this engine runs version {RULES_VERSION!r}"
            " and cannot replay it (use the release of auction-engine that wrote it)",
        )
    if vault is None:
        try:
            vault = RevealVault.from_entries(decoded)
        except SealError as exc:
            raise ReplayMismatch(exc.index, exc.message) from None
    clock = ManualClock(genesis["t"])
    expect = _Expectation(raw, decoded)
    engine = Engine(
        market=genesis.get("market", "market"),
        origin=genesis.get("origin"),
        clock=clock,
        params=genesis.get("params") or {},
        operators=tuple(genesis.get("operators") or ("operator",)),
        code_prefix=genesis.get("code_prefix", "ZJ"),
        expect=expect,
        vault=vault,
        **engine_options,
    )
    _feed(engine, clock, raw, decoded, expect)
    return engine


def replay_onto(engine: Engine, entries: Iterable[bytes]) -> Engine:
    """Continue `engine` (rebuilt from a snapshot of the entries before these) over `entries`, checking
    every one as `replay_engine` does; the engine is left detached, to `attach` to a clock and a log."""
    raw = list(entries)
    if not raw:
        return engine
    decoded = _decoded(raw)
    clock = ManualClock(engine.last_time)
    engine.set_clock(clock)
    expect = _Expectation(raw, decoded)
    engine.expect_entries(expect)
    _feed(engine, clock, raw, decoded, expect)
    return engine


def _decoded(raw: list[bytes]) -> list[dict[str, Any]]:
    """The entries decoded, each checked to be canonical and to follow the previous one's seq."""
    decoded: list[dict[str, Any]] = []
    for i, data in enumerate(raw):
        try:
            decoded.append(canonical.decode(data))
        except canonical.CanonicalError as exc:
            raise ReplayMismatch(i, f"not a canonical entry: {exc}") from None
        seq = decoded[-1].get("seq")
        if type(seq) is not int or (i and seq <= decoded[-2]["seq"]):
            raise ReplayMismatch(i, f"seq {seq!r} is not an index after the previous entry's")
    return decoded


def _feed(
    engine: Engine, clock: ManualClock, raw: list[bytes], decoded: list[dict[str, Any]], expect: _Expectation
) -> None:
    """Submit every command entry at its time and demand that the engine write exactly `raw`."""
    engine.recorder = _LedgerNumbering(expect)  # type: ignore[assignment]
    for i, entry in enumerate(decoded):
        if "ok" not in entry:
            continue
        clock.advance(entry["t"])
        engine.fire_due(entry["t"])
        if expect.at != i:
            found = decoded[expect.at] if expect.at < len(decoded) else None
            what = f"[{_describe(found)}]" if found else "nothing"
            raise ReplayMismatch(expect.at, f"the ledger holds {what} where the rules write no entry")
        try:
            engine.submit(command_of(entry))
        except SealError as exc:  # a sealed field that cannot be opened (not revealed yet), or opens wrong
            raise ReplayMismatch(exc.index, exc.message, unrevealed=exc.unrevealed) from None
        except ValueError as exc:  # a command the engine refuses to run at all: no entry can hold it
            raise ReplayMismatch(i, f"the ledger holds a command the rules refuse to run: {exc}") from None
    clock.advance(decoded[-1]["t"])
    engine.fire_due(decoded[-1]["t"])
    if expect.at != len(raw):
        extra = _describe(decoded[expect.at])
        raise ReplayMismatch(expect.at, f"the ledger holds [{extra}] that the rules do not produce")


@dataclass
class ReplayReport:
    """The verdict of a replay: ok, or the first divergent entry and why."""

    ok: bool
    entries: int
    commands: int = 0
    deals: list[dict[str, Any]] = field(default_factory=list)
    index: int | None = None
    message: str | None = None
    unrevealed: bool = False  # stopped at a sealed field not public yet (see ReplayMismatch)
    signatures_checked: int = 0  # bidder signatures verified against the key in force (auction_engine/signing.py)
    signatures_pending: int = 0  # bidder signatures over sealed values not revealed yet


def replay(entries: Iterable[bytes], vault: Vault | None = None) -> ReplayReport:
    """Replay a ledger's entries and report (never raises for a divergence).

    `vault` as for `replay_engine`: by default only the sealed fields the ledger has revealed open, so
    a replay stops (`unrevealed`) at one a rule read on a lot still being priced; the market's own
    vault opens them all.
    """
    raw = list(entries)
    try:
        engine = replay_engine(raw, vault)
    except ReplayMismatch as exc:
        return ReplayReport(False, len(raw), index=exc.index, message=exc.message, unrevealed=exc.unrevealed)
    commands = sum(1 for e in engine.events if "ok" in e.data)
    deals = [dict(e.data, seq=e.seq, t=e.t) for e in engine.events if e.kind == "deal"]
    # Only signed commands and reveals matter to the signature check; the rest keep their places, empty.
    entries_read = [
        dict(e.data, seq=e.seq, t=e.t, kind=e.kind) if "sig" in e.data or e.kind.endswith("_reveal") else _NOTHING
        for e in engine.events
    ]
    audit = check_entries(entries_read, engine.market.origin)
    report = ReplayReport(
        audit.ok, len(raw), commands, deals, signatures_checked=audit.checked, signatures_pending=audit.pending
    )
    if not audit.ok:
        report.index, report.message = audit.bad_index, audit.bad_message
    return report
