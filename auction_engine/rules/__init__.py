"""The pricing modes, one module each, as pure rules (see `base` for the contract)."""

from __future__ import annotations

from .base import Ctx, Lot, Mode, Ranked
from .english import MODE as ENGLISH

__all__ = ["MODES", "Ctx", "Lot", "Mode", "Ranked"]

MODES: dict[str, Mode] = {ENGLISH.name: ENGLISH}


def _register_optional() -> None:
    """Register the modes whose modules exist (they are added one by one)."""
    import importlib

    for name in ("dutch", "sealed", "listing", "agreement"):
        try:
            module = importlib.import_module(f"{__name__}.{name}")
        except ModuleNotFoundError as exc:
            if exc.name != f"{__name__}.{name}":
                raise
            continue
        MODES[module.MODE.name] = module.MODE


_register_optional()
