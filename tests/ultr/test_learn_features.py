"""Joining click logs to LETOR features, and the list / position aggregations."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from rankstack.data import ClickLog, Run
from rankstack.exceptions import DataError
from rankstack.io.letor import LetorData
from rankstack.ultr.features import (
    DisplayLists,
    UnknownClickDataError,
    aggregate_lists,
    join_clicks,
)


def small_letor(n_queries: int = 4, docs: int = 5, seed: int = 0) -> LetorData:
    rng = np.random.default_rng(seed)
    n = n_queries * docs
    qids = np.repeat([f"q{i}" for i in range(n_queries)], docs)
    # the same doc id under two queries must still map to each query's own row
    docids = np.array([f"d{i % docs}" for i in range(n)])
    run = Run.from_arrays(qids, docids, np.zeros(n), features=rng.normal(size=(n, 3)))
    return LetorData(run, rng.integers(0, 3, n))


def log_of(sessions: list[tuple[str, list[str], list[int]]]) -> ClickLog:
    return ClickLog.from_arrays(
        [q for q, _, _ in sessions],
        [len(d) for _, d, _ in sessions],
        [d for _, docs, _ in sessions for d in docs],
        [c for _, _, cs in sessions for c in cs],
        metadata={"k": 3},
    )


def test_join_maps_each_impression_to_its_query_row() -> None:
    letor = small_letor()
    log = log_of([("q1", ["d3", "d0"], [1, 0]), ("q0", ["d3"], [0]), ("q1", ["d3", "d0"], [0, 0])])
    imp = join_clicks(log, letor)
    run = letor.run
    qids = run.qid_column().to_pylist()
    docs = run.docids.to_pylist()
    got = [(qids[r], docs[r]) for r in imp.rows]
    assert got == [("q1", "d3"), ("q1", "d0"), ("q0", "d3"), ("q1", "d3"), ("q1", "d0")]
    assert imp.positions.tolist() == [0, 1, 0, 0, 1]
    assert imp.n_positions == 2 and len(imp) == 3
    assert imp.metadata == {"k": 3}
    np.testing.assert_array_equal(imp.features(), letor.features[imp.rows])
    np.testing.assert_allclose(imp.ctr_by_position(), [1 / 3, 0.0])


def test_by_list_aggregates_identical_displays() -> None:
    letor = small_letor()
    log = log_of(
        [
            ("q1", ["d3", "d0"], [1, 0]),
            ("q1", ["d0", "d3"], [1, 1]),
            ("q1", ["d3", "d0"], [1, 1]),
            ("q2", ["d1"], [0]),
        ]
    )
    lists = join_clicks(log, letor).by_list()
    assert len(lists) == 3
    assert lists.sessions.sum() == 4
    assert lists.clicks.sum() == 5
    key = {tuple(r): (s, c.tolist()) for r, s, c in zip(lists.rows, lists.sessions, lists.clicks)}
    run = letor.run
    q1 = int(run.offsets[1])
    d = {name: q1 + i for i, name in enumerate(run.docids.to_pylist()[q1 : q1 + 5])}
    assert key[(d["d3"], d["d0"])] == (2, [2.0, 1.0])
    assert key[(d["d0"], d["d3"])] == (1, [1.0, 1.0])
    counts = lists.by_position()
    assert counts.shown.sum() == 7 and counts.clicks.sum() == 5
    # every entry of query q1 knows the query's 3 sessions
    assert set(counts.query_sessions[run.query_index[counts.rows] == 1]) == {3.0}


def test_unknown_queries_and_documents_are_counted_in_the_error() -> None:
    letor = small_letor()
    log = log_of(
        [
            ("q1", ["d3", "nope"], [1, 0]),
            ("zz", ["d3"], [0]),
            ("zz", ["d1"], [0]),
            ("q0", ["d9", "d1", "d8"], [0, 0, 1]),
        ]
    )
    with pytest.raises(UnknownClickDataError) as err:
        join_clicks(log, letor)
    text = str(err.value)
    assert "1 query id(s) in 2 session(s)" in text and "'zz'" in text
    assert "3 impression(s) in 2 session(s) show 3 (query, doc) pair(s)" in text
    assert "q1/nope" in text and "on_unknown='drop'" in text
    kept = join_clicks(log, letor, on_unknown="drop")
    assert len(kept) == 0  # every session had an unknown id
    ok = log_of([("q1", ["d3"], [1])])
    both = ClickLog.concat([log, ok])
    assert len(join_clicks(both, letor, on_unknown="drop")) == 1


def test_bad_arguments() -> None:
    letor = small_letor()
    with pytest.raises(DataError, match="expected a ClickLog"):
        join_clicks("log.jsonl", letor)  # type: ignore[arg-type]
    with pytest.raises(DataError, match="on_unknown"):
        join_clicks(log_of([("q1", ["d3"], [1])]), letor, on_unknown="skip")  # type: ignore[arg-type]


def random_log(seed: int, n_sessions: int, letor: LetorData) -> ClickLog:
    rng = np.random.default_rng(seed)
    run = letor.run
    q = rng.integers(0, run.n_queries, n_sessions)
    sizes = rng.integers(1, 4, n_sessions)
    docs, clicks = [], []
    for qi, size in zip(q, sizes):  # tiny test log; the library itself never loops like this
        lo = int(run.offsets[qi])
        pick = lo + rng.choice(int(run.sizes[qi]), size, replace=False)
        docs += run.docids.take(pick).to_pylist()
        clicks += rng.integers(0, 2, size).tolist()
    return ClickLog.from_arrays(run.qids.take(q), sizes, docs, clicks)


@settings(max_examples=25, deadline=None)
@given(seed=st.integers(0, 10_000), n=st.integers(1, 60), chunk=st.integers(1, 25))
def test_aggregation_preserves_counts(seed: int, n: int, chunk: int) -> None:
    letor = small_letor(n_queries=3, docs=4)
    log = random_log(seed, n, letor)
    lists = join_clicks(log, letor).by_list()
    assert lists.sessions.sum() == n
    assert lists.clicks.sum() == log.clicks.sum()
    assert (lists.clicks <= lists.sessions[:, None] * lists.mask).all()
    assert len({tuple(r) for r in lists.rows}) == len(lists)  # lists are distinct
    counts = lists.by_position()
    assert counts.shown.sum() == log.n_impressions and counts.clicks.sum() == log.clicks.sum()
    # streaming in chunks gives the same lists
    chunks = [log.slice_sessions(i, i + chunk) for i in range(0, n, chunk)]
    streamed = aggregate_lists(chunks, letor)
    a = {tuple(r): (s, tuple(c)) for r, s, c in zip(lists.rows, lists.sessions, lists.clicks)}
    b = {
        tuple(r): (s, tuple(c))
        for r, s, c in zip(streamed.rows, streamed.sessions, streamed.clicks)
    }
    assert a == b


def as_dict(lists: DisplayLists) -> dict[tuple[int, ...], tuple[int, tuple[float, ...]]]:
    return {
        tuple(r): (int(s), tuple(c)) for r, s, c in zip(lists.rows, lists.sessions, lists.clicks)
    }


def test_merge_needs_parts_of_one_feature_set() -> None:
    with pytest.raises(DataError, match="at least one"):
        DisplayLists.merge([])
    a = join_clicks(log_of([("q1", ["d3"], [1])]), small_letor()).by_list()
    b = join_clicks(log_of([("q1", ["d3"], [1])]), small_letor()).by_list()
    with pytest.raises(DataError, match="different feature sets"):
        DisplayLists.merge([a, b])
    with pytest.raises(DataError, match="no sessions"):
        aggregate_lists([], small_letor())
