"""Every endpoint through FastAPI's TestClient: search, re-rank, health, pipelines, page, spec."""

from __future__ import annotations

import itertools
from collections.abc import Iterator
from typing import Any

import numpy as np
import pytest
from fastapi.testclient import TestClient

from rankstack.index import Index
from rankstack.serve import ServeConfig, create_app
from rankstack.serve.snippets import query_terms

from .conftest import Served


@pytest.fixture(scope="module")
def client(served: Served) -> Iterator[TestClient]:
    config = ServeConfig.from_args(
        [f"ltr={served.ltr}", f"bm25={served.bm25}"], corpus=str(served.corpus_file)
    )
    with TestClient(create_app(config), client=("127.0.0.1", 50000)) as c:
        yield c


def search(client: TestClient, **body: Any) -> dict[str, Any]:
    r = client.post("/search", json=body)
    assert r.status_code == 200, r.text
    out: dict[str, Any] = r.json()
    return out


def test_search_returns_ranked_results_with_stage_ranks(client: TestClient) -> None:
    out = search(client, query="ocean reef", k=5)
    assert out["pipeline"] == "ltr" and out["stages"] == ["bm25", "lambdamart"]
    assert out["candidates"] == 50  # the pipeline's own first-stage depth
    res = out["results"]
    assert [r["rank"] for r in res] == [1, 2, 3, 4, 5]
    assert all(a["score"] >= b["score"] for a, b in itertools.pairwise(res))
    for r in res:
        first, last = r["stages"]
        assert first["stage"] == "bm25" and 1 <= first["rank"] <= 50
        assert last == {"stage": "lambdamart", "rank": r["rank"], "score": r["score"]}


def test_first_stage_ranks_are_the_bm25_pipelines(client: TestClient) -> None:
    ltr = search(client, query="guitar melody", k=10)
    bm25 = search(client, query="guitar melody", k=50, pipeline="bm25")
    rank_of = {r["docid"]: (r["rank"], r["score"]) for r in bm25["results"]}
    for r in ltr["results"]:
        first = r["stages"][0]
        assert rank_of[r["docid"]] == (first["rank"], pytest.approx(first["score"]))


def test_rerank_depth_sets_the_candidates(client: TestClient) -> None:
    out = search(client, query="ocean reef", k=5, rerank_depth=7)
    assert out["candidates"] == 7
    assert all(r["stages"][0]["rank"] <= 7 for r in out["results"])
    assert len(search(client, query="ocean", k=20, rerank_depth=3)["results"]) == 3


def test_single_stage_pipeline_returns_k(client: TestClient) -> None:
    out = search(client, query="ocean study report method", k=150, pipeline="bm25")
    assert out["stages"] == ["bm25"] and len(out["results"]) == 150  # beyond its k=100


def test_snippets_highlight_query_terms(client: TestClient, served: Served) -> None:
    out = search(client, query="Whales and coral", k=10, pipeline="bm25")
    terms = set(query_terms(served.index, "Whales and coral").tolist())
    assert terms
    seen = 0
    for r in out["results"]:
        assert r["title"]
        for a, b in r["highlights"]:
            word = r["snippet"][a:b]
            ids = served.index.analyze_queries([word]).ids.tolist()
            assert ids and set(ids) <= terms, word
            seen += 1
    assert seen > 0
    bare = search(client, query="coral", k=3, snippets=False)
    assert all(r["snippet"] == "" and r["highlights"] == [] for r in bare["results"])


def test_stopword_only_query_gives_no_results(client: TestClient) -> None:
    out = search(client, query="the of and", k=5)
    assert out["results"] == [] and out["candidates"] == 0


@pytest.mark.parametrize("pipeline", ["ltr", "bm25"])
def test_rerank_of_index_documents_reproduces_search(
    client: TestClient, served: Served, pipeline: str
) -> None:
    """Texts of the documents re-ranked through the candidate view get the same first-stage
    and final scores as the documents searched in the index."""
    found = search(client, query="vaccine therapy cell", k=50, pipeline=pipeline, snippets=False)
    ids = [r["docid"] for r in found["results"]]
    rows = served.world.corpus.docid_list()
    pos = [rows.index(d) for d in ids]
    titles = served.world.corpus.field("title").to_pylist()
    texts = served.world.corpus.field("text").to_pylist()
    cands = [{"id": d, "text": texts[p], "title": titles[p]} for d, p in zip(ids, pos)]
    r = client.post(
        "/rerank", json={"query": "vaccine therapy cell", "candidates": cands, "pipeline": pipeline}
    )
    assert r.status_code == 200, r.text
    got = {x["id"]: x for x in r.json()["results"]}
    for want in found["results"]:
        mine = got[want["docid"]]
        assert mine["score"] == pytest.approx(want["score"], rel=1e-6)
        assert mine["stages"][0]["score"] == pytest.approx(want["stages"][0]["score"], rel=1e-6)


def test_rerank_scores_new_texts_and_cuts_to_k(client: TestClient) -> None:
    cands = [
        {"id": "a", "text": "a whale swims over the coral reef near the shore"},
        {"id": "b", "text": "the oven needs flour and butter"},
        {"id": "c", "text": "ocean ocean reef", "title": "Reef"},
    ]
    r = client.post("/rerank", json={"query": "coral reef", "candidates": cands, "k": 2})
    assert r.status_code == 200, r.text
    out = r.json()
    assert out["stages"] == ["bm25", "lambdamart"]
    assert len(out["results"]) == 2 and "b" not in {x["id"] for x in out["results"]}


def test_rerank_refuses_duplicate_ids(client: TestClient) -> None:
    cands = [{"id": "a", "text": "reef"}, {"id": "a", "text": "ocean"}]
    r = client.post("/rerank", json={"query": "reef", "candidates": cands})
    assert r.status_code == 422 and "unique" in r.json()["error"]


def test_health_and_pipelines(client: TestClient, served: Served) -> None:
    h = client.get("/health").json()
    assert h["status"] == "ok" and h["generation"] >= 1
    assert set(h["pipelines"]) == {"ltr", "bm25"}
    p = client.get("/pipelines").json()
    assert p["default"] == "ltr"
    info = {x["name"]: x for x in p["pipelines"]}
    assert info["ltr"]["stages"] == ["bm25", "features", "lambdamart"]
    assert info["ltr"]["rerank"] and info["ltr"]["default_depth"] == 50
    assert info["bm25"]["n_docs"] == served.index.n_docs
    assert info["bm25"]["documents"] == len(served.world.corpus)


def test_page_and_static_files(client: TestClient) -> None:
    page = client.get("/")
    assert page.status_code == 200 and "text/html" in page.headers["content-type"]
    assert "/static/search.js" in page.text
    js = client.get("/static/search.js")
    assert js.status_code == 200 and "innerHTML" not in js.text  # text nodes only
    assert client.get("/static/../app.py").status_code == 404


def test_openapi_is_served(client: TestClient) -> None:
    spec = client.get("/openapi.json").json()
    assert {"/search", "/rerank", "/health", "/metrics", "/admin/reload"} <= set(spec["paths"])


def test_index_view_keeps_collection_statistics(served: Served) -> None:
    from rankstack.serve.textview import candidate_index

    view = candidate_index(served.index, ["x", "y"], ["coral reef reef", ""], ["", ""])
    base = served.index.field()
    field = view.field()
    assert field.avgdl == base.avgdl and field.doc_count == base.doc_count
    assert np.array_equal(field.df, base.df)
    assert field.doclen.tolist() == [3, 0]
    assert isinstance(view, Index) and view.n_docs == 2
