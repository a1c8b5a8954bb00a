"""Which byte kernels the ledger runs: the C extension `ledger._speedups` or its pure-Python twin.

Chosen once, when the ledger is imported, the way msgpack chooses its extension: the native module if
it is built and LEDGER_PURE_PYTHON is not set (to anything but '' or '0'), else `ledger._kernels`. The
two modules have the same functions with the same signatures and results (see `ledger._kernels`), so
nothing else depends on the choice. The extension is built by `pip install` where a C compiler and
OpenSSL's headers are present, and silently left out where not.
"""

from __future__ import annotations

import os
from types import ModuleType

__all__ = ["active", "available", "describe", "forced_pure", "kernels", "why_unavailable"]

_forced_pure = os.environ.get("LEDGER_PURE_PYTHON", "") not in ("", "0")
try:
    from . import _speedups as _native
except ImportError as exc:
    _native = None
    _missing = (
        f"the C extension ledger._speedups is not built ({exc}); it needs a C compiler and OpenSSL's"
        " headers (libssl-dev) when the package is installed"
    )
else:
    from . import _kernels

    _lacking = sorted(set(_kernels.__all__).difference(dir(_native)))
    _missing = (
        f"the C extension {_native.__file__} is an older build without {', '.join(_lacking)};"
        " rebuild it (pip install -e .) and delete the older file"
        if _lacking
        else ""
    )
    if _lacking:
        _native = None

if _native is not None and not _forced_pure:
    kernels: ModuleType = _native
else:
    from . import _kernels as kernels


def available() -> bool:
    """Whether the extension is built and importable (whatever LEDGER_PURE_PYTHON says)."""
    return _native is not None


def forced_pure() -> bool:
    """Whether LEDGER_PURE_PYTHON was set (to anything but '' or '0') when the ledger was imported."""
    return _forced_pure


def why_unavailable() -> str:
    """Why the extension cannot be used ('' if it can)."""
    return _missing


def active() -> bool:
    """Whether the ledger runs the native kernels."""
    return kernels is _native


def describe() -> str:
    """Which kernels the ledger runs, for a benchmark's report: the native ones, or pure Python and why."""
    if active():
        return "native kernels (ledger/_speedups.c)"
    return "pure Python (" + ("LEDGER_PURE_PYTHON is set" if _forced_pure else _missing) + ")"
