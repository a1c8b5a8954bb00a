"""The switch between the kernel modules: chosen once, at import, by LEDGER_PURE_PYTHON and the build."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest

from ledger import _accel

PROBE = (
    "from ledger import _accel, _kernels, canonical, merkle, audit;"
    "print(_accel.kernels.__name__, _accel.active(), canonical._encode_value is _accel.kernels.encode_value,"
    " merkle.inclusion_root is _accel.kernels.inclusion_root, audit._check_clean_chunk is _accel.kernels.check_chunk);"
    "print(_accel.describe())"
)


def probe(pure: str | None) -> list[str]:
    env = {k: v for k, v in os.environ.items() if k != "LEDGER_PURE_PYTHON"}
    if pure is not None:
        env["LEDGER_PURE_PYTHON"] = pure
    done = subprocess.run([sys.executable, "-c", PROBE], env=env, capture_output=True, text=True, check=True)
    return done.stdout.splitlines()


@pytest.mark.parametrize("value", ["1", "yes"])
def test_ledger_pure_python_forces_the_pure_kernels_everywhere(value: str) -> None:
    names, description = probe(value)
    assert names == "ledger._kernels False True True True"
    assert description == "pure Python (LEDGER_PURE_PYTHON is set)"


@pytest.mark.parametrize("value", [None, "", "0"])
def test_otherwise_the_native_kernels_run_where_they_are_built(value: str | None) -> None:
    names, description = probe(value)
    if not _accel.available():
        assert names == "ledger._kernels False True True True" and _accel.why_unavailable() in description
    else:
        assert names == "ledger._speedups True True True True"
        assert description == "native kernels (ledger/_speedups.c)"


def test_the_modules_have_the_same_functions() -> None:
    from ledger import _kernels

    native = pytest.importorskip("ledger._speedups")
    public = {name for name in dir(native) if not name.startswith("_")}
    assert public == set(_kernels.__all__)
