"""Certificate verification speed as a ratio against bare Ed25519 signature verifications.

Claim (docs/performance.md): verifying a transaction certificate — JSON, the canonical deal entry,
the tlog-proof text, the checkpoint's signature and origin, two inclusion proofs (the deal and its
`txcode` record, which also states the market's name and prefix and the lot's title, sub-market and
UTC offset), the code's form, binding and meaning, every human field recomputed from the two signed
entries — runs at >= 0.7 of the rate of bare Ed25519 verifications in the same process: the one
signature check should dominate.

A market of `--lots` English auctions (interleaved, every deal paid, so every lot gets a code) is
run into a SQLite ledger once; every certificate is issued into memory and written as
`certificate issue` writes it (and the server serves it: `certificates.dumps`, indented UTF-8 JSON).
After one untimed pass over everything, each repetition verifies every certificate from those bytes
(`auction_engine.certificates.verify`) and makes as many bare `Ed25519PublicKey.verify` calls on the
same checkpoint text with a key object loaded once (the least any verifier must do), side by side in
blocks of 25 of each, in alternating order. The ratio is the median of the repetitions' ratios (a
slow spell of a shared machine weighs on both sides of a pair). The script prints every repetition, the medians and
the ratio; with `--replay` it also times certificates with transcripts verified with replay (reported,
no target). It also reports the generic checks on the three pinned fields alone (`ledger.certificate`),
the least a certificate of this design costs.

    python bench/certificate_verify.py            # 9 repetitions over 300 certificates
    python bench/certificate_verify.py --quick    # a few seconds: smoke test
"""

from __future__ import annotations

import argparse
import shutil
import statistics
import sys
import tempfile
import time
from pathlib import Path

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from auction_engine.certificates import dumps, issue, verify
from auction_engine.clock import SimClock
from auction_engine.engine import Engine
from auction_engine.model import DAY, MINUTE
from ledger import CheckpointPolicy, Log, Signer, SQLiteStore, _accel
from ledger.certificate import load_certificate, verify_certificate
from ledger.note import split_note

TARGET = 0.7
BLOCK = 25  # certificates timed between two runs of as many bare signatures
EPOCH_MS = 1_795_219_200_000  # 2026-11-21T00:00:00Z
SIGNER = Signer("bench.market.example", bytes(range(32)))


def build(path: Path, lots: int) -> list[str]:
    """Run `lots` English auctions side by side to settlement; return the codes issued."""
    clock = SimClock(start=EPOCH_MS)
    log = Log(SQLiteStore(path), SIGNER, policy=CheckpointPolicy(every_entries=1000, every_ms=None))
    engine = Engine(market="bench.market", clock=clock, log=log)

    def ok(op: str, actor: str = "operator", **fields: object) -> None:
        result = engine.submit({"op": op, "actor": actor, **fields})
        if not result.ok:
            raise SystemExit(f"benchmark market: {op} rejected: {result.code} {result.message}")

    for i in range(lots):
        lot = f"LOT-{i:04d}"
        ok(
            "open_lot",
            lot=lot,
            mode="english",
            title=f"Patent {i}",
            seller=f"University {i % 7}",
            params={"start_price": 100_000 + 1_000 * i, "increment": 5_000},
        )
        for bidder in ("acme", "bolt", "cirrus"):
            ok("deposit", lot=lot, party=bidder, amount=50_000)
    for i in range(lots):
        lot = f"LOT-{i:04d}"
        ok("bid", "acme", lot=lot, amount=100_000 + 1_000 * i)
        ok("proxy", "bolt", lot=lot, max=200_000 + 1_000 * i)
        ok("bid", "cirrus", lot=lot, amount=150_000 + 1_000 * i)
    clock.run(clock.now() + 90 * MINUTE)
    for event in [e for e in engine.events if e.kind == "deal"]:
        ok("pay", lot=event.data["lot"], amount=event.data["cash"])
    clock.run(clock.now() + 10 * DAY)
    log.sign_checkpoint()
    log.close()
    return list(engine.codes)


def time_certificates(blobs: list[bytes], *, replay: bool = False) -> float:
    verifier = SIGNER.verifier
    start = time.perf_counter_ns()
    for blob in blobs:
        if not verify(blob, verifier, replay=replay).ok:
            raise SystemExit("a benchmark certificate failed to verify")
    return (time.perf_counter_ns() - start) / 1e9


def time_pinned_only(blobs: list[bytes]) -> float:
    """The generic checks on the pinned fields alone (no records, no human fields): the floor of the design."""
    verifier = SIGNER.verifier
    start = time.perf_counter_ns()
    for blob in blobs:
        verify_certificate(load_certificate(blob), verifier)
    return (time.perf_counter_ns() - start) / 1e9


def time_signatures(message: bytes, signature: bytes, n: int) -> float:
    key = Ed25519PublicKey.from_public_bytes(SIGNER.public_key)
    start = time.perf_counter_ns()
    for _ in range(n):
        key.verify(signature, message)
    return (time.perf_counter_ns() - start) / 1e9


def main(argv: list[str] | None = None) -> int:
    """Run the benchmark; exit 0 (the ratio is reported, not enforced)."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="one short repetition (smoke test)")
    parser.add_argument("--lots", type=int, help="lots, hence certificates (default 300; quick 40)")
    parser.add_argument("--reps", type=int, help="repetitions (default 9; quick 1)")
    parser.add_argument("--replay", action="store_true", help="also time --replay verification of transcripts")
    args = parser.parse_args(argv)
    lots = args.lots or (40 if args.quick else 300)
    reps = args.reps or (1 if args.quick else 9)

    workdir = Path(tempfile.mkdtemp(prefix="certificate-verify-"))
    try:
        path = workdir / "ledger.db"
        codes = build(path, lots)
        log = Log(SQLiteStore(path, readonly=True), readonly=True, origin=SIGNER.name)
        certs = [issue(log, code) for code in codes]
        with_transcripts = [issue(log, code, transcript=True) for code in codes] if args.replay else []
        size = log.size
        log.store.close()
    finally:
        shutil.rmtree(workdir, ignore_errors=True)
    blobs = [dumps(c).encode() for c in certs]
    pinned = [dumps({k: c[k] for k in ("code", "entry", "tlog_proof")}).encode() for c in certs]
    replay_blobs = [dumps(c).encode() for c in with_transcripts]
    text, sigs = split_note(certs[0]["tlog_proof"].split("\n\n", 1)[1])
    message, signature = text.encode(), sigs[0].signature
    n = len(blobs)
    print(
        f"certificate_verify: {n} certificates from a ledger of {size} entries"
        f" (mean {sum(map(len, blobs)) / n:.0f} bytes each) x {reps} repetitions"
    )
    print(f"ledger kernels: {_accel.describe()}")
    cert_rates, sig_rates, pinned_rates, replay_rates, ratios = [], [], [], [], []
    time_certificates(blobs), time_signatures(message, signature, n), time_pinned_only(pinned)  # warm-up
    for rep in range(reps):
        # Side by side in blocks of BLOCK certificates and as many bare signatures, in alternating order.
        c = s = 0.0
        for k, at in enumerate(range(0, n, BLOCK)):
            block = blobs[at : at + BLOCK]
            if k % 2:
                s += time_signatures(message, signature, len(block))
                c += time_certificates(block)
            else:
                c += time_certificates(block)
                s += time_signatures(message, signature, len(block))
        g = time_pinned_only(pinned)
        cert_rates.append(n / c)
        sig_rates.append(n / s)
        pinned_rates.append(n / g)
        ratios.append(s / c)
        line = (
            f"  rep {rep + 1}: certificates {n / c:>8,.0f}/s   bare Ed25519 {n / s:>8,.0f}/s   ratio {s / c:.3f}"
            f"   pinned fields only {n / g:>8,.0f}/s"
        )
        if replay_blobs:
            r = time_certificates(replay_blobs, replay=True)
            replay_rates.append(n / r)
            line += f"   with --replay {n / r:>6,.0f}/s"
        print(line)
    cert_median, sig_median = statistics.median(cert_rates), statistics.median(sig_rates)
    ratio = statistics.median(ratios)
    print(f"median certificates verified: {cert_median:>8,.0f}/s ({1e6 / cert_median:.0f} µs each)")
    print(f"median bare Ed25519 verifies: {sig_median:>8,.0f}/s ({1e6 / sig_median:.0f} µs each)")
    pinned_median = statistics.median(pinned_rates)
    print(
        f"median pinned fields only:    {pinned_median:>8,.0f}/s ({1e6 / pinned_median:.0f} µs each;"
        f" ratio {pinned_median / sig_median:.3f})"
    )
    if replay_rates:
        r = statistics.median(replay_rates)
        print(f"median with transcript replay: {r:>7,.0f}/s ({1e6 / r:.0f} µs each; no target)")
    verdict = "met" if ratio >= TARGET else "MISSED"
    print(f"ratio (median of the paired ratios): {ratio:.3f} (target >= {TARGET}: {verdict})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
