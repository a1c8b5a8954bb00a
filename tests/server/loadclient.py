"""A tiny asyncio HTTP/1.1 keep-alive client for the race and crash tests (hundreds of connections, cheap).

One `Conn` carries one request at a time, as a bidder's browser would. It records when each request
was sent and when its answer arrived (monotonic seconds), so a test can compare the order of the
acknowledgements with the order of the ledger.
"""

from __future__ import annotations

import asyncio
import json
import time
from dataclasses import dataclass
from typing import Any

__all__ = ["Answer", "Conn"]


@dataclass
class Answer:
    status: int
    body: Any
    sent: float
    received: float


class _Proto(asyncio.Protocol):
    def __init__(self) -> None:
        self.buf = b""
        self.waiter: asyncio.Future[tuple[int, bytes]] | None = None
        self.transport: asyncio.Transport | None = None
        self.lost = False

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport  # type: ignore[assignment]

    def data_received(self, data: bytes) -> None:
        self.buf += data
        end = self.buf.find(b"\r\n\r\n")
        if end < 0:
            return
        head = self.buf[:end].lower()
        i = head.find(b"content-length:")
        n = int(head[i + 15 : head.find(b"\r\n", i) if head.find(b"\r\n", i) > 0 else None]) if i >= 0 else 0
        if len(self.buf) < end + 4 + n:
            return
        status = int(self.buf[9:12])
        body = self.buf[end + 4 : end + 4 + n]
        self.buf = self.buf[end + 4 + n :]
        if self.waiter is not None and not self.waiter.done():
            self.waiter.set_result((status, body))

    def connection_lost(self, exc: Exception | None) -> None:
        self.lost = True
        if self.waiter is not None and not self.waiter.done():
            self.waiter.set_exception(ConnectionError(f"connection lost: {exc}"))


class Conn:
    """One keep-alive connection to 127.0.0.1:port."""

    def __init__(self, port: int) -> None:
        self.port = port
        self.proto: _Proto | None = None

    async def open(self) -> None:
        loop = asyncio.get_running_loop()
        _, self.proto = await loop.create_connection(_Proto, "127.0.0.1", self.port)

    def close(self) -> None:
        if self.proto is not None and self.proto.transport is not None:
            self.proto.transport.close()
        self.proto = None

    async def request(
        self, method: str, path: str, body: Any = None, token: str | None = None, idem: str | None = None,
        timeout: float = 30.0,
    ) -> Answer:  # fmt: skip
        """Send one request (reconnecting if needed); ConnectionError if the server goes away."""
        if self.proto is None or self.proto.lost:
            await self.open()
        assert self.proto is not None and self.proto.transport is not None
        data = b"" if body is None else json.dumps(body).encode()
        head = [f"{method} {path} HTTP/1.1", "Host: test", f"Content-Length: {len(data)}"]
        if body is not None:
            head.append("Content-Type: application/json")
        if token:
            head.append(f"Authorization: Bearer {token}")
        if idem:
            head.append(f"Idempotency-Key: {idem}")
        raw = ("\r\n".join(head) + "\r\n\r\n").encode() + data
        self.proto.waiter = asyncio.get_running_loop().create_future()
        sent = time.monotonic()
        self.proto.transport.write(raw)
        try:
            status, payload = await asyncio.wait_for(self.proto.waiter, timeout)
        except (TimeoutError, ConnectionError) as exc:
            self.close()
            raise ConnectionError(str(exc)) from None
        received = time.monotonic()
        try:
            decoded = json.loads(payload) if payload else None
        except ValueError:
            decoded = payload.decode(errors="replace")
        return Answer(status, decoded, sent, received)
