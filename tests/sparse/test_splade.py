"""SPLADE: weights vs a direct computation, the impact index, search vs brute force, errors."""

from __future__ import annotations

import json
import os
from pathlib import Path

import numpy as np
import pytest
import scipy.sparse as sp
from hypothesis import given, settings
from hypothesis import strategies as st

from rankstack.data import Corpus, Queries
from rankstack.exceptions import IndexFormatError
from rankstack.sparse import ImpactIndex, Splade, SpladeEncoder
from rankstack.train import ModelLoadError

os.environ.setdefault("HF_HUB_OFFLINE", "1")


@pytest.fixture(scope="module")
def mlm(tmp_path_factory: pytest.TempPathFactory) -> Path:
    from rankstack.train.testing import tiny_masked_lm

    return tiny_masked_lm(tmp_path_factory.mktemp("mlm") / "m")


@pytest.fixture(scope="module")
def corpus() -> Corpus:
    from rankstack.train.testing import WORDS

    rng = np.random.default_rng(1)
    texts = [" ".join(rng.choice(WORDS, int(rng.integers(2, 15)))) for _ in range(30)]
    return Corpus.from_arrays([f"d{i:02d}" for i in range(30)], texts)


def direct_weights(path: Path, texts: list[str], max_length: int = 256) -> np.ndarray:
    """max over real tokens of log1p(relu(logits)), computed naively text by text."""
    import torch
    from transformers import AutoModelForMaskedLM, AutoTokenizer

    tok = AutoTokenizer.from_pretrained(path)
    model = AutoModelForMaskedLM.from_pretrained(path).eval()
    rows = []
    with torch.no_grad():
        for t in texts:
            enc = tok([t], truncation=True, max_length=max_length, return_tensors="pt")
            logits = model(**enc).logits[0]
            rows.append(torch.log1p(torch.relu(logits)).max(dim=0).values.numpy())
    return np.stack(rows)


def test_weights_match_direct_computation(mlm, corpus) -> None:
    texts = [*corpus.contents().to_pylist()[:8], ""]
    enc = SpladeEncoder(str(mlm), batch_size=3)
    got = enc.encode(texts)
    assert got.shape == (9, enc.vocab_size) and got.dtype == np.float32
    np.testing.assert_allclose(got.toarray(), direct_weights(mlm, texts), rtol=1e-5, atol=1e-6)
    # batching and padding do not change the weights
    np.testing.assert_allclose(
        SpladeEncoder(str(mlm), batch_size=9).encode(texts).toarray(), got.toarray(), atol=1e-5
    )


@pytest.mark.parametrize("quantize", [True, False])
def test_round_trip_and_search_vs_brute_force(mlm, corpus, tmp_path, quantize) -> None:
    splade = Splade.from_corpus(corpus, str(mlm), path=tmp_path / "idx", quantize=quantize, k=7)
    loaded = ImpactIndex.load(tmp_path / "idx", verify=True)
    for name in ("indptr", "docs", "impacts"):
        np.testing.assert_array_equal(getattr(loaded, name), getattr(splade.index_, name))
    assert loaded.docids.equals(corpus.docids)
    queries = Queries.from_arrays(["a", "b", "c"], ["cell protein", "heart blood risk", "zzz"])
    run = Splade(tmp_path / "idx", k=7).transform(queries)
    enc = SpladeEncoder(str(mlm), max_length=64)
    q = enc.encode(queries.texts).toarray().astype(np.float64)
    d = enc.encode(corpus.contents()).toarray().astype(np.float64)
    if quantize:
        d = np.rint(d * 100) / 100
    brute = q @ d.T
    for i, qid in enumerate(["a", "b", "c"]):
        ids, scores = run.query(qid)
        want = sorted(
            ((s, corpus.docid_list()[j]) for j, s in enumerate(brute[i]) if s > 0), reverse=True
        )[:7]
        np.testing.assert_allclose(scores, [s for s, _ in want], rtol=1e-4, atol=1e-4)
        assert len(ids) == len(want)


def test_corrupt_and_foreign_indexes_refused(mlm, corpus, tmp_path) -> None:
    Splade.from_corpus(corpus, str(mlm), path=tmp_path / "idx")
    path = tmp_path / "idx"
    with open(path / "impacts.npy", "r+b") as fh:  # flip bytes: checksum mismatch
        fh.seek(-2, 2)
        fh.write(b"\xff\xff")
    with pytest.raises(IndexFormatError, match="checksum"):
        ImpactIndex.load(path, verify=True)
    with open(path / "docs.npy", "ab") as fh:
        fh.write(b"xx")
    with pytest.raises(IndexFormatError, match="truncated or corrupt"):
        ImpactIndex.load(path)
    manifest = json.loads((path / "manifest.json").read_text())
    manifest["version"] = 99
    (path / "manifest.json").write_text(json.dumps(manifest))
    with pytest.raises(IndexFormatError, match="version"):
        ImpactIndex.load(path)
    (path / "manifest.json").write_text("{")
    with pytest.raises(IndexFormatError, match="JSON"):
        ImpactIndex.load(path)
    with pytest.raises(IndexFormatError, match="not an impact index"):
        ImpactIndex.load(tmp_path)
    other = tmp_path / "other"
    other.mkdir()
    (other / "x.txt").write_text("mine")
    with pytest.raises(IndexFormatError, match="not an impact index"):
        Splade.from_corpus(corpus, str(mlm), path=other)


def test_model_errors(mlm, corpus, tmp_path, monkeypatch) -> None:
    empty = tmp_path / "noweights"
    empty.mkdir()
    (empty / "config.json").write_text("{}")
    with pytest.raises(ModelLoadError, match="no weights"):
        SpladeEncoder(str(empty))
    (empty / "pytorch_model.bin").write_bytes(b"")
    with pytest.raises(ModelLoadError, match="pickle"):
        SpladeEncoder(str(empty))
    with pytest.raises(ModelLoadError, match="does not exist"):
        SpladeEncoder(str(tmp_path / "missing"))
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    with pytest.raises(ModelLoadError, match="HF_HUB_OFFLINE"):
        SpladeEncoder("nobody/no-such-splade-model")


def test_index_from_other_model_refused(mlm, corpus, tmp_path) -> None:
    from rankstack.train.testing import tiny_masked_lm

    index = Splade.from_corpus(corpus, str(mlm)).index_
    other = tiny_masked_lm(tmp_path / "other", seed=5)
    with pytest.raises(IndexFormatError, match="another model"):
        Splade(index, model=str(other)).transform(Queries.from_arrays(["q"], ["cell"]))
    bigger = tiny_masked_lm(tmp_path / "bigger", words=["x", "y"])
    with pytest.raises(IndexFormatError, match="vocabulary"):
        Splade(
            ImpactIndex.from_weights(index.matrix().T, corpus.docids), model=str(bigger)
        ).transform(Queries.from_arrays(["q"], ["x"]))


@settings(max_examples=40, deadline=None)
@given(
    st.integers(1, 12),
    st.integers(1, 20),
    st.floats(0.0, 1.0),
    st.integers(0, 2**31 - 1),
)
def test_impact_matrix_is_the_transpose(n_docs, n_terms, density, seed) -> None:
    rng = np.random.default_rng(seed)
    w = sp.random(n_docs, n_terms, density=density, random_state=rng, dtype=np.float32) * 3
    ids = [f"d{i}" for i in range(n_docs)]
    exact = ImpactIndex.from_weights(w, ids, quantize=False)
    np.testing.assert_array_equal(exact.matrix().toarray(), w.T.toarray())
    quant = ImpactIndex.from_weights(w, ids, quantize=True, scale=100)
    np.testing.assert_allclose(quant.matrix().toarray(), w.T.toarray(), atol=0.005 + 1e-6)


def test_cached_index_is_built_once_and_keyed_by_corpus(mlm, corpus, tmp_path, monkeypatch):
    """``Splade.cached``: the second call reads the saved index (no document encoding), and
    a changed corpus gets its own index instead of a stale one."""
    import rankstack.sparse.stage as stage_mod

    monkeypatch.setenv("RANKSTACK_HOME", str(tmp_path / "home"))
    queries = Queries.from_arrays(["q1", "q2"], [corpus.contents().to_pylist()[0], "cell"])
    first = Splade.cached(corpus, str(mlm), k=5)
    folder = Path(first.index)
    assert folder.parent == tmp_path / "home" / "splade" and (folder / "manifest.json").is_file()
    want = first.transform(queries)

    def no_build(*args, **kwargs):
        raise AssertionError("the cached index should have been read")

    with monkeypatch.context() as m:
        m.setattr(stage_mod, "build_impact_index", no_build)
        again = Splade.cached(corpus, str(mlm), k=5)
        got = again.transform(queries)
    assert again.index == first.index
    np.testing.assert_array_equal(got.scores, want.scores)
    assert got.docids.to_pylist() == want.docids.to_pylist()
    smaller = corpus.take(np.arange(20))
    other = Splade.cached(smaller, str(mlm), k=5)
    assert Path(other.index) != folder and other.index_.n_docs == 20
    # a folder given by hand that holds another corpus's index is refused
    with pytest.raises(IndexFormatError, match="another corpus"):
        Splade.cached(smaller, str(mlm), cache_dir=folder)


def test_splade_in_a_pipeline_expression(mlm, corpus, tmp_path, monkeypatch) -> None:
    """``splade(...)`` in experiment and pipeline files: built over the corpus (index cached),
    run, written back with its index folder, and re-read from that text."""
    from rankstack.experiment.describe import describe
    from rankstack.experiment.expression import ExperimentError, parse_pipeline
    from rankstack.experiment.factories import stage_factories
    from rankstack.index import build_index

    monkeypatch.setenv("RANKSTACK_HOME", str(tmp_path / "home"))
    index = build_index(corpus)
    factories = stage_factories(lambda: index, corpus=lambda: corpus, depth=8)
    queries = Queries.from_arrays(["q1", "q2"], ["cell protein", "blood"])
    pipe = parse_pipeline(f"splade(model={str(mlm)!r}) % 4", factories)
    direct = Splade.from_corpus(corpus, str(mlm), k=8) % 4
    got, want = pipe.transform(queries), direct.transform(queries)
    np.testing.assert_allclose(got.scores, want.scores, rtol=1e-6)
    assert got.docids.to_pylist() == want.docids.to_pylist()
    text = describe(pipe)
    assert text.startswith("splade(index=") and "model=" in text and text.endswith("% 4")
    reread = parse_pipeline(text, stage_factories(lambda: index))  # no corpus needed now
    np.testing.assert_allclose(reread.transform(queries).scores, got.scores)
    with pytest.raises(ExperimentError, match="max_lenght"):
        parse_pipeline("splade(max_lenght=3)", factories)
    with pytest.raises(ExperimentError, match="corpus"):
        parse_pipeline(f"splade(model={str(mlm)!r})", stage_factories(lambda: index))
