"""`auction-engine monitor URL --vkey VKEY --state DIR`: following the market's log over C2SP tlog-tiles.

Against real servers (`auction-engine serve`): a growing log checked twice (the second run resumes from
the state and fetches only the new entries), a log rewritten under the same key (truncation, then a
fork naming the entry), a wrong key, missing cosignatures, damaged or foreign states, an unreachable
server, the continuous mode and a witnessed market. The rules check, which a server refuses to serve a
ledger for, is tested on the monitor's functions with an in-memory tlog-tiles log.
"""

from __future__ import annotations

import json
import queue
import signal
import socket
import struct
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner

from auction_engine.cli import main
from auction_engine.monitor import Monitor, ViolationFound, check_checkpoint, check_rules
from auction_engine.monitor_state import ENTRIES_FILE, STATE_FILE, MonitorState, StateError
from auction_engine.server.public_log import parse_tile_path
from ledger import Log, Signer, SQLiteStore
from ledger.checkpoint import Checkpoint
from ledger.cosignature import Cosigner, generate_cosigner
from ledger.merkle import MerkleTree, leaf_hash
from ledger.note import sign_note
from ledger.tiles_client import TilesClient, TilesMalformed, parse_bundle, tile_path

from ..certificates.market import SIGNER as BUILT_SIGNER
from ..certificates.market import rebuild, run_market
from ..server.conftest import (
    MARKET,
    LiveServer,
    http_json,
    live_server,  # noqa: F401  (the fixture, re-exported)
    signer,
)
from ..server.test_witnessed_market import MarketWitness

VKEY = signer().verifier.encode()
FAST_LOT = {"start_price": 10_000, "increment": 500, "free_ms": 1500, "countdown_ms": 1000,
            "publication_working_days": 0}  # fmt: skip


_TOKEN_FILES: dict[tuple[str, Path], Path] = {}


def auditor_token(url: str, directory: Path) -> list[str]:
    """`--token-file FILE` with an auditor's token from the market at `url` (made once per server), or no
    arguments when `url` is no market of ours (unreachable, or another tlog-tiles server). One per test (its
    `directory`), as a later test's server may listen on the same port."""
    key = (url, directory)
    if key not in _TOKEN_FILES:
        try:
            status, made = http_json("POST", f"{url}/api/auditors", {"name": "monitor"})
        except OSError:
            return []
        if status != 200:
            return []
        path = directory / f"auditor-{len(_TOKEN_FILES)}.token"
        path.write_text(made["token"] + "\n")
        _TOKEN_FILES[key] = path
    return ["--token-file", str(_TOKEN_FILES[key])]


def monitor(url: str, state: Path, *args: Any, vkey: str = VKEY, token: bool = True) -> tuple[int, Any, str]:
    """`monitor URL --vkey --state DIR --once --json [--token-file F] ARGS` in-process, as the market's auditor
    (token=False: as the public): (exit code, the JSON line or None, stderr)."""
    argv = ["monitor", url, "--vkey", vkey, "--state", str(state), "--once", "--json", *(str(a) for a in args)]
    if token:
        argv += auditor_token(url, state.parent)
    result = CliRunner().invoke(main, argv)
    line = result.stdout.strip()
    return result.exit_code, json.loads(line) if line else None, result.stderr


def human(url: str, state: Path, *args: Any) -> tuple[int, str, str]:
    argv = ["monitor", url, "--vkey", VKEY, "--state", str(state), "--once", *args, *auditor_token(url, state.parent)]
    result = CliRunner().invoke(main, argv)
    return result.exit_code, result.stdout, result.stderr


def settle(server: LiveServer, at_least: int = 1) -> int:
    """Wait until the served checkpoint covers every entry (and at least `at_least`); its size."""
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline:
        info = http_json("GET", f"{server.url}/api/market")[1]
        if info["checkpoint_size"] == info["entries"] >= at_least:
            return int(info["entries"])
        time.sleep(0.05)
    raise AssertionError("the checkpoint did not catch up with the log")


def deposits(server: LiveServer, lot: str, parties: list[str]) -> None:
    for party in parties:
        status, answer = http_json("POST", f"{server.url}/api/lots/{lot}/deposits", {"party": party, "amount": 1000})
        assert status == 200, answer


def open_lot(server: LiveServer, lot: str, params: dict[str, Any] | None = None) -> None:
    body = {"lot": lot, "mode": "english", "params": params or {"start_price": 10_000, "increment": 500}}
    status, answer = http_json("POST", f"{server.url}/api/lots", body)
    assert status == 200, answer


def record_fetches(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """The paths every TilesClient fetches from now on."""
    seen: list[str] = []
    original = TilesClient.fetch

    def fetch(self: TilesClient, path: str, limit: int) -> bytes:
        seen.append(path)
        return original(self, path, limit)

    monkeypatch.setattr(TilesClient, "fetch", fetch)
    return seen


# -- against real servers ---------------------------------------------------------------------------------


def test_once_follows_a_growing_log(live_server: LiveServer, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:  # noqa: F811
    server, state = live_server, tmp_path / "state"
    url = server.url
    open_lot(server, "E1", FAST_LOT)
    tokens = {}
    for bidder in ("acme", "bolt"):
        status, admitted = http_json("POST", f"{url}/api/bidders", {"bidder": bidder})
        assert status == 200, admitted
        tokens[bidder] = admitted["token"]
    deposits(server, "E1", ["acme", "bolt"])
    first = settle(server, 4)
    code, out, err = monitor(url, tmp_path / "public", token=False)  # the entry bundles are the auditors'
    assert code == 2 and out is None and "HTTP 401" in err and "--token-file" in err, err
    fetched = record_fetches(monkeypatch)
    code, out, err = monitor(url, state)
    assert code == 0, err
    assert out["ok"] and out["size"] == first and out["new_entries"] == first and out["partial"] is None, out
    assert fetched == ["checkpoint", f"tile/entries/000.p/{first}"]
    assert json.loads((state / STATE_FILE).read_text())["size"] == first
    # the log grows: a bid, the lot closes on its countdown into a deal, the payment gives a code
    status, ack = http_json("POST", f"{url}/api/lots/E1/bids", {"amount": 10_000}, token=tokens["acme"])
    assert status == 200, ack
    deadline = time.monotonic() + 20
    while http_json("GET", f"{url}/api/lots/E1")[1]["view"]["phase"] != "awaiting_payment":
        assert time.monotonic() < deadline, "no deal"
        time.sleep(0.1)
    deal = next(v for v in http_json("GET", f"{url}/api/operator/lots")[1]["lots"] if v["lot"] == "E1")
    assert http_json("POST", f"{url}/api/lots/E1/payments", {"amount": deal["cash"]})[0] == 200
    second = settle(server, first + 3)
    fetched.clear()
    code, out, err = monitor(url, state)
    assert code == 0, err
    # resumed from the state: only the new entries were fetched and re-hashed, the rules replayed over all
    assert (out["size"], out["new_entries"], out["deals"]) == (second, second - first, 1), out
    assert fetched == ["checkpoint", f"tile/entries/000.p/{second}"]
    # nothing new: the stored log is checked against the same checkpoint, one human line
    code, text, err = human(url, state)
    assert code == 0 and text == f"checkpoint {second} OK: 0 new entries re-hashed, rules replayed (1 deal)\n", err


def test_a_log_rewritten_under_the_same_key(live_server: LiveServer, tmp_path: Path) -> None:  # noqa: F811
    server, state = live_server, tmp_path / "state"
    open_lot(server, "E1")
    deposits(server, "E1", ["a", "b", "c"])
    seen = settle(server, 4)
    assert monitor(server.url, state)[0] == 0
    recorded = (state / STATE_FILE).read_text()
    # another ledger, the same market key: a shorter history is a truncation
    (tmp_path / "other").mkdir()
    other = LiveServer(tmp_path / "other")
    other.start()
    try:
        assert other.key.read_text().strip() == signer().encode()
        settle(other)
        code, out, err = monitor(other.url, state)
        assert code == 1 and out["violation"]["kind"] == "truncation" and "truncation:" in err, (out, err)
        assert out["violation"]["index"] == out["size"] < seen
        # the continuous monitor stops at a violation too: exit 1, on stderr and as a JSON line
        cmd = [sys.executable, "-m", "auction_engine", "monitor", other.url, "--vkey", VKEY, "--state", str(state),
               "--interval", "0.2", "--json", *auditor_token(other.url, tmp_path)]  # fmt: skip
        done = subprocess.run(cmd, capture_output=True, text=True, timeout=60)
        assert done.returncode == 1 and "FAILED: truncation:" in done.stderr, done.stderr
        assert json.loads(done.stdout)["violation"]["kind"] == "truncation"
        # ... and a longer one is a fork, named at the first entry that differs (entry 0: another genesis)
        open_lot(other, "F1")
        deposits(other, "F1", ["x", "y", "z", "w"])
        settle(other, seen + 1)
        code, out, err = monitor(other.url, state)
        assert code == 1 and out["violation"] == {
            "kind": "fork",
            "index": 0,
            "message": out["violation"]["message"],
        }, out
        assert "fork at entry 0:" in err and out["new_entries"] > 0
    finally:
        other.stop()
    # a violation records nothing: the state still holds the first log, which still checks
    assert (state / STATE_FILE).read_text() == recorded
    assert monitor(server.url, state)[0] == 0


def test_bad_keys_states_and_servers(live_server: LiveServer, tmp_path: Path) -> None:  # noqa: F811
    server = live_server
    url = server.url
    settle(server)
    # another key of the same name: the checkpoint is not the market's
    impostor = Signer(MARKET, bytes(range(1, 33))).verifier.encode()
    code, out, err = monitor(url, tmp_path / "s1", vkey=impostor)
    assert code == 1 and out["violation"]["kind"] == "signature" and out["size"] is None, out
    # a witness that never cosigned: missing cosignatures (the quorum defaults to every witness given)
    wkey = generate_cosigner("witness.example/w1").verifier.encode()
    code, out, err = monitor(url, tmp_path / "s2", "--witness", wkey)
    assert code == 1 and out["violation"]["kind"] == "cosignatures" and "missing cosignatures" in err, out
    # a good state, then the same directory with another key: exit 2, it is another log's state
    state = tmp_path / "state"
    assert monitor(url, state)[0] == 0
    code, out, err = monitor(url, state, vkey=impostor)
    assert code == 2 and out is None and "follows the log" in err, err
    # a torn tail (a crash in the middle of an append) is dropped; a damaged file is named
    size = json.loads((state / STATE_FILE).read_text())["entries_bytes"]
    with open(state / ENTRIES_FILE, "ab") as f:
        f.write(b"\x00\x09torn")
    open_lot(server, "E2")
    settle(server, 2)
    code, out, err = monitor(url, state)
    assert code == 0 and out["new_entries"] == 1, (out, err)
    assert (state / ENTRIES_FILE).stat().st_size == json.loads((state / STATE_FILE).read_text())["entries_bytes"] > size
    (state / ENTRIES_FILE).write_bytes((state / ENTRIES_FILE).read_bytes()[:-5])
    code, _, err = monitor(url, state)
    assert code == 2 and ENTRIES_FILE in err and "damaged" in err, err
    (state / STATE_FILE).write_text('{"format": "auction-engine monitor state v1", "size": ')
    code, _, err = monitor(url, state)
    assert code == 2 and str(state / STATE_FILE) in err and "damaged" in err, err
    # an unreachable server, a URL that is not http, a quorum without witnesses: exit 2
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    code, out, err = monitor(f"http://127.0.0.1:{port}", tmp_path / "s3")
    assert code == 2 and out is None and f"http://127.0.0.1:{port}/log/checkpoint" in err, err
    assert monitor("ftp://example", tmp_path / "s3")[0] == 2
    code, _, err = monitor(url, tmp_path / "s3", "--quorum", "1")
    assert code == 2 and "--quorum needs --witness" in err


def _lines(proc: subprocess.Popen[str]) -> queue.Queue[str]:
    """The process's stdout lines, read on a thread (a select on a buffered pipe could miss buffered lines)."""
    lines: queue.Queue[str] = queue.Queue()

    def read() -> None:
        assert proc.stdout is not None
        for line in proc.stdout:
            lines.put(line)

    threading.Thread(target=read, daemon=True).start()
    return lines


def _line(lines: queue.Queue[str], timeout: float) -> dict[str, Any]:
    parsed: dict[str, Any] = json.loads(lines.get(timeout=timeout))
    return parsed


def test_continuous_mode_until_sigterm(live_server: LiveServer, tmp_path: Path) -> None:  # noqa: F811
    server = live_server
    first = settle(server)
    cmd = [sys.executable, "-m", "auction_engine", "monitor", server.url, "--vkey", VKEY,
           "--state", str(tmp_path / "state"), "--interval", "0.2", "--json",
           *auditor_token(server.url, tmp_path)]  # fmt: skip
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    lines = _lines(proc)
    try:
        out = _line(lines, 30)
        assert out["ok"] and out["size"] == first, out
        open_lot(server, "E1")
        deposits(server, "E1", ["a", "b"])
        grown = settle(server, first + 3)
        while out["size"] < grown:  # one line per checkpoint that changed
            out = _line(lines, 10)
            assert out["ok"], out
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(20) == 0, proc.stderr.read() if proc.stderr else ""
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()


def test_a_witnessed_market(tmp_path: Path) -> None:
    (tmp_path / "w").mkdir()
    witness = MarketWitness(tmp_path / "w")
    witness.start()
    wkey = Cosigner.parse(witness.key.read_text().strip()).verifier.encode()
    (tmp_path / "m").mkdir()
    server = LiveServer(tmp_path / "m", extra=["--witness", f"{witness.url}={wkey}"])
    server.start()
    try:
        open_lot(server, "E1")
        size = settle(server, 2)
        deadline = time.monotonic() + 20
        while True:  # /log/checkpoint serves the newest cosigned checkpoint
            code, out, err = monitor(server.url, tmp_path / "probe", "--witness", wkey)
            if code == 0 and out["size"] == size:
                break
            assert code in (0, 2) and time.monotonic() < deadline, (code, out, err)
            time.sleep(0.2)
        code, text, err = human(server.url, tmp_path / "state", "--witness", wkey)
        assert code == 0 and text.endswith("; cosigned by 1 of 1 witnesses\n"), (text, err)
        other = generate_cosigner("witness.example/other").verifier.encode()
        code, out, err = monitor(server.url, tmp_path / "state", "--witness", wkey, "--witness", other)
        assert code == 1 and out["violation"]["kind"] == "cosignatures" and out["cosignatures"] == 1, out
        code, text, err = human(server.url, tmp_path / "state", "--witness", wkey, "--witness", other, "--quorum", "1")
        assert code == 0 and "cosigned by 1 of 2 witnesses (quorum 1)" in text, (text, err)
    finally:
        server.stop()
        witness.kill()


# -- the checks, on an in-memory log -------------------------------------------------------------------


class MemoryLog(TilesClient):
    """A tlog-tiles log served from memory: its checkpoint, hash tiles and entry bundles, through the same
    client code as over HTTP (only `fetch` differs). `bundled` overrides what the entry bundles hold."""

    def __init__(self, entries: list[bytes], signer_: Signer = BUILT_SIGNER) -> None:
        super().__init__("http://memory.invalid")
        self.signer = signer_
        self.serve(entries)

    def serve(self, entries: list[bytes], bundled: list[bytes] | None = None) -> None:
        self.size = len(entries)
        self.tree = MerkleTree(map(leaf_hash, entries))
        self.bundled = list(bundled if bundled is not None else entries)
        self.note = sign_note(Checkpoint(self.signer.name, self.size, self.tree.root()).text(), self.signer)

    def fetch(self, path: str, limit: int) -> bytes:
        if path == "checkpoint":
            return self.note.encode()
        level, index, width = parse_tile_path(path.removeprefix("tile/"))
        start, count = index * 256, width or 256
        if level == "entries":
            assert start + count <= self.size, path
            return b"".join(struct.pack(">H", len(e)) + e for e in self.bundled[start : start + count])
        return self.tree.subtree_hashes(8 * int(level), start, count, self.size)


@pytest.fixture(scope="module")
def built(tmp_path_factory: pytest.TempPathFactory) -> list[bytes]:
    """The certificates' market (English and Dutch lots, a proxy, deals paid and coded): its entries."""
    path = tmp_path_factory.mktemp("built") / "ledger.db"
    run_market(path)
    return list(Log(SQLiteStore(path, readonly=True), readonly=True, origin=MARKET).entries())


def _changed(entries: list[bytes], tmp_path: Path, change: Callable[[dict[str, Any]], None]) -> list[bytes]:
    path = rebuild(entries, tmp_path / "forged.db", change)
    return list(Log(SQLiteStore(path, readonly=True), readonly=True, origin=MARKET).entries())


def _poll(log: MemoryLog, state: Path) -> Any:
    with MonitorState.open(state, BUILT_SIGNER.verifier) as opened:
        return Monitor(log, BUILT_SIGNER.verifier, opened).poll()


def test_the_rules_are_replayed(built: list[bytes], tmp_path: Path) -> None:
    assert check_rules(built, MARKET).violation is None and check_rules(built, MARKET).deals >= 3

    def forge(entry: dict[str, Any]) -> None:  # the buyer of lot L3's deal changed, everything re-signed
        if entry.get("lot") == "L3" and entry["kind"] in ("deal", "settled", "split", "published", "final"):
            entry["buyer"] = "A" if "buyer" in entry else entry.get("buyer")

    forged = _changed(built, tmp_path, forge)
    first = next(i for i, (a, b) in enumerate(zip(built, forged, strict=True)) if a != b)
    verdict = check_rules(forged, MARKET)
    assert verdict.violation is not None and (verdict.violation.kind, verdict.violation.index) == ("rules", first)
    assert verdict.violation.message.startswith(f"rules violation at entry {first}: ")
    assert check_rules(built, "another.market").violation.index == 0
    # the whole monitor, on the forged log signed by the market's key: a rules violation, nothing recorded
    outcome = _poll(MemoryLog(forged), tmp_path / "state")
    assert outcome.violation is not None and (outcome.violation.kind, outcome.violation.index) == ("rules", first)
    assert not (tmp_path / "state" / STATE_FILE).exists()


def test_partial_replays_are_no_failure(built: list[bytes], tmp_path: Path) -> None:
    sealed = next(i for i, data in enumerate(built) if b"commitment" in data)  # L1's proxy, revealed later
    reveal = next(i for i, data in enumerate(built) if b"proxy_reveal" in data)
    log = MemoryLog(built[: sealed + 5])
    outcome = _poll(log, tmp_path / "state")
    assert outcome.ok and outcome.partial.index == sealed and "waits for a reveal" in outcome.partial.message
    # a checkpoint that cuts a deadline's entries short (a deal without its refund yet): all reproduced
    deal = next(i for i, data in enumerate(built) if i > reveal and b"\xa4kind\xa4deal" in data)
    log.serve(built[: deal + 1])
    outcome = _poll(log, tmp_path / "state")
    assert outcome.ok and outcome.new_entries == deal + 1 - (sealed + 5), outcome
    assert outcome.partial is not None and "continue past this checkpoint" in outcome.partial.message
    log.serve(built)
    outcome = _poll(log, tmp_path / "state")
    assert outcome.ok and outcome.partial is None and outcome.deals >= 3, outcome


def test_forks_and_bundles_that_are_not_the_signed_entries(built: list[bytes], tmp_path: Path) -> None:
    state = tmp_path / "state"
    assert _poll(MemoryLog(built[:30]), state).ok

    def raise_deposit(entry: dict[str, Any]) -> None:
        if entry["seq"] == 12:
            entry["amount"] = entry.get("amount", 0) + 1

    forged = _changed(built, tmp_path, raise_deposit)
    outcome = _poll(MemoryLog(forged[:30]), state)  # the same size, another root
    assert (outcome.violation.kind, outcome.violation.index) == ("fork", 12), outcome
    assert outcome.violation.message.startswith("fork at entry 12: ")
    outcome = _poll(MemoryLog(forged[:40]), state)  # larger, but not an extension
    assert (outcome.violation.kind, outcome.violation.index) == ("fork", 12), outcome
    # honest tiles and checkpoint, but a bundle holding other bytes for entry 33
    log = MemoryLog(built[:40])
    log.serve(built[:40], bundled=[*built[:33], forged[33], *built[34:40]])
    outcome = _poll(log, state)
    assert (outcome.violation.kind, outcome.violation.index) == ("entry_mismatch", 33), outcome
    assert json.loads((state / STATE_FILE).read_text())["size"] == 30


def test_checkpoints_and_cosignatures(built: list[bytes]) -> None:
    log = MemoryLog(built[:10])
    cosigner = generate_cosigner("witness.example/w")
    text = log.note[: log.note.index("\n\n") + 1]
    cosigned = log.note + cosigner.cosign(text, 1_700_000_000).line()
    cp, count = check_checkpoint(cosigned, BUILT_SIGNER.verifier, [cosigner.verifier], 1)
    assert (cp.size, count) == (10, 1)
    forged_line = cosigner.cosign(text.replace("\n10\n", "\n11\n"), 1_700_000_000).line()
    for note, kind in [
        (log.note + forged_line, "cosignatures"),  # a cosignature over another checkpoint
        (log.note, "cosignatures"),  # none
        (log.note.replace("\n10\n", "\n11\n"), "signature"),
    ]:
        with pytest.raises(ViolationFound) as caught:
            check_checkpoint(note, BUILT_SIGNER.verifier, [cosigner.verifier], 1)
        assert caught.value.violation.kind == kind


def test_tiles_client_shapes(tmp_path: Path) -> None:
    assert tile_path(0, 1234067) == "tile/0/x001/x234/067"
    assert tile_path("entries", 5, 17) == "tile/entries/005.p/17"
    assert parse_bundle(b"\x00\x01a\x00\x00", 2) == [b"a", b""]
    for bad in (b"\x00\x05ab", b"\x00", b"\x00\x01a"):
        with pytest.raises(TilesMalformed):
            parse_bundle(bad, 2)
    log = MemoryLog([b"x"] * 3)
    assert log.entries(1, 3) == [b"x", b"x"] and len(log.leaves(3)) == 3
    with pytest.raises(TilesMalformed, match="holds 3 entries, not 2"):
        parse_bundle(log.fetch("tile/entries/000.p/3", 9999), 2)
    many = [bytes([i % 256]) * (i % 7) for i in range(600)]  # two full bundles and a partial one
    log = MemoryLog(many)
    assert log.entries(200, 600) == many[200:] and log.entries(512, 600) == many[512:]
    assert MerkleTree(log.leaves(600)).root() == log.tree.root() and log.leaves(600, 300) == log.leaves(600)[300:]
    with pytest.raises(ValueError):
        TilesClient("file:///etc")


def test_two_monitors_never_share_a_state(tmp_path: Path) -> None:
    with MonitorState.open(tmp_path / "s", BUILT_SIGNER.verifier), pytest.raises(StateError, match="in use"):
        MonitorState.open(tmp_path / "s", BUILT_SIGNER.verifier)
