"""The live server: the market on the wall clock over HTTP, a WebSocket feed, web pages, the public log.

`create_app(db, signer, …)` builds the ASGI application (FastAPI); `auction-engine serve` runs it
under granian (default) or uvicorn. Modules, from the socket inwards:

- `fastlane` (plain bids answered before the routing) and `guard` (limits on every request body):
  the ASGI middleware around the application;
- `app` (the factory), `routes/` (the routes, one router per area), `dependencies` (what the routes
  need: the market, the feed, the certificates, the caller), `errors` (exception handlers);
- `command_path` (a command from a checked body to its answer: the routes' and the fast lane's),
  `commands` (every command's schema, one table), `schemas` (request/response models), `responses`
  (the one writer of JSON answers), `auth` (operator and bidder credentials), `signing`
  (bidder-signed commands);
- `live` (the engine on the event loop, crash restore), `committer` (group commit, durability,
  health, reads on the ledger's I/O thread), `idempotency` (idempotency keys' answers);
- `feed` (WebSocket events), `public_log` (checkpoint, tiles, proofs), `certs` (certificate lookup),
  `pages/` (the web pages: static HTML, vanilla JS and CSS, no build step).
"""

from __future__ import annotations

from .app import create_app
from .live import LiveMarket

__all__ = ["LiveMarket", "create_app"]
