"""Suite-wide pytest setup: the `--run-slow` switch and the locations of the repository and shared/."""

from __future__ import annotations

from pathlib import Path

import pytest

REPO_ROOT = Path(__file__).resolve().parent.parent
SLOW_HINT = "slow test: run with `pytest -m slow --run-slow` (or `make soak`)"


def pytest_addoption(parser: pytest.Parser) -> None:
    parser.addoption("--run-slow", action="store_true", default=False, help="also run tests marked slow")


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    if config.getoption("--run-slow"):
        return
    skip = pytest.mark.skip(reason=SLOW_HINT)
    for item in items:
        if "slow" in item.keywords:
            item.add_marker(skip)


@pytest.fixture(scope="session")
def repo_root() -> Path:
    """The repository checkout (the directory holding pyproject.toml)."""
    return REPO_ROOT


@pytest.fixture(scope="session")
def shared_dir(repo_root: Path) -> Path:
    """The project's shared/ directory, which sits beside the checkout (skip if it is absent)."""
    shared = repo_root.parent / "shared"
    if not shared.is_dir():
        pytest.skip(f"{shared} is absent: the public test vectors live there, beside the checkout")
    return shared
