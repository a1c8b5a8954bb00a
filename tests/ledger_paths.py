"""The ledger's two paths as a test fixture: every test of a directory whose conftest imports
`ledger_path` runs twice, on pure Python and on the optional native accelerator (ledger/_accel.py)."""

from __future__ import annotations

from collections.abc import Iterator

import pytest


@pytest.fixture(scope="module", autouse=True, params=["pure", "native"])
def ledger_path(request: pytest.FixtureRequest) -> Iterator[str]:
    """Run every test here on both ledger paths: pure Python, and the optional native accelerator.

    The native half skips, saying why, where the C extension is not built (or LEDGER_PURE_PYTHON is
    set). The environment variable is set for the pure half so that subprocesses take it too.
    """
    from ledger import _accel

    native = request.param == "native"
    if native and not _accel.available():
        pytest.skip(f"native ledger path not tested: {_accel.why_unavailable()}")
    if native and _accel.forced_pure():
        pytest.skip("native ledger path not tested: LEDGER_PURE_PYTHON is set")
    before = _accel.active()
    with pytest.MonkeyPatch.context() as mp:
        if native:
            mp.delenv("LEDGER_PURE_PYTHON", raising=False)
        else:
            mp.setenv("LEDGER_PURE_PYTHON", "1")
        _accel.use(native)
        try:
            yield request.param
        finally:
            _accel.use(before)
