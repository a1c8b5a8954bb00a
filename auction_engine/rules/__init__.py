"""The pricing modes, one module each, as pure rules (see `base` for the contract)."""

from __future__ import annotations

from . import agreement, dutch, english, listing, sealed
from .base import Ctx, Lot, Mode, Ranked

__all__ = ["MODES", "Ctx", "Lot", "Mode", "Ranked"]

MODES: dict[str, Mode] = {module.MODE.name: module.MODE for module in (english, dutch, sealed, listing, agreement)}
"""Every pricing mode by name (settlement, which follows every mode, is `rules.settlement`)."""
