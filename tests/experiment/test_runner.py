from __future__ import annotations

import base64
import json
import re
from pathlib import Path

import numpy as np
import pytest

from rankstack import Qrels, Queries, Run
from rankstack.evaluate import evaluate
from rankstack.exceptions import MissingFeaturesError
from rankstack.experiment import Experiment, ExperimentError
from rankstack.experiment.cache import RunCache, run_from_bytes, run_to_bytes
from rankstack.experiment.expression import parse_pipeline
from rankstack.experiment.factories import stage_factories
from rankstack.experiment.report import recall_curve
from rankstack.index import Index
from rankstack.pipeline import Stage

from .conftest import LEARNED, World

MEASURES = ["nDCG@10", "AP", "RR@10", "R@100"]


def parse(text: str, index: Index) -> Stage:
    return parse_pipeline(text, stage_factories(lambda: index))


def systems(index: Index, **texts: str) -> dict[str, Stage]:
    return {name.replace("_", " "): parse(text, index) for name, text in texts.items()}


def split_experiment(
    world: World, index: Index, cache: RunCache | None = None, **texts: str
) -> Experiment:
    qids = world.queries.qid_list()
    train, test = qids[:40], qids[40:]
    return Experiment(
        systems(index, **texts),
        world.queries.select(test),
        world.qrels.select(test),
        MEASURES,
        train_queries=world.queries.select(train),
        train_qrels=world.qrels.select(train),
        dev_fraction=0.25,
        cache=cache,
        dataset="synthetic",
    )


def test_run_round_trips_through_the_cache_format() -> None:
    run = Run.from_arrays(
        ["a", "a", "b"], ["x", "y", "x"], [3.0, 2.0, 1.0], np.arange(6).reshape(3, 2), ["f", "g"]
    ).select(["a", "z", "b"])
    back = run_from_bytes(run_to_bytes(run))
    assert back.equals(run) and back.qid_list() == ["a", "z", "b"]
    plain = Run.from_arrays(["a"], ["x"], [1.0])
    assert run_from_bytes(run_to_bytes(plain)).equals(plain)


def test_split_protocol_fits_on_train_and_reports_on_test(world: World, world_index: Index) -> None:
    exp = split_experiment(world, world_index, BM25="bm25()", LTR=LEARNED)
    assert exp.protocol == "split"
    result = exp.run()
    assert result.n_queries == 20 and result.protocol == "split"
    info = result.systems["LTR"]
    assert info.learned and info.protocol == "split" and not info.cached
    assert info.fit["train_queries"] == 30 and info.fit["dev_queries"] == 10
    assert info.fit["stages"][0]["stage"] == "LambdaMART"
    assert result.systems["BM25"].protocol == "none"
    assert result.settings["train_queries"] == 30 and result.settings["dev_queries"] == 10
    doc = json.loads(result.to_json())
    assert doc["baseline"] == "BM25" and doc["protocol"] == "split"
    for entry in doc["systems"]:
        assert set(MEASURES) <= set(entry["measures"])
        assert set(entry["p_values"]) == set(MEASURES)
        assert isinstance(entry["name"], str)
    assert doc["systems"][0]["p_values"]["nDCG@10"] is None
    assert 0.0 <= doc["systems"][1]["p_values"]["nDCG@10"] <= 1.0
    assert doc["systems"][1]["expression"].endswith("min_data_in_leaf=5, early_stopping_rounds=5)")


def test_cross_validation_pools_every_query_once(world: World, world_index: Index) -> None:
    exp = Experiment(
        systems(world_index, BM25="bm25()", LTR=LEARNED),
        world.queries,
        world.qrels,
        MEASURES,
        folds=4,
        seed=3,
        dev_fraction=0.2,
    )
    assert exp.protocol == "cv"
    result = exp.run()
    assert result.folds is not None and len(result.folds) == 4
    assert sorted(q for f in result.folds for q in f) == sorted(world.queries.qid_list())
    run = result.runs["LTR"]
    assert sorted(run.qid_list()) == sorted(world.queries.qid_list())
    assert result.n_queries == len(world.queries)
    assert len(result.systems["LTR"].fit["stages_per_fold"]) == 4
    assert "4-fold cross-validation" in result.describe_protocol()
    # the same seed gives the same folds and the same pooled run
    again = Experiment(
        systems(world_index, BM25="bm25()", LTR=LEARNED),
        world.queries,
        world.qrels,
        MEASURES,
        folds=4,
        seed=3,
        dev_fraction=0.2,
    ).run()
    assert again.folds == result.folds and again.runs["LTR"].equals(run)


def test_cross_validation_saves_every_fold_model(
    world: World, world_index: Index, tmp_path: Path
) -> None:
    from rankstack.pipeline_io import load_pipeline, read_description

    exp = Experiment(
        systems(world_index, BM25="bm25()", LTR=LEARNED),
        world.queries,
        world.qrels,
        MEASURES,
        folds=3,
        seed=1,
        dev_fraction=0.2,
        cache=RunCache(tmp_path / "cache"),
    )
    result = exp.run(save_dir=tmp_path / "models")
    assert result.folds is not None
    saved = result.systems["LTR"].fit["saved"]
    assert saved == [str(tmp_path / "models" / "LTR" / f"fold-{i}") for i in (1, 2, 3)]
    assert "saved" not in result.systems["BM25"].fit
    for i, (folder, held) in enumerate(zip(saved, result.folds)):
        info = read_description(folder)["info"]
        assert info["fold"] == i + 1 and info["folds"] == 3 and info["system"] == "LTR"
        assert info["held_out_qids"] == held and info["train_queries"] + info["dev_queries"] == 40
        # the reloaded fold model ranks its held-out queries exactly as the experiment did
        queries = world.queries.select(held)
        want = result.runs["LTR"].select(held)
        assert load_pipeline(folder).transform(queries).equals(want)
    # a cached run is refitted when models are to be saved (the cache holds runs, not models)
    again = exp.run(save_dir=tmp_path / "again")
    assert len(again.systems["LTR"].fit["saved"]) == 3
    assert again.runs["LTR"].equals(result.runs["LTR"])


def test_rerunning_a_changed_experiment_recomputes_only_what_changed(
    world: World, world_index: Index, tmp_path: Path
) -> None:
    first = split_experiment(
        world, world_index, RunCache(tmp_path), BM25="bm25()", RRF="fuse(bm25(), rm3(bm25()))"
    )
    first.systems["LTR"] = parse(LEARNED, world_index)
    r1 = first.run()
    computed = list(first.cache.computed)
    # bm25() (report queries), rm3, the fusion, bm25(k=30) and its features (all queries), the
    # fitted system's report run
    assert len(computed) == 6 and r1.cache_stats["stored"] == 6
    # the same experiment again: nothing is computed
    same = split_experiment(
        world, world_index, RunCache(tmp_path), BM25="bm25()", RRF="fuse(bm25(), rm3(bm25()))"
    )
    same.systems["LTR"] = parse(LEARNED, world_index)
    r2 = same.run()
    assert same.cache.computed == [] and r2.systems["LTR"].cached and r2.systems["BM25"].cached
    for name in r1.runs:
        assert r2.runs[name].equals(r1.runs[name])
    # change the ranker only: candidates and features are reused, the model is refitted
    changed = split_experiment(
        world, world_index, RunCache(tmp_path), BM25="bm25()", RRF="fuse(bm25(), rm3(bm25()))"
    )
    changed.systems["LTR"] = parse(
        LEARNED.replace("n_estimators=15", "n_estimators=10"), world_index
    )
    changed.run()
    assert len(changed.cache.computed) == 1
    assert changed.cache.computed[0].startswith("fitted ")
    # change one feature: the candidates are reused, the features and the model are recomputed
    feature_change = split_experiment(world, world_index, RunCache(tmp_path), BM25="bm25()")
    feature_change.systems["LTR"] = parse(LEARNED.replace("k1=1.6", "k1=1.7"), world_index)
    feature_change.run()
    assert len(feature_change.cache.computed) == 2
    assert not any(
        c.startswith("bm25(k1=0.9, b=0.4") and ">>" not in c for c in feature_change.cache.computed
    )


def test_a_corrupt_cache_entry_is_recomputed_never_trusted(
    world: World, world_index: Index, tmp_path: Path
) -> None:
    first = split_experiment(
        world, world_index, RunCache(tmp_path), BM25="bm25()", B="bm25(k1=2.0)"
    )
    r1 = first.run()
    arrows = sorted(tmp_path.rglob("*.arrow"))
    assert len(arrows) == 2
    # flip one byte of a run file (same size: only the checksum can tell)
    data = bytearray(arrows[0].read_bytes())
    data[len(data) // 2] ^= 0xFF
    arrows[0].write_bytes(bytes(data))
    # and cut the description of the other in half
    meta = arrows[1].with_suffix(".json")
    meta.write_text(meta.read_text()[: len(meta.read_text()) // 2])
    second = split_experiment(
        world, world_index, RunCache(tmp_path), BM25="bm25()", B="bm25(k1=2.0)"
    )
    r2 = second.run()
    assert r2.cache_stats["corrupt"] == 2 and len(second.cache.computed) == 2
    for name in r1.runs:
        assert r2.runs[name].equals(r1.runs[name])
    third = split_experiment(
        world, world_index, RunCache(tmp_path), BM25="bm25()", B="bm25(k1=2.0)"
    )
    third.run()
    assert third.cache.stats["corrupt"] == 0 and third.cache.computed == []  # rewritten


def test_missing_features_name_the_system(world: World, world_index: Index) -> None:
    exp = split_experiment(world, world_index, BM25="bm25()", Bad="bm25(k=30) >> lambdamart()")
    with pytest.raises(MissingFeaturesError, match="system 'Bad': LambdaMART needs features"):
        exp.run()


def test_learned_systems_need_training_data(world: World, world_index: Index) -> None:
    with pytest.raises(ExperimentError, match="give training queries and qrels"):
        Experiment(systems(world_index, LTR=LEARNED), world.queries, world.qrels)
    with pytest.raises(ExperimentError, match="not both"):
        Experiment(
            systems(world_index, LTR=LEARNED),
            world.queries,
            world.qrels,
            train_queries=world.queries,
            train_qrels=world.qrels,
            folds=3,
        )


def test_recall_curve_matches_the_evaluator(world: World, world_index: Index) -> None:
    run = parse("bm25(k=50)", world_index).transform(world.queries.select(["q0", "q1", "q2"]))
    qrels = world.qrels.select(["q0", "q1", "q2", "q3"])  # q3 is not in the run: recall 0
    curve = recall_curve(run, qrels, 60)
    for k in (1, 5, 10, 50, 60):
        want = evaluate(run, qrels, [f"R@{k}"], complete=True)[f"R@{k}"]
        assert curve[k - 1] == pytest.approx(want, abs=1e-12)
    full = evaluate(run, qrels, ["R@10"])["R@10"]  # over the 3 run queries only
    assert curve[9] == pytest.approx(full * 3 / 4)
    assert np.all(np.diff(curve) >= 0)


def test_html_report_holds_the_table_settings_and_three_images(
    world: World, world_index: Index, tmp_path: Path
) -> None:
    result = split_experiment(world, world_index, BM25="bm25()", LTR=LEARNED).run()
    path = tmp_path / "report.html"
    text = result.to_html(path)
    assert path.read_text(encoding="utf-8") == text
    assert "<table>" in text and "nDCG@10" in text and "BM25 (baseline)" in text
    assert f"{result.comparison.means['LTR']['nDCG@10']:.4f}" in text
    assert "fit on 30 train queries, 10 dev queries" in text
    assert "dev_fraction" in text and "lambdamart(" in text
    images = re.findall(r'src="data:image/png;base64,([A-Za-z0-9+/=]+)"', text)
    assert len(images) == 3
    for img in images:
        assert base64.b64decode(img).startswith(b"\x89PNG\r\n\x1a\n")
    assert "http://" not in text and "https://" not in text  # self-contained


def test_python_api_runs_precomputed_systems_without_learning() -> None:
    from rankstack.pipeline import Precomputed

    qrels = Qrels.from_arrays(["1", "2"], ["a", "c"], [1, 1])
    queries = Queries.from_arrays(["1", "2"], ["x", "y"])
    run = Run.from_arrays(["1", "1", "2"], ["a", "b", "c"], [2.0, 1.0, 1.0])
    result = Experiment({"p": Precomputed(run)}, queries, qrels, ["RR"]).run()
    assert result.protocol == "none" and result.comparison.means["p"]["RR"] == 1.0
