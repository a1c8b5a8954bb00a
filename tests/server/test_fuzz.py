"""A schema-driven fuzz run against the server's own OpenAPI document: no input ever gives a server error.

Schemathesis generates requests for every operation from the OpenAPI document (valid and invalid
bodies, paths, query parameters and headers) and sends them to a real server, as the operator and
as a bidder. Every answer must be a non-5xx with the content type the document declares; then the
server is killed (-9) and restarted on what the fuzz wrote, and `ledger verify` must pass.
"""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, settings

from .conftest import OP_TOKEN, LiveServer, english, http_json, signer

schemathesis = pytest.importorskip("schemathesis", reason="schemathesis is not installed: pip install -e '.[test]'")
checks = pytest.importorskip("schemathesis.checks")

EXAMPLES = int(os.environ.get("FUZZ_EXAMPLES", "25"))
_server: dict[str, Any] = {}


@pytest.fixture(scope="module")
def fuzz_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveServer]:
    server = LiveServer(Path(tmp_path_factory.mktemp("fuzz")))
    server.start()
    url = server.url
    http_json("POST", f"{url}/api/lots", {"lot": "L1", "mode": "english", "params": english()})
    _, body = http_json("POST", f"{url}/api/bidders", {"bidder": "fuzzer"})
    http_json("POST", f"{url}/api/lots/L1/deposits", {"party": "fuzzer", "amount": 1000})
    _server["bidder"] = body["token"]
    try:
        yield server
        errors = server.stderr()
        server.kill()  # kill -9 after the fuzz: whatever it wrote must restart and verify
        server.start()
        assert http_json("GET", f"{server.url}/api/market")[0] == 200
        server.stop()
        _verify(server)
    finally:
        server.stop()
        _server.clear()
    assert "Traceback" not in errors, errors[-3000:]


def _verify(server: LiveServer) -> None:
    """`auction-engine ledger verify` on the fuzzed ledger: it must pass (exit 0)."""
    vkey = signer().verifier.encode()
    done = subprocess.run(
        [sys.executable, "-m", "auction_engine", "ledger", "verify", str(server.db), "--vkey", vkey],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 0, done.stdout + done.stderr


def _fuzz(url: str, token: str, examples: int) -> int:
    """Run every operation of the server's OpenAPI document through generated cases; return how many ran."""
    from hypothesis import given

    api = schemathesis.openapi.from_url(f"{url}/openapi.json")
    calls = 0
    for result in api.get_all_operations():
        operation = result.ok()

        @given(case=operation.as_strategy())
        @settings(max_examples=examples, deadline=None, suppress_health_check=list(HealthCheck), derandomize=True)
        def run(case: Any) -> None:
            nonlocal calls
            calls += 1
            case.call_and_validate(
                headers={"Authorization": f"Bearer {token}"},
                checks=[checks.not_a_server_error, checks.content_type_conformance],
            )

        run()
    return calls


def test_no_server_errors_as_operator(fuzz_server: LiveServer) -> None:
    assert _fuzz(fuzz_server.url, OP_TOKEN, EXAMPLES) > 200


def test_no_server_errors_as_bidder(fuzz_server: LiveServer) -> None:
    assert _fuzz(fuzz_server.url, _server["bidder"], max(5, EXAMPLES // 3)) > 100


@pytest.mark.slow
def test_no_server_errors_long_run(fuzz_server: LiveServer) -> None:
    as_operator = _fuzz(fuzz_server.url, OP_TOKEN, 300)
    as_bidder = _fuzz(fuzz_server.url, _server["bidder"], 100)
    print(f"\nfuzz soak: {as_operator} requests as the operator, {as_bidder} as a bidder, no 5xx", file=sys.stderr)
    assert as_operator > 3000 and as_bidder > 1000
