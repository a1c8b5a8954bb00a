"""Certificate lookup for the live server: issue a deal's certificate from the durable ledger, verify it.

The certificate format, issuing and verification are `auction_engine.certificates` (docs/certificates.md);
this module only feeds it the live market's published view of the ledger: of the durable entries up
to the latest durable signed checkpoint, those the certificate needs (found by the live market's
index of each lot's entries, read on the ledger's I/O thread), and the in-memory Merkle tree (whose
nodes below that size never change). If a code's entries are not yet covered by a published
checkpoint, one is signed at once and made durable first. Issued certificates are cached: a
certificate stays valid forever (its checkpoint is signed and durable).
"""

from __future__ import annotations

import asyncio
from typing import Any

from ledger import LedgerError
from ledger.store import StoredCheckpoint
from ledger.txcode import TxCodeError, parse_code

from .. import certificates
from .live import LiveMarket

__all__ = ["CertificateLookupError", "Certificates"]


class CertificateLookupError(Exception):
    """No certificate for this code: `status` (404 unknown, 422 malformed) and a precise message."""

    def __init__(self, status: int, code: str, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.code = code
        self.message = message


class _PublishedLog:
    """The part of `ledger.Log` that certificate issuing reads besides the entries: the tree, the origin
    and the published checkpoint."""

    def __init__(self, market: LiveMarket, checkpoint: StoredCheckpoint) -> None:
        self.tree = market.log.tree
        self.origin = market.origin
        self._checkpoint = checkpoint

    def checkpoint(self, size: int | None = None) -> StoredCheckpoint:
        if size is not None and size != self._checkpoint.size:
            raise LedgerError(f"no published checkpoint of size {size}")
        return self._checkpoint


class Certificates:
    """Issues and verifies certificates by transaction code, from the live market's published log."""

    def __init__(self, market: LiveMarket) -> None:
        self.market = market
        self._cache: dict[str, dict[str, Any]] = {}
        self._lock = asyncio.Lock()

    def codes(self) -> dict[str, str]:
        """Every transaction code issued so far -> its lot."""
        return dict(self.market.engine.codes)

    def _normalise(self, text: str) -> str:
        try:
            return parse_code(text).text
        except TxCodeError as exc:
            raise CertificateLookupError(422, "bad_code", f"transaction code {text!r}: {exc}") from None
        except (ValueError, IndexError):  # parse_code should say TxCodeError for every malformed text; be safe
            raise CertificateLookupError(422, "bad_code", f"{text!r} is not a transaction code") from None

    async def get(self, text: str) -> dict[str, Any]:
        """The certificate (JSON-ready) for transaction code `text`; issued on first request."""
        code = self._normalise(text)
        found = self._cache.get(code)
        if found is not None:
            return found
        if code not in self.market.engine.codes:
            raise CertificateLookupError(
                404, "unknown_code", f"no transaction code {code} has been issued by this market"
            )
        async with self._lock:
            found = self._cache.get(code)
            if found is not None:
                return found
            market = self.market
            record_at = market.codes_at.get(code, market.log.size)
            # With witnesses, the newest checkpoint their quorum cosigned, if it covers the code already;
            # else the market's own (signed now if need be), and not kept: a later request gets the cosigned one.
            cosigned = market.witnesses.cosigned if market.witnesses is not None else None
            keep = market.witnesses is None or (cosigned is not None and cosigned.size > record_at)
            published = cosigned if cosigned is not None and cosigned.size > record_at else market.published
            if published is None or published.size <= record_at:
                published = await market.publish()
            # Only what the certificate needs, by the live index: the deal, its txcode record, and the
            # lot's session (genesis, its sub-market's opening, every entry naming the lot).
            size, record_at, lot_id = published.size, market.codes_at[code], market.engine.codes[code]
            submarket = market.engine.lot(lot_id).submarket
            index = market.sessions
            session = certificates.session_indices(*index, lot_id, submarket, size)
            entries = await market.read_entries_at(sorted({*session, parse_code(code).index, record_at}))
            view = _PublishedLog(market, published)
            loop = asyncio.get_running_loop()
            # Issuing reads only `entries` and the tree's nodes below the published size, which never change:
            # it runs on a worker thread, not on the ledger's I/O thread, whose group commits bids wait for.
            try:
                cert = await loop.run_in_executor(
                    None,
                    lambda: certificates.issue_from_entries(
                        view,  # type: ignore[arg-type]
                        code,
                        entries,
                        size=size,
                        record_at=record_at,
                        index=index,
                    ),
                )
            except certificates.IssueError as exc:
                raise CertificateLookupError(409, "not_issuable", exc.message) from None
            if keep:
                self._cache[code] = cert
            return cert

    async def verdict(self, cert: dict[str, Any]) -> dict[str, Any]:
        """Verify a certificate with the market's key, replaying its transcript; the verdict as JSON."""
        verifier = self.market.signer.verifier
        loop = asyncio.get_running_loop()
        verdict = await loop.run_in_executor(
            None, lambda: certificates.verify(cert, verifier, replay="transcript" in cert)
        )
        return verdict.to_json()

    def html(self, cert: dict[str, Any], base_url: str | None = None) -> str:
        return certificates.render_html(cert, base_url=base_url)
