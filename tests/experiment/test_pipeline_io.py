from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from rankstack import Run
from rankstack.exceptions import NotFittedError, RankstackError
from rankstack.experiment.describe import describe
from rankstack.experiment.expression import parse_pipeline
from rankstack.experiment.factories import stage_factories
from rankstack.index import Index, build_index
from rankstack.pipeline import Precomputed, Stage
from rankstack.pipeline_io import (
    IndexMismatchError,
    PipelineFormatError,
    index_fingerprint,
    load_pipeline,
    read_description,
    save_pipeline,
)

from .conftest import LEARNED, World, make_world


def parse(text: str, index: Index) -> Stage:
    return parse_pipeline(text, stage_factories(lambda: index))


@pytest.fixture(scope="module")
def fitted(world: World, world_index: Index) -> Stage:
    qids = world.queries.qid_list()[:40]
    pipe = parse(LEARNED, world_index)
    pipe.fit(world.queries.select(qids), world.qrels.select(qids))  # type: ignore[attr-defined]
    return pipe


@pytest.mark.parametrize(
    "text",
    [
        "bm25(k=1000)",
        "bm25(k1=1.2, b=0.75, k=100) % 10",
        "bm25(k=100) >> (bm25(k=50, name='a') ** bm25(fields={'title': 2.0}, k=50))",
        "rm3(bm25(k=100), fb_docs=5, fb_terms=20)",
        "fuse(bm25(k=100), rm3(bm25(k=100)), method='combsum', norm='zscore', depth=50)",
        "(0.5 * bm25(k=100)) + bm25(k1=2.0, k=100)",
        "bm25(k=100) >> lambdamart(n_estimators=20, label_gain=[0, 1, 3],"
        " booster_params={'max_bin': 63})",
        "bm25(k=100) >> neural(hidden=[16, 8], loss='lambdaloss', epochs=3)",
        "bm25(k=50) >> features(features=['bm25', 'lm'], mu=1000.0, fields=['title'])",
    ],
)
def test_describe_round_trips_through_the_parser(text: str, world_index: Index) -> None:
    stage = parse(text, world_index)
    again = parse(describe(stage), world_index)
    assert describe(again) == describe(stage)
    assert describe(again, full=True) == describe(stage, full=True)


def test_describe_writes_only_what_differs_from_defaults(world_index: Index) -> None:
    stage = parse("bm25(k1=0.9, k=100) % 10 >> lambdamart(seed=0, n_estimators=50)", world_index)
    assert describe(stage) == "bm25(k=100) % 10 >> lambdamart(n_estimators=50)"
    assert "k1=0.9" in describe(stage, full=True)


def test_save_load_round_trip_gives_identical_runs(
    fitted: Stage, world: World, tmp_path: Path
) -> None:
    test = world.queries.select(world.queries.qid_list()[40:])
    folder = save_pipeline(fitted, tmp_path / "pipe", info={"train": "q0..q39"})
    doc = read_description(folder)
    assert doc["expression"].endswith("lambdamart(saved='stages/0')")
    assert doc["index"]["fingerprint"]["n_docs"] == 400
    assert (folder / "stages" / "0" / "model.json").is_file()
    loaded = load_pipeline(folder)
    assert loaded.transform(test).equals(fitted.transform(test))
    # saving again over a saved pipeline replaces it
    save_pipeline(fitted, folder)
    assert load_pipeline(folder).transform(test).equals(fitted.transform(test))


def test_precomputed_runs_are_saved_as_trec_files(fitted: Stage, tmp_path: Path) -> None:
    run = Run.from_arrays(["q0", "q0"], ["d1", "d2"], [2.0, 1.0])
    folder = save_pipeline(Precomputed(run, name="mine"), tmp_path / "p")
    assert read_description(folder)["expression"] == "run(path='runs/0.trec', name='mine')"
    assert load_pipeline(folder).transform(world_queries := None or _q()).equals(run)  # noqa: F841


def _q():  # type: ignore[no-untyped-def]
    from rankstack import Queries

    return Queries.from_arrays(["q0"], ["x"])


def test_unfitted_pipeline_is_not_saved(world_index: Index, tmp_path: Path) -> None:
    with pytest.raises(NotFittedError, match="LambdaMART"):
        save_pipeline(parse(LEARNED, world_index), tmp_path / "p")
    assert not (tmp_path / "p").exists()


def test_another_index_is_refused_unless_overridden(
    fitted: Stage, world: World, tmp_path: Path
) -> None:
    folder = save_pipeline(fitted, tmp_path / "pipe")
    other_world = make_world(n_docs=300, seed=1)
    other = build_index(
        other_world.corpus,
        tmp_path / "other",
        fields={"contents": ["title", "text"], "title": ["title"], "text": ["text"]},
        progress=False,
    )
    assert index_fingerprint(other) != index_fingerprint(fitted.stages[0].index_)  # type: ignore[attr-defined]
    with pytest.raises(IndexMismatchError, match=r"n_docs 400 \(fitted\) vs 300 \(given\)"):
        load_pipeline(folder, index=other)
    with pytest.raises(IndexMismatchError, match="allow_index_mismatch"):
        load_pipeline(folder, index=tmp_path / "other")
    pipe = load_pipeline(folder, index=other, allow_index_mismatch=True)
    assert pipe.transform(other_world.queries).n_queries == len(other_world.queries)


def test_same_content_elsewhere_is_accepted(fitted: Stage, world: World, tmp_path: Path) -> None:
    folder = save_pipeline(fitted, tmp_path / "pipe")
    src = Path(fitted.stages[0].index_.path)  # type: ignore[attr-defined]
    shutil.copytree(src, tmp_path / "copy")
    test = world.queries.select(world.queries.qid_list()[40:])
    moved = load_pipeline(folder, index=tmp_path / "copy")
    assert moved.transform(test).equals(fitted.transform(test))


def test_corrupt_or_foreign_folders_are_refused(fitted: Stage, tmp_path: Path) -> None:
    folder = save_pipeline(fitted, tmp_path / "pipe")
    booster = folder / "stages" / "0" / "booster.txt"
    booster.write_text(booster.read_text().replace("Tree=0", "Tree=9", 1))
    with pytest.raises(PipelineFormatError, match=r"stages/0/booster\.txt does not match"):
        load_pipeline(folder)
    booster.unlink()
    with pytest.raises(PipelineFormatError, match="is missing"):
        load_pipeline(folder)
    desc = folder / "pipeline.json"
    doc = json.loads(desc.read_text())
    desc.write_text(json.dumps({**doc, "version": 99}))
    with pytest.raises(PipelineFormatError, match="version 99"):
        load_pipeline(folder)
    desc.write_text("{not json")
    with pytest.raises(PipelineFormatError, match="not valid JSON"):
        load_pipeline(folder)
    with pytest.raises(PipelineFormatError, match="not a saved pipeline"):
        load_pipeline(tmp_path / "nowhere")
    (tmp_path / "busy").mkdir()
    (tmp_path / "busy" / "notes.txt").write_text("mine")
    with pytest.raises(RankstackError, match="is not a saved pipeline"):
        save_pipeline(fitted, tmp_path / "busy")
    assert (tmp_path / "busy" / "notes.txt").read_text() == "mine"


def test_features_pipeline_round_trips(world: World, world_index: Index, tmp_path: Path) -> None:
    qids = world.queries.qid_list()
    text = (
        "bm25(k=30) >> features(features='no_positions') >> "
        "lambdamart(n_estimators=10, min_data_in_leaf=5)"
    )
    pipe = parse(text, world_index)
    pipe.fit(world.queries.select(qids[:40]), world.qrels.select(qids[:40]))  # type: ignore[attr-defined]
    folder = save_pipeline(pipe, tmp_path / "feat")
    assert read_description(folder)["expression"] == (
        "bm25(k=30) >> features(features='no_positions') >> lambdamart(saved='stages/0')"
    )
    test = world.queries.select(qids[40:])
    assert load_pipeline(folder).transform(test).equals(pipe.transform(test))
