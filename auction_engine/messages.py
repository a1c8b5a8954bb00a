"""The message catalogues people read: Chinese (zh-CN) first, English (en) second.

One catalogue per locale, from `server/pages/i18n/<locale>/*.json`: flat maps of key to text with `{name}`
placeholders, each key defined once across a locale's files. The web pages (`server/i18n.py` renders them)
and the printable certificate (`certificates/page.py`, in both languages at once) take their words from here.
"""

from __future__ import annotations

import functools
import json
from pathlib import Path
from typing import Any

__all__ = ["CATALOGUES", "DEFAULT_LOCALE", "LOCALES", "CatalogueError", "catalogue"]

LOCALES = ("zh-CN", "en")
DEFAULT_LOCALE = "zh-CN"
CATALOGUES = Path(__file__).resolve().parent / "server" / "pages" / "i18n"


class CatalogueError(ValueError):
    """A message catalogue that cannot be used (a bad file, a key defined twice)."""


@functools.cache
def catalogue(locale: str) -> dict[str, str]:
    """Every message of `locale`, from its files; CatalogueError names the file and key of a problem."""
    if locale not in LOCALES:
        raise CatalogueError(f"there is no catalogue for locale {locale!r} (the locales are {', '.join(LOCALES)})")
    merged: dict[str, str] = {}
    where: dict[str, str] = {}
    for path in sorted((CATALOGUES / locale).glob("*.json")):
        try:
            doc = json.loads(path.read_text("utf-8"), object_pairs_hook=_no_duplicates)
        except (OSError, ValueError) as exc:
            raise CatalogueError(f"{path}: {exc}") from None
        if not isinstance(doc, dict):
            raise CatalogueError(f"{path}: a catalogue file is one JSON object of key to text")
        for key, text in doc.items():
            if not isinstance(text, str):
                raise CatalogueError(f"{path}: {key!r} must be text")
            if key in merged:
                raise CatalogueError(f"{path}: {key!r} is defined already in {where[key]}")
            merged[key] = text
            where[key] = path.name
    return merged


def _no_duplicates(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for key, value in pairs:
        if key in out:
            raise ValueError(f"key {key!r} appears twice")
        out[key] = value
    return out
