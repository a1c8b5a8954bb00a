"""`serve --standby`: wait for a PostgreSQL ledger's writer lock, then take over as the market.

A standby is a second `serve` on the same database. It binds its port but does not listen (a load
balancer's health check finds it down), and watches the ledger's single-writer advisory lock with
one read-only session (`ledger.store.postgres.WriterLockWatch`), one short query every `POLL_S`
seconds. The watch never takes the lock: when it finds the lock free — the primary stopped, or was
killed and the database server ended its session — the standby runs the normal start-up
(`create_app`: the store takes the lock in its own session before it reads anything, then the
start-up check, the snapshot and the replay of the entries after it, the timers re-armed by the
engine's clock) and only then listens. If another process took the lock in between (a second
standby, a restarted primary), the store is refused with `WriterLocked` and the standby watches again.

SIGTERM or SIGINT while waiting (or while restoring) ends the standby cleanly, exit 0.
"""

from __future__ import annotations

import importlib
import signal
import sys
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Generic, TypeVar

import click

from ledger.store import StoreError
from ledger.store.postgres import WriterLocked, WriterLockWatch

__all__ = ["POLL_S", "Takeover", "preload_server", "wait_and_open"]

POLL_S = 0.1  # seconds between two looks at the lock: at most this much of a takeover is spent noticing
RECONNECT_S = 1.0  # seconds between two attempts to reach the database after the watch lost it

T = TypeVar("T")


@dataclass
class Takeover(Generic[T]):
    """What the standby opened once the lock was free, and when (monotonic seconds)."""

    opened: T
    waited: float  # seconds from the standby's start until it found the lock free
    free_at: float  # time.monotonic() when it found the lock free


def say(message: str) -> None:
    click.echo(f"standby: {message}", err=True)
    sys.stderr.flush()


def preload_server(server_kind: str) -> None:
    """Import the HTTP server now, while waiting, rather than during the takeover."""
    importlib.import_module("granian.server.embed" if server_kind == "granian" else "uvicorn")


def wait_and_open(
    db: str,
    open_market: Callable[[], T],
    discard: Callable[[T], None],
    *,
    listen_on: str,
    poll: float = POLL_S,
) -> Takeover[T] | None:
    """Watch the writer lock of the ledger `db` until it is free, then `open_market()` (which takes it).

    Returns None if SIGTERM or SIGINT came first (what was opened meanwhile is `discard`ed, closing its
    store and so releasing the lock). A StoreError from the first connection (a bad URL, the database
    unreachable) is raised; later ones only pause the watch. Exceptions of `open_market` other than
    `WriterLocked` are raised as they are.
    """
    stop = threading.Event()

    def on_signal(signum: int, frame: object) -> None:
        stop.set()

    previous = {sig: signal.signal(sig, on_signal) for sig in (signal.SIGTERM, signal.SIGINT)}
    try:
        watch = WriterLockWatch(db)
        try:
            got = _watch(watch, open_market, stop, poll, listen_on)
        finally:
            watch.close()
        if got is not None and stop.is_set():
            discard(got.opened)
            got = None
        if got is None:
            say("stopped while waiting for the writer lock")
        return got
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)


def _watch(
    watch: WriterLockWatch, open_market: Callable[[], T], stop: threading.Event, poll: float, listen_on: str
) -> Takeover[T] | None:
    started = time.monotonic()
    shown: str | None = None
    lost = False
    while not stop.is_set():
        try:
            holder = watch.holder()
        except StoreError as exc:
            if not lost:
                say(f"cannot watch the writer lock ({exc}); trying again every {RECONNECT_S:g}s")
                lost = True
            stop.wait(RECONNECT_S)
            continue
        if lost:
            say("watching the writer lock again")
            lost = False
        if holder is None:
            free_at = time.monotonic()
            try:
                opened = open_market()
            except WriterLocked:
                say("another process took the writer lock first")
                shown = None
                continue
            return Takeover(opened, free_at - started, free_at)
        if holder != shown:
            say(
                f"waiting for the writer lock held by {holder} on {watch.url} (schema {watch.schema!r});"
                f" {listen_on} opens once this process holds it and has restored the market"
            )
            shown = holder
        stop.wait(poll)
    return None
