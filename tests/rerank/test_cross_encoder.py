"""CrossEncoder stage mechanics on a tiny random model."""

from __future__ import annotations

import os

import numpy as np
import pytest

from rankstack.data import Corpus, Queries
from rankstack.exceptions import DataError
from rankstack.rerank.cross_encoder import CrossEncoder, load_cross_encoder
from rankstack.retrieve import BM25
from rankstack.train import ModelLoadError

os.environ.setdefault("HF_HUB_OFFLINE", "1")


@pytest.fixture(scope="module")
def model(tmp_path_factory: pytest.TempPathFactory):
    from rankstack.train.testing import tiny_cross_encoder

    return tiny_cross_encoder(tmp_path_factory.mktemp("ce") / "m")


@pytest.fixture(scope="module")
def collection():
    from rankstack.train.testing import WORDS

    rng = np.random.default_rng(2)
    corpus = Corpus.from_arrays(
        [f"d{i}" for i in range(25)],
        fields={
            "title": [" ".join(rng.choice(WORDS, 2)) for _ in range(25)],
            "text": [" ".join(rng.choice(WORDS, int(rng.integers(3, 20)))) for _ in range(25)],
        },
    )
    queries = Queries.from_arrays(["q1", "q2", "q3"], ["cell protein", "blood heart", "sleep"])
    return corpus, queries


def test_rescores_candidates_like_single_pairs(model, collection) -> None:
    import torch

    corpus, queries = collection
    first = BM25.from_corpus(corpus) % 6
    ce = CrossEncoder(str(model), corpus=corpus, batch_size=4)
    run = (first >> ce).transform(queries)
    base = first.transform(queries)
    assert run.qid_list() == base.qid_list()
    np.testing.assert_array_equal(run.sizes, base.sizes)
    net, tok = load_cross_encoder(model)
    texts = dict(zip(corpus.docid_list(), corpus.contents().to_pylist()))
    qtext = queries.to_dict()
    for qid, docids, scores in run:
        assert (np.diff(scores) <= 0).all()
        for d, s in zip(docids.to_pylist(), scores):
            enc = tok(
                [qtext[qid]],
                [texts[d]],
                truncation="only_second",
                max_length=256,
                return_tensors="pt",
            )
            with torch.no_grad():
                want = float(net(**enc).logits[0, 0])
            assert s == pytest.approx(want, abs=1e-5)
    one = CrossEncoder(str(model), corpus=corpus, batch_size=1).transform(queries, base)
    np.testing.assert_allclose(one.scores, run.scores, atol=1e-5)


def test_errors(model, collection, tmp_path) -> None:
    corpus, queries = collection
    base = BM25.from_corpus(corpus).transform(queries).cut(3)
    with pytest.raises(DataError, match="needs a run"):
        CrossEncoder(str(model), corpus=corpus).transform(queries)
    with pytest.raises(DataError, match="corpus="):
        CrossEncoder(str(model)).transform(queries, base)
    small = corpus.take(np.arange(2))
    with pytest.raises(DataError, match="not in the corpus"):
        CrossEncoder(str(model), corpus=small).transform(queries, base)
    with pytest.raises(DataError, match="batch_size"):
        CrossEncoder(str(model), batch_size=0)
    folder = tmp_path / "noweights"
    folder.mkdir()
    (folder / "config.json").write_text("{}")
    with pytest.raises(ModelLoadError, match="no weights"):
        CrossEncoder(str(folder), corpus=corpus).transform(queries, base)
    with pytest.raises(ModelLoadError, match="HF_HUB_OFFLINE"):
        CrossEncoder("nobody/no-such-cross-encoder", corpus=corpus).transform(queries, base)
    empty = base.cut(0)
    assert len(CrossEncoder(str(model), corpus=corpus).transform(queries, empty)) == 0


def test_loaded_pair_and_clone(model, collection) -> None:
    from rankstack.pipeline import clone

    corpus, queries = collection
    pair = load_cross_encoder(model)
    base = BM25.from_corpus(corpus).transform(queries).cut(3)
    a = CrossEncoder(pair, corpus=corpus).transform(queries, base)
    b = clone(CrossEncoder(str(model), corpus=corpus)).transform(queries, base)
    np.testing.assert_allclose(a.scores, b.scores, atol=1e-6)


def test_bf16_scores_close_to_float32(model, collection) -> None:
    corpus, _ = collection
    texts = corpus.contents().to_pylist()[:10]
    qs = ["cell protein"] * len(texts)
    fp32 = CrossEncoder(str(model)).score(qs, texts)
    bf16 = CrossEncoder(str(model), bf16=True).score(qs, texts)
    assert bf16.dtype == np.float32
    spread = float(np.ptp(fp32)) or 1.0
    assert float(np.abs(bf16 - fp32).max()) <= 0.05 * spread + 1e-3


def test_cross_encoder_in_a_pipeline_expression(model, collection) -> None:
    """``cross_encoder(model=...)`` in experiment files: built, run, and written back."""
    from rankstack.experiment.describe import describe
    from rankstack.experiment.expression import ExperimentError, parse_pipeline
    from rankstack.experiment.factories import stage_factories
    from rankstack.index import build_index

    corpus, queries = collection
    index = build_index(corpus)
    factories = stage_factories(lambda: index, corpus=lambda: corpus)
    text = f"bm25(k=6) >> cross_encoder(model={str(model)!r}, batch_size=4)"
    pipe = parse_pipeline(text, factories)
    direct = BM25(index, k=6) >> CrossEncoder(str(model), corpus=corpus, batch_size=4)
    got, want = pipe.transform(queries), direct.transform(queries)
    np.testing.assert_allclose(got.scores, want.scores, atol=1e-6)
    assert describe(pipe) == text
    with pytest.raises(ExperimentError, match="max_lenght"):
        parse_pipeline(f"cross_encoder(model={str(model)!r}, max_lenght=64)", factories)
    no_corpus = stage_factories(lambda: index)
    with pytest.raises(ExperimentError, match="corpus"):
        parse_pipeline(f"cross_encoder(model={str(model)!r})", no_corpus)
