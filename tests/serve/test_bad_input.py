"""Bad requests get a 4xx with a clear JSON message, never a traceback; the service goes on."""

from __future__ import annotations

import json
from collections.abc import Iterator

import pytest
from fastapi.testclient import TestClient

from rankstack.serve import Limits, ServeConfig, create_app

from .conftest import Served

JSON = {"content-type": "application/json"}


@pytest.fixture(scope="module")
def client(served: Served) -> Iterator[TestClient]:
    limits = Limits(max_query_chars=200, max_k=100, max_rerank_depth=300, max_candidates=5)
    config = ServeConfig.from_args(
        [f"ltr={served.ltr}", f"bm25={served.bm25}"], corpus=str(served.corpus_file), limits=limits
    )
    with TestClient(create_app(config), client=("127.0.0.1", 50000)) as c:
        yield c


def _ok_after(client: TestClient) -> None:
    r = client.post("/search", json={"query": "ocean reef", "k": 3})
    assert r.status_code == 200 and len(r.json()["results"]) == 3


def _no_traceback(text: str) -> None:
    assert "Traceback" not in text and 'File "' not in text and ".py" not in text


SEARCH_CASES = [
    # (body bytes, status, words the message must hold)
    (b'{"query": "reef", "k": -1}', 422, "k must be between 1 and 100, found -1"),
    (b'{"query": "reef", "k": 0}', 422, "k must be between 1 and 100, found 0"),
    (b'{"query": "reef", "k": 101}', 422, "k must be between 1 and 100, found 101"),
    (b'{"query": "reef", "k": 1' + b"0" * 40 + b"}", 422, "k must be between 1 and 100"),
    (b'{"query": "reef", "k": "10"}', 422, "k: Input should be a valid integer"),
    (b'{"query": "reef", "k": 2.5}', 422, "k: Input should be a valid integer"),
    (b'{"query": "reef", "k": true}', 422, "k: Input should be a valid integer"),
    (b'{"query": "reef", "rerank_depth": 0}', 422, "rerank_depth must be between 1 and 300"),
    (b'{"query": "reef", "rerank_depth": 5000}', 422, "rerank_depth must be between 1 and 300"),
    (b'{"query": "reef", "pipeline": "nope"}', 404, "unknown pipeline 'nope'; served: bm25, ltr"),
    (b'{"query": "reef", "pipeline": "../../etc/passwd"}', 404, "unknown pipeline"),
    (
        b'{"query": "' + b"a" * 201 + b'"}',
        422,
        "query is too long: 201 characters, the limit is 200",
    ),
    (b'{"query": "   "}', 422, "query is empty"),
    (b'{"query": 5}', 422, "query: Input should be a valid string"),
    (b'{"k": 5}', 422, "query: Field required"),
    (b'{"query": "reef", "colour": "red"}', 422, "colour: Extra inputs are not permitted"),
    (b'{"query": "\\ud800 reef"}', 422, "query is not valid UTF-8 text"),
    (b'{"query": "\xff\xfe reef"}', 400, "UTF-8"),
    (b'{"query": "caf\xe9"}', 400, "UTF-8"),
    (b'{"query": "reef"', 400, "the body is not valid JSON"),
    (b"{bad json}", 400, "the body is not valid JSON"),
    (b"", 422, "the body is missing"),
    (b"[1, 2]", 422, "valid dictionary"),
    (b"null", 422, "body"),
    (b'"just a string"', 422, "valid dictionary"),
]


@pytest.mark.parametrize(("body", "status", "message"), SEARCH_CASES)
def test_bad_search_requests(client: TestClient, body: bytes, status: int, message: str) -> None:
    r = client.post("/search", content=body, headers=JSON)
    assert r.status_code == status, r.text
    assert r.headers["content-type"].startswith("application/json")
    assert message in r.json()["error"]
    _no_traceback(r.text)
    _ok_after(client)


def test_oversized_body_is_refused_before_parsing(client: TestClient) -> None:
    body = json.dumps({"query": "reef " * 10_000}).encode()
    r = client.post("/search", content=body, headers=JSON)
    assert r.status_code == 413
    assert "request body too large" in r.json()["error"] and "16384" in r.json()["error"]
    _ok_after(client)


def test_oversized_chunked_body_is_refused(client: TestClient) -> None:
    def chunks() -> Iterator[bytes]:
        yield b'{"query": "'
        for _ in range(100):
            yield b"reef " * 100
        yield b'"}'

    r = client.post("/search", content=chunks(), headers=JSON)
    assert r.status_code == 413 and "more than 16384" in r.json()["error"]
    _ok_after(client)


RERANK_CASES = [
    ({"query": "reef", "candidates": []}, 422, "number of candidates must be between 1 and 5"),
    (
        {"query": "reef", "candidates": [{"id": str(i), "text": "x"} for i in range(6)]},
        422,
        "number of candidates must be between 1 and 5, found 6",
    ),
    ({"query": "reef", "candidates": [{"id": "a"}]}, 422, "candidates.0.text: Field required"),
    ({"query": "reef", "candidates": [{"id": "a", "text": "x"}], "k": -3}, 422, "k must be"),
    (
        {"query": "reef", "candidates": [{"id": "a", "text": "x" * 100_001}]},
        422,
        "candidate 'a' is longer than 100000 characters",
    ),
    (
        {"query": "reef", "candidates": [{"id": "a", "text": "x"}], "pipeline": "zz"},
        404,
        "unknown pipeline 'zz'",
    ),
]


@pytest.mark.parametrize(("body", "status", "message"), RERANK_CASES)
def test_bad_rerank_requests(client: TestClient, body: dict, status: int, message: str) -> None:
    r = client.post("/rerank", json=body)
    assert r.status_code == status, r.text
    assert message in r.json()["error"]
    _no_traceback(r.text)
    _ok_after(client)


def test_unknown_paths_and_methods(client: TestClient) -> None:
    r = client.get("/nope")
    assert r.status_code == 404 and r.json() == {"error": "Not Found"}
    r = client.get("/search")
    assert r.status_code == 405 and "Method Not Allowed" in r.json()["error"]


def test_a_bug_answers_500_without_details(served: Served) -> None:
    config = ServeConfig.from_args([str(served.bm25)])
    app = create_app(config)
    snap = app.state.registry.current
    pipe = next(iter(snap.pipelines.values()))

    def broken(*_a: object, **_k: object) -> None:
        raise RuntimeError("secret internal detail at /some/path.py")

    pipe.search = broken  # type: ignore[method-assign]
    with TestClient(app, raise_server_exceptions=False) as c:
        r = c.post("/search", json={"query": "reef"})
        assert r.status_code == 500
        assert r.json() == {"error": "internal error; the details are in the service log"}
        assert c.get("/health").status_code == 200
