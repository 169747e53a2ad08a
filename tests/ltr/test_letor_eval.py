"""LETOR 4.0's evaluation definitions: hand-computed values, a literal per-query reference of
``Eval-Score-4.0.pl``'s algorithm, and the differences from trec_eval."""

from __future__ import annotations

import itertools
import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from rankstack.data import Qrels, Run
from rankstack.evaluate import evaluate
from rankstack.exceptions import DataError, MeasureError
from rankstack.ltr.letor_eval import (
    LETOR_MEASURES,
    letor_evaluate,
    letor_evaluate_per_query,
    parse_letor_measure,
    prefixed,
)


# --------------------------------------------------------------------- literal reference
def _script_query(scores: list[float], labels: list[int], top_p: int = 10) -> dict[str, object]:
    """The script's EvalQuery for one query, written as its loops do it (no numpy)."""
    order = sorted(range(len(scores)), key=lambda i: -scores[i])  # stable: ties in input order
    rates = [labels[i] for i in order]

    def gain(r: int) -> float:
        return 2.0**r - 1

    def dcg(top_n: int, rs: list[int]) -> list[float]:
        out = [gain(rs[0])]
        for pos in range(1, top_n):
            r = rs[pos] if pos < len(rs) else 0
            step = gain(r) if pos < 2 else gain(r) * math.log(2.0) / math.log(pos + 1.0)
            out.append(out[pos - 1] + step)
        return out

    n = len(rates)
    d = dcg(n, rates)
    best = dcg(n, sorted(rates, reverse=True))
    ndcg = [d[p] / best[p] if best[p] != 0 else 0.0 for p in range(n)]
    relevant = 0
    ap = 0.0
    for pos, r in enumerate(rates):
        if r >= 1:
            relevant += 1
            ap += relevant / (pos + 1)
    ap = ap / relevant if relevant else 0.0
    prec, hits = [], 0
    for pos in range(top_p):
        r = rates[pos] if pos < n else 0
        hits += r >= 1
        prec.append(hits / (pos + 1))
    return {"ndcg": ndcg, "map": ap, "prec": prec}


def _reference(scores: np.ndarray, labels: np.ndarray, offsets: np.ndarray) -> dict[str, list]:
    out: dict[str, list] = {"NDCG@1": [], "NDCG@3": [], "NDCG@5": [], "NDCG@10": [], "MAP": []}
    out.update({"P@1": [], "P@10": []})
    for lo, hi in itertools.pairwise(offsets):
        if hi == lo:
            continue
        q = _script_query(list(scores[lo:hi]), [int(v) for v in labels[lo:hi]])
        ndcg = q["ndcg"]
        for k in (1, 3, 5, 10):  # positions past the list's end are undefined: 0 in the average
            out[f"NDCG@{k}"].append(ndcg[k - 1] if k <= len(ndcg) else 0.0)
        out["MAP"].append(q["map"])
        out["P@1"].append(q["prec"][0])
        out["P@10"].append(q["prec"][9])
    return out


# --------------------------------------------------------------------- hand-computed
def test_hand_computed_query() -> None:
    # ranked labels 2, 0, 1: DCG = 3 + 0 + 1/log2(3); ideal 2, 1, 0: 3 + 1 + 0
    scores = np.array([3.0, 2.0, 1.0])
    labels = np.array([2, 0, 1])
    v = letor_evaluate(scores, labels, np.array([0, 3]), ["NDCG@1", "NDCG@2", "NDCG@3", "MAP"])
    assert v["NDCG@1"] == 1.0
    assert v["NDCG@2"] == pytest.approx(3 / 4)
    assert v["NDCG@3"] == pytest.approx((3 + 1 / math.log2(3)) / 4)
    assert v["MAP"] == pytest.approx((1 / 1 + 2 / 3) / 2)


def test_short_list_scores_zero_beyond_its_length() -> None:
    scores, labels = np.array([2.0, 1.0]), np.array([1, 0])
    v = letor_evaluate(scores, labels, np.array([0, 2]), ["NDCG@1", "NDCG@2", "NDCG@3", "P@3"])
    assert v["NDCG@1"] == 1.0 and v["NDCG@2"] == 1.0
    assert v["NDCG@3"] == 0.0  # trec_eval would say 1.0
    assert v["P@3"] == pytest.approx(1 / 3)  # holes count as not relevant


def test_query_without_relevant_documents_scores_zero() -> None:
    v = letor_evaluate(np.array([1.0, 0.5]), np.array([0, 0]), np.array([0, 2]), ["NDCG@1", "MAP"])
    assert v == {"NDCG@1": 0.0, "MAP": 0.0}


def test_ties_keep_input_order() -> None:
    labels = np.array([0, 1])
    first = letor_evaluate(np.array([1.0, 1.0]), labels, np.array([0, 2]), ["NDCG@1"])
    second = letor_evaluate(np.array([1.0, 1.0]), labels[::-1], np.array([0, 2]), ["NDCG@1"])
    assert first["NDCG@1"] == 0.0 and second["NDCG@1"] == 1.0


def test_empty_queries_are_not_evaluated() -> None:
    per_query = letor_evaluate_per_query(
        np.array([1.0, 0.0]), np.array([1, 0]), np.array([0, 0, 2, 2]), ["MAP"]
    )
    assert per_query["MAP"].tolist() == [1.0]


def test_no_rows_gives_zero_means() -> None:
    assert letor_evaluate(np.zeros(0), np.zeros(0, int), np.array([0]), ["MAP"]) == {"MAP": 0.0}


# --------------------------------------------------------------------- against the reference
queries = st.lists(
    st.lists(
        st.tuples(st.integers(0, 3), st.sampled_from([0.0, 0.5, 1.0, 1.5, 2.0, 3.0])),
        min_size=0,
        max_size=14,
    ),
    min_size=1,
    max_size=8,
)


@settings(max_examples=150, deadline=None)
@given(queries)
def test_matches_the_scripts_algorithm(qs: list[list[tuple[int, float]]]) -> None:
    sizes = np.array([len(q) for q in qs])
    offsets = np.concatenate([[0], np.cumsum(sizes)])
    labels = np.array([lab for q in qs for lab, _ in q], dtype=np.int64)
    scores = np.array([s for q in qs for _, s in q], dtype=np.float64)
    names = [*LETOR_MEASURES, "P@1", "P@10"]
    got = letor_evaluate_per_query(scores, labels, offsets, names)
    want = _reference(scores, labels, offsets)
    for name in names:
        np.testing.assert_allclose(got[name], want[name], rtol=1e-12, atol=1e-15)


# --------------------------------------------------------------------- versus trec_eval
def test_differs_from_trec_eval_in_gain_discount_and_short_lists() -> None:
    # query a: 3 documents (shorter than 10); query b: 12 documents, distinct scores
    rng = np.random.default_rng(0)
    labels = np.array([0, 2, 1, *list(rng.integers(0, 3, 12))])
    scores = rng.permutation(len(labels)).astype(np.float64)
    qids = ["a"] * 3 + ["b"] * 12
    docids = [f"d{i}" for i in range(len(labels))]
    run = Run.from_arrays(qids, docids, scores)
    qrels = Qrels.from_arrays(qids, docids, labels)
    trec = evaluate(run, qrels, ["nDCG@10", "AP"])
    letor = letor_evaluate(scores, labels, np.array([0, 3, 15]), ["NDCG@10", "MAP"])
    assert letor["MAP"] == pytest.approx(trec["AP"], abs=1e-12)  # same AP without ties
    assert letor["NDCG@10"] != pytest.approx(trec["nDCG@10"])


def test_bad_input() -> None:
    with pytest.raises(DataError, match="same rows"):
        letor_evaluate(np.zeros(3), np.zeros(2, int), np.array([0, 3]))
    with pytest.raises(DataError, match=">= 0"):
        letor_evaluate(np.zeros(2), np.array([0, -1]), np.array([0, 2]))
    with pytest.raises(DataError, match="NaN"):
        letor_evaluate(np.array([np.nan, 0]), np.array([0, 1]), np.array([0, 2]))
    with pytest.raises(MeasureError, match="NDCG@k"):
        letor_evaluate(np.zeros(2), np.array([0, 1]), np.array([0, 2]), ["ERR@10"])


@pytest.mark.parametrize(
    ("name", "parsed"),
    [
        ("NDCG@10", ("NDCG", 10)),
        ("ndcg@3", ("NDCG", 3)),
        ("LETOR:MAP", ("MAP", 0)),
        ("P@5", ("P", 5)),
    ],
)
def test_parse_names(name: str, parsed: tuple[str, int]) -> None:
    assert parse_letor_measure(name) == parsed


def test_prefixed() -> None:
    assert prefixed({"MAP": 0.5}) == {"LETOR:MAP": 0.5}
