"""The live market: one Engine on the asyncio loop, its ledger written in group commits, wall-clock timers.

Every command runs synchronously on the event loop (the engine is not thread-safe and needs no
lock there): the engine fires due deadlines, checks the command and appends its entries to the
`Log` in memory. The group committer (`committer.py`) writes them in durable batches on one I/O
thread and wakes each request whose entries a batch held, so a request is answered only when its
command entry (and everything the command caused) is durable, and the answer carries the entry's
index. Events are published to the feed at the same moment, never before.

Crash safety: on start with a non-empty ledger the market is rebuilt from the latest snapshot that
matches the ledger and the entries after it, or, without one, by replaying every entry (`restore.py`,
`replay_engine`, which checks each one); the engine is then attached to the wall clock, which re-arms
every deadline still pending (those already past fire at once, stamped with the deadline as in
simulation). The idempotency keys' answers come back with it (`indexes.py`), so a retried request
after a crash gets the answer the first one would have had.

Start-up checks what it serves: the signer is the key that signed the stored checkpoints; without a
snapshot the whole store is audited before the replay (`ledger.startup`), with one the entries after
it (and after the latest checkpoint) are re-hashed before serving and the rest in the background,
which stops the market (`halt`) on a mismatch. A snapshot is taken every N entries and T minutes and
on a clean stop (`snapshots.py`).

Health (see `committer.py`): serving, *unwritable* until a write succeeds again, or *stopped* by
`halt` until a restart; while not serving, new commands are refused with Unavailable (HTTP 503).
"""

from __future__ import annotations

import asyncio
import collections
import contextlib
import logging
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from ledger import CheckpointPolicy, EntryTooLarge, Log, Signer, Store, canonical
from ledger.log import MAX_ENTRY_BYTES
from ledger.startup import check_signer, verify_stored
from ledger.store import StoredCheckpoint, StoreError

from ..clock import WallClock
from ..closed_lots import ClosedLotError, StoredClosedLots
from ..engine import Engine, Event
from ..lot_table import LotTable, in_memory
from ..vault import MarketVault
from . import privacy
from .auth import META_KEY, Credentials
from .committer import STOP_WAIT_S, WRITE_TIMEOUT_S, GroupCommitter, Unavailable
from .idempotency import DEFAULT_WINDOW_MS as IDEMPOTENCY_WINDOW_MS
from .idempotency import IDEM_FIELD, IdempotencyConflict, fingerprint
from .indexes import MarketIndexes
from .receipts import DEFAULT_WINDOW_MS, ReceiptDesk, SignatureDesk
from .restore import BackgroundAudit, check_recent, restore, snapshot_to_use
from .snapshots import DISTRUST_KEY, SNAPSHOT_STOP_WAIT_S, SnapshotTaker

if TYPE_CHECKING:
    from .witnesses import WitnessPool

__all__ = [
    "MAX_COMMAND_BYTES",
    "WRITE_TIMEOUT_S",
    "IdempotencyConflict",
    "LiveMarket",
    "Outcome",
    "StartError",
    "Unavailable",
    "fingerprint",
]

log = logging.getLogger("auction_engine.server")
RECENT_CLOSED = 100
"""Closed lots (of those already in the store) that the lot listing still shows, the most recent first."""

# The largest command the market runs, in canonical bytes: half the ledger's entry limit, so that the
# command's entry — the command plus what the rules add (the outcome, a refusal's message, which quotes
# at most a short field) — always fits. A larger one is refused (EntryTooLarge) before the rules see it.
MAX_COMMAND_BYTES = MAX_ENTRY_BYTES // 2


class StartError(Exception):
    """The market cannot be served as asked (the message says what to change)."""


@dataclass(slots=True)
class Outcome:
    """The answer to a command: the engine's verdict, and the log size that must be durable first."""

    ok: bool
    seq: int
    code: str | None
    message: str | None
    rule: str | None
    target: int  # the command's entries are durable once the log's durable size reaches this
    replayed: bool = False  # answered again for its idempotency key, not run
    t: int | None = None  # the time of the command's entry (None when answered again: read from the entry)


class LiveMarket:
    """A market served live: the engine, its ledger and group committer, the idempotency keys, the feed hooks."""

    def __init__(
        self,
        store: Store,
        signer: Signer,
        *,
        market: str | None = None,
        operator: str = "operator",
        params: Mapping[str, Any] | None = None,
        code_prefix: str = "ZJ",
        policy: CheckpointPolicy | None = None,
        tick_ms: int = 1000,
        ring: int = 20_000,
        write_timeout: float = WRITE_TIMEOUT_S,
        check_store: bool = True,
        receipt_window_ms: int = DEFAULT_WINDOW_MS,
        open_reader: Callable[[], Store] | None = None,
        snapshot_every_entries: int | None = 100_000,
        snapshot_every_ms: int | None = 10 * 60 * 1000,
        idempotency_window_ms: int = IDEMPOTENCY_WINDOW_MS,
    ) -> None:
        """Open the market on `store`: check it (unless `check_store` is False: benchmarks only), replay it.

        `open_reader` opens a second, read-only store on the same ledger: with it, a start from a snapshot
        audits the history in the background (`restore.py`); without it the whole store is audited first.
        A snapshot is taken every `snapshot_every_entries` entries or `snapshot_every_ms` of wall time
        (None: never, by that measure); idempotency keys are kept `idempotency_window_ms` of ledger time.

        Raises WrongKey / IntegrityError (ledger.startup) when the signer or the stored bytes do not
        match the signed checkpoints, StoreError when the store cannot be read, ReplayMismatch when
        the entries do not replay, StartError for a bad option.
        """
        started = time.perf_counter()
        self.store = store
        self.signer = signer
        self.snapshot_every_entries = snapshot_every_entries
        self.snapshot_every_ms = snapshot_every_ms
        raw: list[bytes] | None = None
        self.distrusted: str | None = None  # why the snapshots are not to be used (closed_lots_damaged)
        if check_store:
            check_signer(store, signer)
            # A snapshot spares reading the history before serving when a second, read-only connection can
            # audit it in the background; otherwise the whole store is audited first, as always.
            self.distrusted = store.get_meta(DISTRUST_KEY) or None
            if self.distrusted:
                log.warning("snapshots not used: %s (the whole ledger is replayed)", self.distrusted)
            snapshot = snapshot_to_use(store) if open_reader is not None and not self.distrusted else None
            if snapshot is None:
                raw = verify_stored(store, signer)
            else:
                check_recent(store, signer, snapshot)
        self.check_seconds = time.perf_counter() - started
        self.log = Log(store, signer, policy=policy or CheckpointPolicy(every_entries=1000, every_ms=1000))
        if raw is not None and len(raw) != self.log.size:  # the store changed under us: no single writer
            raise StartError(f"the ledger changed while it was checked ({len(raw)} entries, then {self.log.size})")
        self.origin = self.log.origin
        self.tick_ms = tick_ms
        self.committer = GroupCommitter(store, self.log, write_timeout=write_timeout, on_durable=self._publish)
        self._unpublished: list[Event] = []
        # recent durable events as (seq, t, kind, data) tuples (untracked by the GC when their data is plain)
        self.ring: collections.deque[tuple[int, int, str, dict[str, Any]]] = collections.deque(maxlen=ring)
        self.subscribers: list[Callable[[list[Event]], None]] = []
        self._tick_handle: asyncio.TimerHandle | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._closing = False
        self.timezone = "Asia/Shanghai"  # the IANA zone people read times in (create_app sets it)
        self.credentials = Credentials.loads(store.get_meta(META_KEY), operator)
        self.restored = self.log.size
        # Seals the proxies' maxima live and opens them on a restart: its secret is derived from the signer's key.
        self.vault = MarketVault.from_signer(signer)
        self.restored_from: int | None = None  # the snapshot's size, when start-up used one
        self.background_audit: BackgroundAudit | None = None
        # Closed lots leave memory for the store at each snapshot and are read back from it (lot_table.py),
        # through a read-only connection of their own (the loop's; the writer's is the I/O thread's).
        self.lot_store = open_reader() if open_reader is not None else None
        closed = StoredClosedLots(self.lot_store, self.vault, self.origin) if self.lot_store is not None else None
        if self.log.size:
            rebuilt = restore(self.log, self.vault, raw, idempotency_window_ms, closed)  # raises ReplayMismatch
            self.engine, self.indexes = rebuilt.engine, rebuilt.indexes
            self.restored_from, self.replayed = rebuilt.snapshot, rebuilt.replayed
            if rebuilt.snapshot is not None and check_store and open_reader is not None:
                self.background_audit = BackgroundAudit(open_reader, signer, self._history_problem)
            elif raw is None and check_store:  # every snapshot was skipped: check the whole store after all
                verify_stored(store, signer)
            if operator not in self.engine.market.operators:
                known = ", ".join(sorted(self.engine.market.operators))
                raise StartError(f"--operator {operator!r} is not an operator of this ledger (it has: {known})")
        else:
            self.indexes = MarketIndexes(idempotency_window_ms)
            self.replayed = 0
            self.engine = Engine(
                market=market or self.origin,
                clock=WallClock(),
                log=self.log,
                params=dict(params or {}),
                operators=(operator,),
                code_prefix=code_prefix,
                keep_events=False,
                vault=self.vault,
            )
            if closed is not None:
                self.engine.market.lots = LotTable(self.engine.market.lots, closed, 0)
        self.keys = self.indexes.keys
        self.codes_at = self.indexes.codes_at  # transaction code -> index of its txcode entry
        # Every entry naming a lot, by lot, and the sub-market openings: a lot's session (what its
        # certificate's transcript holds) is then read from the store without reading the whole ledger.
        self.sessions = self.indexes.sessions
        self.operator = operator
        self.clock = WallClock()
        self.receipts = ReceiptDesk(signer, self.origin, self.log.tree.leaf, receipt_window_ms)
        self.signatures = SignatureDesk()  # bidders' signatures of commands, checked off the loop
        self.witnesses: WitnessPool | None = None  # set by create_app with `serve --witness` (witnesses.py)
        self.snapshots = SnapshotTaker(self)
        self.replay_seconds = time.perf_counter() - started

    def _history_problem(self, message: str) -> None:
        """The background audit found the history not as signed (called from its thread): stop serving."""
        log.error("%s; the market stops", message)
        loop = self._loop
        reason = f"{message}; restore the ledger from a backup"
        if loop is not None and not loop.is_closed():
            loop.call_soon_threadsafe(self.halt, reason)
        else:
            self.halt(reason)

    # -- lifecycle ---------------------------------------------------------------------------------

    async def start(self) -> None:
        """Attach the engine to the wall clock on this loop and start committing."""
        loop = asyncio.get_running_loop()
        self._loop = loop

        def schedule(delay: float, callback: Callable[[], None]) -> None:
            loop.call_later(delay, self._timer, callback)

        self.clock = WallClock(schedule)
        self.engine.attach(self.clock, self.log)
        self.engine.on_event = self._on_event
        self.engine.keep_events = False
        if self.log.size > (self.published.size if self.published else 0):
            self.log.sign_checkpoint(self.clock.now())  # the public log covers everything restored
        self.committer.start()
        if self.background_audit is not None:
            self.background_audit.start()
        self._tick_handle = loop.call_later(self.tick_ms / 1000, self._tick)
        # Unwritable from the start: the market serves unhealthy (503) and resumes when a write succeeds.
        with contextlib.suppress(Unavailable):
            await self.flush()

    async def stop(self, wait: float = STOP_WAIT_S) -> None:
        """Stop the timers, then write everything pending and close the store (`GroupCommitter.stop`)."""
        if self._tick_handle is not None:
            self._tick_handle.cancel()
        self._closing = True
        try:
            # The last snapshot spares the next start a replay: it may take longer than a last write.
            await asyncio.wait_for(self.snapshots.final(), max(wait, SNAPSHOT_STOP_WAIT_S))
        except Exception as exc:  # a snapshot is a cache: stopping goes on without it
            log.warning("no snapshot on stop: %r", exc)
        await self.committer.stop(wait)
        self.receipts.close()
        self.signatures.close()
        if self.lot_store is not None:
            with contextlib.suppress(Exception):
                self.lot_store.close()

    def _timer(self, callback: Callable[[], None]) -> None:
        if self.stopped is not None:
            return
        try:
            callback()
        except EntryTooLarge as exc:  # the rules are mid-way: the state may no longer follow the ledger
            self.halt(f"a deadline's entry was refused by the ledger ({exc}); restart to rebuild from the ledger")
        except Exception:  # a rule error in a timer must not kill the loop; it is logged
            log.exception("a deadline callback failed")
        self.committer.kick()

    def _tick(self) -> None:
        """Let the checkpoint policy sign in quiet periods (every `tick_ms`)."""
        try:
            self.log.tick(self.clock.now())
            if self.stopped is None:
                self.engine.fire_due(self.clock.now())
                self.keys.prune(self.log.last_time)
                self.snapshots.maybe_take()
        except EntryTooLarge as exc:
            self.halt(f"a deadline's entry was refused by the ledger ({exc}); restart to rebuild from the ledger")
        finally:
            self.committer.kick()
            if not self._closing and self._loop is not None:
                self._tick_handle = self._loop.call_later(self.tick_ms / 1000, self._tick)

    # -- events --------------------------------------------------------------------------------------

    def _on_event(self, event: Event) -> None:
        self._unpublished.append(event)
        self.indexes.add(event.seq, event.kind, event.data)
        self.committer.kick()

    def _publish(self, durable: int) -> None:
        """Hand the events that are now durable (index < `durable`) to the ring and the subscribers."""
        events = self._unpublished
        if not events:
            return
        cut = len(events)
        if events[-1].seq >= durable:
            cut = next(i for i, e in enumerate(events) if e.seq >= durable)
        batch, self._unpublished = events[:cut], events[cut:]
        if not batch:
            return
        self.ring.extend((e.seq, e.t, e.kind, e.data) for e in batch)
        for subscriber in list(self.subscribers):
            subscriber(batch)

    def durable_events(self, start: int) -> Iterator[Event]:
        """Recent durable events from index `start` (from the in-memory ring); empty if not held there."""
        ring = self.ring
        if not ring or start < ring[0][0]:
            return iter(())
        first = ring[0][0]
        return (Event(*ring[i]) for i in range(start - first, len(ring)))

    # -- commands ----------------------------------------------------------------------------------

    def submit(self, cmd: dict[str, Any], idem: str | None = None) -> Outcome:
        """Run one command now (on the loop); the caller awaits `durable(outcome.target)` before answering.

        `cmd` holds `op` and `actor` (set by the server from the credential, never by the client).
        With an idempotency key, a repeated (actor, key) whose command was accepted returns that outcome
        (`replayed`); one whose command was refused runs again (a fresh verdict and entry: the refusal
        may have depended on the time or the phase); a different command under a used key raises
        IdempotencyConflict. A command over MAX_COMMAND_BYTES raises EntryTooLarge, recording nothing.
        """
        reason = self.unavailable_reason()
        if reason is not None:
            raise Unavailable(reason)
        fp = None
        if idem is not None:
            cmd[IDEM_FIELD] = idem
            fp = fingerprint(cmd)
            accepted = self.keys.accepted(cmd["actor"], idem, cmd, fp)
            if accepted is not None:
                return Outcome(*accepted, replayed=True)
        # Refused before the rules see it, so nothing changes: the ledger would refuse its entry.
        try:
            size = len(canonical.encode(cmd))
        except canonical.CanonicalError:
            size = 0  # not encodable: the engine refuses it, in its own words, before recording anything
        if size > MAX_COMMAND_BYTES:
            raise EntryTooLarge(
                f"the {cmd.get('op')!r} command is {size} bytes in canonical form, more than the limit of"
                f" {MAX_COMMAND_BYTES} bytes per command (its ledger entry must fit in {MAX_ENTRY_BYTES}); nothing"
                " was recorded",
                size,
                MAX_COMMAND_BYTES,
            )
        try:
            result = self.engine.submit(cmd)
        except EntryTooLarge as exc:  # an entry the rules derived: they are mid-way, the state may diverge
            self.halt(f"an entry of this command was refused by the ledger ({exc}); restart to rebuild from it")
            raise Unavailable(self.unavailable_reason()) from None
        except (ClosedLotError, StoreError) as exc:  # a closed lot the command names could not be read back
            self.closed_lots_damaged(str(exc))
            raise Unavailable(self.unavailable_reason()) from None
        outcome = Outcome(
            result.ok, result.seq, result.code, result.message, result.rule, self.log.size, t=self.log.last_time
        )
        if idem is not None:
            withheld = () if result.ok else self.engine.withheld  # what the refusal's entry left out
            remembered = (result.ok, result.seq, result.code, result.message, result.rule, outcome.target)
            self.keys.remember(cmd["actor"], idem, cmd, remembered, outcome.t or 0, withheld, fp)
        return outcome

    def fire_due(self) -> None:
        """Fire deadlines that are due now (the engine also does this before every command)."""
        self.engine.fire_due(self.clock.now())

    # -- the ledger, its health and its reads (the group committer's) ------------------------------

    @property
    def io(self) -> ThreadPoolExecutor:
        """The ledger's single I/O thread."""
        return self.committer.io

    @property
    def io_stuck(self) -> bool:
        """`stop` left a store call that did not return on the I/O thread."""
        return self.committer.io_stuck

    @property
    def write_timeout(self) -> float:
        """Seconds a store write may take before the market is unwritable."""
        return self.committer.write_timeout

    @write_timeout.setter
    def write_timeout(self, seconds: float) -> None:
        self.committer.write_timeout = seconds

    @property
    def commits(self) -> int:
        """Durable batches written so far."""
        return self.committer.commits

    @property
    def published(self) -> StoredCheckpoint | None:
        """The latest durable signed checkpoint (None before the first)."""
        return self.committer.published

    @property
    def failure(self) -> str | None:
        """Why the store cannot be written now (None: it can)."""
        return self.committer.failure

    @property
    def stopped(self) -> str | None:
        """Why the market was stopped (None: it was not)."""
        return self.committer.stopped

    @property
    def healthy(self) -> bool:
        """Serving: the store takes writes and the market was not stopped."""
        return self.committer.healthy

    def unavailable_reason(self) -> str | None:
        """Why commands are refused now (None: they are not)."""
        return self.committer.unavailable_reason()

    def halt(self, reason: str) -> None:
        """Stop the market until the process is restarted (`GroupCommitter.halt`)."""
        self.committer.halt(reason)

    def closed_lots_damaged(self, reason: str) -> None:
        """A closed lot in the store did not read back: stop, and have the next start rebuild from the ledger
        alone (every snapshot distrusted until a new one, with every closed lot written again, is stored)."""
        log.error("a stored closed lot cannot be used: %s", reason)
        self.io.submit(self.store.set_meta, DISTRUST_KEY, reason[:500])
        self.halt(
            f"a closed lot's stored copy cannot be read ({reason}); restart: the next start replays the whole"
            " ledger and writes every closed lot again"
        )

    async def receipt(self, outcome: Outcome) -> str:
        """The signed receipt of the outcome's entry (durable by now)."""
        t = outcome.t
        if t is None:  # answered again for its idempotency key: the time is the recorded entry's
            raw = await self.read_entries_at([outcome.seq])
            t = canonical.decode(raw[outcome.seq])["t"]
        return await self.receipts.receipt(outcome.seq, t)

    async def durable(self, target: int) -> None:
        """Return once the log's first `target` entries are durable (`GroupCommitter.durable`)."""
        await self.committer.durable(target)

    async def flush(self) -> None:
        """Wait until everything appended so far is durable."""
        await self.committer.durable(self.log.size)

    async def publish(self) -> StoredCheckpoint:
        """Sign a checkpoint of everything appended so far (if none covers it) and wait until it is durable."""
        return await self.committer.publish(self.now())

    async def read_entries(self, start: int, end: int) -> list[bytes]:
        """Durable entry bytes start <= seq < end, read on the I/O thread in chunks."""
        return await self.committer.read_entries(start, end)

    async def read_entries_at(self, indices: Sequence[int]) -> dict[int, bytes]:
        """The durable entries at these indices (sorted, distinct), read on the I/O thread."""
        return await self.committer.read_entries_at(indices)

    async def save_credentials(self) -> None:
        """Persist the credentials (on the I/O thread, durable before the caller answers)."""
        await self.committer.run(self.store.set_meta, META_KEY, self.credentials.dumps())

    # -- reading -----------------------------------------------------------------------------------

    def now(self) -> int:
        return self.clock.now()

    def lot_ids(self) -> list[str]:
        """The lots a listing shows: every lot in memory (open, or closed since the last snapshot), then the
        RECENT_CLOSED most recently closed of those in the store (any closed lot is still read by its id)."""
        lots = self.engine.lots
        if type(lots) is not LotTable:
            return list(lots)
        ids = dict.fromkeys(lots.live)
        if self.lot_store is not None:
            ids.update(dict.fromkeys(self.lot_store.recent_closed_lots(lots.versions_up_to, RECENT_CLOSED)))
        return list(ids)

    def lots_in_memory(self) -> Mapping[str, Any]:
        """The lots held in memory (those whose sessions are not over, and those closed since the last snapshot)."""
        return in_memory(self.engine.lots)

    def view(self, lot_id: str, viewer: str | None = None) -> dict[str, Any]:
        """The lot as the public (or the bidder `viewer`) may see it: bidders by number (server/privacy.py)."""
        self._read_lot(lot_id)
        return privacy.public_view(self.engine.view(lot_id, viewer), self.credentials.numbers, viewer)

    def _read_lot(self, lot_id: str) -> Any:
        """The lot, for a view: a closed lot that does not read back from the store stops the market."""
        try:
            return self.engine.lot(lot_id)
        except (ClosedLotError, StoreError) as exc:
            self.closed_lots_damaged(str(exc))
            raise Unavailable(self.unavailable_reason()) from None

    def operator_view(self, lot_id: str) -> dict[str, Any]:
        """The public view plus what only the operator needs: deposits, objections, registrations."""
        lot = self._read_lot(lot_id)
        out = self.engine.view(lot_id, None)
        out["deposits"] = dict(lot.deposits)
        out["operator_may_close"] = lot.settlement.operator_may_close  # may the console offer "end this phase"?
        state = lot.state
        objections = getattr(state, "objections", None)
        if isinstance(objections, list) and lot.mode == "agreement":
            out["objection_list"] = [
                {"objection": i, "party": o.party, "grounds": o.grounds, "t": o.t, "status": o.status}
                for i, o in enumerate(objections)
            ]
        registrations = getattr(state, "registrations", None)
        if isinstance(registrations, dict) and lot.mode == "listing":
            out["registrations"] = list(registrations)
        commits = getattr(state, "commits", None)
        if isinstance(commits, dict) and lot.mode == "sealed":
            out["committed"] = sorted(commits)
        codes = [code for code, lid in self.engine.codes.items() if lid == lot_id]
        if codes:
            out["codes"] = codes
        return out

    def submarkets(self) -> dict[str, Any]:
        return {k: dict(v) for k, v in self.engine.market.submarkets.items()}
