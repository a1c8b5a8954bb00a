"""The event feed: snapshot on connect, ledger sequence numbers, resume, server time, slow consumers dropped."""

from __future__ import annotations

import base64
import json
import os
import socket
import time
from typing import Any

from .conftest import OP_TOKEN, LiveServer, Market, english, http_json


def _drain(ws: Any, until: Any, limit: int = 500) -> list[dict[str, Any]]:
    out = []
    for _ in range(limit):
        msg = ws.receive_json()
        out.append(msg)
        if until(msg):
            return out
    raise AssertionError(f"no matching message in {limit}: {out[-5:]}")


def test_snapshot_events_and_resume(market: Market) -> None:
    m = market
    m.admit("acme", "bolt")
    m.open_lot("L1", deposits={"acme": 1000, "bolt": 1000})
    with m.client.websocket_connect("/api/feed") as ws:
        snap = ws.receive_json()
        assert snap["type"] == "snapshot" and snap["market"] == "test.market"
        assert [v["lot"] for v in snap["lots"]] == ["L1"] and isinstance(snap["server_time"], int)
        first_next = snap["next"]
        ack = m.ok("/api/lots/L1/bids", {"amount": 10_000}, who="acme")
        msgs = _drain(ws, lambda msg: msg["type"] == "lot")
        events = [x for x in msgs if x["type"] == "event"]
        assert (
            events[-1]["seq"] == ack["seq"]
            and events[-1]["kind"] == "bid"
            and events[-1]["data"]["actor"] == m.numbers["acme"]
        )
        assert all(isinstance(x["server_time"], int) for x in msgs)
        lot = msgs[-1]
        assert lot["lot"] == "L1" and lot["view"]["price"] == 10_000 and lot["view"]["leader"] == m.numbers["acme"]
        beat = _drain(ws, lambda msg: msg["type"] == "heartbeat")[-1]
        assert beat["next"] >= ack["seq"] + 1 and isinstance(beat["server_time"], int)
    # more happens while we are away
    acks = [m.ok("/api/lots/L1/bids", {"amount": 10_100 + 100 * i}, who=("bolt", "acme")[i % 2]) for i in range(5)]
    operator = ["ae.feed", f"ae.bearer.{OP_TOKEN}"]  # the whole ledger: the public's feed leaves refusals out
    with m.client.websocket_connect(f"/api/feed?since={ack['seq']}", subprotocols=operator) as ws:
        snap = ws.receive_json()
        assert snap["type"] == "snapshot" and snap["next"] > acks[-1]["seq"]
        missed = [ws.receive_json() for _ in range(snap["next"] - ack["seq"] - 1)]
        assert [x["seq"] for x in missed] == list(range(ack["seq"] + 1, snap["next"]))
        assert all(x["backlog"] for x in missed)
        assert [a["seq"] for a in acks] == [x["seq"] for x in missed if x["kind"] == "bid"]
    assert first_next <= ack["seq"]
    # resuming from before the in-memory ring reads the ledger
    with m.client.websocket_connect("/api/feed?since=-1", subprotocols=operator) as ws:
        snap = ws.receive_json()
        history = [ws.receive_json() for _ in range(snap["next"])]
        assert [x["seq"] for x in history] == list(range(snap["next"]))
        assert history[0]["kind"] == "open_market"


def test_event_bytes_are_hex(market: Market) -> None:
    m = market
    m.admit("acme")
    m.open_lot("S1", "sealed", params={"price_rule": "first", "min_price": 100}, deposits={"acme": 10})
    with m.client.websocket_connect("/api/feed") as ws:
        ws.receive_json()
        m.ok("/api/lots/S1/commit", {"hash": "ab" * 32}, who="acme")
        ev = _drain(ws, lambda msg: msg["type"] == "event" and msg["kind"] == "commit")[-1]
        assert ev["data"]["hash"] == "ab" * 32


def _ws_handshake(port: int, rcvbuf: int) -> socket.socket:
    """A raw WebSocket client with a tiny receive buffer that never reads (a slow consumer)."""
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, rcvbuf)
    sock.connect(("127.0.0.1", port))
    key = base64.b64encode(os.urandom(16)).decode()
    sock.sendall(
        (
            f"GET /api/feed HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
            f"Sec-WebSocket-Key: {key}\r\nSec-WebSocket-Version: 13\r\n\r\n"
        ).encode()
    )
    head = b""
    while b"\r\n\r\n" not in head:
        head += sock.recv(1)
    assert b" 101 " in head.split(b"\r\n", 1)[0], head
    return sock


def test_slow_consumer_is_dropped_and_the_market_keeps_going(tmp_path: Any) -> None:
    server = LiveServer(tmp_path, extra=["--feed-queue", "8"])
    server.start()
    try:
        url = server.url
        status, body = http_json(
            "POST", f"{url}/api/lots", {"lot": "L1", "mode": "english", "params": english(leader_may_raise=True)}
        )
        assert status == 200, body
        status, body = http_json("POST", f"{url}/api/bidders", {"bidder": "acme"})
        token = body["token"]
        http_json("POST", f"{url}/api/lots/L1/deposits", {"party": "acme", "amount": 1000})
        slow = _ws_handshake(server.port, 1024)
        fast = _ws_handshake(server.port, 1 << 20)
        assert http_json("GET", f"{url}/api/market")[1]["feed_clients"] == 2
        started = time.monotonic()
        amount = 10_000
        n = 0
        while time.monotonic() - started < 30:
            for _ in range(50):
                status, body = http_json("POST", f"{url}/api/lots/L1/bids", {"amount": amount}, token=token)
                assert status == 200, body
                amount += 100
                n += 1
            fast.setblocking(False)
            try:
                while fast.recv(1 << 20):
                    pass
            except BlockingIOError:
                pass
            if http_json("GET", f"{url}/api/market")[1]["feed_clients"] == 1:
                break
        else:
            raise AssertionError("the slow consumer was never dropped")
        elapsed = time.monotonic() - started
        assert elapsed < 30 and n >= 50
        # the slow one gets a close frame with code 4001 once it reads what is left
        slow.setblocking(True)
        slow.settimeout(10)
        data = b""
        while True:
            chunk = slow.recv(1 << 16)
            if not chunk:
                break
            data += chunk
            if b"slow consumer" in data:
                break
        assert b"slow consumer" in data and (4001).to_bytes(2, "big") in data
        slow.close()
        fast.close()
        # the market never stalled: every bid was acknowledged in order
        status, lots = http_json("GET", f"{url}/api/lots/L1")
        assert lots["view"]["bids"] == n
    finally:
        server.stop()


def test_feed_over_a_real_server_with_resume(live_server: LiveServer) -> None:
    import asyncio

    import websockets

    url = live_server.url
    http_json("POST", f"{url}/api/lots", {"lot": "L1", "mode": "english", "params": english()})

    async def run() -> None:
        operator = ["ae.feed", f"ae.bearer.{OP_TOKEN}"]  # deposits are the operator's to see, not the public's
        async with websockets.connect(f"{live_server.ws_url}/api/feed", subprotocols=operator) as ws:
            snap = json.loads(await ws.recv())
            assert snap["type"] == "snapshot" and snap["lots"][0]["lot"] == "L1"
            status, body = await asyncio.to_thread(
                http_json, "POST", f"{url}/api/lots/L1/deposits", {"party": "acme", "amount": 5}
            )
            assert status == 200
            while True:
                msg = json.loads(await asyncio.wait_for(ws.recv(), 10))
                if msg["type"] == "event":
                    assert msg["seq"] == body["seq"] and msg["kind"] == "deposit"
                    break
            beat = None
            while beat is None:
                msg = json.loads(await asyncio.wait_for(ws.recv(), 10))
                if msg["type"] == "heartbeat":
                    beat = msg
            assert abs(beat["server_time"] - time.time() * 1000) < 5000

    asyncio.run(run())
