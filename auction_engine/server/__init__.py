"""The live server: the market on the wall clock over HTTP, a WebSocket feed, web pages, the public log.

`create_app(db, signer, …)` builds the ASGI application (FastAPI); `auction-engine serve` runs it
under granian (default) or uvicorn. Modules: `live` (the engine on the event loop, group commit, crash restore),
`auth` (operator and bidder credentials), `signing` (bidder-signed commands), `feed` (WebSocket
events), `public_log` (checkpoint, tiles, proofs), `certs` (certificate lookup), `schemas`
(request/response models), `responses` (refusals and statuses), `fastlane` (the bid hot path),
`pages/` (the web pages: static HTML, vanilla JS and CSS, no build step).
"""

from __future__ import annotations

from .app import create_app
from .live import LiveMarket

__all__ = ["LiveMarket", "create_app"]
