from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from rankstack import Queries, Run
from rankstack.exceptions import DataError
from rankstack.pipeline import Precomputed
from rankstack.retrieve.fusion import fuse, fuse_runs, normalise_scores


@pytest.fixture
def runs() -> list[Run]:
    a = Run.from_arrays(["q"] * 3, ["d1", "d2", "d3"], [3.0, 2.0, 1.0])
    b = Run.from_arrays(["q"] * 2, ["d3", "d4"], [9.0, 1.0])
    return [a, b]


def as_dict(run: Run) -> dict[str, float]:
    return dict(zip(run.docids.to_pylist(), run.scores.tolist()))


def test_rrf_matches_definition(runs: list[Run]) -> None:
    out = as_dict(fuse_runs(runs, "rrf", k=60))
    assert out["d3"] == pytest.approx(1 / 63 + 1 / 61)
    assert out["d1"] == pytest.approx(1 / 61)
    assert out["d4"] == pytest.approx(1 / 62)
    assert list(out) == ["d3", "d1", "d4", "d2"]


def test_combsum_and_combmnz_on_minmax(runs: list[Run]) -> None:
    s = as_dict(fuse_runs(runs, "combsum"))
    assert s == pytest.approx({"d1": 1.0, "d2": 0.5, "d3": 1.0, "d4": 0.0})
    m = as_dict(fuse_runs(runs, "combmnz"))
    assert m == pytest.approx({"d1": 1.0, "d2": 0.5, "d3": 2.0, "d4": 0.0})


def test_interpolation_alpha(runs: list[Run]) -> None:
    out = as_dict(fuse_runs(runs, "interpolate", alpha=0.25))
    assert out["d3"] == pytest.approx(0.25 * 0.0 + 0.75 * 1.0)
    assert out["d1"] == pytest.approx(0.25)
    with pytest.raises(DataError, match="alpha"):
        fuse_runs(runs, "interpolate", alpha=2.0)


def test_zscore_and_empty_queries() -> None:
    r = Run.from_arrays(["a", "a", "b"], ["x", "y", "z"], [1.0, 3.0, 7.0])
    r = Run.concat([r, Run.empty(["c"])])
    z = normalise_scores(r, "zscore")
    assert z.tolist() == [1.0, -1.0, 0.0]
    assert normalise_scores(r, "minmax").tolist() == [1.0, 0.0, 1.0]


def test_fuse_stage_and_unknown_method(runs: list[Run]) -> None:
    q = Queries.from_arrays(["q"], ["text"])
    out = fuse(Precomputed(runs[0]), Precomputed(runs[1]), method="rrf")(q)
    assert out.docids.to_pylist()[0] == "d3"
    with pytest.raises(DataError, match="unknown fusion method"):
        fuse_runs(runs, "borda")


@settings(max_examples=40, deadline=None)
@given(st.lists(st.integers(-1000, 1000), min_size=1, max_size=20, unique=True))
def test_fusing_a_run_with_itself_keeps_its_order(scores: list[int]) -> None:
    r = Run.from_arrays(["q"] * len(scores), [f"d{i}" for i in range(len(scores))], scores)
    for method in ("rrf", "combsum", "combmnz"):
        out = fuse_runs([r, r], method)
        assert out.docids.to_pylist() == r.docids.to_pylist()
        assert np.all(np.diff(out.scores) <= 0)
