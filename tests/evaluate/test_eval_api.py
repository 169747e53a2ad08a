"""The Python API around the measures: inputs, PerQuery, views of runs, errors."""

from __future__ import annotations

import logging

import numpy as np
import pyarrow as pa
import pytest
from _eval_oracle import make_qrels, make_run

from rankstack.data import Qrels, Run
from rankstack.evaluate import PerQuery, evaluate, evaluate_per_query
from rankstack.exceptions import DataError, MeasureError

QRELS = {"a": {"x": 1, "y": 2, "z": 0}, "b": {"x": 1}, "c": {"w": 3}}
RUN = {"a": {"x": 0.3, "y": 0.1, "v": 0.2}, "b": {"y": 1.0, "x": 0.5}, "c": {"w": 1.0}}
MEASURES = ["nDCG@2", "AP", "RR", "P@2", "R@2", "Judged@2", "NumRet", "IPrec@0.5"]


def test_per_query_container() -> None:
    pq = evaluate_per_query(make_run(RUN), make_qrels(QRELS), MEASURES)
    assert isinstance(pq, PerQuery) and len(pq) == 3 and pq.measures == MEASURES
    assert pq.qids == ["a", "b", "c"]
    d = pq.to_dict()
    assert d["c"]["AP"] == 1.0 and d["b"]["P@2"] == 0.5 and d["a"]["NumRet"] == 3.0
    df = pq.to_pandas()
    assert list(df.columns) == ["qid", *MEASURES]
    assert df["AP"].tolist() == pq.values["AP"].tolist()
    assert pq.aggregates["NumRet"] == "sum" and pq.aggregates["AP"] == "mean"
    assert all(v.dtype == np.float64 and v.flags.c_contiguous for v in pq.values.values())


def test_views_and_string_types_give_the_same_values() -> None:
    """Sliced runs (Arrow offsets), large_string ids and re-ordered queries change nothing."""
    run = make_run({"zz": {"x": 1.0}, **RUN})
    qrels = make_qrels(QRELS)
    want = evaluate_per_query(run, qrels, MEASURES)
    sliced = run.slice_queries(1, 4)  # drops "zz": docids now start at an offset
    assert evaluate_per_query(sliced, qrels, MEASURES).values.keys() == want.values.keys()
    for name in MEASURES:
        assert evaluate_per_query(sliced, qrels, MEASURES).values[name].tolist() == (
            want.values[name].tolist()
        )
    large = Run(
        qids=run.qids.cast(pa.large_string()),
        offsets=run.offsets,
        docids=run.docids.cast(pa.large_string()),
        scores=run.scores,
    )
    large_qrels = Qrels(
        qrels.qids, qrels.offsets, qrels.docids.cast(pa.large_string()), qrels.labels
    )
    got = evaluate_per_query(large, large_qrels, MEASURES)
    for name in MEASURES:
        assert got.values[name].tolist() == want.values[name].tolist()
    reordered = run.select(["c", "zz", "b", "a"])
    assert evaluate(reordered, qrels, MEASURES) == evaluate(run, qrels, MEASURES)


def test_repeated_and_aliased_measures_are_computed_once() -> None:
    got = evaluate(make_run(RUN), make_qrels(QRELS), ["nDCG@2", "ndcg_cut_2", "map", "AP"])
    assert list(got) == ["nDCG@2", "AP"]


def test_global_rel_and_measure_rel() -> None:
    run, qrels = make_run(RUN), make_qrels(QRELS)
    got = evaluate(run, qrels, ["AP", "AP(rel=1)", "NumRel", "nDCG@2"], rel=2)
    base = evaluate(run, qrels, ["AP(rel=2)", "AP", "NumRel(rel=2)", "nDCG@2"])
    assert got["AP"] == base["AP(rel=2)"]
    assert got["AP(rel=1)"] == base["AP"]
    assert got["NumRel"] == base["NumRel(rel=2)"] == 2.0
    assert got["nDCG@2"] == base["nDCG@2"]  # nDCG ignores the relevance threshold


def test_nothing_to_evaluate(caplog: pytest.LogCaptureFixture) -> None:
    with caplog.at_level(logging.WARNING, logger="rankstack.evaluate"):
        got = evaluate(make_run({"q": {"x": 1.0}}), make_qrels(QRELS), ["AP", "NumQ"])
    assert got == {"AP": 0.0, "NumQ": 0.0}
    assert "nothing to evaluate" in caplog.text
    assert evaluate(Run.empty(), make_qrels(QRELS), "AP") == {"AP": 0.0}


def test_bad_inputs() -> None:
    run, qrels = make_run(RUN), make_qrels(QRELS)
    with pytest.raises(DataError, match="expected a Run, found dict"):
        evaluate(RUN, qrels, "AP")  # type: ignore[arg-type]
    with pytest.raises(DataError, match="expected a Qrels"):
        evaluate(run, QRELS, "AP")  # type: ignore[arg-type]
    with pytest.raises(MeasureError, match="rel must be an integer >= 0"):
        evaluate(run, qrels, "AP", rel=-1)
    with pytest.raises(MeasureError, match="unknown measure"):
        evaluate(run, qrels, ["AP", "MAPP"])


def test_inputs_are_not_modified() -> None:
    run, qrels = make_run(RUN), make_qrels(QRELS)
    scores, labels = run.scores.copy(), qrels.labels.copy()
    evaluate(run, qrels, MEASURES, complete=True)
    assert np.array_equal(run.scores, scores) and np.array_equal(qrels.labels, labels)
