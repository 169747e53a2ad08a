from __future__ import annotations

from functools import cmp_to_key

import numpy as np
import pyarrow as pa
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from rankstack.data import Run
from rankstack.exceptions import DataError


@pytest.fixture
def run() -> Run:
    return Run.from_arrays(
        ["q1", "q1", "q2", "q1", "q2"],
        ["d1", "d2", "d1", "d3", "d9"],
        [1.0, 1.0, 3.0, 2.0, 0.5],
    )


def test_groups_by_first_appearance_and_sorts_by_score_then_docid_desc(run: Run) -> None:
    assert run.qid_list() == ["q1", "q2"]
    assert run.docids.to_pylist() == ["d3", "d2", "d1", "d1", "d9"]
    assert run.scores.tolist() == [2.0, 1.0, 1.0, 3.0, 0.5]
    assert run.offsets.tolist() == [0, 3, 5]
    assert run.ranks.tolist() == [0, 1, 2, 0, 1]


def test_duplicate_doc_in_a_query_is_refused() -> None:
    with pytest.raises(DataError, match="'d1' appears more than once for query 'q1'"):
        Run.from_arrays(["q1", "q1"], ["d1", "d1"], [1.0, 2.0])


def test_nan_scores_and_length_mismatch_are_refused() -> None:
    with pytest.raises(DataError, match="NaN"):
        Run.from_arrays(["q"], ["d"], [float("nan")])
    with pytest.raises(DataError, match="same length"):
        Run.from_arrays(["q", "q"], ["d"], [1.0])


def test_cut_select_split_concat(run: Run) -> None:
    assert run.cut(1).docids.to_pylist() == ["d3", "d1"]
    sel = run.select(["q2", "missing", "q1"])
    assert sel.qid_list() == ["q2", "missing", "q1"]
    assert sel.sizes.tolist() == [2, 0, 3]
    assert run.select(["missing", "q2"], missing="drop").qid_list() == ["q2"]
    with pytest.raises(DataError):
        run.select(["missing"], missing="raise")
    parts = run.split(2)
    assert [p.qid_list() for p in parts] == [["q1"], ["q2"]]
    assert Run.concat(parts).equals(run)
    with pytest.raises(DataError, match="disjoint"):
        Run.concat([run, run])


def test_with_scores_resorts_and_keeps_features_aligned(run: Run) -> None:
    feats = np.arange(len(run), dtype=np.float32)[:, None]
    r = run.with_features(feats, ["rowid"])
    r2 = r.with_scores(-r.feature("rowid").astype(np.float64))
    # rows of q1 were 0,1,2 -> new scores 0,-1,-2 keep that order; q2 rows 3,4 -> -3,-4
    assert r2.docids.to_pylist() == ["d3", "d2", "d1", "d1", "d9"]
    assert np.array_equal(r2.feature("rowid"), -r2.scores.astype(np.float32))


def test_pandas_round_trip(run: Run) -> None:
    df = run.to_pandas()
    assert list(df.columns) == ["qid", "docno", "score", "rank"]
    assert Run.from_pandas(df).equals(run)


def test_ten_million_rows_build_without_python_loops() -> None:
    nq, nd = 2000, 500
    rng = np.random.default_rng(0)
    q = pa.array(np.repeat(np.arange(nq).astype(str), nd))
    d = pa.array(np.tile(np.char.add("d", np.arange(nd).astype(str)), nq))
    r = Run.from_arrays(q, d, rng.random(nq * nd))
    assert r.n_queries == nq and len(r) == nq * nd
    s = r.scores.reshape(nq, nd)
    assert (np.diff(s, axis=1) <= 0).all()


@settings(max_examples=60, deadline=None)
@given(
    st.lists(
        st.tuples(
            st.sampled_from(["a", "b", "c"]),
            st.text("xyz", min_size=1, max_size=3),
            st.sampled_from([0.0, -0.0, 1.0, 2.5, -1.0, float("inf")]),
        ),
        max_size=30,
        unique_by=lambda t: (t[0], t[1]),
    )
)
def test_order_matches_trec_eval_comparator(rows: list[tuple[str, str, float]]) -> None:
    q, d, s = zip(*rows) if rows else ((), (), ())
    r = Run.from_arrays(list(q), list(d), list(s))
    for qid, docs, scores in r:
        pairs = [(float(x), str(y)) for x, y in zip(scores, docs.to_pylist())]
        # trec_eval: score descending, then strcmp(doc2, doc1) i.e. doc id descending
        expected = sorted(pairs, key=cmp_to_key(_trec_eval_cmp))
        assert [p[1] for p in pairs] == [p[1] for p in expected], qid


def _trec_eval_cmp(a: tuple[float, str], b: tuple[float, str]) -> int:
    """trec_eval's comp_sim_docno: score descending, then strcmp(b.docno, a.docno)."""
    if a[0] > b[0]:
        return -1
    if a[0] < b[0]:
        return 1
    da, db = a[1].encode(), b[1].encode()
    return (db > da) - (db < da)
