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
from ledger.note import Verifier

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
        out.append(f"  price:      {deal.get('price_text')} ({deal.get('price_fen')} fen)")
        out.append(f"  seller:     {deal.get('seller')}")
        out.append(f"  buyer:      {deal.get('buyer')}")
        out.append(f"  deal time:  {deal.get('deal_time')}")
        out.append(f"  issued:     {deal.get('issued')}")
        out.append(
            f"  ledger:     entry {f.get('index')} in the log {f.get('origin')}, under a checkpoint of size"
            f" {f.get('checkpoint_size')} signed by {f.get('key')}"
        )
        if "trusted_size" in f:
            out.append(f"  trusted:    consistent with the checkpoint of size {f['trusted_size']} saved earlier")
        if "replay" in f:
            r = f["replay"]
            out.append(
                f"  replay:     {r['entries']} transcript entries ({r['commands']} commands) reproduced byte for byte"
                " by the rules: the winner and the price follow from them"
            )
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
) -> Verdict:
    """Verify a certificate (loaded JSON, or its text) with the market's verifier key; never raises.

    `trusted` is a signed checkpoint the auditor saved earlier and `consistency` the consistency
    proof between it and the certificate's checkpoint (hashes, or the text `ledger consistency` prints).
    A certificate the single pass accepts is valid; any other goes through the checks one by one.
    """
    if not replay and trusted is None:
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
