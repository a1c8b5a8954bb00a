"""Which ledger kernels a test session runs, as a fixture for the tests that name the path they ran on.

The kernels are chosen once, when the ledger is imported (ledger/_accel.py): the native ones if built,
pure Python with LEDGER_PURE_PYTHON=1. `make test` runs the whole suite, then the ledger, store and
certificate tests again with LEDGER_PURE_PYTHON=1 in a second process; `make test-pure` runs the whole
suite on pure Python. Differential tests of the two kernel modules are in tests/ledger/test_kernels.py.
"""

from __future__ import annotations

import pytest


@pytest.fixture(scope="session")
def ledger_path() -> str:
    """'native' or 'pure': the kernels this session's ledger runs (for names of per-path resources)."""
    from ledger import _accel

    return "native" if _accel.active() else "pure"
