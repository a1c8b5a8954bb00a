"""The pages' languages: Chinese first (zh-CN), English second (en), from one message catalogue per locale.

Every string a person reads on a page comes from `pages/i18n/<locale>/*.json` (flat maps of key to text,
with `{name}` placeholders; a key is defined once across a locale's files, and every locale has the same
keys — tests/server/test_i18n.py fails on a missing, extra or unused key). The server renders a page's
`{{key}}` placeholders (HTML-escaped) in the reader's locale, sets `lang` on `<html>`, and embeds the
catalogue for the page's script (`AE.t`). The locale is, in order: the `?lang=` of the request (which
also sets the `ae_lang` cookie, so the choice persists), the `ae_lang` cookie, the best `Accept-Language`
match, and else Chinese.

The market's time zone is here too: people read every time in it (`market_timezone`).
"""

from __future__ import annotations

import functools
import html
import json
import re
import zoneinfo
from pathlib import Path
from typing import TYPE_CHECKING

from ..messages import DEFAULT_LOCALE, LOCALES, CatalogueError, catalogue

if TYPE_CHECKING:
    from .live import LiveMarket

__all__ = [
    "COOKIE",
    "DEFAULT_LOCALE",
    "LOCALES",
    "CatalogueError",
    "catalogue",
    "known_zone",
    "locale_of",
    "market_timezone",
    "negotiate",
    "render_page",
]

COOKIE = "ae_lang"
PLACEHOLDER = re.compile(r"\{\{([A-Za-z0-9_.@-]+)\}\}")
_ALIASES = {"zh": "zh-CN", "zh-cn": "zh-CN", "zh-hans": "zh-CN", "zh-sg": "zh-CN", "en": "en"}
_MAX_ACCEPT = 512  # an Accept-Language longer than this is read only this far
DEFAULT_TIMEZONES = {8 * 3_600_000: "Asia/Shanghai", 0: "UTC"}
"""The zone named for a market whose rules count local time at this UTC offset, unless `serve --timezone`."""


def locale_of(tag: str) -> str | None:
    tag = tag.strip().lower()
    if tag in _ALIASES:
        return _ALIASES[tag]
    base = tag.split("-", 1)[0]
    if base == "zh":
        return "zh-CN"  # every Chinese variant reads the simplified catalogue before the English one
    return _ALIASES.get(base)


def _accept_language(header: str) -> str | None:
    """The best supported locale of an Accept-Language header (RFC 9110 §12.5.4), or None."""
    best: tuple[float, int, str] | None = None
    for position, part in enumerate(header[:_MAX_ACCEPT].split(",")):
        tag, _, params = part.partition(";")
        quality = 1.0
        params = params.strip()
        if params.startswith("q="):
            try:
                quality = float(params[2:])
            except ValueError:
                continue
        locale = locale_of(tag)
        if locale is None or not 0 < quality <= 1:
            continue
        key = (quality, -position, locale)
        if best is None or key > best:
            best = key
    return best[2] if best is not None else None


def negotiate(query_lang: str | None, cookie: str | None, accept: str | None) -> str:
    """The reader's locale from the request's `?lang=`, its `ae_lang` cookie and its Accept-Language."""
    for given in (query_lang, cookie):
        if given:
            locale = locale_of(given)
            if locale is not None:
                return locale
    if accept:
        locale = _accept_language(accept)
        if locale is not None:
            return locale
    return DEFAULT_LOCALE


@functools.cache
def _template(path: Path) -> str:
    return path.read_text("utf-8")


@functools.cache  # a page is the same bytes for a locale and zone: rendered once, not on every request
def render_page(path: Path, locale: str, timezone: str) -> str:
    """The page at `path` in `locale`: its `{{key}}` placeholders filled, `{{@lang}}`, `{{@timezone}}` and
    `{{@catalogue}}` set."""
    messages = catalogue(locale)

    def fill(match: re.Match[str]) -> str:
        key = match.group(1)
        if key == "@lang":
            return locale
        if key == "@timezone":
            return html.escape(timezone)
        if key == "@catalogue":  # inside <script type="application/json">: no "</" may appear
            return json.dumps(messages, ensure_ascii=False, sort_keys=True).replace("<", "\\u003c")
        try:
            return html.escape(messages[key])
        except KeyError:
            raise CatalogueError(f"{path.name}: no message {key!r} in the {locale} catalogue") from None

    return PLACEHOLDER.sub(fill, _template(path))


def market_timezone(market: LiveMarket, name: str | None) -> str:
    """The IANA time zone the market's times are shown in: `name`, else the one of its `utc_offset_ms`.

    ValueError when the zone is unknown, or (with no name) when no zone is known for the market's offset.
    """
    offset = (market.engine.market.params or {}).get("utc_offset_ms", 8 * 3_600_000)
    if name is None:
        zone = DEFAULT_TIMEZONES.get(offset)
        if zone is None:
            raise ValueError(f"the market counts local time at UTC offset {offset} ms: name its zone with --timezone")
        return zone
    return known_zone(name)


def known_zone(name: str) -> str:
    """`name` if this machine knows the IANA time zone, else ValueError saying so (for `serve --timezone`)."""
    try:
        zoneinfo.ZoneInfo(name)
    except (zoneinfo.ZoneInfoNotFoundError, ValueError):
        raise ValueError(f"--timezone {name!r} is not a time zone this machine knows (e.g. Asia/Shanghai)") from None
    return name
