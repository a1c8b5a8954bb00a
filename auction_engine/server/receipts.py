"""Off the event loop, in batches: the receipts signed for the answers, the bidders' signatures checked.

Every answer to a command the engine recorded (accepted or refused by the rules) carries a receipt
(`ledger.receipt`): the market's signed statement of the entry's index, leaf hash and time, and of
the time by which a signed checkpoint will cover it (`window_ms` after the entry's time). A receipt
costs an Ed25519 signature, as much CPU as the rest of a bid's answer: the desk gathers the receipts
asked for in one turn of the event loop and signs them on its own thread, so the loop only builds
their texts and the signatures of many requests are made while the loop goes on.

A signed command's signature (auction_engine/signing.py) costs a verification, more than a receipt:
`SignatureDesk` checks them the same way, in batches on its own thread, before the command runs.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Mapping
from concurrent.futures import ThreadPoolExecutor
from typing import Any, Generic, TypeVar

from ledger import Signer
from ledger.receipt import DEFAULT_WINDOW_MS, Receipt

from ..signing import verify_command

T = TypeVar("T")
J = TypeVar("J")

__all__ = ["DEFAULT_WINDOW_MS", "ReceiptDesk", "SignatureDesk"]


class _Batches(Generic[J, T]):
    """Runs `work` over the jobs asked for in one turn of the event loop, on one thread, in one batch."""

    def __init__(self, work: Callable[[J], T], name: str) -> None:
        self._work = work
        self._pool = ThreadPoolExecutor(1, thread_name_prefix=name)
        self._batch: list[tuple[J, asyncio.Future[T]]] = []

    def ask(self, job: J) -> asyncio.Future[T]:
        loop = asyncio.get_running_loop()
        future: asyncio.Future[T] = loop.create_future()
        if not self._batch:
            loop.call_soon(self._send, loop)  # after the requests woken in this turn have asked for theirs
        self._batch.append((job, future))
        return future

    def _send(self, loop: asyncio.AbstractEventLoop) -> None:
        batch, self._batch = self._batch, []
        work = self._work

        def run_all() -> None:
            try:
                done: list[T] | BaseException = [work(job) for job, _ in batch]
            except Exception as exc:  # a failing job: every request waiting is told, none hangs
                done = exc
            loop.call_soon_threadsafe(_deliver, batch, done)

        self._pool.submit(run_all)

    def close(self) -> None:
        self._pool.shutdown(wait=False, cancel_futures=True)


def _deliver(batch: list[tuple[Any, asyncio.Future[Any]]], done: list[Any] | BaseException) -> None:
    for n, (_, future) in enumerate(batch):
        if future.done():  # the request went away (a client disconnect cancels its wait)
            continue
        if isinstance(done, BaseException):
            future.set_exception(done)
        else:
            future.set_result(done[n])


class ReceiptDesk:
    """Makes the signed receipts of entries: `await desk.receipt(index, t)`."""

    def __init__(self, signer: Signer, origin: str, leaf_of: Callable[[int], bytes], window_ms: int) -> None:
        self.origin = origin
        self.leaf_of = leaf_of  # the leaf hash of a durable entry, by index
        self.window_ms = window_ms
        self._batches: _Batches[Receipt, str] = _Batches(lambda receipt: receipt.sign(signer), "receipts")

    def receipt(self, index: int, t: int) -> asyncio.Future[str]:
        """The signed receipt of entry `index` (time `t`), once the desk's thread has signed it."""
        return self._batches.ask(Receipt(self.origin, index, self.leaf_of(index), t, t + self.window_ms))

    def close(self) -> None:
        self._batches.close()


class SignatureDesk:
    """Checks bidders' signatures of commands: `await desk.verify(origin, command, sig, key)`."""

    def __init__(self) -> None:
        self._batches: _Batches[tuple[str, Mapping[str, Any], bytes, bytes], bool] = _Batches(
            lambda job: verify_command(*job), "signatures"
        )

    def verify(self, origin: str, command: Mapping[str, Any], sig: bytes, key: bytes) -> asyncio.Future[bool]:
        return self._batches.ask((origin, command, sig, key))

    def close(self) -> None:
        self._batches.close()
