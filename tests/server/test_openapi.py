"""The OpenAPI document and the routes agree: every body route documents 413, a 405 lists every method."""

from __future__ import annotations

from .conftest import Market


def test_every_route_that_takes_a_body_documents_the_size_limit(market: Market) -> None:
    doc = market.client.get("/openapi.json").json()
    with_body = [(path, method) for path, ops in doc["paths"].items() for method in ops if method in ("post", "put")]
    assert len(with_body) > 20
    for path, method in with_body:
        responses = doc["paths"][path][method]["responses"]
        assert "413" in responses, f"{method.upper()} {path} does not document 413"
        assert responses["413"]["content"]["application/json"]["schema"] == {"$ref": "#/components/schemas/Problem"}


def test_a_method_not_allowed_lists_every_method_of_the_path(market: Market) -> None:
    for path, allow in [
        ("/api/lots", "GET, POST"),
        ("/api/certificates/ZJ-1", "GET, POST"),
        ("/api/time", "GET"),
        ("/openapi.json", "GET, HEAD"),
        ("/console", "GET"),
    ]:
        r = market.client.delete(path, headers=market.op)
        assert r.status_code == 405 and r.headers["allow"] == allow, (path, r.status_code, r.headers)
        body = r.json()
        assert body["code"] == "method_not_allowed" and body["message"] == f"DELETE is not allowed on {path}"
