"""Hybrid: fusion through rankstack.retrieve.fusion, alpha fitted on the training queries."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from rankstack.data import Corpus, Qrels, Queries, Run
from rankstack.dense import BiEncoder, Hybrid
from rankstack.evaluate import evaluate
from rankstack.exceptions import DataError, NotFittedError
from rankstack.pipeline import Precomputed, clone
from rankstack.retrieve import BM25
from rankstack.retrieve.fusion import fuse_runs


def _runs(seed: int = 0, nq: int = 12, nd: int = 30) -> tuple[Queries, Run, Run, Qrels]:
    rng = np.random.default_rng(seed)
    qids = [f"q{i}" for i in range(nq)]
    queries = Queries.from_arrays(qids, [f"text {i}" for i in range(nq)])
    rows_q, rows_d, sa, sb, jq, jd = [], [], [], [], [], []
    for q in qids:
        rel = rng.choice(nd, size=2, replace=False)
        jq += [q, q]
        jd += [f"d{r}" for r in rel]
        for d in range(nd):
            rows_q.append(q)
            rows_d.append(f"d{d}")
            bonus = 1.0 if d in rel else 0.0
            sa.append(rng.normal() + 1.2 * bonus)  # two noisy views of relevance
            sb.append(rng.normal() + 1.2 * bonus)
    a = Run.from_arrays(rows_q, rows_d, sa)
    b = Run.from_arrays(rows_q, rows_d, np.array(sb) * 10 + 3)  # another scale
    return queries, a, b, Qrels.from_arrays(jq, jd, [1] * len(jq))


def test_fit_picks_the_alpha_maximising_train_ndcg() -> None:
    queries, a, b, qrels = _runs()
    hybrid = Hybrid(Precomputed(a), Precomputed(b), grid=[0.0, 0.1, 0.3, 0.5, 0.7, 0.9, 1.0])
    assert not hybrid.is_fitted
    with pytest.raises(NotFittedError, match=r"\.fit\(train_queries, train_qrels\)"):
        hybrid.transform(queries)
    assert hybrid.fit(queries, qrels) is hybrid and hybrid.is_fitted
    by_hand = {
        alpha: evaluate(fuse_runs([a, b], "interpolate", alpha=alpha), qrels, ["nDCG@10"])[
            "nDCG@10"
        ]
        for alpha in hybrid.grid or []
    }
    assert hybrid.fit_scores_ == pytest.approx(by_hand)
    best = max(by_hand.values())
    assert hybrid.alpha_ == min(a for a, v in by_hand.items() if v == best)
    assert 0.0 < hybrid.alpha_ < 1.0  # both views help here
    out = hybrid.transform(queries)
    assert out.equals(fuse_runs([a, b], "interpolate", alpha=hybrid.alpha_))
    assert out.metadata["alpha"] == hybrid.alpha_


def test_fit_on_train_applies_to_test() -> None:
    queries, a, b, qrels = _runs(seed=1, nq=20)
    train_q = queries.select([f"q{i}" for i in range(10)])
    test_q = queries.select([f"q{i}" for i in range(10, 20)])
    hybrid = Hybrid(Precomputed(a), Precomputed(b)).fit(train_q, qrels)
    out = hybrid.transform(test_q)
    assert out.qid_list() == test_q.qid_list()
    ref = fuse_runs(
        [a.select(test_q.qids), b.select(test_q.qids)], "interpolate", alpha=hybrid.alpha_
    )
    assert out.equals(ref)


def test_rrf_and_fixed_alpha_need_no_fit() -> None:
    queries, a, b, qrels = _runs()
    rrf = Hybrid(Precomputed(a), Precomputed(b), method="rrf")
    assert rrf.is_fitted and rrf.transform(queries).equals(fuse_runs([a, b], "rrf"))
    fixed = Hybrid(Precomputed(a), Precomputed(b), alpha=0.25, norm="zscore")
    fixed.fit(queries, qrels)  # nothing to learn
    assert fixed.alpha_ is None
    want = fuse_runs([a, b], "interpolate", norm="zscore", alpha=0.25)
    assert fixed.transform(queries).equals(want)


def test_clone_is_unfitted_and_params_round_trip() -> None:
    queries, a, b, qrels = _runs()
    hybrid = Hybrid(Precomputed(a), Precomputed(b), depth=10).fit(queries, qrels)
    copy = clone(hybrid)
    assert isinstance(copy, Hybrid) and not copy.is_fitted and copy.depth == 10
    assert set(hybrid.get_params()) >= {"sparse", "dense", "method", "alpha", "grid"}


@pytest.mark.parametrize(
    "kwargs, match",
    [
        ({"method": "combmnz"}, "method"),
        ({"norm": "l2"}, "norm"),
        ({"alpha": 1.5}, "alpha"),
        ({"grid": []}, "grid"),
        ({"grid": [0.2, 2.0]}, "grid"),
    ],
)
def test_bad_parameters(kwargs: dict[str, object], match: str) -> None:
    _, a, b, _ = _runs()
    with pytest.raises(DataError, match=match):
        Hybrid(Precomputed(a), Precomputed(b), **kwargs)  # type: ignore[arg-type]


def test_bm25_plus_tiny_bi_encoder(tiny_model: Path, corpus: Corpus) -> None:
    queries = Queries.from_arrays(
        ["q1", "q2", "q3", "q4"],
        ["cancer cells", "heart disease risk", "immune virus", "gene expression"],
    )
    qrels = Qrels.from_arrays(["q1", "q2", "q3", "q4"], ["d001", "d002", "d003", "d004"], [1] * 4)
    bm25 = BM25.from_corpus(corpus, k=20)
    dense = BiEncoder(str(tiny_model), corpus=corpus, k=20, progress=False)
    hybrid = Hybrid(bm25, dense).fit(queries, qrels)
    assert hybrid.alpha_ is not None
    run = hybrid.transform(queries)
    assert set(run.qid_list()) == set(queries.qid_list())
    best = max(hybrid.fit_scores_.values())
    assert evaluate(run, qrels, ["nDCG@10"])["nDCG@10"] == pytest.approx(best)
    assert hybrid.is_retriever
