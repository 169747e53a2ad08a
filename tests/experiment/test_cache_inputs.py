"""Cache keys follow the contents of the files a stage reads, not only their paths.

Each test runs an experiment, changes a run file, a saved ranker or a model folder in place
(same path, same expression), runs it again and checks that the changed stage and the stages
after it are recomputed while every other entry is still a cache hit.
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from rankstack import Run
from rankstack.experiment import Experiment, RunCache
from rankstack.experiment.expression import parse_pipeline
from rankstack.experiment.factories import stage_factories
from rankstack.experiment.inputs import input_digests, path_digest, stage_inputs
from rankstack.index import Index
from rankstack.io import read_run, write_run
from rankstack.pipeline import Stage, learned_stages
from rankstack.pipeline_fit import fit_pipeline

from .conftest import LEARNED, World

MEASURES = ["nDCG@10", "R@100"]
RUN_SYSTEMS = """
baseline = "BM25"
measures = ["nDCG@10", "R@100"]

[[systems]]
name = "BM25"
pipeline = "bm25()"

[[systems]]
name = "Run"
pipeline = "run(path='x.run')"

[[systems]]
name = "Rescored"
pipeline = "run(path='x.run') >> (bm25(k=200, name='a') ** bm25(b=0.9, k=200, name='b'))"
"""


# ------------------------------------------------------------------------------ fingerprints
def test_a_file_rewritten_in_place_gets_a_new_digest(tmp_path: Path) -> None:
    f = tmp_path / "x.bin"
    f.write_bytes(b"abcdef")
    first = path_digest(f)
    assert path_digest(f) == first  # remembered, and stable
    f.write_bytes(b"abcdeg")  # same size: the change is seen through the times and contents
    os.utime(f, ns=(1, 1))
    assert path_digest(f) != first


def test_a_folder_digest_covers_every_file_but_hidden_ones(tmp_path: Path) -> None:
    folder = tmp_path / "model"
    (folder / "sub").mkdir(parents=True)
    (folder / "config.json").write_text("{}")
    (folder / "sub" / "weights.npy").write_bytes(b"\x00" * 8)
    first = path_digest(folder)
    (folder / ".cache").mkdir()
    (folder / ".cache" / "lock").write_text("x")
    (folder / ".tmp").write_text("x")
    assert path_digest(folder) == first
    (folder / "sub" / "weights.npy").write_bytes(b"\x01" * 8)
    second = path_digest(folder)
    assert second != first
    (folder / "sub" / "weights.npy").rename(folder / "sub" / "other.npy")
    assert path_digest(folder) not in (first, second)  # names count, not only contents


def test_only_local_paths_of_known_parameters_are_inputs(
    world_index: Index, tmp_path: Path
) -> None:
    from rankstack.ltr import LambdaMART

    folder = tmp_path / "ranker"
    folder.mkdir()
    bm25 = parse_pipeline("bm25(name='ranker')", stage_factories(lambda: world_index))
    assert stage_inputs(bm25) == [] and input_digests(bm25) == []  # a name, not a path
    ranker = LambdaMART()
    ranker.saved_from_ = folder
    assert stage_inputs(bm25 >> ranker) == [folder]
    digests = input_digests(bm25 >> ranker)
    assert digests == [{"path": str(folder), "sha256": path_digest(folder)}]


def test_a_stage_whose_input_cannot_be_read_is_not_cached(
    world: World, world_index: Index, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from rankstack.experiment import inputs
    from rankstack.experiment.cache import CachedStage
    from rankstack.experiment.plan import Planner

    def unreadable(path: object) -> str:
        raise PermissionError(f"{path}: permission denied")

    monkeypatch.setattr(inputs, "path_digest", unreadable)
    factories = stage_factories(lambda: world_index, corpus=lambda: world.corpus)
    bm25 = parse_pipeline("bm25(k=10)", factories)
    reranked = parse_pipeline(f"bm25(k=10) >> cross_encoder(model={str(tmp_path)!r})", factories)
    assert input_digests(bm25) == [] and input_digests(reranked) is None
    planner = Planner(RunCache(), world.queries, "synthetic")
    assert isinstance(planner.wrap(bm25), CachedStage)  # reads no file: cached
    assert planner.wrap(reranked) is reranked  # left uncached; running it reports the problem


@pytest.mark.parametrize(
    "text",
    [
        "dense(model=MODEL)",
        "dense_features(model=MODEL)",
        "cross_encoder(model=MODEL)",
        "splade(index=MODEL, model=MODEL)",
        "llm_rerank(model=MODEL, adapter=MODEL, template=TEMPLATE)",
    ],
)
def test_every_model_stage_names_its_local_folders_and_files(text: str, tmp_path: Path) -> None:
    from rankstack import Corpus

    model, template = tmp_path / "model", tmp_path / "prompt.txt"
    model.mkdir()
    (model / "config.json").write_text("{}")
    template.write_text("x")
    corpus = Corpus.from_arrays(["d1"], fields={"text": ["a b"]})
    factories = stage_factories(lambda: None, corpus=lambda: corpus)
    text = text.replace("MODEL", repr(str(model))).replace("TEMPLATE", repr(str(template)))
    stage = parse_pipeline(text, factories)  # nothing is loaded yet
    expected = [model, template] if "template=" in text else [model]
    assert stage_inputs(stage) == expected


# ------------------------------------------------------------------------------ experiments
def test_a_run_file_regenerated_in_place_is_recomputed(
    world: World, world_corpus_dir: Path, world_index: Index, tmp_path: Path
) -> None:
    bm25 = parse_pipeline("bm25(k=50)", stage_factories(lambda: world_index))
    run = bm25.transform(world.queries)
    write_run(run, tmp_path / "x.run")
    (tmp_path / "exp.toml").write_text(
        f'name = "inputs"\ndataset = "{world_corpus_dir}"\n' + RUN_SYSTEMS, encoding="utf-8"
    )

    def again() -> tuple[Experiment, Run, Run]:
        exp = Experiment.from_toml(tmp_path / "exp.toml", cache_dir=tmp_path / "cache")
        result = exp.run()
        return exp, result.runs["Run"], result.runs["Rescored"]

    first, run1, rescored1 = again()
    assert len(first.cache.computed) == 3
    same, _, _ = again()
    assert same.cache.computed == []
    # the file is regenerated at the same path: the top 20 of each query only
    write_run(read_run(tmp_path / "x.run").cut(20), tmp_path / "x.run")
    changed, run2, rescored2 = again()
    assert len(changed.cache.computed) == 2  # the run and the run re-scored; bm25() is a hit
    assert all(c.startswith("run(sha256=") for c in changed.cache.computed)
    assert not set(changed.cache.computed) & set(first.cache.computed)
    assert max(run2.sizes) == 20 and not run2.equals(run1) and len(rescored2) == len(run2) == 400
    assert len(rescored1) == len(run1) == 1000


def _learned(index: Index, models: Path, ranker: str) -> Stage:
    text = LEARNED[: LEARNED.index(">> lambdamart(")] + f">> {ranker}"
    return parse_pipeline(text, stage_factories(lambda: index, models=models))


def _save_ranker(world: World, index: Index, folder: Path, qids: list[str]) -> None:
    pipe = parse_pipeline(LEARNED, stage_factories(lambda: index))
    fit_pipeline(pipe, world.queries.select(qids), world.qrels.select(qids))
    learned_stages(pipe)[0].save(folder)  # type: ignore[attr-defined]


def test_a_saved_ranker_replaced_in_place_is_refitted(
    world: World, world_index: Index, tmp_path: Path
) -> None:
    qids = world.queries.qid_list()
    train, test = qids[:40], qids[40:]
    _save_ranker(world, world_index, tmp_path / "ranker", train[:20])

    def again() -> Experiment:
        bm25 = parse_pipeline("bm25()", stage_factories(lambda: world_index))
        exp = Experiment(
            {
                "BM25": bm25,
                "Saved": _learned(world_index, tmp_path, "lambdamart(saved='ranker')"),
            },
            world.queries.select(test),
            world.qrels.select(test),
            MEASURES,
            train_queries=world.queries.select(train),
            train_qrels=world.qrels.select(train),
            cache=RunCache(tmp_path / "cache"),
        )
        exp.run()
        return exp

    first = again()
    assert len(first.cache.computed) == 4  # bm25(), the candidates, their features, the fit
    assert again().cache.computed == []
    # another model, same parameters, saved into the same folder
    _save_ranker(world, world_index, tmp_path / "ranker", train[20:])
    changed = again()
    # only the fitted run: BM25, the candidates and their features are hits
    assert len(changed.cache.computed) == 1 and changed.cache.computed[0].startswith("fitted ")


def test_a_model_folder_retrained_in_place_is_recomputed(
    world: World, world_index: Index, tmp_path: Path
) -> None:
    pytest.importorskip("transformers")
    pytest.importorskip("torch")
    from rankstack.train.testing import tiny_cross_encoder

    tiny_cross_encoder(tmp_path / "ce", seed=0)
    queries = world.queries.select(world.queries.qid_list()[:8])
    qrels = world.qrels.select(queries.qids)

    def again() -> tuple[Experiment, Run]:
        factories = stage_factories(
            lambda: world_index, models=tmp_path, corpus=lambda: world.corpus
        )
        systems = {
            name: parse_pipeline(text, factories)
            for name, text in {
                "BM25": "bm25()",
                "CE": "bm25(k=10) >> cross_encoder(model='ce', batch_size=16)",
            }.items()
        }
        exp = Experiment(systems, queries, qrels, MEASURES, cache=RunCache(tmp_path / "cache"))
        return exp, exp.run().runs["CE"]

    first, run1 = again()
    assert len(first.cache.computed) == 3
    same, _ = again()
    assert same.cache.computed == []
    tiny_cross_encoder(tmp_path / "ce", seed=1)  # retrained into the same folder
    changed, run2 = again()
    assert len(changed.cache.computed) == 1 and "cross_encoder(" in changed.cache.computed[0]
    assert not run2.equals(run1)
