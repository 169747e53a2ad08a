"""Parity with trec_eval (pytrec_eval) on real judgements: BEIR NFCorpus (graded 1/2) and SciFact.

Runs are BM25-like: each query's judged documents score by grade plus noise, mixed with
non-relevant documents drawn from other queries' judgements (so they are judged for some
other query but not this one), cut to 100, with some queries left out and some unjudged
queries added. Scores are multiples of 1/64 (exact in float32, as pytrec_eval stores them),
which leaves plenty of ties. The run goes through a TREC file and back. Comparison is ``==``.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from _eval_oracle import TREC_NAMES, oracle, ours, same

from rankstack.data import Qrels, Run
from rankstack.evaluate import evaluate, evaluate_per_query
from rankstack.io import read_qrels, read_run, write_run
from rankstack.io.beir import read_beir_qrels_tsv


def _load(datasets_dir: Path, name: str) -> Qrels:
    if name == "nfcorpus":
        return read_qrels(datasets_dir / "beir/nfcorpus/qrels.beir-v1.0.0-nfcorpus.test.txt")
    return read_beir_qrels_tsv(datasets_dir / "beir/scifact/qrels/test.tsv")


def _noisy_run(qrels: Qrels, seed: int) -> Run:
    rng = np.random.default_rng(seed)
    d = qrels.to_dict()
    pool = np.array(sorted({doc for docs in d.values() for doc in docs}))
    qs, ds, ss = [], [], []
    for q, docs in d.items():
        if rng.random() < 0.05:  # a judged query the run does not answer
            continue
        judged = [doc for doc in docs if rng.random() < 0.8]
        others = [x for x in rng.choice(pool, size=120, replace=False) if x not in docs]
        cand = judged + others
        score = np.array([d[q].get(x, 0) * 2.0 for x in cand]) + rng.normal(0, 1.5, len(cand))
        score = np.round(score * 64) / 64
        top = np.argsort(-score, kind="stable")[:100]
        qs += [q] * len(top)
        ds += [cand[i] for i in top]
        ss += score[top].tolist()
    for j in range(5):  # unjudged queries: skipped by trec_eval
        qs += [f"unjudged-{j}"] * 3
        ds += ["a", "b", "c"]
        ss += [1.0, 0.5, 0.5]
    return Run.from_arrays(qs, ds, ss)


@pytest.mark.realdata
@pytest.mark.parametrize("name", ["nfcorpus", "scifact"])
def test_real_qrels_parity(datasets_dir: Path, tmp_path: Path, name: str) -> None:
    qrels = _load(datasets_dir, name)
    write_run(_noisy_run(qrels, seed=7), tmp_path / "run.txt", tag="noisy")
    run = read_run(tmp_path / "run.txt")
    run_dict = {q: dict(zip(docs.to_pylist(), scores.tolist())) for q, docs, scores in run}
    qrels_dict = qrels.to_dict()
    for rel in (1, 2):
        for judged_only in (False, True):
            expected = oracle(qrels_dict, run_dict, TREC_NAMES, rel=rel, judged_only=judged_only)
            measures = [ours(n, judged_only) for n in TREC_NAMES]
            got = evaluate_per_query(run, qrels, measures, rel=rel)
            assert got.qids == sorted(expected)
            for n, m in zip(TREC_NAMES, measures):
                v = got.values[str(m)]
                bad = [q for i, q in enumerate(got.qids) if not same(v[i], expected[q][n])]
                assert not bad, (n, rel, judged_only, bad[:3])


@pytest.mark.realdata
def test_real_summary_values_are_sensible(datasets_dir: Path) -> None:
    qrels = _load(datasets_dir, "nfcorpus")
    run = _noisy_run(qrels, seed=1)
    got = evaluate(run, qrels, ["nDCG@10", "AP", "RR", "P@10", "R@100", "Judged@10", "NumQ"])
    assert 0.3 < got["nDCG@10"] <= 1.0
    assert got["NumQ"] == len(set(run.qid_list()) & set(qrels.qid_list()))
    assert got["Judged@10"] >= got["P@10"]  # nfcorpus judges only relevant documents
