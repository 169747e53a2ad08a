"""FeatureNormalizer: global and per-query methods against loop references, JSON state, the
absent-feature warning and spec parsing."""

from __future__ import annotations

import itertools
import json
import warnings

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from rankstack.exceptions import DataError, NotFittedError
from rankstack.io.letor import LetorData
from rankstack.ltr import preprocessing
from rankstack.ltr.preprocessing import (
    AbsentFeatureWarning,
    FeatureNormalizer,
    parse_spec,
    segment_reduce,
)


def _loop_per_query(x: np.ndarray, offsets: np.ndarray, method: str) -> np.ndarray:
    out = x.astype(np.float64).copy()
    for lo, hi in itertools.pairwise(offsets):
        block = x[lo:hi].astype(np.float64)
        if hi == lo:
            continue
        if method == "zscore":
            std = block.std(axis=0)
            std[std == 0] = 1
            out[lo:hi] = (block - block.mean(axis=0)) / std
        else:
            rng = block.max(axis=0) - block.min(axis=0)
            rng[rng == 0] = 1
            out[lo:hi] = (block - block.min(axis=0)) / rng
    return out.astype(np.float32)


def test_global_zscore_uses_training_statistics(
    letor_small: LetorData, letor_test: LetorData
) -> None:
    norm = FeatureNormalizer("zscore").fit(letor_small)
    train = norm.transform(letor_small)
    np.testing.assert_allclose(train.features.mean(axis=0), 0, atol=1e-5)
    np.testing.assert_allclose(train.features.std(axis=0), 1, atol=1e-4)
    x = letor_small.features.astype(np.float64)
    expected = (letor_test.features - x.mean(axis=0)) / x.std(axis=0)
    np.testing.assert_allclose(norm.transform(letor_test).features, expected, rtol=1e-5, atol=1e-6)
    assert isinstance(train, LetorData) and np.array_equal(train.labels, letor_small.labels)


def test_global_minmax_and_constant_columns() -> None:
    x = np.array([[1, 5, 2], [3, 5, 4], [2, 5, 8]], dtype=np.float32)
    norm = FeatureNormalizer("minmax").fit(x)
    out = norm.transform_matrix(x, np.array([0, 3]))
    np.testing.assert_allclose(out[:, 0], [0, 1, 0.5])
    np.testing.assert_allclose(out[:, 1], [0, 0, 0])  # constant column -> 0, not NaN
    np.testing.assert_allclose(out[:, 2], [0, 1 / 3, 1])


def test_log1p_is_signed_and_stateless() -> None:
    x = np.array([[0.0, -3.0], [10.0, 1.0]], dtype=np.float32)
    out = FeatureNormalizer("log1p").fit(np.zeros((1, 2))).transform_matrix(x, np.array([0, 2]))
    np.testing.assert_allclose(out, np.sign(x) * np.log1p(np.abs(x)), rtol=1e-6)


@settings(max_examples=80, deadline=None)
@given(
    sizes=st.lists(st.integers(0, 6), min_size=1, max_size=8),
    method=st.sampled_from(["zscore", "minmax"]),
    seed=st.integers(0, 1000),
    block=st.sampled_from([1, 3, 7, 1 << 16]),
)
def test_per_query_matches_a_loop(sizes: list[int], method: str, seed: int, block: int) -> None:
    rng = np.random.default_rng(seed)
    offsets = np.concatenate([[0], np.cumsum(sizes)]).astype(np.int64)
    x = rng.integers(-3, 4, size=(offsets[-1], 3)).astype(np.float32)  # ties and constants
    norm = FeatureNormalizer(method, per_query=True).fit(np.zeros((1, 3), np.float32))
    old, preprocessing.BLOCK_ROWS = preprocessing.BLOCK_ROWS, block  # blocks of whole queries
    try:
        got = norm.transform_matrix(x, offsets)
    finally:
        preprocessing.BLOCK_ROWS = old
    np.testing.assert_allclose(got, _loop_per_query(x, offsets, method), rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize("rows", [1, 5, 64, 1000])
def test_blockwise_statistics_match_numpy(rows: int) -> None:
    rng = np.random.default_rng(rows)
    x = (rng.normal(size=(300, 4)) * [1, 1e3, 1e-3, 0] + [0, 1e4, 5, 2]).astype(np.float32)
    mean, std = preprocessing._column_mean_std(x, rows)
    np.testing.assert_allclose(mean, x.astype(np.float64).mean(axis=0), rtol=1e-12, atol=1e-12)
    np.testing.assert_allclose(std, x.astype(np.float64).std(axis=0), rtol=1e-9, atol=1e-12)


@pytest.mark.parametrize(
    ("offsets", "rows", "blocks"),
    [
        ([0, 3, 5, 10], 4, [(0, 1), (1, 2), (2, 3)]),
        ([0, 3, 5, 10], 100, [(0, 3)]),
        ([0, 0, 2, 2, 9], 2, [(0, 3), (3, 4)]),
        ([0], 4, []),
    ],
)
def test_query_blocks_cover_every_query(
    offsets: list[int], rows: int, blocks: list[tuple[int, int]]
) -> None:
    assert preprocessing._query_blocks(np.array(offsets), rows) == blocks


def test_per_query_has_no_fitted_statistics(letor_small: LetorData) -> None:
    norm = FeatureNormalizer("zscore", per_query=True).fit(letor_small)
    assert norm.shift_ is not None and not norm.shift_.any()
    assert norm.scale_ is not None and (norm.scale_ == 1).all()


def test_columns_subset(letor_small: LetorData) -> None:
    norm = FeatureNormalizer("minmax", columns=["2"]).fit(letor_small)
    out = norm.transform(letor_small).features
    np.testing.assert_array_equal(out[:, 0], letor_small.features[:, 0])
    assert out[:, 1].min() == 0 and out[:, 1].max() == 1
    with pytest.raises(DataError, match="not features"):
        FeatureNormalizer("minmax", columns=["nope"]).fit(letor_small)


def test_transform_matches_columns_by_name(letor_small: LetorData) -> None:
    norm = FeatureNormalizer("zscore").fit(letor_small)
    run = letor_small.run
    assert run.features is not None
    names = list(run.feature_names)[::-1]
    shuffled = run.with_features(run.features[:, ::-1], names)
    np.testing.assert_array_equal(norm.transform(shuffled).features, norm.transform(run).features)


@pytest.mark.parametrize("spec", ["zscore", "minmax/query", "log1p", None])
def test_state_round_trips_through_json(letor_small: LetorData, spec: str | None) -> None:
    norm = FeatureNormalizer.from_spec(spec).fit(letor_small)
    again = FeatureNormalizer.from_dict(json.loads(json.dumps(norm.to_dict())))
    a = norm.transform_matrix(letor_small.features, letor_small.run.offsets)
    b = again.transform_matrix(letor_small.features, letor_small.run.offsets)
    np.testing.assert_array_equal(a, b)


def test_bad_state_is_refused() -> None:
    with pytest.raises(DataError, match="version"):
        FeatureNormalizer.from_dict({"version": 99})
    state = FeatureNormalizer("zscore").fit(np.ones((2, 2))).to_dict()
    state["shift"] = [0.0]
    with pytest.raises(DataError, match="malformed"):
        FeatureNormalizer.from_dict(state)


def test_absent_feature_warning() -> None:
    train = np.array([[1, 0, 2], [0, 0, 3]], dtype=np.float32)
    norm = FeatureNormalizer("none").fit(train)
    with pytest.warns(AbsentFeatureWarning, match="1 feature.*: 0"):
        assert norm.check(np.array([[0, 0, 1]], np.float32), source="test.txt") == ["0"]
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert norm.check(np.array([[1, 0, 1]], np.float32)) == []  # column 1 was zero anyway


def test_not_fitted_and_width_checks() -> None:
    with pytest.raises(NotFittedError):
        FeatureNormalizer().transform_matrix(np.zeros((1, 1)), np.array([0, 1]))
    norm = FeatureNormalizer().fit(np.zeros((2, 3)))
    with pytest.raises(DataError, match="3 feature columns"):
        norm.transform_matrix(np.zeros((2, 2)), np.array([0, 2]))
    with pytest.raises(DataError, match="offsets"):
        FeatureNormalizer().fit(np.zeros((2, 3)), np.array([0, 1]))
    with pytest.raises(DataError, match="unknown method"):
        FeatureNormalizer("rank").fit(np.zeros((2, 3)))


@pytest.mark.parametrize(
    ("spec", "parsed"),
    [
        (None, ("none", False, None)),
        ("ZScore", ("zscore", False, None)),
        ("minmax/query", ("minmax", True, None)),
        ({"method": "log1p", "columns": [1, "b"]}, ("log1p", False, ("1", "b"))),
        ({"method": "zscore", "per_query": True}, ("zscore", True, None)),
    ],
)
def test_parse_spec(spec: object, parsed: tuple[object, ...]) -> None:
    assert parse_spec(spec) == parsed  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("spec", "message"),
    [
        ("zscore/doc", "scope"),
        ("rank", "unknown method"),
        ({"how": 1}, "unknown key"),
        (3, "table"),
    ],
)
def test_parse_spec_errors(spec: object, message: str) -> None:
    with pytest.raises(DataError, match=message):
        parse_spec(spec)  # type: ignore[arg-type]


def test_segment_reduce_fills_empty_queries_with_zero() -> None:
    x = np.array([[1.0], [2.0], [5.0]])
    out = segment_reduce(np.add, x, np.array([0, 0, 2, 2, 3]))
    assert out[:, 0].tolist() == [0.0, 3.0, 0.0, 5.0]
