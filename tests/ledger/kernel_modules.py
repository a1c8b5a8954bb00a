"""The two kernel modules side by side, for the differential tests: the native one (skipped where it is
not built; tests/test_accelerators_built.py fails where it could be) and its pure-Python twin."""

from __future__ import annotations

import importlib
from types import ModuleType
from typing import Any

import pytest
from hypothesis import HealthCheck, settings

from ledger import _kernels

SETTINGS = settings(
    max_examples=400,
    derandomize=True,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.large_base_example, HealthCheck.data_too_large],
)


def native_kernels() -> ModuleType:
    """ledger._speedups, imported whatever LEDGER_PURE_PYTHON says; the calling test module skips without it."""
    try:
        return importlib.import_module("ledger._speedups")
    except ImportError as exc:
        pytest.skip(f"the native kernels are not built: {exc}", allow_module_level=True)
        raise


pure = _kernels


def outcome(fn: Any, *args: Any) -> tuple[str, Any]:
    """What a call gives: ("value", its result), or ("error", the exception's class) for a ValueError or a
    TypeError (the kernels' protocol: the class is the same on both sides, the message is not)."""
    try:
        return "value", fn(*args)
    except ValueError:
        return "error", ValueError
    except TypeError:
        return "error", TypeError


def same(fn_name: str, native: ModuleType, *args: Any) -> tuple[str, Any]:
    """Call kernel `fn_name` of both modules; assert that they answer alike; return the answer."""
    want = outcome(getattr(pure, fn_name), *args)
    got = outcome(getattr(native, fn_name), *args)
    assert got == want, (fn_name, args)
    return want
