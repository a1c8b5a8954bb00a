"""Every page script parses (node --check), and every script a page loads exists."""

from __future__ import annotations

import re
import shutil
import subprocess

import pytest

from auction_engine.server.routes.pages import PAGES

SCRIPTS = sorted(PAGES.glob("*.js"))


@pytest.mark.parametrize("script", [p.name for p in SCRIPTS])
def test_a_page_script_parses(script: str) -> None:
    node = shutil.which("node")
    if node is None:
        pytest.skip("Node.js is not installed: the page scripts are checked with `node --check`")
    done = subprocess.run([node, "--check", str(PAGES / script)], capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr


@pytest.mark.parametrize("page", [p.name for p in sorted(PAGES.glob("*.html"))])
def test_every_script_a_page_loads_is_there(page: str) -> None:
    for src in re.findall(r'<script src="/static/([^"]+)"', (PAGES / page).read_text("utf-8")):
        if src.startswith("vendor/node_modules/"):
            continue  # installed by scripts/install-js.sh; a page works without it (the slip then has no QR)
        assert (PAGES / src).is_file(), f"{page} loads /static/{src}, which is not in {PAGES}"
