"""Every measure equals trec_eval's (pytrec_eval) on generated runs and qrels, bit for bit.

Values are compared with ``==`` on floats: our sums run in trec_eval's order (rank order, then
query order), so no tolerance is needed. The one documented difference: trec_eval divides 0 by
0 for IPrec of an empty ranking (NaN), where we give 0.

Generated collections have tied scores, queries missing on either side, graded, zero and
negative grades, retrieved documents absent from the qrels, empty rankings and single
documents. Scores are multiples of 1/4 so that pytrec_eval's float32 copy of each score (it
bundles trec_eval 9.0.x, which stores scores as float) orders them as float64 does. Every
judged query has at least one grade >= 0: for a query whose grades are all negative,
trec_eval reads uninitialised memory (``form_res_rels.c`` sizes its level table by the
largest grade) and pytrec_eval may crash or hang; we score such a query 0, tested apart.
"""

from __future__ import annotations

import logging
import math

import numpy as np
import pytest
from _eval_oracle import TREC_NAMES, make_qrels, make_run, oracle, ours, same
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from rankstack.evaluate import evaluate, evaluate_per_query

DOCS = ["d1", "d10", "d2", "D3", "d3", "d30", "a", "b", "c", "e9", "zz", "d1a"]
SCORES = [-1.0, 0.0, 0.25, 0.5, 1.0, 2.5, 7.75]


@st.composite
def collections(draw: st.DrawFn, *, distinct: bool = False) -> tuple[dict, dict]:
    qids = draw(st.lists(st.sampled_from(["1", "2", "10", "q", "Q7", "a"]), min_size=1, max_size=5))
    qids = list(dict.fromkeys(qids))
    qrels: dict[str, dict[str, int]] = {}
    run: dict[str, dict[str, float]] = {}
    for q in qids:
        if draw(st.integers(0, 9)) < 8:
            judged = draw(
                st.dictionaries(st.sampled_from(DOCS), st.integers(-2, 3), min_size=1, max_size=8)
            )
            if max(judged.values()) < 0:
                judged[next(iter(judged))] = 0
            qrels[q] = judged
        if draw(st.integers(0, 9)) < 8:
            docs = draw(st.lists(st.sampled_from(DOCS), max_size=len(DOCS), unique=True))
            if distinct:
                values = draw(st.permutations(list(range(len(docs)))))
                run[q] = {d: float(v) for d, v in zip(docs, values)}
            else:
                run[q] = {d: draw(st.sampled_from(SCORES)) for d in docs}
    if not qrels:
        qrels[qids[0]] = {"d1": 1}
    return qrels, run


def _check(qrels: dict, run: dict, rel: int, judged_only: bool, complete: bool = False) -> None:
    """Compare every measure; with ``complete``, trec_eval sees the missing judged queries as
    empty rankings (what -c means)."""
    seen = {**run, **{q: {} for q in qrels if q not in run}} if complete else run
    expected = oracle(qrels, seen, TREC_NAMES, rel=rel, judged_only=judged_only)
    measures = [ours(n, judged_only) for n in TREC_NAMES]
    got = evaluate_per_query(make_run(run), make_qrels(qrels), measures, rel=rel, complete=complete)
    assert got.qids == sorted(expected)  # trec_eval's query order: sorted ids
    for name, m in zip(TREC_NAMES, measures):
        values = got.values[str(m)]
        for i, q in enumerate(got.qids):
            assert same(values[i], expected[q][name]), (name, q, values[i], expected[q][name])


@pytest.mark.parametrize("judged_only", [False, True])
@pytest.mark.parametrize("rel", [1, 2])
@settings(max_examples=120, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(data=collections())
def test_every_measure_equals_trec_eval(
    data: tuple[dict, dict], rel: int, judged_only: bool
) -> None:
    qrels, run = data
    _check(qrels, run, rel, judged_only)


@settings(max_examples=60, deadline=None)
@given(data=collections(), rel=st.sampled_from([1, 2]))
def test_complete_equals_trec_eval_on_empty_rankings(data: tuple[dict, dict], rel: int) -> None:
    qrels, run = data
    _check(qrels, run, rel, judged_only=False, complete=True)


def test_hand_made_edge_cases() -> None:
    """Ties across a cut-off, a document absent from the qrels, zero and negative grades, an
    empty ranking and a single document."""
    qrels = {
        "q1": {"d1": 2, "d2": 0, "d3": -1, "d4": 1},
        "q2": {"a": -1, "b": 0},
        "q3": {"x": 1},
        "q4": {"only": 3},
    }
    run = {
        "q1": {"d1": 1.0, "d3": 2.0, "zz": 0.5, "d4": 0.5},
        "q2": {"a": 1.0, "c": 0.5},
        "q3": {},
        "q4": {"only": 0.0},
        "q9": {"x": 1.0},
    }
    for rel in (1, 2, 3):
        for judged_only in (False, True):
            _check(qrels, run, rel, judged_only)


def test_mean_is_trec_eval_summary() -> None:
    """The summary is the per-query sum in query order divided by the count; counts are sums."""
    qrels = {"a": {"x": 1, "y": 2}, "b": {"x": 1}, "c": {"z": 3}}
    run = {"a": {"x": 0.3, "y": 0.1, "w": 0.2}, "b": {"y": 1.0}, "c": {"z": 1.0, "x": 2.0}}
    pq = evaluate_per_query(make_run(run), make_qrels(qrels), ["AP", "nDCG@2", "NumRet"])
    summary = evaluate(make_run(run), make_qrels(qrels), ["AP", "nDCG@2", "NumRet"])
    for name in ("AP", "nDCG@2"):
        total = 0.0
        for v in pq.values[name]:
            total += v  # trec_eval's accumulation order
        assert summary[name] == total / 3
    assert summary["NumRet"] == 6.0


def test_complete_counts_missing_queries_as_empty_rankings() -> None:
    """trec_eval -c: judged queries absent from the run are evaluated as empty rankings."""
    qrels = {"a": {"x": 1, "y": 2}, "b": {"x": 1}, "c": {"z": 3, "w": 0}}
    run = {"a": {"x": 0.3, "y": 0.1}}
    names = ["map", "ndcg_cut_10", "P_5", "num_rel", "num_ret", "recip_rank", "bpref"]
    measures = [ours(n, False) for n in names]
    got = evaluate_per_query(make_run(run), make_qrels(qrels), measures, complete=True)
    assert got.qids == ["a", "b", "c"]
    expected = oracle(qrels, {**run, "b": {}, "c": {}}, names)
    for name, m in zip(names, measures):
        assert [expected[q][name] for q in got.qids] == got.values[str(m)].tolist()
    summary = evaluate(make_run(run), make_qrels(qrels), ["AP", "NumQ"], complete=True)
    assert summary["NumQ"] == 3.0
    assert summary["AP"] == expected["a"]["map"] / 3


def test_unjudged_run_queries_are_skipped_with_a_warning(caplog: pytest.LogCaptureFixture) -> None:
    qrels = {"a": {"x": 1}}
    run = {"a": {"x": 1.0}, "zzz": {"x": 1.0}}
    with caplog.at_level(logging.WARNING, logger="rankstack.evaluate"):
        got = evaluate_per_query(make_run(run), make_qrels(qrels), ["AP"])
    assert got.qids == ["a"]
    assert "have no judgements" in caplog.text and "zzz" in caplog.text


def test_all_negative_query_scores_zero() -> None:
    """trec_eval's behaviour is undefined here (see the module docstring); we give 0."""
    qrels = {"a": {"x": -1, "y": -2}}
    run = {"a": {"x": 1.0, "y": 0.5, "z": 0.1}}
    got = evaluate(make_run(run), make_qrels(qrels), ["nDCG", "nDCG@2", "AP", "RR", "Bpref"])
    assert got == {"nDCG": 0.0, "nDCG@2": 0.0, "AP": 0.0, "RR": 0.0, "Bpref": 0.0}
    counts = evaluate(make_run(run), make_qrels(qrels), ["Judged@2", "NumRel", "NumRet"])
    assert counts == {"Judged@2": 1.0, "NumRel": 0.0, "NumRet": 3.0}


@settings(max_examples=80, deadline=None)
@given(data=collections(distinct=True), k=st.sampled_from([None, 1, 3, 20]))
def test_judged_equals_ir_measures(data: tuple[dict, dict], k: int | None) -> None:
    """Judged@k follows ir_measures' definition (distinct scores: ir_measures breaks ties the
    other way round)."""
    import ir_measures

    qrels, run = data
    name = "Judged" if k is None else f"Judged@{k}"
    measure = ir_measures.parse_measure(name)
    run_nonempty = {q: docs for q, docs in run.items() if docs}
    expected = {m.query_id: m.value for m in ir_measures.iter_calc([measure], qrels, run_nonempty)}
    got = evaluate_per_query(make_run(run), make_qrels(qrels), [name])
    for i, q in enumerate(got.qids):
        # exact: one integer division on both sides; empty rankings (absent there) give 0
        assert got.values[name][i] == expected.get(q, 0.0)


def _exp_dcg_reference(grades_in_rank_order: list[int], k: int | None) -> float:
    total = 0.0
    for i, g in enumerate(grades_in_rank_order[:k]):
        if g > 0:
            total += (2.0**g - 1.0) / math.log2(i + 2)
    return total


@settings(max_examples=60, deadline=None)
@given(data=collections(distinct=True), k=st.sampled_from([None, 1, 5]))
def test_exp_log2_ndcg_matches_its_definition(data: tuple[dict, dict], k: int | None) -> None:
    """nDCG(dcg='exp-log2'): gain 2**grade - 1 (Burges et al.), same order of summation, so
    the reference written as a plain loop is equal with ``==``."""
    qrels, run = data
    name = "nDCG(dcg='exp-log2')" + (f"@{k}" if k else "")
    got = evaluate_per_query(make_run(run), make_qrels(qrels), [name])
    for i, q in enumerate(got.qids):
        ranked = sorted(run[q].items(), key=lambda kv: -kv[1])  # distinct scores
        grades = [qrels[q].get(d, -1) for d, _ in ranked]
        ideal = sorted(qrels[q].values(), reverse=True)
        den = _exp_dcg_reference(ideal, k)
        want = _exp_dcg_reference(grades, k) / den if den > 0 else 0.0
        assert got.values[name][i] == want


def test_rr_at_k_equals_trec_eval_on_the_cut_run() -> None:
    rng = np.random.default_rng(3)
    qrels = {f"q{i}": {f"d{j}": int(rng.integers(0, 3)) for j in range(8)} for i in range(20)}
    run = {f"q{i}": {f"d{j}": float(rng.integers(0, 40)) / 4 for j in range(12)} for i in range(20)}
    got = evaluate_per_query(make_run(run), make_qrels(qrels), ["RR@3"])
    cut = make_run(run).cut(3)
    cut_dict = {q: dict(zip(d.to_pylist(), s.tolist())) for q, d, s in cut}
    expected = oracle(qrels, cut_dict, ["recip_rank"])
    assert got.values["RR@3"].tolist() == [expected[q]["recip_rank"] for q in got.qids]
