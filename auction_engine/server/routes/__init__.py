"""The HTTP routes, one router per area; `ROUTERS` is the order `create_app` adds their routes in.

- `commands`: every command of the rules (typed routes, and any command by name);
- `bidders`: admission, a bidder's key, `/api/me`;
- `auditors`: the auditors' tokens, which read the whole log;
- `market`: the clock, health, the market's summary, the WebSocket feed;
- `lots`: the lots' views;
- `public_log`: the signed checkpoint, tlog-tiles, entries and proofs;
- `certificates`: transaction codes, certificates and their files;
- `params_schema`: the rules' parameters described for forms (kinds, units, defaults, bounds);
- `pages`: the web pages (not in the OpenAPI document); their assets are mounted by `create_app`.

What they share is declared in `openapi` (parameters, documented answers); what they need from
the application comes through `server/dependencies.py`.
"""

from __future__ import annotations

from fastapi import APIRouter

from . import auditors, bidders, certificates, commands, lots, market, pages, params_schema, public_log

__all__ = ["ROUTERS"]

ROUTERS: tuple[APIRouter, ...] = (
    commands.router,
    bidders.router,
    auditors.router,
    market.router,
    lots.router,
    public_log.router,
    certificates.router,
    params_schema.router,
    pages.router,
)
