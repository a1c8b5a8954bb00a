"""The event feed over WebSocket: a snapshot on connect, every durable ledger event, heartbeats.

Messages are JSON objects, each with `type` and `server_time` (the server's clock in ms, so a page
counts down on the server's time, never the browser's):

- `snapshot` {market, next, lots: [public lot views], submarkets} — sent first on every connection;
  it reflects every entry before index `next`.
- `event` {seq, t, kind, data, backlog?} — one ledger entry, once durable; `seq` is its ledger index,
  so the sequence numbers are the ledger's. A client that reconnects with `?since=N` (the last seq
  it saw) gets the entries N+1 … next-1 after the snapshot (marked `backlog`), then live events.
- `lot` {lot, view} — the public view of a lot after a batch of events touched it.
- `heartbeat` {next} — every `heartbeat_s` seconds.

Two audiences. The public (no credential: the bidder rooms, anyone) sees the market through
`server/privacy.py`: bidders by bidder number only, no refusals, nobody's money. The operator sees the
ledger whole: its console offers the WebSocket subprotocols `ae.feed` and `ae.bearer.<operator token>`
(browsers cannot set an Authorization header on a WebSocket), and the server answers with `ae.feed`.
An unknown token is closed with code 4401; a bidder's token gets the public feed.

Byte strings in `data` are hex. Each client has a bounded queue; a client whose queue is full (it
reads more slowly than the market writes) is disconnected with close code 4001 and the reason
says how to resume. Publishing never waits for a client, so no consumer can stall the market.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Iterable
from typing import Any

from starlette.websockets import WebSocket, WebSocketDisconnect, WebSocketState

from ledger import canonical

from ..engine import Event
from . import privacy
from .live import LiveMarket
from .responses import to_json

__all__ = ["BEARER_PREFIX", "SLOW_CLOSE_CODE", "SUBPROTOCOL", "UNKNOWN_TOKEN_CLOSE_CODE", "Feed"]

log = logging.getLogger("auction_engine.server.feed")

SLOW_CLOSE_CODE = 4001
UNKNOWN_TOKEN_CLOSE_CODE = 4401
SUBPROTOCOL = "ae.feed"
BEARER_PREFIX = "ae.bearer."
MAX_BACKLOG = 100_000


class _Client:
    """One WebSocket subscriber: a bounded queue drained by its own sender task."""

    __slots__ = ("dropped", "floor", "operator", "queue", "sender", "ws")

    def __init__(self, ws: WebSocket, size: int, operator: bool = False) -> None:
        self.ws = ws
        self.operator = operator  # sees the ledger whole, not the public's view of it
        self.queue: asyncio.Queue[tuple[int, str]] = asyncio.Queue(size)
        self.dropped = False
        self.floor = 0  # events below this index were covered by the snapshot or the backlog
        self.sender: asyncio.Task[None] | None = None

    def offer(self, seq: int, text: str) -> bool:
        if self.dropped:
            return False
        try:
            self.queue.put_nowait((seq, text))
        except asyncio.QueueFull:
            self.drop()
            return False
        return True

    def drop(self) -> None:
        """Stop sending to this client now (even mid-send): the connection is then closed."""
        self.dropped = True
        if self.sender is not None:
            self.sender.cancel()


class Feed:
    """Fans durable events out to WebSocket clients; drops the slow ones."""

    def __init__(self, market: LiveMarket, *, queue_size: int = 1024, heartbeat_s: float = 1.0) -> None:
        self.market = market
        self.queue_size = queue_size
        self.heartbeat_s = heartbeat_s
        self.clients: set[_Client] = set()
        self.dropped = 0
        self._heartbeat: asyncio.Task[None] | None = None
        market.subscribers.append(self._on_batch)

    async def start(self) -> None:
        self._heartbeat = asyncio.get_running_loop().create_task(self._beat(), name="feed-heartbeat")

    async def stop(self) -> None:
        if self._heartbeat is not None:
            self._heartbeat.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._heartbeat
        for client in list(self.clients):
            client.drop()

    # -- encoding ------------------------------------------------------------------------------------

    def event_message(self, event: Event, now: int, backlog: bool = False, operator: bool = True) -> str | None:
        """The event's message for the operator, or for the public (None when the public may not see it)."""
        data = event.data if operator else privacy.public_event(event.kind, event.data, self.market.credentials.numbers)
        if data is None:
            return None
        msg: dict[str, Any] = {
            "type": "event",
            "seq": event.seq,
            "t": event.t,
            "kind": event.kind,
            "data": data,
            "server_time": now,
        }
        if backlog:
            msg["backlog"] = True
        return to_json(msg)

    def lot_view(self, lot: str, operator: bool) -> dict[str, Any]:
        return self.market.engine.view(lot, None) if operator else self.market.view(lot)

    def snapshot(self, next_seq: int, operator: bool = False) -> dict[str, Any]:
        market = self.market
        return {
            "type": "snapshot",
            "market": market.origin,
            "next": next_seq,
            "lots": [self.lot_view(lot, operator) for lot in market.lot_ids()],
            "submarkets": market.submarkets(),
            "server_time": market.now(),
        }

    # -- fan-out -----------------------------------------------------------------------------------

    def _on_batch(self, events: list[Event]) -> None:
        if not self.clients:
            return
        now = self.market.now()
        touched: dict[str, None] = {}
        for e in events:
            lot = e.data.get("lot")
            if type(lot) is str and lot in self.market.engine.lots:
                touched[lot] = None
        last = events[-1].seq
        audiences = {client.operator for client in self.clients}
        for operator in audiences:  # each audience's messages are encoded once, for all its clients
            messages: list[tuple[int, str]] = []
            for e in events:
                text = self.event_message(e, now, operator=operator)
                if text is not None:
                    messages.append((e.seq, text))
            for lot in touched:
                view = self.lot_view(lot, operator)
                messages.append((last, to_json({"type": "lot", "lot": lot, "view": view, "server_time": now})))
            self._fan_out(messages, operator)

    def _fan_out(self, messages: Iterable[tuple[int, str]], operator: bool | None = None) -> None:
        """Queue `messages` for every client of the audience (None: every client)."""
        messages = list(messages)
        for client in list(self.clients):
            if operator is not None and client.operator != operator:
                continue
            for seq, text in messages:
                if not client.offer(seq, text):
                    self._drop(client)
                    break

    def _drop(self, client: _Client) -> None:
        if client in self.clients:
            self.clients.discard(client)
            self.dropped += 1
            log.info("feed: dropped a slow consumer (%d dropped so far)", self.dropped)

    async def _beat(self) -> None:
        while True:
            await asyncio.sleep(self.heartbeat_s)
            if self.clients:
                msg = to_json(
                    {"type": "heartbeat", "next": self.market.log.durable_size, "server_time": self.market.now()}
                )
                self._fan_out([(-1, msg)])

    # -- one connection ------------------------------------------------------------------------------

    def _audience(self, ws: WebSocket) -> tuple[bool | None, str | None]:
        """(operator?, the subprotocol to answer) from the offered subprotocols; operator None: unknown token."""
        offered = list(ws.scope.get("subprotocols") or ())
        answer = SUBPROTOCOL if SUBPROTOCOL in offered else None
        for protocol in offered:
            if protocol.startswith(BEARER_PREFIX):
                found = self.market.credentials.principal(protocol[len(BEARER_PREFIX) :])
                if found is None:
                    return None, answer
                return found.is_operator, answer
        return False, answer

    async def serve(self, ws: WebSocket, since: int | None) -> None:
        """Run one WebSocket subscription until the client leaves or is dropped."""
        operator, subprotocol = self._audience(ws)
        await ws.accept(subprotocol=subprotocol)
        if operator is None:
            with contextlib.suppress(Exception):
                await ws.close(UNKNOWN_TOKEN_CLOSE_CODE, "unknown token: sign in again")
            return
        market = self.market
        client = _Client(ws, self.queue_size, operator)
        next_seq = market.log.size
        snapshot = self.snapshot(next_seq, operator)
        client.floor = next_seq
        self.clients.add(client)  # from here on, every published event is queued
        try:
            await market.durable(next_seq)
            await ws.send_text(to_json(snapshot))
            if since is not None and since + 1 < next_seq:
                await self._backlog(ws, since + 1, next_seq, operator)
            receiver = asyncio.create_task(self._receive(ws))
            client.sender = asyncio.create_task(self._send(client))
            if client.dropped:  # dropped while the snapshot and backlog were being sent
                client.sender.cancel()
            try:
                await asyncio.wait({receiver, client.sender}, return_when=asyncio.FIRST_COMPLETED)
            finally:
                for task in (receiver, client.sender):
                    task.cancel()
                    with contextlib.suppress(asyncio.CancelledError, Exception):
                        await task
        except (WebSocketDisconnect, RuntimeError, OSError):
            pass
        finally:
            self.clients.discard(client)
        if client.dropped and ws.application_state == WebSocketState.CONNECTED:
            with contextlib.suppress(Exception):
                reason = "slow consumer: reconnect with ?since=<last seq you saw>"
                await asyncio.wait_for(ws.close(SLOW_CLOSE_CODE, reason), 10)

    async def _backlog(self, ws: WebSocket, start: int, end: int, operator: bool) -> None:
        """Send the durable events start … end-1: from memory when held there, else from the ledger."""
        market = self.market
        now = market.now()
        if end - start > MAX_BACKLOG:
            start = end - MAX_BACKLOG  # the client asked for more than we replay: it gets the latest part
        sent = start
        for event in market.durable_events(start):
            if event.seq >= end:
                return
            if event.seq < sent:
                continue
            text = self.event_message(event, now, backlog=True, operator=operator)
            if text is not None:
                await ws.send_text(text)
            sent = event.seq + 1
        while sent < end:
            chunk = await market.read_entries(sent, min(end, sent + 2000))
            if not chunk:
                return
            for data in chunk:
                entry = canonical.decode(data)
                payload = {k: v for k, v in entry.items() if k not in privacy.ENTRY_HEADER}
                event = Event(entry["seq"], entry["t"], entry["kind"], payload)
                text = self.event_message(event, now, backlog=True, operator=operator)
                if text is not None:
                    await ws.send_text(text)
                sent = entry["seq"] + 1

    @staticmethod
    async def _send(client: _Client) -> None:
        queue, ws, floor = client.queue, client.ws, client.floor
        while True:
            seq, text = await queue.get()
            if 0 <= seq < floor:
                continue  # already in the snapshot or the backlog
            await ws.send_text(text)

    @staticmethod
    async def _receive(ws: WebSocket) -> None:
        """Read (and ignore) what the client sends, so a disconnect is noticed at once."""
        while True:
            msg = await ws.receive()
            if msg["type"] == "websocket.disconnect":
                return
