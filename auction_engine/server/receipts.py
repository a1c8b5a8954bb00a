"""Signed receipts for the answers to commands, signed off the event loop in batches.

Every answer to a command the engine recorded (accepted or refused by the rules) carries a receipt
(`ledger.receipt`): the market's signed statement of the entry's index, leaf hash and time, and of
the time by which a signed checkpoint will cover it (`window_ms` after the entry's time). A receipt
costs an Ed25519 signature, as much CPU as the rest of a bid's answer: the desk gathers the receipts
asked for in one turn of the event loop and signs them on its own thread, so the loop only builds
their texts and the signatures of many requests are made while the loop goes on.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor

from ledger import Signer
from ledger.receipt import DEFAULT_WINDOW_MS, Receipt

__all__ = ["DEFAULT_WINDOW_MS", "ReceiptDesk"]


class ReceiptDesk:
    """Makes the signed receipts of entries: `await desk.receipt(index, t)`."""

    def __init__(self, signer: Signer, origin: str, leaf_of: Callable[[int], bytes], window_ms: int) -> None:
        self.signer = signer
        self.origin = origin
        self.leaf_of = leaf_of  # the leaf hash of a durable entry, by index
        self.window_ms = window_ms
        self._pool = ThreadPoolExecutor(1, thread_name_prefix="receipts")
        self._batch: list[tuple[Receipt, asyncio.Future[str]]] = []

    def receipt(self, index: int, t: int) -> asyncio.Future[str]:
        """The signed receipt of entry `index` (time `t`), once the desk's thread has signed it."""
        loop = asyncio.get_running_loop()
        future: asyncio.Future[str] = loop.create_future()
        if not self._batch:
            loop.call_soon(self._send, loop)  # after the requests woken in this turn have asked for theirs
        self._batch.append((Receipt(self.origin, index, self.leaf_of(index), t, t + self.window_ms), future))
        return future

    def _send(self, loop: asyncio.AbstractEventLoop) -> None:
        batch, self._batch = self._batch, []
        signer = self.signer

        def sign_all() -> None:
            try:
                signed: list[str] | BaseException = [receipt.sign(signer) for receipt, _ in batch]
            except Exception as exc:  # a signer failing: every request waiting is told, none hangs
                signed = exc
            loop.call_soon_threadsafe(_deliver, batch, signed)

        self._pool.submit(sign_all)

    def close(self) -> None:
        self._pool.shutdown(wait=False, cancel_futures=True)


def _deliver(batch: list[tuple[Receipt, asyncio.Future[str]]], signed: list[str] | BaseException) -> None:
    for n, (_, future) in enumerate(batch):
        if future.done():  # the request went away (a client disconnect cancels its wait)
            continue
        if isinstance(signed, BaseException):
            future.set_exception(signed)
        else:
            future.set_result(signed[n])
