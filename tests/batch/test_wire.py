"""Queries and runs survive the Arrow IPC round trip bit for bit."""

from __future__ import annotations

import numpy as np
import pyarrow as pa
from hypothesis import given, settings
from hypothesis import strategies as st

from rankstack.batch._wire import decode_queries, decode_run, encode_queries, encode_run
from rankstack.data import Queries, Run


def same(a: Run, b: Run) -> None:
    assert a.qid_list() == b.qid_list()
    np.testing.assert_array_equal(a.offsets, b.offsets)
    assert a.docids.equals(b.docids)
    assert a.scores.tobytes() == b.scores.tobytes()
    assert a.feature_names == b.feature_names
    assert (a.features is None) == (b.features is None)
    if a.features is not None and b.features is not None:
        assert a.features.tobytes() == b.features.tobytes()


@settings(max_examples=40, deadline=None)
@given(st.lists(st.integers(0, 6), min_size=0, max_size=8), st.integers(0, 3))
def test_runs_round_trip(sizes: list[int], n_features: int) -> None:
    rng = np.random.default_rng(len(sizes) * 10 + n_features)
    n = sum(sizes)
    run = Run(
        qids=pa.array([f"q{i}" for i in range(len(sizes))], pa.string()),
        offsets=np.concatenate([[0], np.cumsum(sizes)]).astype(np.int64),
        docids=pa.array([f"d{i}" for i in range(n)], pa.string()),
        scores=rng.normal(size=n),
        features=rng.normal(size=(n, n_features)).astype(np.float32) if n_features else None,
        feature_names=tuple(f"feat {j}" for j in range(n_features)),
        metadata={"stage": "bm25", "k": 10},
    )
    back = decode_run(encode_run(run))
    same(back, run)
    assert dict(back.metadata) == {"stage": "bm25", "k": 10}


def test_odd_scores_and_metadata_survive() -> None:
    run = Run.from_arrays(
        ["a", "a", "b"],
        ["x", "y", "x"],
        [-0.0, 5e-324, np.inf],
        metadata={"index": object()},  # not JSON: kept as its string
    )
    back = decode_run(encode_run(run))
    same(back, run)
    assert isinstance(back.metadata["index"], str)


def test_queries_round_trip_with_extra_fields() -> None:
    qs = Queries.from_arrays(["1", "2"], ["héllo wörld", ""], {"title": ["t1", "t2"]})
    back = decode_queries(encode_queries(qs.slice(0, 2)))
    assert back.qid_list() == ["1", "2"] and back.text_list() == qs.text_list()
    assert back.extra["title"].to_pylist() == ["t1", "t2"]
