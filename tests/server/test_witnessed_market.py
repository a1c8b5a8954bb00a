"""`serve --witness URL=VKEY --quorum K`: the market's checkpoints cosigned by real witness processes.

A witness (`auction-engine witness serve`) cosigns each new checkpoint off the bid path; the market
serves the newest cosigned checkpoint at /log/checkpoint and issues certificates under it, which
`verify --witness VKEY --quorum K` then checks. A dead witness never delays an acknowledgement.
"""

from __future__ import annotations

import json
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from ledger.cosignature import generate_cosigner, verify_cosignatures

from ..witness.test_witness_server import WitnessProcess
from .conftest import MARKET, LiveServer, http_json, signer

FAST_LOT = {"start_price": 10_000, "increment": 500, "free_ms": 1500, "countdown_ms": 1000,
            "publication_working_days": 0}  # fmt: skip


class MarketWitness(WitnessProcess):
    """A witness process that follows the test market's log; restarted, it listens on the same port."""

    def command(self) -> list[str]:
        cmd = super().command()
        cmd[cmd.index("--log") + 1] = f"{MARKET}={signer().verifier.encode()}"
        if self.port:
            cmd[cmd.index("--port") + 1] = str(self.port)
        return cmd


@pytest.fixture
def witness(tmp_path: Path) -> Iterator[MarketWitness]:
    (tmp_path / "w").mkdir()
    process = MarketWitness(tmp_path / "w")
    process.start()
    try:
        yield process
    finally:
        process.kill()


def _text(url: str) -> tuple[int, str]:
    try:
        with urllib.request.urlopen(url, timeout=30) as answer:  # the test's own server
            return answer.status, answer.read().decode()
    except urllib.error.HTTPError as exc:
        return exc.code, exc.read().decode()


def _wait(predicate: Any, what: str, timeout: float = 30.0) -> Any:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        found = predicate()
        if found:
            return found
        time.sleep(0.1)
    raise AssertionError(f"timed out waiting for {what}")


def _cosigned_size(server: LiveServer, wkey: Any) -> int:
    status, note = _text(f"{server.url}/log/checkpoint")
    if status != 200 or not verify_cosignatures(note, [wkey]):
        return 0
    return int(note.split("\n")[1])


def test_checkpoints_are_cosigned_off_the_bid_path(tmp_path: Path, witness: MarketWitness) -> None:
    wkey = _witness_verifier(witness)
    server = LiveServer(tmp_path, extra=["--witness", f"{witness.url}={wkey.encode()}", "--quorum", "1"])
    server.start()
    try:
        url = server.url
        assert http_json("POST", f"{url}/api/lots", {"lot": "E1", "mode": "english", "params": FAST_LOT})[0] == 200
        tokens = {}
        for bidder in ("acme", "bolt"):
            status, admitted = http_json("POST", f"{url}/api/bidders", {"bidder": bidder})
            assert status == 200
            tokens[bidder] = admitted["token"]
            assert http_json("POST", f"{url}/api/lots/E1/deposits", {"party": bidder, "amount": 1000})[0] == 200
        status, ack = http_json("POST", f"{url}/api/lots/E1/bids", {"amount": 10_000}, token=tokens["acme"])
        assert status == 200, ack
        _wait(lambda: _cosigned_size(server, wkey) > ack["seq"], "a cosigned checkpoint covering the bid")
        # the witness dies: bids are still acknowledged at once, and the last cosigned checkpoint stays served
        witness.kill()
        before = _cosigned_size(server, wkey)
        started = time.monotonic()
        status, late = http_json("POST", f"{url}/api/lots/E1/bids", {"amount": 10_500}, token=tokens["bolt"])
        assert status == 200 and time.monotonic() - started < 2.0, late
        time.sleep(1.0)
        assert _cosigned_size(server, wkey) == before
        witness.start()  # the same state: it extends what it cosigned (a consistency proof from its size)
        _wait(lambda: _cosigned_size(server, wkey) > late["seq"], "the witness to catch up")
        # the deal: the lot closes, the operator records the payment, a code is issued
        _wait(lambda: http_json("GET", f"{url}/api/lots/E1")[1]["view"]["phase"] == "awaiting_payment", "the deal")
        deal = next(v for v in http_json("GET", f"{url}/api/operator/lots")[1]["lots"] if v["lot"] == "E1")
        assert http_json("POST", f"{url}/api/lots/E1/payments", {"amount": deal["cash"]})[0] == 200, deal
        codes = _wait(lambda: http_json("GET", f"{url}/api/certificates")[1].get("codes"), "a transaction code")
        code = next(iter(codes))

        def cosigned_certificate() -> Any:
            cert = http_json("GET", f"{url}/api/certificates/{code}")[1]["certificate"]
            return cert if cert["tlog_proof"].count("\u2014") >= 2 else None  # the market's line and the witness's

        cert = _wait(cosigned_certificate, "a certificate under a cosigned checkpoint")
        path = tmp_path / "deal.cert.json"
        path.write_text(json.dumps(cert, ensure_ascii=False), encoding="utf-8")
        vkey = signer().verifier.encode()
        verify = [sys.executable, "-m", "auction_engine", "verify", str(path), "--vkey", vkey, "--json"]
        done = subprocess.run([*verify, "--witness", wkey.encode(), "--quorum", "1"], capture_output=True, timeout=60)
        verdict = json.loads(done.stdout)
        assert done.returncode == 0 and verdict["facts"]["cosignatures"]["count"] == 1, verdict
        other = generate_cosigner("witness.example/other").verifier.encode()
        cmd = [*verify, "--witness", wkey.encode(), "--witness", other, "--quorum", "2"]
        done = subprocess.run(cmd, capture_output=True, timeout=60)
        assert done.returncode == 1 and json.loads(done.stdout)["reason"] == "quorum"
        # a restart serves the stored cosigned checkpoint at once, before any new round
        server.stop()
        witness.kill()
        server.start()
        assert _cosigned_size(server, wkey) > late["seq"]
    finally:
        server.stop()


def _witness_verifier(witness: MarketWitness) -> Any:
    from ledger.cosignature import Cosigner

    return Cosigner.parse(witness.key.read_text().strip()).verifier


def test_serve_refuses_bad_witness_options(tmp_path: Path) -> None:
    key = tmp_path / "market.key"
    key.write_text(signer().encode() + "\n")
    base = [sys.executable, "-m", "auction_engine", "serve", "--db", str(tmp_path / "l.db"), "--key", str(key),
            "--port", "0"]  # fmt: skip
    wkey = generate_cosigner("w.example/a").verifier.encode()
    for args, said in [
        (["--witness", "nourl"], "URL=VKEY"),
        (["--witness", f"ftp://x={wkey}"], "http://"),
        (["--witness", "http://x=notakey"], "--witness"),
        (["--quorum", "1"], "needs at least one --witness"),
        (["--witness", f"http://x={wkey}", "--quorum", "2"], "more than the 1 witnesses"),
    ]:
        done = subprocess.run([*base, *args], capture_output=True, text=True, timeout=60)
        assert done.returncode == 2 and said in done.stderr, (args, done.stderr)
