"""Certificates as files: the ``.cert.json`` text, issuing from a ledger file into files, verifying a file."""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from ledger.certificate import EXIT_UNREADABLE
from ledger.cosignature import CosignerVerifier
from ledger.note import Verifier

from .issuer import Issuer, issue, open_ledger
from .page import render_html
from .verification import Verdict, verify


def dumps(cert: Mapping[str, Any]) -> str:
    """A certificate's file text (`.cert.json`), as `certificate issue` writes it and the server serves it."""
    return json.dumps(cert, indent=2, ensure_ascii=False) + "\n"


def issue_file(
    db: str | Path,
    code: str,
    out: str | Path,
    *,
    transcript: bool = False,
    html_out: str | Path | None = None,
    base_url: str | None = None,
) -> Path:
    """Issue the certificate for `code` from ledger file `db`, write it to `out` (and an HTML page)."""
    log = open_ledger(db)
    try:
        cert = issue(log, code, transcript=transcript)
    finally:
        log.store.close()
    path = Path(out)
    path.write_text(dumps(cert), encoding="utf-8")
    if html_out is not None:
        Path(html_out).write_text(render_html(cert, base_url=base_url), encoding="utf-8")
    return path


def issue_all(
    db_path: str | Path,
    out_dir: str | Path,
    transcript: bool = True,
    *,
    html_pages: bool = True,
    base_url: str | None = None,
    skip_uncovered: bool = False,
) -> list[Path]:
    """Write ``CODE.cert.json`` (and ``CODE.html``) into `out_dir` for every code issued in the ledger.

    Codes whose entries no signed checkpoint covers yet raise IssueError, or are skipped with
    `skip_uncovered`. Returns the certificate paths in ledger order.
    """
    log = open_ledger(db_path)
    try:
        issuer = Issuer(log, many=True)
        directory = Path(out_dir)
        directory.mkdir(parents=True, exist_ok=True)
        paths = []
        for code, at in issuer.code_records().items():
            if skip_uncovered and (issuer.stored is None or issuer.stored.size <= at):
                continue
            cert = issuer.issue(code, transcript=transcript, record_at=at)
            path = directory / f"{cert['code']}.cert.json"
            path.write_text(dumps(cert), encoding="utf-8")
            if html_pages:
                (directory / f"{cert['code']}.html").write_text(render_html(cert, base_url=base_url), encoding="utf-8")
            paths.append(path)
        return paths
    finally:
        log.store.close()


def verify_file(
    path: str | Path,
    verifier: Verifier,
    replay: bool = False,
    *,
    trusted: str | None = None,
    consistency: Sequence[bytes] | str | None = None,
    origin: str | None = None,
    witnesses: Sequence[CosignerVerifier] = (),
    quorum: int = 0,
) -> Verdict:
    """Read and verify a ``.cert.json`` file (an unreadable file is a verdict with exit code 2)."""
    try:
        raw = Path(path).read_bytes()
    except OSError as exc:
        return Verdict(False, "unreadable", f"cannot read {path}: {exc.strerror or exc}", EXIT_UNREADABLE, str(path))
    return verify(
        raw,
        verifier,
        replay=replay,
        trusted=trusted,
        consistency=consistency,
        origin=origin,
        path=str(path),
        witnesses=witnesses,
        quorum=quorum,
    )
