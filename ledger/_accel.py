"""The optional native accelerator (`ledger/_speedups.c`) and the switch between it and pure Python.

The C extension is built by `pip install` where a C compiler and OpenSSL's headers are present,
and silently left out where not. Pure Python stays the reference: every native function only
answers "clean" (with its result) or "not clean" (None), and on "not clean" the Python code runs
and produces every error message and problem report. `LEDGER_PURE_PYTHON=1` in the environment
forces the pure-Python path; `use(False)` / `use(True)` switch at run time (the tests run both).
"""

from __future__ import annotations

import importlib
import os
from types import ModuleType

__all__ = ["active", "available", "describe", "forced_pure", "use", "why_unavailable"]


def _load() -> tuple[ModuleType | None, str]:
    try:
        _speedups = importlib.import_module(f"{__package__}._speedups")
    except ImportError as exc:
        return None, (
            f"the C extension ledger._speedups is not built ({exc}); it needs a C compiler and OpenSSL's"
            " headers (libssl-dev) when the package is installed"
        )
    return _speedups, ""


_speedups, _missing = _load()
_forced_pure = os.environ.get("LEDGER_PURE_PYTHON", "") not in ("", "0")
native: ModuleType | None = None if _forced_pure else _speedups


def speedups() -> ModuleType | None:
    """The built accelerator module, switched on or not (None if not built): for native code elsewhere
    (the engine's bid path) that takes its functions once and checks the switch on every call."""
    return _speedups


def available() -> bool:
    """Whether the extension is built and importable (whatever the switch says)."""
    return _speedups is not None


def forced_pure() -> bool:
    """Whether LEDGER_PURE_PYTHON was set (to anything but '' or '0') when the ledger was imported."""
    return _forced_pure


def why_unavailable() -> str:
    """Why the extension cannot be used ('' if it can)."""
    return _missing


def active() -> bool:
    """Whether the ledger is using the native path now."""
    return native is not None


def describe() -> str:
    """Which ledger code runs now, for a benchmark's report: the accelerator, or pure Python and why."""
    if active():
        return "native accelerator (ledger/_speedups.c)"
    return "pure Python (" + ("LEDGER_PURE_PYTHON is set" if _forced_pure else _missing or "switched off") + ")"


def use(enabled: bool) -> None:
    """Switch every ledger module to the native path (if built) or to pure Python."""
    global native
    if enabled and _speedups is None:
        raise RuntimeError(_missing)
    native = _speedups if enabled else None
    from . import audit, canonical, certificate, log, merkle

    for module in (canonical, merkle, log, audit, certificate):
        module._bind(native)
