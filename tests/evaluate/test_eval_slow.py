"""Long parity runs (``pytest -m slow``): a large tied run against pytrec_eval, and ranx."""

from __future__ import annotations

import numpy as np
import pytest
from _eval_oracle import TREC_NAMES, oracle, ours, same

from rankstack.data import Qrels, Run
from rankstack.evaluate import evaluate_per_query


def _large(n_q: int, depth: int, seed: int) -> tuple[Run, Qrels, dict, dict]:
    rng = np.random.default_rng(seed)
    qs, ds, ss, qq, qd, ql = [], [], [], [], [], []
    for i in range(n_q):
        docs = rng.choice(5 * depth, size=depth + 20, replace=False)
        judged = docs[:40]
        grades = rng.integers(-1, 4, size=40)
        grades[0] = max(grades[0], 0)
        qq += [f"q{i}"] * 40
        qd += [f"d{x}" for x in judged]
        ql += grades.tolist()
        ret = docs[20:]
        qs += [f"q{i}"] * depth
        ds += [f"d{x}" for x in ret]
        ss += (rng.integers(0, depth // 4, size=depth) / 8).tolist()  # many ties
    run = Run.from_arrays(qs, ds, ss)
    qrels = Qrels.from_arrays(qq, qd, ql)
    run_d = {q: dict(zip(d.to_pylist(), s.tolist())) for q, d, s in run}
    return run, qrels, run_d, qrels.to_dict()


@pytest.mark.slow
@pytest.mark.parametrize("rel", [1, 2])
def test_large_tied_run_equals_trec_eval(rel: int) -> None:
    run, qrels, run_d, qrels_d = _large(2000, 1000, seed=rel)
    expected = oracle(qrels_d, run_d, TREC_NAMES, rel=rel)
    measures = [ours(n, False) for n in TREC_NAMES]
    got = evaluate_per_query(run, qrels, measures, rel=rel)
    assert got.qids == sorted(expected)
    for n, m in zip(TREC_NAMES, measures):
        v = got.values[str(m)]
        bad = [q for i, q in enumerate(got.qids) if not same(v[i], expected[q][n])]
        assert not bad, (n, bad[:3])


@pytest.mark.slow
def test_exp_log2_and_linear_ndcg_against_ranx() -> None:
    """ranx's ndcg / ndcg_burges on distinct scores: equal within 1e-12 (ranx sums in the same
    order but is a different implementation, so ``==`` is not promised)."""
    import ranx

    rng = np.random.default_rng(5)
    qrels_d = {f"q{i}": {f"d{j}": int(rng.integers(0, 4)) for j in range(30)} for i in range(300)}
    run_d = {}
    for q in qrels_d:
        perm = rng.permutation(60)
        run_d[q] = {f"d{j}": float(perm[j]) for j in range(60)}
    rows = [(q, d, s) for q, docs in run_d.items() for d, s in docs.items()]
    run = Run.from_arrays([r[0] for r in rows], [r[1] for r in rows], [r[2] for r in rows])
    qrels = Qrels.from_dict(qrels_d)
    names = {"nDCG@10": "ndcg@10", "nDCG(dcg='exp-log2')@10": "ndcg_burges@10", "nDCG": "ndcg"}
    got = evaluate_per_query(run, qrels, list(names))
    rx_run, rx_qrels = ranx.Run(run_d), ranx.Qrels(qrels_d)
    ranx.evaluate(rx_qrels, rx_run, list(names.values()))
    for ours_name, rx_name in names.items():
        theirs = np.array([rx_run.scores[rx_name][q] for q in got.qids])
        np.testing.assert_allclose(got.values[ours_name], theirs, rtol=0, atol=1e-12)
