"""Fixtures for the live server tests: an in-process app (TestClient) and real server processes.

`market` gives an in-process application on a fresh SQLite ledger (the lifespan runs, so timers
fire on the wall clock and the committer writes durably) with helpers for the operator and
bidders. `live_server` starts `auction-engine serve` as a real process on a free port, for the
feed, crash, race and browser tests; it can be killed (-9) and restarted on the same ledger.
"""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from starlette.testclient import TestClient

from auction_engine.bidder_keys import sign_statement
from auction_engine.server import create_app
from ledger import CheckpointPolicy, Signer
from ledger.receipt import Receipt, open_receipt

OP_TOKEN = "test-operator-token-0123456789"
SEED = bytes(range(32))
MARKET = "test.market"


def signer() -> Signer:
    return Signer(MARKET, SEED)


def take_receipt(answer: dict[str, Any], signer_: Signer | None = None) -> Receipt:
    """Pop the answer's receipt, check it is the market's, for the answer's entry; return what it states."""
    receipt = open_receipt(answer.pop("receipt"), (signer_ or signer()).verifier)
    assert receipt.index == answer["seq"] and receipt.covered_by == receipt.time + 10_000
    return receipt


def english(**params: Any) -> dict[str, Any]:
    """English lot params: short free bidding and countdown unless given."""
    base = {"start_price": 10_000, "increment": 100, "free_ms": 60_000, "countdown_ms": 30_000}
    base.update(params)
    return base


@dataclass
class Market:
    """An in-process market: the TestClient plus shortcuts for the operator and bidders."""

    client: TestClient
    db: Path
    app: Any
    tokens: dict[str, str] = field(default_factory=dict)
    numbers: dict[str, str] = field(default_factory=dict)  # bidder id -> bidder number, as the public sees it

    @property
    def op(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {OP_TOKEN}"}

    def auth(self, bidder: str) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.tokens[bidder]}"}

    @property
    def auditor(self) -> dict[str, str]:
        """An auditor's headers (the token made on first use): the whole log, nothing else."""
        if "auditor:" not in self.tokens:
            r = self.client.post("/api/auditors", json={"name": "审计方"}, headers=self.op)
            assert r.status_code == 200, r.text
            self.tokens["auditor:"] = r.json()["token"]
        return {"Authorization": f"Bearer {self.tokens['auditor:']}"}

    def post(self, path: str, body: Any = None, who: str | None = None, idem: str | None = None, **kw: Any) -> Any:
        headers = dict(self.op if who is None else self.auth(who))
        if idem is not None:
            headers["Idempotency-Key"] = idem
        return self.client.post(path, json=body, headers=headers, **kw)

    def ok(self, path: str, body: Any = None, who: str | None = None, idem: str | None = None) -> dict[str, Any]:
        r = self.post(path, body, who, idem)
        assert r.status_code == 200, f"{path}: {r.status_code} {r.text}"
        data = r.json()
        assert data["ok"] is True and isinstance(data["seq"], int)
        return data

    def admit(self, *bidders: str) -> None:
        for b in bidders:
            r = self.client.post("/api/bidders", json={"bidder": b}, headers=self.op)
            assert r.status_code == 200, r.text
            self.tokens[b] = r.json()["token"]
            self.numbers[b] = r.json()["number"]

    def bind_key(
        self, bidder: str, key: Ed25519PrivateKey, epoch: int = 0, old: Ed25519PrivateKey | None = None
    ) -> Any:
        """PUT /api/me/key with a statement binding `key` (a rotation from `old`) for `bidder`; the response."""
        old_seed = old.private_bytes_raw() if old is not None else None
        statement = sign_statement(MARKET, bidder, epoch, key.private_bytes_raw(), old_seed)
        return self.client.put("/api/me/key", json={"statement": statement}, headers=self.auth(bidder))

    def open_lot(self, lot: str, mode: str = "english", deposits: dict[str, int] | None = None, **fields: Any) -> None:
        if mode == "english" and "params" not in fields:
            fields["params"] = english()
        self.ok("/api/lots", {"lot": lot, "mode": mode, **fields})
        for party, amount in (deposits or {}).items():
            self.ok(f"/api/lots/{lot}/deposits", {"party": party, "amount": amount})

    def view(self, lot: str, who: str | None = None) -> dict[str, Any]:
        if who is None:
            r = self.client.get(f"/api/lots/{lot}")
        else:
            r = self.client.get(f"/api/me/lots/{lot}", headers=self.auth(who))
        assert r.status_code == 200, r.text
        return r.json()["view"]

    def wait_for(self, predicate: Callable[[], bool], timeout: float = 10.0, what: str = "condition") -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if predicate():
                return
            time.sleep(0.05)
        raise AssertionError(f"timed out waiting for {what}")


def make_app(db: Path, **options: Any) -> Any:
    options.setdefault("operator_token", OP_TOKEN)
    options.setdefault("tick_ms", 100)
    options.setdefault("policy", CheckpointPolicy(every_entries=50, every_ms=200))
    options.setdefault("heartbeat_s", 0.2)
    return create_app(str(db), signer(), **options)


@pytest.fixture
def market(tmp_path: Path) -> Iterator[Market]:
    db = tmp_path / "ledger.db"
    app = make_app(db)
    with TestClient(app) as client:
        yield Market(client, db, app)


# -- real server processes ----------------------------------------------------------------------------


@dataclass
class LiveServer:
    """A real `auction-engine serve` process on a ledger; restartable after a kill."""

    directory: Path
    extra: list[str] = field(default_factory=list)
    db_url: str | None = None  # a postgresql:// URL instead of directory/ledger.db
    proc: subprocess.Popen[bytes] | None = None
    port: int = 0
    log: list[str] = field(default_factory=list)

    @property
    def db(self) -> Path:
        return self.directory / "ledger.db"

    @property
    def key(self) -> Path:
        return self.directory / "market.key"

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def ws_url(self) -> str:
        return f"ws://127.0.0.1:{self.port}"

    def start(self, timeout: float = 60.0) -> None:
        if not self.key.exists():
            self.key.write_text(signer().encode() + "\n")
        db = self.db_url or str(self.db)
        cmd = [
            sys.executable, "-m", "auction_engine", "serve", "--db", db, "--key", str(self.key),
            "--port", "0", "--operator-token", OP_TOKEN, "--log-level", "warning",
            "--checkpoint-entries", "100", "--checkpoint-ms", "200", *self.extra,
        ]  # fmt: skip
        self.proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, start_new_session=True)
        assert self.proc.stderr is not None
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            line = self.proc.stderr.readline().decode(errors="replace")
            if not line:
                break
            self.log.append(line)
            m = re.search(r"listening on http://[^:]+:(\d+)", line)
            if m:
                self.port = int(m.group(1))
                os.set_blocking(self.proc.stderr.fileno(), False)
                return
        code = self.proc.poll()
        self.kill()
        raise AssertionError(f"server did not start (exit {code}):\n" + "".join(self.log))

    def kill(self) -> None:
        """kill -9: no shutdown at all."""
        if self.proc is not None and self.proc.poll() is None:
            os.kill(self.proc.pid, signal.SIGKILL)
            self.proc.wait(30)
        self.proc = None

    def stop(self) -> None:
        """A graceful stop (SIGINT), falling back to kill."""
        if self.proc is not None and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGINT)
            try:
                self.proc.wait(20)
            except subprocess.TimeoutExpired:
                self.kill()
        self.proc = None

    def stderr(self) -> str:
        if self.proc is not None and self.proc.stderr is not None:
            try:
                data = self.proc.stderr.read()
            except (BlockingIOError, ValueError):
                data = None
            if data:
                self.log.append(data.decode(errors="replace"))
        return "".join(self.log)


@pytest.fixture
def live_server(tmp_path: Path) -> Iterator[LiveServer]:
    server = LiveServer(tmp_path)
    server.start()
    try:
        yield server
    finally:
        server.stop()


def http_json(
    method: str, url: str, body: Any = None, token: str | None = OP_TOKEN, idem: str | None = None
) -> tuple[int, Any]:
    """A blocking JSON request (for setting a live server up)."""
    import http.client
    import json
    from urllib.parse import urlsplit

    parts = urlsplit(url)
    conn = http.client.HTTPConnection(parts.hostname, parts.port, timeout=30)
    headers = {"Content-Type": "application/json"}
    if token:
        headers["Authorization"] = f"Bearer {token}"
    if idem:
        headers["Idempotency-Key"] = idem
    conn.request(
        method,
        parts.path + (f"?{parts.query}" if parts.query else ""),
        None if body is None else json.dumps(body),
        headers,
    )
    resp = conn.getresponse()
    raw = resp.read()
    conn.close()
    try:
        return resp.status, json.loads(raw or b"null")
    except ValueError:
        return resp.status, raw.decode(errors="replace")
