from __future__ import annotations

import numpy as np
import pytest

from rankstack import Qrels, Queries, Run
from rankstack.evaluate import evaluate
from rankstack.exceptions import DataError, MissingFeaturesError, NotFittedError
from rankstack.experiment.expression import parse_pipeline
from rankstack.experiment.factories import stage_factories
from rankstack.index import Index
from rankstack.ltr import LambdaMART
from rankstack.pipeline import FeatureUnion, Stage, Then, check_fitted, clone, learned_stages
from rankstack.pipeline_fit import fit_pipeline, labels_for, letor_data
from rankstack.retrieve import BM25

from .conftest import LEARNED, World


def parse(text: str, index: Index) -> Stage:
    return parse_pipeline(text, stage_factories(lambda: index))


def split(world: World) -> tuple[Queries, Qrels, Queries, Qrels, Queries, Qrels]:
    qids = world.queries.qid_list()
    parts = [qids[:30], qids[30:40], qids[40:]]
    out: list = []
    for p in parts:
        out += [world.queries.select(p), world.qrels.select(p)]
    return tuple(out)  # type: ignore[return-value]


def test_labels_for_joins_grades_and_zeroes_unjudged() -> None:
    run = Run.from_arrays(["a", "a", "a", "b", "b"], ["x", "y", "z", "x", "w"], [5, 4, 3, 2, 1])
    qrels = Qrels.from_arrays(["a", "a", "b", "c"], ["y", "z", "w", "x"], [2, -1, 1, 3])
    assert labels_for(run, qrels).tolist() == [0, 2, 0, 0, 1]
    assert labels_for(Run.empty(["a"]), qrels).tolist() == []


def test_letor_data_drops_empty_queries_and_names_missing_features() -> None:
    run = Run.from_arrays(["a", "a"], ["x", "y"], [2.0, 1.0]).select(["a", "b"])
    qrels = Qrels.from_arrays(["a"], ["y"], [1])
    with pytest.raises(MissingFeaturesError, match="LambdaMART needs features"):
        letor_data(run, qrels, stage="LambdaMART")
    data = letor_data(run.with_features(np.ones((2, 1)), ["f"]), qrels)
    assert data.run.qid_list() == ["a"] and data.labels.tolist() == [0, 1]


def test_fit_trains_on_the_candidates_of_the_stages_before(
    world: World, world_index: Index
) -> None:
    tq, tr, vq, vr, sq, sr = split(world)
    pipe = parse(LEARNED, world_index)
    assert isinstance(pipe, Then) and isinstance(pipe.stages[1], FeatureUnion)
    with pytest.raises(NotFittedError, match=r"LambdaMART \(learned stage 1 of the pipeline\)"):
        pipe.transform(sq)
    assert pipe.fit(tq, tr, vq, vr) is pipe
    model = pipe.stages[-1]
    assert isinstance(model, LambdaMART) and model.feature_names_ == ("flat", "long", "title")
    assert model.evals_result_  # validation data reached the ranker
    out = pipe.transform(sq)
    assert out.qid_list() == sq.qid_list() and (out.sizes <= 30).all()
    # the learned stage re-ranks the first stage's candidates
    first = pipe.stages[0].transform(sq)
    assert sorted(out.docids.to_pylist()) == sorted(first.docids.to_pylist())
    base = evaluate(first, sr, ["nDCG@10"])["nDCG@10"]
    assert evaluate(out, sr, ["nDCG@10"])["nDCG@10"] >= base - 0.05


def test_learned_stage_inside_a_union_is_fitted_on_the_shared_input(
    world: World, world_index: Index
) -> None:
    tq, tr, *_ = split(world)
    text = (
        "bm25(k=30) >> (bm25(k=200, name='flat') ** ((bm25(k=200, name='a') ** "
        "bm25(k1=2.0, k=200, name='b')) >> lambdamart(n_estimators=5, min_data_in_leaf=5)))"
    )
    pipe = parse(text, world_index)
    fit_pipeline(pipe, tq, tr)
    check_fitted(pipe)
    (model,) = learned_stages(pipe)
    assert model.feature_names_ == ("a", "b")  # type: ignore[attr-defined]
    out = pipe.transform(tq)
    assert out.feature_names == ("flat", "lambdamart_1")


def test_fit_errors_name_the_problem(world: World, world_index: Index) -> None:
    tq, tr, vq, _, *_ = split(world)
    no_features = parse("bm25(k=30) >> lambdamart()", world_index)
    with pytest.raises(MissingFeaturesError, match="LambdaMART needs features"):
        fit_pipeline(no_features, tq, tr)
    with pytest.raises(DataError, match="both valid_queries and valid_qrels"):
        fit_pipeline(no_features, tq, tr, vq, None)
    bare = parse("lambdamart()", world_index)
    with pytest.raises(DataError, match="needs a run"):
        fit_pipeline(bare, tq, tr)
    # a pipeline without learned stages is returned as it is
    plain = parse("bm25()", world_index)
    assert fit_pipeline(plain, tq, tr) is plain


def test_clone_is_unfitted_and_shares_what_is_not_learned(world: World, world_index: Index) -> None:
    tq, tr, *_ = split(world)
    pipe = parse(LEARNED, world_index)
    pipe.fit(tq, tr)  # type: ignore[attr-defined]
    fresh = clone(pipe)
    assert isinstance(fresh, Then) and fresh is not pipe
    with pytest.raises(NotFittedError):
        check_fitted(fresh)
    assert fresh.stages[0] is not pipe.stages[0]  # type: ignore[attr-defined]
    assert fresh.stages[0].get_params() == pipe.stages[0].get_params()  # type: ignore[attr-defined]
    shared = clone(pipe, share_unlearned=True)
    assert shared.stages[0] is pipe.stages[0]  # type: ignore[attr-defined]
    assert shared.stages[-1] is not pipe.stages[-1]  # type: ignore[attr-defined]
    assert shared.stages[-1].get_params() == pipe.stages[-1].get_params()  # type: ignore[attr-defined]
    bm25 = pipe.stages[0]  # type: ignore[attr-defined]
    assert isinstance(bm25, BM25)
    assert clone(bm25).index is bm25.index


def test_a_run_lacking_trained_features_names_them(world: World, world_index: Index) -> None:
    tq, tr, *_ = split(world)
    pipe = parse(LEARNED, world_index)
    pipe.fit(tq, tr)  # type: ignore[attr-defined]
    model = pipe.stages[-1]  # type: ignore[attr-defined]
    other = parse(
        "bm25(k=30) >> (bm25(k=200, name='flat') ** bm25(k=200, name='other'))", world_index
    )
    with pytest.raises(MissingFeaturesError, match=r"lacks feature\(s\) \['long', 'title'\]"):
        (other >> model).transform(tq)


def test_example_experiment_files_are_valid() -> None:
    from pathlib import Path

    from rankstack.experiment import ExperimentSpec
    from rankstack.experiment.stages import check_spec

    root = Path(__file__).resolve().parents[2] / "examples"
    for name in ("scifact.toml", "cranfield.toml"):
        spec = ExperimentSpec.from_toml(root / name)
        check_spec(spec)
        assert any("lambdamart" in s.pipeline for s in spec.systems)
