"""Issuing certificates from a ledger, verifying them (also independently), replaying a lot's transcript,
catching a forged outcome, and checking a trusted checkpoint with a consistency proof."""

from __future__ import annotations

import base64
import hashlib
import json
import re
from pathlib import Path

import pytest
import segno
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

from auction_engine.certificates import (
    IssueError,
    issue,
    issue_all,
    issue_file,
    qr_text,
    render_html,
    transcript_indices,
    verify,
    verify_file,
)
from auction_engine.model import DAY, MINUTE
from auction_engine.replay import replay
from ledger import CheckpointPolicy, Log, SQLiteStore, canonical, sign_note
from ledger.checkpoint import Checkpoint, encode_hashes

from .market import OTHER, SIGNER, Built, Market, rebuild


def read_log(path: Path) -> Log:
    return Log(SQLiteStore(path, readonly=True), readonly=True, origin=SIGNER.name)


# -- issuing and verifying -------------------------------------------------------------------------


def test_every_deal_has_a_verifying_certificate(market: Built) -> None:
    assert set(market.certs) >= {"L1", "L2", "L3"}
    for lot, cert in market.certs.items():
        verdict = verify(cert, SIGNER.verifier, replay=True)
        assert verdict.ok, (lot, verdict.reason, verdict.message)
        deal = canonical.decode(base64.b64decode(cert["entry"]))
        assert deal["kind"] == "deal" and deal["lot"] == lot
        facts = verdict.facts["deal"]
        assert (facts["buyer"], facts["price_fen"], facts["seller"]) == (deal["buyer"], deal["price"], deal["seller"])
        assert cert["code"] == market.codes[lot] and verdict.code == cert["code"]
        assert verdict.checks[-1] == "replay"


def test_the_human_fields_say_what_the_entries_say(market: Built) -> None:
    cert = market.cert("L1")
    assert cert["deal"]["buyer"] == "C" and cert["deal"]["price_fen"] == 160_000
    assert cert["deal"]["price_yuan"] == "1600.00" and cert["deal"]["price_text"] == "¥1,600.00"
    assert cert["deal"]["title"].startswith("一种低损耗光纤") and cert["deal"]["seller"].startswith("浙江大学")
    assert cert["deal"]["deal_time"].endswith("+08:00") and cert["utc_offset"] == "+08:00"
    assert cert["origin"] == "test.market" and cert["key"] == f"test.market+{SIGNER.key_id.hex()}"
    assert cert["deal"]["deal_time"][2:10].replace("-", "") == cert["code"].split("-")[1]
    assert market.cert("L2")["deal"]["submarket"] == "iot"


def test_the_code_record_states_what_the_certificate_shows(market: Built) -> None:
    """One proven record, the txcode entry: the market's name and prefix, the lot's title, sub-market, offset."""
    decoded = [canonical.decode(e) for e in market.entries]
    genesis = decoded[0]
    for lot, cert in market.certs.items():
        assert set(cert["records"]) == {"code"}
        record = canonical.decode(base64.b64decode(cert["records"]["code"]["entry"]))
        listing = next(e for e in decoded if e["kind"] == "open_lot" and e.get("lot") == lot and e["ok"])
        assert record["kind"] == "txcode" and record["code"] == cert["code"] == market.codes[lot]
        assert (record["market"], record["code_prefix"]) == (genesis["market"], genesis["code_prefix"])
        assert record["title"] == listing.get("title", lot) and record["submarket"] == listing.get("submarket", "main")
        assert record["utc_offset_ms"] == listing["out"]["settlement"]["utc_offset_ms"]
        assert (cert["market"], cert["deal"]["title"], cert["deal"]["submarket"]) == (
            record["market"], record["title"], record["submarket"],
        )  # fmt: skip


def test_the_single_pass_and_the_step_by_step_checks_agree(market: Built, monkeypatch: pytest.MonkeyPatch) -> None:
    """`verify` answers a valid certificate from its single pass; the normative checks give the same verdict."""
    from auction_engine.certificates import verification

    for cert in market.certs.values():  # the single pass accepts each of them itself
        assert verification.verify_clean(json.dumps(cert).encode(), SIGNER.verifier, None) is not None
    fast = {lot: verify(json.dumps(cert).encode(), SIGNER.verifier).to_json() for lot, cert in market.certs.items()}
    monkeypatch.setattr(verification, "verify_clean", lambda *args: None)
    slow = {lot: verify(json.dumps(cert).encode(), SIGNER.verifier).to_json() for lot, cert in market.certs.items()}
    assert fast == slow and all(v["ok"] for v in fast.values())
    assert json.dumps(fast, sort_keys=False) == json.dumps(slow, sort_keys=False)  # the same order too


def test_a_partial_deal_section_is_still_checked(market: Built) -> None:
    cert = market.cert("L2")
    for key in ("title", "price_text", "issued"):
        del cert["deal"][key]
    for key in ("market", "utc_offset"):
        del cert[key]
    assert verify(cert, SIGNER.verifier).ok
    cert["deal"]["submarket"] = "main"
    verdict = verify(cert, SIGNER.verifier)
    assert verdict.reason == "field_mismatch" and "deal.submarket" in verdict.message
    cert = market.cert("L1")
    cert["deal"]["price_fen"] = float(cert["deal"]["price_fen"])  # equal in value, not a JSON integer
    assert verify(cert, SIGNER.verifier).reason == "field_mismatch"
    cert = market.cert("L1")
    cert["checkpoint_size"] = True if cert["checkpoint_size"] == 1 else float(cert["checkpoint_size"])
    assert verify(cert, SIGNER.verifier).reason == "field_mismatch"


def test_a_txcode_entry_without_the_certificate_context_is_refused(market: Built, tmp_path: Path) -> None:
    """A ledger whose txcode entries do not state the title (an older engine's): no certificate, and a
    certificate made by hand from it fails the code check, naming the missing field."""
    from ledger.certificate import ProvenEntry
    from ledger.checkpoint import TlogProof

    def drop(entry: dict) -> None:  # type: ignore[type-arg]
        if entry["kind"] == "txcode":
            del entry["title"]

    path = rebuild(market.entries, tmp_path / "old.db", drop)
    log = read_log(path)
    entries = list(log.entries())
    at = next(i for i, d in enumerate(entries) if b"txcode" in d and canonical.decode(d)["kind"] == "txcode")
    record = canonical.decode(entries[at])
    with pytest.raises(IssueError, match="title") as info:
        issue(log, record["code"])
    assert info.value.exit_code == 1
    size, note = log.size, log.checkpoint().note
    deal_at = record["deal_seq"]
    cert = {
        "code": record["code"],
        "entry": base64.b64encode(entries[deal_at]).decode(),
        "tlog_proof": TlogProof(deal_at, tuple(log.tree.inclusion_proof(deal_at, size)), note).text(),
        "records": {"code": ProvenEntry(at, entries[at], tuple(log.tree.inclusion_proof(at, size))).to_json()},
    }
    log.store.close()
    verdict = verify(cert, SIGNER.verifier)
    assert (verdict.reason, verdict.exit_code) == ("code_mismatch", 1) and "'title'" in verdict.message


def test_replay_catches_a_txcode_entry_that_misstates_the_listing(market: Built, tmp_path: Path) -> None:
    """The copied fields are the market's word; replay holds it to the genesis and listing entries."""

    def forge(entry: dict) -> None:  # type: ignore[type-arg]
        if entry["kind"] == "txcode" and entry["lot"] == "L1":
            entry["title"] = "a far more valuable patent"

    log = read_log(rebuild(market.entries, tmp_path / "forged.db", forge))
    code = next(
        canonical.decode(d)["code"]
        for d in log.entries()
        if b"txcode" in d and canonical.decode(d)["kind"] == "txcode" and canonical.decode(d)["lot"] == "L1"
    )
    cert = issue(log, code, transcript=True)
    log.store.close()
    assert verify(cert, SIGNER.verifier).facts["deal"]["title"] == "a far more valuable patent"  # signed
    verdict = verify(cert, SIGNER.verifier, replay=True)
    assert (verdict.reason, verdict.exit_code) == ("replay", 1) and "(txcode)" in verdict.message


def test_a_certificate_checks_with_an_independent_implementation(market: Built) -> None:
    """What docs/auditor.md tells an auditor to do with any RFC 6962 / C2SP implementation: here with
    nothing but hashlib, base64 and an Ed25519 library — none of this project's code."""
    cert = market.cert("L1")
    entry = base64.b64decode(cert["entry"])
    proof_text = cert["tlog_proof"]
    head, signed = proof_text.split("\n\n", 1)
    lines = head.split("\n")
    assert lines[0] == "c2sp.org/tlog-proof@v1" and lines[1].startswith("index ")
    index, path = int(lines[1][6:]), [base64.b64decode(h) for h in lines[2:]]
    body, sig_block = signed.split("\n\n", 1)
    text = body + "\n"  # the signed note text ends with its newline
    origin, size, root = text.split("\n")[0], int(text.split("\n")[1]), base64.b64decode(text.split("\n")[2])
    # Signed note: the line "— <name> base64(key ID ‖ signature)" over the note text.
    vkey_name, key_hex, key_b64 = SIGNER.verifier.encode().split("+")
    public = base64.b64decode(key_b64)[1:]
    name, blob = sig_block.rstrip("\n").split(" ")[1:]
    raw = base64.b64decode(blob)
    key_id = hashlib.sha256(vkey_name.encode() + b"\n\x01" + public).digest()[:4]
    assert key_id.hex() == key_hex
    assert (name, raw[:4], origin) == (vkey_name, key_id, vkey_name)
    Ed25519PublicKey.from_public_bytes(public).verify(raw[4:], text.encode())  # raises if bad
    # RFC 9162 2.1.3.2 inclusion.
    fn, sn, r = index, size - 1, hashlib.sha256(b"\x00" + entry).digest()
    for p in path:
        if fn & 1 or fn == sn:
            r = hashlib.sha256(b"\x01" + p + r).digest()
            while not fn & 1 and fn:
                fn, sn = fn >> 1, sn >> 1
        else:
            r = hashlib.sha256(b"\x01" + r + p).digest()
        fn, sn = fn >> 1, sn >> 1
    assert sn == 0 and r == root
    # The code's index and hash group: the first 4 bytes of the leaf hash mod 36^4 in base 36.
    n = int.from_bytes(hashlib.sha256(b"\x00" + entry).digest()[:4], "big") % 36**4
    digits = "".join("0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZ"[n // 36**k % 36] for k in (3, 2, 1, 0))
    assert cert["code"].split("-")[3:5] == [str(index), digits]


def test_a_lot_transcript_replays_alone(market: Built) -> None:
    """Replay on a lot's subset of entries: other lots' entries interleave in time, and are not needed."""
    decoded = [canonical.decode(e) for e in market.entries]
    for lot in market.certs:
        sub = decoded[next(i for i, e in enumerate(decoded) if e["kind"] == "open_lot" and e["lot"] == lot)].get(
            "submarket", "main"
        )
        indices = transcript_indices(market.entries, lot, sub)
        assert indices[0] == 0 and indices != list(range(indices[0], indices[-1] + 1))  # interleaved
        report = replay([market.entries[i] for i in indices])
        assert report.ok, (lot, report.index, report.message)
        assert [d["lot"] for d in report.deals] == [lot]
        txcodes = [decoded[i] for i in indices if decoded[i]["kind"] == "txcode"]
        assert [t["code"] for t in txcodes] == [market.codes[lot]]
    l2 = transcript_indices(market.entries, "L2", "iot")
    assert any(decoded[i]["kind"] == "open_submarket" for i in l2)
    # The issuer's index of every lot's session (one pass) gives the same entries, at any checkpoint size.
    from auction_engine.certificates.issuer import Issuer

    issuer = Issuer(Log(SQLiteStore(market.path, readonly=True), readonly=True, origin=SIGNER.name), many=True)
    for lot, sub in [*((lot, "main") for lot in market.certs), ("L2", "iot"), ("nope", "main"), ("L1", "nope")]:
        for size in (1, len(market.entries) // 2, len(market.entries)):
            assert issuer.transcript(lot, sub, size) == transcript_indices(market.entries[:size], lot, sub)


def test_issue_all_writes_a_page_and_a_certificate_per_deal(market: Built, tmp_path: Path) -> None:
    paths = issue_all(market.path, tmp_path / "certificates")
    assert sorted(p.name for p in paths) == sorted(f"{c}.cert.json" for c in market.codes.values())
    log = Log(SQLiteStore(market.path, readonly=True), readonly=True, origin=SIGNER.name)
    for path in paths:
        assert verify_file(path, SIGNER.verifier, replay=True).ok
        # the same certificate as issuing it alone (which searches for its record and its session)
        assert json.loads(path.read_text(encoding="utf-8")) == issue(
            log, path.name[: -len(".cert.json")], transcript=True
        )
        assert path.with_name(path.name.replace(".cert.json", ".html")).exists()
    only = issue_all(market.path, tmp_path / "bare", transcript=False, html_pages=False)
    assert all("transcript" not in json.loads(p.read_text()) for p in only)
    assert not list((tmp_path / "bare").glob("*.html"))


def test_html_page_shows_the_deal_escaped_with_a_qr_code(market: Built) -> None:
    cert = market.cert("L2")
    page = render_html(cert)
    assert cert["code"] in page and "<svg" in page and "技术交易凭证" in page
    assert "<script>alert" not in page and "&lt;script&gt;alert(1)&lt;/script&gt; &amp; sensors" in page
    assert "Institute &quot;X&quot;" in page and "¥2,400.00" in page
    assert " fen" not in page  # people read yuan; the fen are in the evidence file
    assert '<span lang="en">Transaction certificate</span>' in page  # both languages, each marked
    link = qr_text(cert)
    assert re.fullmatch(
        rf"https://test\.market/certificates/{cert['code']}\.cert\.json#leaf=[A-Za-z0-9_-]{{43}}&key=test\.market%2B[0-9a-f]{{8}}",
        link,
    )
    assert segno.make(link, error="m").svg_inline(scale=3, title=f"QR: {cert['code']}") in page
    assert qr_text(cert, "https://zjpai.example/c/").startswith("https://zjpai.example/c/ZJ-")


def test_issue_finds_the_code_as_typed(market: Built, tmp_path: Path) -> None:
    code = market.codes["L3"]
    typed = code.lower().replace("-", " ")
    path = issue_file(market.path, typed, tmp_path / "x.cert.json", html_out=tmp_path / "x.html")
    assert json.loads(path.read_text())["code"] == code and (tmp_path / "x.html").exists()


@pytest.mark.parametrize(
    ("change", "fragment"),
    [
        (lambda c: c[:-1] + ("A" if c[-1] != "A" else "B"), "check characters"),
        (
            lambda c: "ZJ-200101-E-5-ABCD-" + __import__("ledger").txcode.check_chars("ZJ200101E5ABCD"),
            "no transaction code",
        ),
        (
            lambda c: "ZJ-200101-E-99999-ABCD-" + __import__("ledger").txcode.check_chars("ZJ200101E99999ABCD"),
            "names entry",
        ),
    ],
)
def test_issue_refuses_codes_this_ledger_did_not_issue(market: Built, change, fragment: str) -> None:  # type: ignore[no-untyped-def]
    with pytest.raises(IssueError, match=fragment) as info:
        issue(read_log(market.path), change(market.codes["L1"]))
    assert info.value.exit_code == 2


def settled_lot(m: Market, lot: str = "L1") -> None:
    m.ok("open_lot", lot=lot, mode="english", params={"start_price": 100_000, "increment": 10_000})
    m.ok("deposit", lot=lot, party="A", amount=10_000)
    m.ok("bid", "A", lot=lot, amount=100_000)
    m.run(70 * MINUTE)


def test_no_checkpoint_yet_is_said_precisely(tmp_path: Path) -> None:
    m = Market(tmp_path / "l.db", every=None)
    settled_lot(m)
    m.ok("pay", lot="L1", amount=90_000)
    m.run(10 * DAY)  # publication ends: the deal is final and gets its code
    m.log.commit()
    code = next(iter(m.engine.codes))
    with pytest.raises(IssueError, match="no checkpoint has been signed yet") as info:
        issue(read_log(m.path), code)
    assert info.value.exit_code == 2


def test_a_checkpoint_before_the_code_is_not_enough(tmp_path: Path) -> None:
    m = Market(tmp_path / "l.db", every=None)
    settled_lot(m)
    deal_at = next(e.seq for e in m.engine.events if e.kind == "deal")
    m.log.sign_checkpoint()  # covers the deal, not yet the code
    m.ok("pay", lot="L1", amount=90_000)
    m.run(10 * DAY)
    m.log.commit()
    code = next(iter(m.engine.codes))
    with pytest.raises(IssueError, match=r"the code record \(entry \d+\) is not covered") as info:
        issue(read_log(m.path), code)
    assert info.value.exit_code == 2 and deal_at < m.log.checkpoint().size


# -- a forged outcome -----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("field", "value"),
    [("price", 170_000), ("buyer", "B"), ("price", 150_000)],
)
def test_replay_catches_a_forged_deal(market: Built, tmp_path: Path, field: str, value: object) -> None:
    """The operator signs a ledger whose L1 deal names another price or winner than the bids produce."""

    def forge(entry: dict) -> None:  # type: ignore[type-arg]
        forged_kinds = ("deal", "settled", "split", "published", "final")
        if entry["kind"] in forged_kinds and entry.get("lot") == "L1" and field in entry:
            entry[field] = value

    path = rebuild(market.entries, tmp_path / "forged.db", forge)
    log = read_log(path)
    code = next(
        canonical.decode(d)["code"]
        for d in log.entries()
        if b"txcode" in d and canonical.decode(d)["kind"] == "txcode" and canonical.decode(d)["lot"] == "L1"
    )
    cert = issue(log, code, transcript=True)
    plain = verify(cert, SIGNER.verifier)
    assert plain.ok and plain.facts["deal"][{"price": "price_fen"}.get(field, field)] == value  # signed, so it passes
    verdict = verify(cert, SIGNER.verifier, replay=True)
    assert (verdict.ok, verdict.reason, verdict.exit_code) == (False, "replay", 1)
    assert verdict.message.startswith(f"entry {cert['index']} (deal)") or verdict.message.startswith("entry ")
    assert repr(value) in verdict.message or str(value) in verdict.message


# -- trusted checkpoints and consistency ----------------------------------------------------------


def test_a_trusted_checkpoint_with_a_consistency_proof(market: Built) -> None:
    log = read_log(market.path)
    cert = market.cert("L1")
    size = cert["checkpoint_size"]
    older = log.checkpoints[0]
    assert older.size < size
    proof = encode_hashes(log.consistency(older.size, size))
    verdict = verify(cert, SIGNER.verifier, trusted=older.note, consistency=proof)
    assert verdict.ok and verdict.facts["trusted_size"] == older.size
    # The same checkpoint trusted: no proof needed.
    assert verify(cert, SIGNER.verifier, trusted=log.checkpoint(size).note).ok
    # Without a proof the sizes differ: cannot judge.
    missing = verify(cert, SIGNER.verifier, trusted=older.note)
    assert (missing.reason, missing.exit_code) == ("needs_consistency", 2)
    # A proof for other sizes, or altered: the log does not extend what was trusted.
    wrong = encode_hashes(log.consistency(log.checkpoints[1].size, size))
    assert verify(cert, SIGNER.verifier, trusted=older.note, consistency=wrong).reason == "consistency"
    hashes = log.consistency(older.size, size)
    hashes[0] = bytes(32)
    assert verify(cert, SIGNER.verifier, trusted=older.note, consistency=encode_hashes(hashes)).reason == "consistency"
    garbage = verify(cert, SIGNER.verifier, trusted=older.note, consistency="not base64!\n")
    assert (garbage.reason, garbage.exit_code) == ("unreadable", 2)


def test_a_certificate_older_than_the_trusted_checkpoint(market: Built, tmp_path: Path) -> None:
    """An auditor who saw a later checkpoint proves the certificate's (earlier) one is its prefix."""
    log = read_log(market.path)
    cert = market.cert("L1")
    copy = Log(SQLiteStore(tmp_path / "copy.db"), SIGNER, policy=CheckpointPolicy(None, None))
    for data in market.entries:  # the same history, then one more entry and a newer checkpoint
        e = canonical.decode(data)
        copy.append(e["kind"], {k: v for k, v in e.items() if k not in ("seq", "prev", "t", "kind")}, e["t"])
    copy.append("note", {"text": "later"}, canonical.decode(market.entries[-1])["t"] + DAY)
    newer = copy.sign_checkpoint()
    proof = encode_hashes(copy.consistency(cert["checkpoint_size"]))
    assert verify(cert, SIGNER.verifier, trusted=newer, consistency=proof).ok
    assert log.size == cert["checkpoint_size"]


def test_a_forked_log_fails_consistency(market: Built, tmp_path: Path) -> None:
    """The market signs another history of the same size: the auditor's saved checkpoint exposes it."""
    forked = rebuild(
        market.entries, tmp_path / "fork.db", lambda e: e.update(title="x") if e["kind"] == "open_lot" else None
    )
    other = read_log(forked).checkpoint().note
    verdict = verify(market.cert("L1"), SIGNER.verifier, trusted=other)
    assert verdict.reason == "consistency" and "forked" in verdict.message


def test_a_trusted_checkpoint_by_another_key_is_refused(market: Built) -> None:
    log = read_log(market.path)
    note = sign_note(Checkpoint("test.market", log.size, log.tree.root()).text(), OTHER)
    verdict = verify(market.cert("L1"), SIGNER.verifier, trusted=note)
    assert verdict.reason == "trusted_checkpoint" and "no signature by a known key" in verdict.message
