"""The ledger's I/O thread: group commits, waiting for durability, the store's health, chunked reads.

Commands append their entries to the `Log` in memory, on the event loop. The committer task takes
everything pending (`Log.take_pending`) and writes it in one durable batch on a single I/O thread,
while new commands keep appending; once the batch is on disk it marks it durable, wakes every
request waiting for entries it held (`durable`) and calls `on_durable(size)` (the market then
publishes the batch's events). Reads of stored entries run on the same thread, in chunks, so
that group commits run between them.

Health: the store is either writable, *unwritable* (`failure`: a write failed or has not finished
within `write_timeout` seconds; the same batch is retried until it is written, and the first write
that succeeds clears it) or the market is *stopped* (`stopped`: `halt` was called, until the
process is restarted). While not healthy, `durable` raises Unavailable at once, and so do the
requests already waiting; the entries they wait for are kept and written when the store takes them
again, never dropped while the process lives.
"""

from __future__ import annotations

import asyncio
import heapq
import logging
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from ledger import Log, Store
from ledger.store import Row, StoredCheckpoint

__all__ = ["READ_CHUNK", "READ_RUNS", "STOP_WAIT_S", "WRITE_TIMEOUT_S", "GroupCommitter", "Unavailable"]

log = logging.getLogger("auction_engine.server")

READ_CHUNK = 5_000  # entries read per job on the I/O thread (a few ms), so group commits run in between
READ_RUNS = 500  # runs of consecutive entries read per job by `read_entries_at` (for the same reason)
WRITE_TIMEOUT_S = 5.0  # a store write unfinished after this long makes the market unwritable (503)
STOP_WAIT_S = 2.0  # how long `stop` waits for the last write and the store's close before giving up


class Unavailable(Exception):
    """The ledger cannot be written right now, or the market is stopped; the message says why (HTTP 503)."""


class GroupCommitter:
    """Writes the log's pending entries in batches on one I/O thread, and answers who waits for them."""

    def __init__(
        self,
        store: Store,
        ledger_log: Log,
        *,
        write_timeout: float = WRITE_TIMEOUT_S,
        on_durable: Callable[[int], None] = lambda size: None,
    ) -> None:
        self.store = store
        self.log = ledger_log
        self.write_timeout = write_timeout
        self.on_durable = on_durable
        self.failure: str | None = None  # why the store cannot be written now (None: it can)
        self.stopped: str | None = None  # why the market was stopped (None: it was not)
        self.io_stuck = False  # `stop` gave up on a store call that did not return (the thread is left)
        self.commits = 0  # durable batches written (entries per batch = the group-commit factor)
        cps = store.checkpoints()
        self.published: StoredCheckpoint | None = cps[-1] if cps else None  # the latest durable checkpoint
        self.io = ThreadPoolExecutor(1, thread_name_prefix="ledger-io")
        self._waiters: list[tuple[int, int, asyncio.Future[None]]] = []  # a heap of (target, arrival, future)
        self._arrivals = 0
        self._published_waiters: list[tuple[int, asyncio.Future[None]]] = []
        self._work: asyncio.Event | None = None
        self._task: asyncio.Task[None] | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._closing = False

    # -- lifecycle ---------------------------------------------------------------------------------

    def start(self) -> None:
        """Start the committer task on the running loop."""
        loop = asyncio.get_running_loop()
        self._loop = loop
        self._work = asyncio.Event()
        self._task = loop.create_task(self._commit_loop(), name="ledger-committer")
        self._work.set()

    def kick(self) -> None:
        """Wake the committer: there is something to write."""
        work = self._work
        if work is not None and not work.is_set():
            work.set()

    async def stop(self, wait: float = STOP_WAIT_S) -> None:
        """Write everything pending, stop the committer and close the store, each given at most `wait` s.

        If the store is failing or hung, the last write is given `wait` seconds; what it could not
        write was never acknowledged (logged). A store call that does not return is left behind on
        its thread (`io_stuck`): the process should then exit without waiting for that thread.
        """
        self._closing = True
        self.kick()
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

    @staticmethod
    def _not_durable(reason: str, target: int) -> str:
        return (
            f"{reason}; the command ran but its entry (before index {target}) is not durable yet: retry with the"
            " same Idempotency-Key to learn its outcome"
        )

    # -- waiting -----------------------------------------------------------------------------------

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
        self._arrivals += 1
        heapq.heappush(self._waiters, (target, self._arrivals, fut))
        self.kick()
        await fut

    async def publish(self, now: int) -> StoredCheckpoint:
        """Sign a checkpoint at time `now` of everything appended so far (if none covers it); wait until durable."""
        size = self.log.size
        if self.published is None or self.published.size < size:
            reason = self.unavailable_reason()
            if reason is not None:
                raise Unavailable(reason)
            self.log.sign_checkpoint(now)
            assert self._loop is not None
            fut: asyncio.Future[None] = self._loop.create_future()
            self._published_waiters.append((size, fut))
            self.kick()
            await fut
        assert self.published is not None
        return self.published

    # -- group commit ------------------------------------------------------------------------------

    async def _commit_loop(self) -> None:
        loop = asyncio.get_running_loop()
        work = self._work
        assert work is not None
        while True:
            await work.wait()
            work.clear()
            rows, cps, self._tiles = self.log.take_pending()  # the tiles: for _write, which has only rows and cps
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
            self.on_durable(size)
            work.set()  # whatever arrived during the write goes next

    async def _write(self, loop: asyncio.AbstractEventLoop, rows: list[Row], cps: list[StoredCheckpoint]) -> bool:
        """Write one batch, retrying the same batch until it is written; False if closing while it fails.

        A write that fails, or has not finished after `write_timeout` seconds, makes the market
        unwritable (`_unwritable`) at once; the first write that succeeds makes it writable again.
        """
        delay = 0.05
        while True:
            job = loop.run_in_executor(self.io, self.store.commit, rows, cps, self._tiles)
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

    # -- reading -----------------------------------------------------------------------------------

    async def read_entries(self, start: int, end: int) -> list[bytes]:
        """Durable entry bytes start <= seq < end, read on the I/O thread in chunks of READ_CHUNK.

        Each chunk is its own job on the I/O thread, so that group commits (the same thread) run
        between them: reading the whole ledger never holds bids back for long.
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

    async def run(self, call: Callable[..., Any], *args: Any) -> Any:
        """Run a store call on the I/O thread (between group commits) and return its result."""
        assert self._loop is not None
        return await self._loop.run_in_executor(self.io, call, *args)
