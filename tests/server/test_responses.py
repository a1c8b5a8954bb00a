"""The one JSON writer (`server.responses`): orjson's bytes equal the standard encoder's, headers as documented."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient
from hypothesis import given
from hypothesis import strategies as st
from opentelemetry import trace as otel_trace

from auction_engine.server.responses import JSONAnswer, json_bytes, to_json

from .conftest import make_app

_STDLIB = json.JSONEncoder(
    separators=(",", ":"), ensure_ascii=False, default=lambda v: bytes(v).hex() if isinstance(v, bytes) else list(v)
)

# What answers hold: text (any valid Unicode), integers of any size, byte strings, containers; no floats.
_scalars = st.none() | st.booleans() | st.integers() | st.text() | st.binary(max_size=16)
_values = st.recursive(
    _scalars,
    lambda inner: (
        st.lists(inner, max_size=4)
        | st.tuples(inner, inner)
        | st.dictionaries(st.text(max_size=8) | st.integers(), inner, max_size=4)
    ),
    max_leaves=20,
)


@given(_values)
def test_json_bytes_are_the_standard_encoders_compact_utf8(value: Any) -> None:
    assert json_bytes(value) == _STDLIB.encode(value).encode("utf-8")
    assert to_json(value) == _STDLIB.encode(value)


def test_beyond_orjson_the_standard_encoder_writes_it() -> None:
    # orjson refuses integers beyond 64 bits and non-string keys: the same bytes come from the stdlib encoder
    assert json_bytes({"n": 2**70, 3: [1]}) == b'{"n":1180591620717411303424,"3":[1]}'


def test_answer_headers_status_and_body() -> None:
    answer = JSONAnswer({"ok": True, "名": "拍"}, 201, {"Idempotent-Replayed": "true"})
    assert answer.body == '{"ok":true,"名":"拍"}'.encode()
    assert answer.raw_headers == [
        (b"idempotent-replayed", b"true"),
        (b"content-length", str(len(answer.body)).encode()),
        (b"content-type", b"application/json"),
    ]
    sent: list[dict[str, Any]] = []

    async def send(message: dict[str, Any]) -> None:
        sent.append(message)

    async def receive() -> dict[str, Any]:  # pragma: no cover - a response never reads
        raise AssertionError

    asyncio.run(answer({"type": "http"}, receive, send))
    assert sent[0] == {"type": "http.response.start", "status": 201, "headers": answer.raw_headers}
    assert sent[1]["body"] == answer.body
    assert answer.headers["content-type"] == "application/json"


@pytest.mark.parametrize("telemetry", [False, True])
def test_telemetry_asks_the_providers_only_when_on(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, telemetry: bool
) -> None:
    # FastAPI's OpenTelemetry bridge asks the global providers on every request; off (the default), it never does
    asked: list[str] = []
    real = otel_trace.get_tracer_provider

    def counted() -> Any:
        asked.append("trace")
        return real()

    monkeypatch.setattr(otel_trace, "get_tracer_provider", counted)
    with TestClient(make_app(tmp_path / "ledger.db", telemetry=telemetry)) as client:
        assert client.get("/api/time").status_code == 200
    assert bool(asked) is telemetry
