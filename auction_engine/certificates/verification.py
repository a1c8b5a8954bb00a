"""Verifying a certificate: the verdict, and `verify`, which runs the checks in order and names the first failure."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from ledger.certificate import (
    EXIT_OK,
    EXIT_UNREADABLE,
    CertificateError,
    check_pinned,
    check_trusted,
    load_certificate,
    parse_consistency,
    verify_certificate,
)
from ledger.checkpoint import CheckpointError, TlogProof
from ledger.cosignature import CosignatureError, CosignerVerifier, verify_cosignatures
from ledger.note import Verifier

from ..display import iso_for_people
from .checks import check_code_meaning, check_fields, check_record, check_transcript, fail
from .fields import FORMAT, MODE_NAMES
from .single_pass import ALL_CHECKS, verify_clean


@dataclass
class Verdict:
    """The outcome of verifying a certificate: valid, or the first failed check and exactly why."""

    ok: bool
    reason: str | None = None
    message: str | None = None
    exit_code: int = EXIT_OK
    path: str | None = None
    code: str | None = None
    checks: list[str] = field(default_factory=list)  # the checks passed, in order
    facts: dict[str, Any] = field(default_factory=dict)  # read from the signed entries, never the file

    @property
    def established(self) -> list[str]:
        """What a valid verdict proved, in words (empty for an invalid one)."""
        if not self.ok:
            return []
        f = self.facts
        out = ["the market's signature on the checkpoint", "the deal entry's inclusion in the signed log",
               "the transaction code's binding to the deal entry"]  # fmt: skip
        if "trusted_size" in f:
            out.append(f"consistency with the checkpoint of size {f['trusted_size']} saved earlier")
        if "cosignatures" in f:
            c = f["cosignatures"]
            out.append(f"{c['count']} witness cosignatures of the checkpoint ({c['quorum']} required)")
        if "replay" in f:
            r = f["replay"]
            out.append("the rules reproduce the transcript: the winner and the price follow from the bids")
            out.append(f"{r['signatures_checked']} bidder signatures verified against the keys in force")
        return out

    @property
    def trusted(self) -> list[str]:
        """What a valid verdict still takes on trust."""
        if not self.ok:
            return []
        f = self.facts
        out = ["that the verifier key is the market's (get it through a trusted channel)"]
        if "trusted_size" not in f and "cosignatures" not in f:
            out.append(
                "the completeness of the transcript rests on the operator, unless a witness quorum (--witness,"
                " --quorum) or a checkpoint saved earlier (--trusted) covers it"
            )
        if "replay" not in f:
            out.append("that the rules produced this winner and price (add --replay to check)")
        elif f["replay"].get("signatures_pending"):
            out.append(f"{f['replay']['signatures_pending']} bidder signatures over sealed values not revealed yet")
        return out

    @property
    def status(self) -> str:
        return "VALID" if self.ok else ("UNREADABLE" if self.exit_code == EXIT_UNREADABLE else "INVALID")

    def to_json(self) -> dict[str, Any]:
        return {
            "ok": self.ok,
            "status": self.status,
            "reason": self.reason,
            "message": self.message,
            "exit_code": self.exit_code,
            "certificate": self.path,
            "code": self.code,
            "checks": list(self.checks),
            "facts": dict(self.facts),
            "established": self.established,
            "trusted": self.trusted,
        }

    def lines(self) -> list[str]:
        """A readable verdict: the deal as the signed entries state it, or the check that failed."""
        name = self.code or self.path or "certificate"
        out = [f"certificate {name}: {self.status}"]
        f = self.facts
        if not self.ok:
            out.append(f"  FAIL [{self.reason}] {self.message}")
            if self.checks:
                out.append(f"  passed before it: {', '.join(self.checks)}")
            return out
        deal = f.get("deal", {})
        title = deal.get("title")
        out.append(
            f"  deal:       lot {deal.get('lot')}" + (f" «{title}»" if title and title != deal.get("lot") else "")
        )
        out.append(f"  mode:       {MODE_NAMES.get(deal.get('mode'), deal.get('mode'))} (rule {deal.get('rule')})")
        out.append(f"  price:      {deal.get('price_text')}")  # yuan for people; --json keeps price_fen
        out.append(f"  seller:     {deal.get('seller')}")
        out.append(f"  buyer:      {deal.get('buyer')}")
        out.append(f"  deal time:  {iso_for_people(deal.get('deal_time'))}")
        out.append(f"  issued:     {iso_for_people(deal.get('issued'))}")
        out.append(
            f"  ledger:     entry {f.get('index')} in the log {f.get('origin')}, under a checkpoint of size"
            f" {f.get('checkpoint_size')} signed by {f.get('key')}"
        )
        if "trusted_size" in f:
            out.append(f"  trusted:    consistent with the checkpoint of size {f['trusted_size']} saved earlier")
        if "cosignatures" in f:
            c = f["cosignatures"]
            out.append(f"  witnesses:  {c['count']} valid cosignatures of the checkpoint ({c['quorum']} required)")
        if "replay" in f:
            r = f["replay"]
            out.append(
                f"  replay:     {r['entries']} transcript entries ({r['commands']} commands) reproduced byte for byte"
                " by the rules: the winner and the price follow from them"
            )
            out.append(
                f"  signatures: {r['signatures_checked']} bidder signatures verified against the keys in force"
                + (f", {r['signatures_pending']} pending" if r.get("signatures_pending") else "")
            )
        out.append("  established:")
        out.extend(f"    - {item}" for item in self.established)
        out.append("  still trusted:")
        out.extend(f"    - {item}" for item in self.trusted)
        return out


def verify(
    obj: Mapping[str, Any] | bytes | str,
    verifier: Verifier,
    *,
    replay: bool = False,
    trusted: str | None = None,
    consistency: Sequence[bytes] | str | None = None,
    origin: str | None = None,
    path: str | None = None,
    witnesses: Sequence[CosignerVerifier] = (),
    quorum: int = 0,
) -> Verdict:
    """Verify a certificate (loaded JSON, or its text) with the market's verifier key; never raises.

    `trusted` is a signed checkpoint the auditor saved earlier and `consistency` the consistency
    proof between it and the certificate's checkpoint (hashes, or the text `ledger consistency` prints).
    `quorum` > 0 demands that many valid cosignatures of the checkpoint by the `witnesses` (their
    cosigner keys), else the verdict fails with `quorum`. A certificate the single pass accepts is
    valid; any other goes through the checks one by one.
    """
    if not replay and trusted is None and not quorum:
        clean = verify_clean(obj, verifier, origin)
        if clean is not None:
            return Verdict(True, path=path, code=clean[0], checks=list(ALL_CHECKS), facts=clean[1])
    verdict = Verdict(ok=False, path=path)
    checks = verdict.checks
    try:
        cert = load_certificate(obj) if isinstance(obj, bytes | str) else check_pinned(obj)
        if cert.get("format", FORMAT) != FORMAT:
            raise fail(
                "unreadable", f"unsupported certificate format {cert.get('format')!r} (this verifier reads {FORMAT})"
            )
        verdict.code = cert["code"]
        checks.append("readable")
        v = verify_certificate(cert, verifier, origin=origin)
        checks += ["encoding", "checkpoint_signature", "inclusion", "code_binding"]
        if v.entry.get("kind") != "deal":
            raise fail("not_deal", f"entry {v.index} is a {v.entry.get('kind')!r} entry, not a deal", v.index)
        checks.append("deal")
        record = check_record(v)
        check_code_meaning(v, record)
        checks.append("code_meaning")
        verdict.facts = check_fields(cert, v, record)
        checks.append("fields")
        if trusted is not None:
            proof = parse_consistency(consistency) if isinstance(consistency, str) else consistency
            t = check_trusted(
                v.checkpoint, trusted, list(proof) if proof is not None else None, verifier, origin=origin
            )
            verdict.facts["trusted_size"] = t.size
            checks.append("consistency")
        if quorum:
            verdict.facts["cosignatures"] = _check_quorum(cert, witnesses, quorum)
            checks.append("cosignatures")
        if replay:
            verdict.facts["replay"] = check_transcript(cert, v)
            checks.append("replay")
    except CertificateError as exc:
        verdict.reason, verdict.message, verdict.exit_code = exc.reason, exc.message, exc.exit_code
        if exc.index is not None:
            verdict.facts["failed_index"] = exc.index
        return verdict
    except ValueError as exc:  # a consistency proof text that is not one base64 hash a line
        verdict.reason, verdict.message, verdict.exit_code = "unreadable", f"consistency proof: {exc}", EXIT_UNREADABLE
        return verdict
    verdict.ok = True
    return verdict


def _check_quorum(cert: Mapping[str, Any], witnesses: Sequence[CosignerVerifier], quorum: int) -> dict[str, Any]:
    """At least `quorum` valid cosignatures of the certificate's checkpoint by the given witnesses."""
    try:
        signed = TlogProof.parse(cert["tlog_proof"]).signed_checkpoint
        found = verify_cosignatures(signed, witnesses)
    except (CheckpointError, CosignatureError) as exc:
        raise fail("cosignature", f"the checkpoint's cosignatures: {exc}") from None
    if len(found) < quorum:
        names = ", ".join(sorted({c.name for c in found})) or "none"
        raise fail(
            "quorum",
            f"the checkpoint carries {len(found)} valid cosignatures by the {len(witnesses)} witnesses given"
            f" ({names}); {quorum} are required",
        )
    return {"count": len(found), "quorum": quorum, "witnesses": sorted(c.name for c in found)}
