from __future__ import annotations

import numpy as np
import pytest

from rankstack import Queries, Run, Stage
from rankstack.exceptions import DataError
from rankstack.pipeline import Cutoff, FeatureUnion, Precomputed, ScoreSum, Then, require_run


@pytest.fixture
def queries() -> Queries:
    return Queries.from_arrays(["q1", "q2"], ["first query", "second query"])


@pytest.fixture
def run_a() -> Run:
    return Run.from_arrays(
        ["q1", "q1", "q1", "q2", "q2"], ["d1", "d2", "d3", "d1", "d4"], [3.0, 2.0, 1.0, 5.0, 4.0]
    )


@pytest.fixture
def run_b() -> Run:
    return Run.from_arrays(["q1", "q1", "q2"], ["d3", "d9", "d4"], [10.0, 5.0, 1.0])


class Negate(Stage):
    """Re-ranker that reverses the order: score -> -score."""

    def transform(self, queries: Queries, run: Run | None = None) -> Run:
        run = require_run(self, run)
        return run.with_scores(-run.scores)


class Length(Stage):
    """Feature extractor: one feature, the doc id's length."""

    name = "len"

    def transform(self, queries: Queries, run: Run | None = None) -> Run:
        run = require_run(self, run)
        lens = np.array([len(d) for d in run.docids.to_pylist()], dtype=np.float32)
        return run.with_features(lens[:, None], ["doclen"])


def test_then_and_cutoff(queries: Queries, run_a: Run) -> None:
    pipe = Precomputed(run_a) % 2 >> Negate()
    assert isinstance(pipe, Then)
    out = pipe(queries)
    assert out.qid_list() == ["q1", "q2"]
    assert out.docids.to_pylist() == ["d2", "d1", "d4", "d1"]


def test_reranker_without_candidates_says_what_to_do(queries: Queries) -> None:
    with pytest.raises(DataError, match="needs a run"):
        (Negate() >> Cutoff(3)).transform(queries)


def test_score_sum_outer_joins_with_zero(queries: Queries, run_a: Run, run_b: Run) -> None:
    out = (Precomputed(run_a) + Precomputed(run_b))(queries)
    got = {q: dict(zip(d.to_pylist(), s.tolist())) for q, d, s in out}
    assert got == {
        "q1": {"d1": 3.0, "d2": 2.0, "d3": 11.0, "d9": 5.0},
        "q2": {"d1": 5.0, "d4": 5.0},
    }
    assert isinstance(Precomputed(run_a) + Precomputed(run_b), ScoreSum)


def test_feature_union_keeps_left_candidates(queries: Queries, run_a: Run, run_b: Run) -> None:
    pipe = Precomputed(run_a) >> (Length() ** Precomputed(run_b, name="b"))
    assert isinstance(pipe.stages[1], FeatureUnion)
    out = pipe(queries)
    assert out.equals(run_a.with_features(out.features, out.feature_names))
    assert out.feature_names == ("doclen", "b")
    b = dict(zip(zip(out.qid_column().to_pylist(), out.docids.to_pylist()), out.feature("b")))
    assert b[("q1", "d3")] == 10.0 and b[("q1", "d1")] == 0.0 and b[("q2", "d4")] == 1.0


def test_scaled_and_get_params(queries: Queries, run_a: Run) -> None:
    out = (0.5 * Precomputed(run_a))(queries)
    assert out.scores.tolist() == [1.5, 1.0, 0.5, 2.5, 2.0]
    assert Cutoff(7).get_params() == {"k": 7}
    assert repr(Cutoff(7)) == "Cutoff(k=7)"


def test_feature_union_keeps_input_features_and_adds_only_new_ones(
    queries: Queries, run_a: Run
) -> None:
    base = run_a.with_features(np.arange(5, dtype=np.float32)[:, None], ["prior"])
    out = (Precomputed(base) >> (Length() ** Negate()))(queries)
    # the input's own feature first, then Length's new one, then Negate's score (it adds none)
    assert out.feature_names == ("prior", "doclen", "negate_1")
    assert out.feature("negate_1").tolist() == (-base.scores).tolist()


def test_get_set_params_children_and_clone() -> None:
    from rankstack.pipeline import clone, iter_stages, learned_stages

    inner = Cutoff(5)
    pipe = Precomputed(Run.empty(["q"])) >> inner >> Negate()
    assert pipe.get_params() == {"stages": pipe.stages}
    assert pipe.children() == pipe.stages
    assert list(iter_stages(pipe))[1:] == pipe.stages
    assert learned_stages(pipe) == []
    assert inner.set_params(k=3) is inner and inner.k == 3
    with pytest.raises(DataError, match=r"Cutoff has no parameter 'kk'; valid: \['k'\]"):
        inner.set_params(kk=3)
    copy = clone(pipe)
    assert isinstance(copy, Then) and copy is not pipe
    assert [type(s) for s in copy.stages] == [type(s) for s in pipe.stages]
    assert copy.stages[1] is not inner and copy.stages[1].get_params() == {"k": 3}
    assert copy.stages[0].run is pipe.stages[0].run  # non-stage parameters are shared
    assert clone(pipe, share_unlearned=True) is pipe  # nothing learned: nothing to copy
