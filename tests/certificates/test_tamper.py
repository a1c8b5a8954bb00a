"""The tamper matrix: every change to a certificate fails verification, with the reason it deserves.

Hypothesis picks the certificate, what to change (a human field, a byte of the entry, a proof hash,
the index, the checkpoint text or signature, the key, a record, the transcript; or proofs swapped
between certificates) and how; the expected reason follows from what was changed.
"""

from __future__ import annotations

import base64
import json
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from auction_engine.certificates import verify
from ledger import canonical
from ledger.checkpoint import TlogProof

from .market import OTHER, SIGNER, Built

LOTS = ["L1", "L2", "L3"]
HUMAN = ["market", "origin", "key", "index", "leaf_hash", "checkpoint_size", "checkpoint_root", "utc_offset"]


def changed(value: Any, draw: st.DrawFn) -> Any:
    """A different value of the same JSON type (or of another type)."""
    if type(value) is int:
        return value + draw(st.integers(min_value=1, max_value=10**6)) * draw(st.sampled_from([1, -1]))
    if type(value) is str:
        return draw(st.sampled_from([value + "x", value[:-1], value.upper() + "·", "", str(len(value))]))
    return "changed"


def flip(data: bytes, draw: st.DrawFn) -> bytes:
    i = draw(st.integers(min_value=0, max_value=len(data) - 1))
    bit = draw(st.integers(min_value=0, max_value=7))
    return data[:i] + bytes([data[i] ^ (1 << bit)]) + data[i + 1 :]


def entry_reason(data: bytes) -> str:
    try:
        canonical.decode(data)
    except canonical.CanonicalError:
        return "encoding"
    return "inclusion"


def tamper(cert: dict[str, Any], other: dict[str, Any], what: str, draw: st.DrawFn) -> set[str]:
    """Change `cert` in place as `what` says; return the acceptable failure reasons."""
    if what == "human_field":
        key = draw(st.sampled_from(HUMAN))
        cert[key] = changed(cert[key], draw)
        return {"field_mismatch"}
    if what == "deal_field":
        key = draw(st.sampled_from(sorted(cert["deal"])))
        cert["deal"][key] = changed(cert["deal"][key], draw)
        return {"field_mismatch"}
    if what == "unknown_field":
        where = draw(st.sampled_from(["top", "deal"]))
        (cert if where == "top" else cert["deal"])["remark"] = "paid in full, guaranteed"
        return {"field_mismatch"}
    if what == "entry_byte":
        data = flip(base64.b64decode(cert["entry"]), draw)
        cert["entry"] = base64.b64encode(data).decode()
        return {entry_reason(data)}
    if what == "entry_field":
        entry = canonical.decode(base64.b64decode(cert["entry"]))
        key = draw(st.sampled_from(["price", "buyer", "seller", "t", "mode"]))
        entry[key] = changed(entry[key], draw)
        cert["entry"] = base64.b64encode(canonical.encode(entry)).decode()
        return {"inclusion"}
    proof = TlogProof.parse(cert["tlog_proof"])
    if what == "proof_hash":
        k = draw(st.integers(min_value=0, max_value=len(proof.proof) - 1))
        hashes = list(proof.proof)
        hashes[k] = flip(hashes[k], draw)
        cert["tlog_proof"] = TlogProof(proof.index, tuple(hashes), proof.signed_checkpoint).text()
        return {"inclusion"}
    if what == "proof_length":
        hashes = list(proof.proof)
        if draw(st.booleans()):
            hashes.pop(draw(st.integers(min_value=0, max_value=len(hashes) - 1)))
        else:
            hashes.insert(draw(st.integers(min_value=0, max_value=len(hashes))), bytes(32))
        cert["tlog_proof"] = TlogProof(proof.index, tuple(hashes), proof.signed_checkpoint).text()
        return {"inclusion"}
    if what == "index":
        new = draw(st.integers(min_value=0, max_value=200).filter(lambda i: i != proof.index))
        cert["tlog_proof"] = TlogProof(new, proof.proof, proof.signed_checkpoint).text()
        return {"inclusion"}
    if what == "checkpoint_text":
        text, _, sigs = proof.signed_checkpoint.partition("\n\n")
        lines = text.split("\n")
        k = draw(st.integers(min_value=0, max_value=2))
        if k == 1:
            lines[1] = str(int(lines[1]) + draw(st.integers(min_value=1, max_value=5)))
        elif k == 2:
            lines[2] = base64.b64encode(flip(base64.b64decode(lines[2]), draw)).decode()
        else:
            lines[0] = draw(st.sampled_from(["other.market", lines[0] + "x", "test.market/v2"]))
        note = "\n".join(lines) + "\n\n" + sigs
        cert["tlog_proof"] = TlogProof(proof.index, proof.proof, note).text()
        return {"checkpoint_signature"}
    if what == "signature":
        text, _, sig_lines = proof.signed_checkpoint.partition("\n\n")
        dash, name, blob = sig_lines.rstrip("\n").split(" ")
        raw = base64.b64decode(blob)
        raw = raw[:4] + flip(raw[4:], draw)  # keep the key ID, break the signature
        note = f"{text}\n\n{dash} {name} {base64.b64encode(raw).decode()}\n"
        cert["tlog_proof"] = TlogProof(proof.index, proof.proof, note).text()
        return {"checkpoint_signature"}
    if what in ("record_entry", "record_proof", "record_index"):
        record = cert["records"]["code"]
        if what == "record_entry":
            data = flip(base64.b64decode(record["entry"]), draw)
            record["entry"] = base64.b64encode(data).decode()
            return {entry_reason(data)}
        if what == "record_proof":
            record["proof"] = base64.b64encode(flip(base64.b64decode(record["proof"]), draw)).decode()
            return {"inclusion"}
        record["index"] = draw(st.integers(min_value=0, max_value=200).filter(lambda i: i != record["index"]))
        return {"inclusion"}
    if what == "swap_proof":
        cert["tlog_proof"] = other["tlog_proof"]
        return {"inclusion"}
    if what == "swap_entry_and_proof":
        cert["entry"], cert["tlog_proof"] = other["entry"], other["tlog_proof"]
        return {"code_mismatch"}
    if what == "swap_code":
        cert["code"] = other["code"]
        return {"code_mismatch"}
    if what == "swap_record":
        cert["records"]["code"] = other["records"]["code"]
        return {"code_mismatch"}
    if what == "extra_record":  # e.g. the genesis or listing record of certificate@v1: not of this format
        item = draw(st.sampled_from(cert["transcript"]))
        cert["records"][draw(st.sampled_from(["market", "listing", "genesis"]))] = item
        return {"field_mismatch"}
    if what == "no_record":
        del cert["records"]["code"]
        return {"code_mismatch"}
    if what == "code_char":
        code = cert["code"]
        i = draw(st.integers(min_value=0, max_value=len(code) - 1))
        c = draw(st.sampled_from("0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZ-").filter(lambda c: c != code[i]))
        cert["code"] = code[:i] + c + code[i + 1 :]
        return {"code_format"}
    raise AssertionError(what)


WHAT = [
    "human_field",
    "deal_field",
    "unknown_field",
    "entry_byte",
    "entry_field",
    "proof_hash",
    "proof_length",
    "index",
    "checkpoint_text",
    "signature",
    "record_entry",
    "record_proof",
    "record_index",
    "swap_proof",
    "swap_entry_and_proof",
    "swap_code",
    "swap_record",
    "extra_record",
    "no_record",
    "code_char",
]


@settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(data=st.data())
def test_tamper_matrix(market: Built, data: st.DataObject) -> None:
    lot, other_lot = data.draw(st.permutations(LOTS))[:2]
    cert, other = market.cert(lot), market.cert(other_lot)
    what = data.draw(st.sampled_from(WHAT), label="what")
    reasons = tamper(cert, other, what, data.draw)
    verdict = verify(cert, SIGNER.verifier)
    assert not verdict.ok, f"{what}: tampered certificate verified"
    assert verdict.reason in reasons, f"{what}: failed with [{verdict.reason}] {verdict.message}; expected {reasons}"
    assert verdict.exit_code == 1


def test_untouched_certificates_verify(market: Built) -> None:
    for lot in market.certs:
        assert verify(market.cert(lot), SIGNER.verifier, replay=True).ok


def test_the_wrong_key_fails_the_checkpoint_signature(market: Built) -> None:
    verdict = verify(market.cert(), OTHER.verifier)
    assert (verdict.reason, verdict.exit_code) == ("checkpoint_signature", 1)
    assert "does not verify" in verdict.message or "no signature" in verdict.message


def test_another_origin_is_refused(market: Built) -> None:
    verdict = verify(market.cert(), SIGNER.verifier, origin="zhejiang-pai.example")
    assert verdict.reason == "checkpoint_signature" and "origin" in verdict.message


@pytest.mark.parametrize(
    ("raw", "reason"),
    [
        (b"not json", "unreadable"),
        (b"[1, 2]", "unreadable"),
        (b"\xff\xfe", "unreadable"),
        (json.dumps({"code": "x", "entry": "y"}).encode(), "missing_field"),
        (json.dumps({"code": 1, "entry": "y", "tlog_proof": "z"}).encode(), "missing_field"),
    ],
)
def test_unreadable_input_exits_2(raw: bytes, reason: str) -> None:
    verdict = verify(raw, SIGNER.verifier)
    assert (verdict.ok, verdict.reason, verdict.exit_code) == (False, reason, 2)


@pytest.mark.parametrize("field", ["code", "entry", "tlog_proof"])
def test_each_pinned_field_is_required(market: Built, field: str) -> None:
    cert = market.cert()
    del cert[field]
    verdict = verify(cert, SIGNER.verifier)
    assert (verdict.reason, verdict.exit_code) == ("missing_field", 2) and field in verdict.message


def test_unknown_format_is_unreadable(market: Built) -> None:
    cert = market.cert()
    cert["format"] = "auction-engine/certificate@v9"
    assert (verify(cert, SIGNER.verifier).exit_code, verify(cert, SIGNER.verifier).reason) == (2, "unreadable")


def test_non_canonical_base64_is_refused(market: Built) -> None:
    cert = market.cert()
    entry = cert["entry"]
    body = entry.rstrip("=")
    assert body != entry  # padded: the last data character carries pad bits, which must be zero
    # Setting the lowest pad bit decodes to the same bytes: a second spelling, refused.
    alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/"
    cert["entry"] = body[:-1] + alphabet[alphabet.index(body[-1]) + 1] + entry[len(body) :]
    assert base64.b64decode(cert["entry"]) == base64.b64decode(entry)
    verdict = verify(cert, SIGNER.verifier)
    assert verdict.reason == "encoding" and "canonical base64" in verdict.message


def test_a_non_deal_entry_with_a_valid_proof_and_code_is_not_a_deal(market: Built) -> None:
    """Someone computes a well-formed code for the listing entry and certifies that: not a deal."""
    from ledger import leaf_hash, txcode

    cert = market.cert()
    listing = next(
        item
        for item in cert["transcript"]
        if canonical.decode(base64.b64decode(item["entry"])).get("kind") == "open_lot"
    )
    data = base64.b64decode(listing["entry"])
    code = txcode.parse_code(cert["code"])
    proof = TlogProof.parse(cert["tlog_proof"])
    hashes = base64.b64decode(listing["proof"])
    cert["entry"] = listing["entry"]
    cert["code"] = txcode.make_code(code.prefix, code.date, code.kind, listing["index"], leaf_hash(data))
    cert["tlog_proof"] = TlogProof(
        listing["index"], tuple(hashes[i : i + 32] for i in range(0, len(hashes), 32)), proof.signed_checkpoint
    ).text()
    verdict = verify(cert, SIGNER.verifier)
    assert verdict.reason == "not_deal", verdict.message


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(data=st.data())
def test_transcript_tampering_fails_replay_or_transcript(market: Built, data: st.DataObject) -> None:
    cert = market.cert(data.draw(st.sampled_from(LOTS)))
    items = cert["transcript"]
    how = data.draw(st.sampled_from(["byte", "proof", "drop", "swap", "index"]), label="how")
    k = data.draw(st.integers(min_value=0, max_value=len(items) - 1), label="item")
    expected = {"transcript"}
    if how == "byte":
        items[k]["entry"] = base64.b64encode(flip(base64.b64decode(items[k]["entry"]), data.draw)).decode()
    elif how == "proof":
        items[k]["proof"] = base64.b64encode(flip(base64.b64decode(items[k]["proof"]), data.draw)).decode()
    elif how == "drop":
        del items[k]
        expected = {"transcript", "replay"}  # a record or the genesis is missing, or the rules diverge
    elif how == "swap":
        j = (k + 1) % len(items)
        if j == k:
            return
        items[k], items[j] = items[j], items[k]
    else:
        items[k]["index"] += 1
    verdict = verify(cert, SIGNER.verifier, replay=True)
    assert verdict.reason in expected, f"{how} {k}: [{verdict.reason}] {verdict.message}"
    assert verify(cert, SIGNER.verifier).ok  # without --replay the transcript is not read


def test_dropping_a_bid_from_the_transcript_fails_replay(market: Built) -> None:
    cert = market.cert("L1")
    kinds = [canonical.decode(base64.b64decode(i["entry"])) for i in cert["transcript"]]
    at = next(n for n, e in enumerate(kinds) if e["kind"] == "bid" and e.get("ok") and e["actor"] == "B")
    del cert["transcript"][at]
    verdict = verify(cert, SIGNER.verifier, replay=True)
    assert verdict.reason == "replay", verdict.message
    assert verdict.message.startswith("entry ")


def test_replay_without_a_transcript_exits_2(market: Built) -> None:
    cert = market.cert()
    del cert["transcript"]
    verdict = verify(cert, SIGNER.verifier, replay=True)
    assert (verdict.reason, verdict.exit_code) == ("no_transcript", 2)


@pytest.mark.parametrize("field", ["entry", "record", "record_proof"])
def test_padding_after_a_complete_group_is_refused(market: Built, field: str) -> None:
    """Strict base64 decoding reads "00AA==" as "00AA": a second spelling, refused by the single pass and
    the named checks alike (on the kernels this session runs; `make test` runs these tests on both)."""
    from auction_engine.certificates import verification

    cert = market.cert()
    holder, key = {
        "entry": (cert, "entry"),
        "record": (cert["records"]["code"], "entry"),
        "record_proof": (cert["records"]["code"], "proof"),
    }[field]
    holder[key] = holder[key] + "=="
    assert verification.verify_clean(cert, SIGNER.verifier, None) is None
    verdict = verify(cert, SIGNER.verifier)
    assert not verdict.ok and verdict.exit_code == 1, (verdict.reason, verdict.message)


# -- the certificate as text: the single pass reads it with orjson, the reference with json ----------


def _verdicts(raw: bytes, monkeypatch: pytest.MonkeyPatch) -> tuple[tuple[Any, ...], tuple[Any, ...]]:
    """(ok, reason) of `verify` as it runs, and of the reference alone (the single pass switched off)."""
    from auction_engine.certificates import verification

    fast = verify(raw, SIGNER.verifier)
    with monkeypatch.context() as m:
        m.setattr(verification, "verify_clean", lambda *a: None)
        reference = verify(raw, SIGNER.verifier)
    return (fast.ok, fast.reason, fast.exit_code), (reference.ok, reference.reason, reference.exit_code)


def _texts(cert: dict[str, Any]) -> dict[str, tuple[bytes, bool]]:
    """The certificate written in ways JSON allows (and a few it does not), and whether each is valid."""
    from auction_engine.certificates import dumps

    compact = json.dumps(cert).encode()
    body = compact[1:]
    size = cert["checkpoint_size"]
    return {
        "file form": (dumps(cert).encode(), True),
        "compact, escaped": (compact, True),
        "a BOM": (b"\xef\xbb\xbf" + dumps(cert).encode(), True),  # json.loads(bytes) reads UTF-8 with a BOM
        "UTF-16": (dumps(cert).encode("utf-16"), True),
        # A repeated key is refused whichever copy is right (json keeps the last, a person may read the first).
        "duplicate key, the last right": (b'{"checkpoint_size": 1, ' + body, False),
        "duplicate key, the last wrong": (compact[:-1] + b', "checkpoint_size": 1}', False),
        "a 70-bit size": (
            compact.replace(f'"checkpoint_size": {size}'.encode(), f'"checkpoint_size": {size + 2**70}'.encode()),
            False,
        ),
        "a float size": (
            compact.replace(f'"checkpoint_size": {size}'.encode(), f'"checkpoint_size": {size}.0'.encode()),
            False,
        ),
        "NaN": (compact[:-1] + b', "x": NaN}', False),
        "a lone surrogate": (compact.replace(b'"seller": "', b'"seller": "\\ud800'), False),
        "trailing text": (compact + b" x", False),
    }


@pytest.mark.parametrize(
    "form",
    [
        "file form",
        "compact, escaped",
        "a BOM",
        "UTF-16",
        "duplicate key, the last right",
        "duplicate key, the last wrong",
        "a 70-bit size",
        "a float size",
        "NaN",
        "a lone surrogate",
        "trailing text",
    ],
)
def test_every_text_form_gets_the_reference_verdict(market: Built, form: str, monkeypatch: pytest.MonkeyPatch) -> None:
    raw, valid = _texts(market.cert())[form]
    fast, reference = _verdicts(raw, monkeypatch)
    assert fast == reference
    assert fast[0] is valid, fast
    if form.startswith("duplicate key"):
        assert fast[1:] == ("duplicate_key", 1)
    if form in ("NaN", "a lone surrogate"):  # not JSON as RFC 8259 and UTF-8 allow: not a certificate at all
        assert fast[1:] == ("unreadable", 2)


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(data=st.data())
def test_a_bent_text_is_never_valid_on_the_single_pass_alone(
    market: Built, data: st.DataObject, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Characters inserted, deleted or replaced anywhere in the file text: both paths give one verdict."""
    from auction_engine.certificates import dumps

    text = dumps(market.cert(data.draw(st.sampled_from(LOTS))))
    for _ in range(data.draw(st.integers(1, 3))):
        at = data.draw(st.integers(0, len(text)))
        insert = data.draw(
            st.sampled_from(["", " ", "0", "1", "9", "\\", '"', ",", "}", "e", ".", "-", "é", "\\u0041", "A"])
        )
        text = text[:at] + insert + text[at + data.draw(st.integers(0, 2)) :]
    fast, reference = _verdicts(text.encode(), monkeypatch)
    assert fast == reference
