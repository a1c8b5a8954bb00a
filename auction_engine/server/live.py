"""The live market: one Engine on the asyncio loop, a group-committing ledger writer, wall-clock timers.

Every command runs synchronously on the event loop (the engine is not thread-safe and needs no
lock there): the engine fires due deadlines, checks the command and appends its entries to the
`Log` in memory. A committer task takes everything pending (`Log.take_pending`) and writes it in
one durable batch on a single I/O thread, while new commands keep appending; once the batch is on
disk it marks it durable and wakes every request whose entries it held. So a request is answered
only when its command entry (and everything the command caused) is durable, and the answer carries
the entry's index. Events are published to the feed at the same moment, never before.

Crash safety: on start with a non-empty ledger the market is rebuilt by replaying every entry
(`replay_engine`, which checks each one) and the engine is attached to the wall clock, which
re-arms every deadline still pending (those already past fire at once, stamped with the deadline
as in simulation). Idempotency keys are recorded in the command entries (field `idem`), so the
key → answer map is rebuilt from the ledger too, and a retried request after a crash gets the
answer the first one would have had. Only an acceptance is answered again: a command whose last
outcome was a refusal runs again when retried (a refusal may have depended on the time or the phase,
so it is never a key's permanent answer); the key stays bound to its command either way.

Start-up checks what it serves: before the replay, the whole store is audited against the signer's
verifier key (`ledger.startup`: the signer is the key that signed the stored checkpoints; every leaf
hash recomputed, the seq/prev chain, every checkpoint's signature and root), and the market refuses
to start on a mismatch, naming the entry. The audit reads each entry once and hands its bytes to the
replay.

Health: the market is either serving, *unwritable* (`failure`: a store write failed or has not
finished within `write_timeout` seconds; it resumes by itself once a retry of the same batch
succeeds) or *stopped* (`stopped`: `halt` was called — the ledger and the market's state may
disagree — until the process is restarted). While not serving, new commands are refused with
Unavailable (HTTP 503) and requests waiting for durability are answered Unavailable at once; the
entries they wait for are kept and written when the store takes them again, never dropped while the
process lives. (Re-hashing, in the background, history the start-up did not read — once snapshots
exist — is to call `halt` on a mismatch; it is not built yet.)
"""

from __future__ import annotations

import asyncio
import collections
import contextlib
import hashlib
import heapq
import logging
import time
from array import array
from collections.abc import Callable, Iterator, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any

from ledger import CheckpointPolicy, EntryTooLarge, Log, Signer, Store, canonical
from ledger.log import MAX_ENTRY_BYTES
from ledger.startup import check_signer, verify_stored
from ledger.store import Row, StoredCheckpoint

from ..certificates import index_entry, new_session_index
from ..clock import WallClock
from ..engine import Engine, Event
from ..market import SEALED_FIELDS
from ..replay import command_of, replay_engine
from ..vault import MarketVault
from .auth import META_KEY, Credentials

__all__ = [
    "MAX_COMMAND_BYTES",
    "IdempotencyConflict",
    "LiveMarket",
    "Outcome",
    "StartError",
    "Unavailable",
    "fingerprint",
]

log = logging.getLogger("auction_engine.server")

IDEM_FIELD = "idem"
READ_CHUNK = 5_000  # entries read per job on the I/O thread (a few ms), so group commits run in between
READ_RUNS = 500  # runs of consecutive entries read per job by `read_entries_at` (for the same reason)
_NOT_FINGERPRINTED = frozenset({IDEM_FIELD, "sig"})
# The largest command the market runs, in canonical bytes: half the ledger's entry limit, so that the
# command's entry — the command plus what the rules add (the outcome, a refusal's message, which quotes
# at most a short field) — always fits. A larger one is refused (EntryTooLarge) before the rules see it.
MAX_COMMAND_BYTES = MAX_ENTRY_BYTES // 2
WRITE_TIMEOUT_S = 5.0  # a store write unfinished after this long makes the market unwritable (503)
STOP_WAIT_S = 2.0  # how long `stop` waits for the last write and the store's close before giving up


class IdempotencyConflict(Exception):
    """The idempotency key was used before by the same actor for a different command."""


class StartError(Exception):
    """The market cannot be served as asked (the message says what to change)."""


class Unavailable(Exception):
    """The ledger cannot be written right now, or the market is stopped; the message says why (HTTP 503)."""


@dataclass(slots=True)
class Outcome:
    """The answer to a command: the engine's verdict, and the log size that must be durable first."""

    ok: bool
    seq: int
    code: str | None
    message: str | None
    rule: str | None
    target: int  # the command's entries are durable once the log's durable size reaches this
    fp: bytes | None = None  # fingerprint of the command (for idempotency checks)
    replayed: bool = False


def fingerprint(cmd: Mapping[str, Any], withheld: tuple[str, ...] = ()) -> bytes:
    """SHA-256 of the command less its idempotency key, signature and the fields in `withheld`.

    `withheld` names the fields a refused command's ledger entry left out (`redacted`: a reveal's
    amount and nonce before its window, a sealed-bid lot's amounts), which the fingerprint must leave
    out too, to be the same whether it is computed from the request or rebuilt from the ledger after
    a restart. (A sealed field, a proxy's maximum, is fingerprinted in clear: the restart opens it.)
    """
    kept = {k: v for k, v in cmd.items() if k not in _NOT_FINGERPRINTED and k not in withheld}
    return hashlib.sha256(canonical.encode(kept)).digest()


class LiveMarket:
    """A market served live: the engine, its ledger, the committer and the feed hooks."""

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
    ) -> None:
        """Open the market on `store`: check it (unless `check_store` is False: benchmarks only), replay it.

        Raises WrongKey / IntegrityError (ledger.startup) when the signer or the stored bytes do not
        match the signed checkpoints, StoreError when the store cannot be read, ReplayMismatch when
        the entries do not replay, StartError for a bad option.
        """
        started = time.perf_counter()
        self.store = store
        self.signer = signer
        raw: list[bytes] | None = None
        if check_store:
            check_signer(store, signer)
            raw = verify_stored(store, signer)
        self.check_seconds = time.perf_counter() - started
        self.log = Log(store, signer, policy=policy or CheckpointPolicy(every_entries=1000, every_ms=1000))
        if raw is not None and len(raw) != self.log.size:  # the store changed under us: no single writer
            raise StartError(f"the ledger changed while it was checked ({len(raw)} entries, then {self.log.size})")
        self.origin = self.log.origin
        self.tick_ms = tick_ms
        self.write_timeout = write_timeout
        self.failure: str | None = None  # why the store cannot be written now (None: it can)
        self.stopped: str | None = None  # why the market was stopped (None: it was not)
        self.io_stuck = False  # `stop` gave up on a store call that did not return (the thread is left)
        # (actor, key) -> (ok, seq, code, message, rule, target, fingerprint, withheld fields): plain tuples of
        # atoms, which the garbage collector stops tracking, so a long market's map costs no collection pauses.
        self._idem: dict[tuple[str, str], tuple[Any, ...]] = {}
        self.codes_at: dict[str, int] = {}  # transaction code -> index of its txcode entry
        # Every entry naming a lot, by lot, and the sub-market openings: a lot's session (what its
        # certificate's transcript holds) is then read from the store without reading the whole ledger.
        self.sessions = new_session_index(lambda: array("q"))
        self._waiters: list[tuple[int, int, asyncio.Future[None]]] = []
        self._n = 0
        self._unpublished: list[Event] = []
        self._published_waiters: list[tuple[int, asyncio.Future[None]]] = []
        # recent durable events as (seq, t, kind, data) tuples (untracked by the GC when their data is plain)
        self.ring: collections.deque[tuple[int, int, str, dict[str, Any]]] = collections.deque(maxlen=ring)
        self.subscribers: list[Callable[[list[Event]], None]] = []
        self._work: asyncio.Event | None = None
        self._task: asyncio.Task[None] | None = None
        self._tick_handle: asyncio.TimerHandle | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._closing = False
        self.commits = 0  # durable batches written (entries per batch = the group-commit factor)
        self.io = ThreadPoolExecutor(1, thread_name_prefix="ledger-io")
        self.credentials = Credentials.loads(store.get_meta(META_KEY), operator)
        self.restored = self.log.size
        # Seals the proxies' maxima live and opens them on a restart: its secret is derived from the signer's key.
        self.vault = MarketVault.from_signer(signer)
        if self.log.size:
            if raw is None:
                raw = list(self.log.entries())
            self.engine = replay_engine(raw, vault=self.vault, keep_events=False)  # raises ReplayMismatch
            self._restore_indexes(raw)
            if operator not in self.engine.market.operators:
                known = ", ".join(sorted(self.engine.market.operators))
                raise StartError(f"--operator {operator!r} is not an operator of this ledger (it has: {known})")
        else:
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
        self.operator = operator
        self.clock = WallClock()
        cps = store.checkpoints()
        self.published: StoredCheckpoint | None = cps[-1] if cps else None
        self.replay_seconds = time.perf_counter() - started

    # -- restore -----------------------------------------------------------------------------------

    def _restore_indexes(self, raw: list[bytes]) -> None:
        """What the live market keeps beside the engine, from the ledger: each lot's entries, the codes'
        records, the idempotency keys' outcomes."""
        for data in raw:
            entry = canonical.decode(data)
            index_entry(self.sessions, entry["seq"], entry["kind"], entry)
            if entry["kind"] == "txcode":
                self.codes_at[entry["code"]] = entry["seq"]
            if "ok" not in entry or IDEM_FIELD not in entry:
                continue
            cmd = command_of(entry)
            if entry["kind"] in SEALED_FIELDS and "commitment" in cmd:  # the command as sent: its sealed fields opened
                fields, _ = self.vault.open(entry["seq"], cmd) or ({}, b"")
                cmd = {k: v for k, v in cmd.items() if k not in ("commitment", "sealed")} | fields
            withheld = tuple(entry.get("redacted", ()))
            key = (entry["actor"], entry[IDEM_FIELD])
            self._idem[key] = (  # the key's last entry wins: a refusal retried and then accepted
                entry["ok"],
                entry["seq"],
                entry.get("reason"),
                entry.get("message"),
                entry.get("rule"),
                entry["seq"] + 1,
                fingerprint(cmd, withheld),
                withheld,
            )

    # -- lifecycle ---------------------------------------------------------------------------------

    async def start(self) -> None:
        """Attach the engine to the wall clock on this loop and start committing."""
        loop = asyncio.get_running_loop()
        self._loop = loop
        self._work = asyncio.Event()

        def schedule(delay: float, callback: Callable[[], None]) -> None:
            loop.call_later(delay, self._timer, callback)

        self.clock = WallClock(schedule)
        self.engine.attach(self.clock, self.log)
        self.engine.on_event = self._on_event
        self.engine.keep_events = False
        if self.log.size > (self.published.size if self.published else 0):
            self.log.sign_checkpoint(self.clock.now())  # the public log covers everything restored
        self._task = loop.create_task(self._commit_loop(), name="ledger-committer")
        self._tick_handle = loop.call_later(self.tick_ms / 1000, self._tick)
        self._work.set()
        # Unwritable from the start: the market serves unhealthy (503) and resumes when a write succeeds.
        with contextlib.suppress(Unavailable):
            await self.flush()

    async def stop(self, wait: float = STOP_WAIT_S) -> None:
        """Write everything pending, stop the committer and close the store, each given at most `wait` s.

        If the store is failing or hung, the last write is given `wait` seconds; what it could not
        write was never acknowledged (logged). A store call that does not return is left behind on
        its thread (`io_stuck`): the process should then exit without waiting for that thread.
        """
        if self._tick_handle is not None:
            self._tick_handle.cancel()
        self._closing = True
        if self._work is not None:
            self._work.set()
        if self._task is not None:
            try:
                await asyncio.wait_for(asyncio.shield(self._task), wait)
            except TimeoutError:
                self._task.cancel()
                self.io_stuck = True
        unwritten = self.log.size - self.log.durable_size
        if unwritten:
            log.error(
                "stopping with %d entries not written to the ledger store (%s); none of them was acknowledged",
                unwritten,
                self.failure or "the store did not answer",
            )
        if not self.io_stuck:  # (else the I/O thread is still in the store: a close would queue behind it)
            loop = asyncio.get_running_loop()
            try:
                await asyncio.wait_for(loop.run_in_executor(self.io, self.store.close), wait)
            except TimeoutError:
                self.io_stuck = True
                log.error("the ledger store did not close within %.1fs; leaving it", wait)
            except Exception as exc:  # closing a broken store: nothing more to do with it
                log.error("closing the ledger store failed: %s", exc)
        self.io.shutdown(wait=not self.io_stuck)

    # -- health ------------------------------------------------------------------------------------

    @property
    def healthy(self) -> bool:
        """Serving: the store takes writes and the market was not stopped."""
        return self.failure is None and self.stopped is None

    def unavailable_reason(self) -> str | None:
        """Why commands are refused now (None: they are not)."""
        if self.stopped is not None:
            return f"the market is stopped: {self.stopped}"
        return self.failure

    def halt(self, reason: str) -> None:
        """Stop the market until the process is restarted: no new command, no timer; pending entries still
        get written. For a mismatch between the ledger and what the market serves (`reason` says which)."""
        if self.stopped is None:
            self.stopped = reason
            log.error("market stopped: %s", reason)
        self._fail_waiters(f"the market is stopped: {reason}")

    def _unwritable(self, reason: str) -> None:
        """The store cannot take the pending batch: refuse new commands, answer the waiting requests now."""
        if self.failure is None:
            log.error("%s; refusing commands until a write succeeds", reason)
        self.failure = reason
        self._fail_waiters(reason)

    def _fail_waiters(self, reason: str) -> None:
        """Answer Unavailable to every request waiting for durability (their entries stay pending)."""
        waiters, self._waiters = self._waiters, []
        for target, _, fut in waiters:
            if not fut.done():
                fut.set_exception(Unavailable(self._not_durable(reason, target)))
        published, self._published_waiters = self._published_waiters, []
        for want, fut in published:
            if not fut.done():
                fut.set_exception(Unavailable(self._not_durable(reason, want)))

    def _not_durable(self, reason: str, target: int) -> str:
        return (
            f"{reason}; the command ran but its entry (before index {target}) is not durable yet: retry with the"
            " same Idempotency-Key to learn its outcome"
        )

    def _timer(self, callback: Callable[[], None]) -> None:
        if self.stopped is not None:
            return
        try:
            callback()
        except EntryTooLarge as exc:  # the rules are mid-way: the state may no longer follow the ledger
            self.halt(f"a deadline's entry was refused by the ledger ({exc}); restart to rebuild from the ledger")
        except Exception:  # a rule error in a timer must not kill the loop; it is logged
            log.exception("a deadline callback failed")
        self._kick()

    def _tick(self) -> None:
        """Let the checkpoint policy sign in quiet periods (every `tick_ms`)."""
        try:
            self.log.tick(self.clock.now())
            if self.stopped is None:
                self.engine.fire_due(self.clock.now())
        except EntryTooLarge as exc:
            self.halt(f"a deadline's entry was refused by the ledger ({exc}); restart to rebuild from the ledger")
        finally:
            self._kick()
            if not self._closing and self._loop is not None:
                self._tick_handle = self._loop.call_later(self.tick_ms / 1000, self._tick)

    def _kick(self) -> None:
        work = self._work
        if work is not None and not work.is_set():
            work.set()

    async def read_entries_at(self, indices: Sequence[int]) -> dict[int, bytes]:
        """The durable entries at these indices (sorted, distinct), read on the I/O thread a run at a time."""
        assert self._loop is not None
        durable = self.log.durable_size
        runs: list[tuple[int, int]] = []
        for i in indices:
            if i >= durable:
                break
            if runs and runs[-1][1] == i:
                runs[-1] = (runs[-1][0], i + 1)
            else:
                runs.append((i, i + 1))
        out: dict[int, bytes] = {}
        for k in range(0, len(runs), READ_RUNS):  # a job per READ_RUNS runs: commits run in between
            part = runs[k : k + READ_RUNS]

            def read(part: list[tuple[int, int]] = part) -> list[Row]:
                return [row for a, b in part for row in self.store.rows(a, b)]

            out.update((row.seq, row.data) for row in await self._loop.run_in_executor(self.io, read))
        return out

    def _on_event(self, event: Event) -> None:
        self._unpublished.append(event)
        index_entry(self.sessions, event.seq, event.kind, event.data)
        if event.kind == "txcode":
            self.codes_at[event.data["code"]] = event.seq
        work = self._work
        if work is not None and not work.is_set():
            work.set()

    # -- group commit ------------------------------------------------------------------------------

    async def _commit_loop(self) -> None:
        loop = asyncio.get_running_loop()
        work = self._work
        assert work is not None
        while True:
            await work.wait()
            work.clear()
            rows, cps = self.log.take_pending()
            if not rows and not cps:
                if self._closing:
                    return
                continue
            size = rows[-1].seq + 1 if rows else self.log.durable_size
            if not await self._write(loop, rows, cps):
                return  # closing while the store fails: `stop` reports what was not written
            self.commits += 1
            self.log.mark_durable(size)
            if cps:
                self.published = cps[-1]
                self._release_published()
            self._release(size)
            self._publish(size)
            work.set()  # whatever arrived during the write goes next

    async def _write(self, loop: asyncio.AbstractEventLoop, rows: list[Row], cps: list[StoredCheckpoint]) -> bool:
        """Write one batch, retrying the same batch until it is written; False if closing while it fails.

        A write that fails, or has not finished after `write_timeout` seconds, makes the market
        unwritable (`_unwritable`) at once; the first write that succeeds makes it writable again.
        """
        delay = 0.05
        while True:
            job = loop.run_in_executor(self.io, self.store.commit, rows, cps)
            try:
                try:
                    await asyncio.wait_for(asyncio.shield(job), self.write_timeout)
                except TimeoutError:
                    self._unwritable(f"the ledger store has not finished a write in {self.write_timeout:g}s")
                    await job  # it may still succeed or fail: the thread cannot be interrupted
                break
            except Exception as exc:  # disk full, database gone: keep the batch, retry, refuse new work
                self._unwritable(f"the ledger store cannot be written: {exc}")
                if self._closing:
                    return False
                log.warning("retrying the ledger write in %.2fs", delay)
                await asyncio.sleep(delay)
                delay = min(delay * 2, 2.0)
        if self.failure is not None:
            log.warning("the ledger store takes writes again; serving commands")
            self.failure = None
        return True

    def _release(self, durable: int) -> None:
        waiters = self._waiters
        while waiters and waiters[0][0] <= durable:
            fut = heapq.heappop(waiters)[2]
            if not fut.done():
                fut.set_result(None)

    def _publish(self, durable: int) -> None:
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

    def _release_published(self) -> None:
        size = self.published.size if self.published else 0
        keep = []
        for want, fut in self._published_waiters:
            if want <= size:
                if not fut.done():
                    fut.set_result(None)
            else:
                keep.append((want, fut))
        self._published_waiters = keep

    async def publish(self) -> StoredCheckpoint:
        """Sign a checkpoint of everything appended so far (if none covers it) and wait until it is durable."""
        size = self.log.size
        if self.published is None or self.published.size < size:
            reason = self.unavailable_reason()
            if reason is not None:
                raise Unavailable(reason)
            self.log.sign_checkpoint(self.now())
            assert self._loop is not None
            fut: asyncio.Future[None] = self._loop.create_future()
            self._published_waiters.append((size, fut))
            self._kick()
            await fut
        assert self.published is not None
        return self.published

    async def durable(self, target: int) -> None:
        """Return once the log's first `target` entries are durable; Unavailable while the store cannot be
        written or the market is stopped (the entries stay pending: a retry learns the outcome)."""
        if self.log.durable_size >= target:
            return
        reason = self.unavailable_reason()
        if reason is not None:
            raise Unavailable(self._not_durable(reason, target))
        assert self._loop is not None
        fut: asyncio.Future[None] = self._loop.create_future()
        self._n += 1
        heapq.heappush(self._waiters, (target, self._n, fut))
        self._kick()
        await fut

    async def flush(self) -> None:
        """Wait until everything appended so far is durable."""
        await self.durable(self.log.size)

    # -- commands ----------------------------------------------------------------------------------

    def submit(self, cmd: dict[str, Any], idem: str | None = None) -> Outcome:
        """Run one command now (on the loop); the caller awaits `durable(outcome.target)` before answering.

        `cmd` holds `op` and `actor` (set by the server from the credential, never by the client).
        With an idempotency key, a repeated (actor, key) whose command was accepted returns that outcome
        (`replayed`); one whose command was refused runs again (a fresh verdict and entry: the refusal
        may have depended on the time or the phase); a different command under a used key raises
        IdempotencyConflict.
        """
        reason = self.unavailable_reason()
        if reason is not None:
            raise Unavailable(reason)
        fp = None
        if idem is not None:
            cmd[IDEM_FIELD] = idem
            fp = fingerprint(cmd)
            key = (cmd["actor"], idem)
            known = self._idem.get(key)
            if known is not None:
                ok, seq, code, message, rule, target, known_fp, withheld = known
                if (fingerprint(cmd, withheld) if withheld else fp) != known_fp:
                    raise IdempotencyConflict(
                        f"idempotency key {idem!r} was used for a different command (entry {seq})"
                    )
                if ok:
                    return Outcome(ok, seq, code, message, rule, target, fp, True)
                # refused: never a permanent answer; the command runs again below
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
        outcome = Outcome(result.ok, result.seq, result.code, result.message, result.rule, self.log.size, fp)
        if idem is not None:
            withheld = () if result.ok else self.engine.withheld  # what the refusal's entry left out
            self._idem[(cmd["actor"], idem)] = (
                result.ok,
                result.seq,
                result.code,
                result.message,
                result.rule,
                outcome.target,
                fingerprint(cmd, withheld) if withheld else fp,
                withheld,
            )
        return outcome

    def fire_due(self) -> None:
        """Fire deadlines that are due now (the engine also does this before every command)."""
        self.engine.fire_due(self.clock.now())

    # -- reading -----------------------------------------------------------------------------------

    def now(self) -> int:
        return self.clock.now()

    def lot_ids(self) -> list[str]:
        return list(self.engine.lots)

    def view(self, lot_id: str, viewer: str | None = None) -> dict[str, Any]:
        return self.engine.view(lot_id, viewer)

    def operator_view(self, lot_id: str) -> dict[str, Any]:
        """The public view plus what only the operator needs: deposits, objections, registrations."""
        lot = self.engine.lot(lot_id)
        out = self.engine.view(lot_id, None)
        out["deposits"] = dict(lot.deposits)
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

    def durable_events(self, start: int) -> Iterator[Event]:
        """Recent durable events from index `start` (from the in-memory ring); empty if not held there."""
        ring = self.ring
        if not ring or start < ring[0][0]:
            return iter(())
        first = ring[0][0]
        return (Event(*ring[i]) for i in range(start - first, len(ring)))

    async def read_entries(self, start: int, end: int) -> list[bytes]:
        """Durable entry bytes start <= seq < end, read on the I/O thread.

        A long range is read in chunks, each its own job on the I/O thread, so that group commits
        (the same thread) run between them: reading the whole ledger never holds bids back for long.
        """
        end = min(end, self.log.durable_size)
        if start >= end:
            return []
        assert self._loop is not None
        out: list[bytes] = []
        for at in range(start, end, READ_CHUNK):
            stop = min(end, at + READ_CHUNK)
            out += await self._loop.run_in_executor(
                self.io, lambda a=at, b=stop: [r.data for r in self.store.rows(a, b)]
            )
        return out

    async def save_credentials(self) -> None:
        """Persist the credentials (on the I/O thread, durable before the caller answers)."""
        assert self._loop is not None
        text = self.credentials.dumps()
        await self._loop.run_in_executor(self.io, self.store.set_meta, META_KEY, text)
