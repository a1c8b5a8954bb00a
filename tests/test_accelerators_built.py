"""Where this machine can build the optional C accelerators, the install has built them.

setup.py marks them optional, so an extension that stops compiling is only a warning in the install's
log; the pure-Python path then runs everywhere, every native test skips as "not built", and the
suite passes, slower. This test makes that a failure wherever a compiler and the headers exist.
"""

from __future__ import annotations

import importlib
import shutil
import sysconfig
from pathlib import Path

import pytest

EXTENSIONS = {  # module -> the library headers it needs besides Python's
    "ledger._speedups": "openssl/sha.h",
}


def _missing(header: str | None) -> str | None:
    """What this machine lacks to build an extension needing `header`, or None if nothing."""
    compiler = (sysconfig.get_config_var("CC") or "cc").split()[0]
    if shutil.which(compiler) is None:
        return f"no C compiler ({compiler})"
    python_include = Path(sysconfig.get_paths()["include"])
    if not (python_include / "Python.h").exists():
        return f"no Python headers ({python_include / 'Python.h'})"
    if header is not None:
        dirs = [python_include, Path("/usr/include"), Path("/usr/local/include")]
        multiarch = sysconfig.get_config_var("MULTIARCH")
        if multiarch:
            dirs.append(Path("/usr/include") / multiarch)
        if not any((d / header).exists() for d in dirs):
            return f"no {header} (the OpenSSL development headers)"
    return None


@pytest.mark.parametrize("module", sorted(EXTENSIONS))
def test_accelerator_is_built_where_it_can_be(module: str) -> None:
    missing = _missing(EXTENSIONS[module])
    if missing is not None:
        pytest.skip(f"{module} cannot be built on this machine: {missing}")
    try:
        importlib.import_module(module)
    except ImportError as exc:
        pytest.fail(f"{module} is not built although this machine can build it (see the install's log): {exc}")
    from ledger import _accel

    assert _accel.available(), _accel.why_unavailable()  # not an older build that lacks a kernel
