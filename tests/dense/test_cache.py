"""Embedding cache: reuse, partial re-encoding, refusals, precisions, fingerprints."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pyarrow as pa
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from rankstack.data import Corpus
from rankstack.dense import _codec
from rankstack.dense._fingerprint import corpus_version, text_fingerprints
from rankstack.dense.cache import EmbeddingCache, sync_cache
from rankstack.dense.model import ModelIdentity
from rankstack.exceptions import DataError, IndexFormatError

MODEL = ModelIdentity("m", "a" * 64)


class FakeEncoder:
    """Deterministic embeddings from the text, counting what it was asked to encode."""

    def __init__(self, texts: list[str], dim: int = 8) -> None:
        self.texts = texts
        self.dim = dim
        self.calls: list[list[str]] = []

    def __call__(self, rows: np.ndarray) -> np.ndarray:
        batch = [self.texts[i] for i in rows]
        self.calls.append(batch)
        out = np.array(
            [np.random.default_rng(abs(hash(t)) % 2**32).normal(size=self.dim) for t in batch]
        )
        return (out / np.linalg.norm(out, axis=1, keepdims=True)).astype(np.float32)

    @property
    def encoded(self) -> list[str]:
        return [t for c in self.calls for t in c]


def _sync(
    path: Path, ids: list[str], texts: list[str], **kw: object
) -> tuple[EmbeddingCache, FakeEncoder]:
    enc = FakeEncoder(texts, dim=int(kw.pop("dim", 8)))  # type: ignore[call-overload]
    arr = pa.array(texts)
    cache = sync_cache(
        path,
        model=kw.pop("model", MODEL),  # type: ignore[arg-type]
        docids=pa.array(ids),
        fingerprints=text_fingerprints(arr),
        encode=enc,
        **kw,  # type: ignore[arg-type]
    )
    return cache, enc


@pytest.mark.parametrize("dtype", ["float32", "float16", "int8"])
def test_reuse_and_partial_reencode(tmp_path: Path, dtype: str) -> None:
    ids = ["a", "b", "c"]
    texts = ["alpha text", "beta text", "gamma text"]
    first, enc = _sync(tmp_path / "c", ids, texts, dtype=dtype)
    assert enc.encoded == texts and len(first) == 3 and first.dtype == dtype
    # same corpus: nothing encoded
    again, enc2 = _sync(tmp_path / "c", ids, texts, dtype=dtype)
    assert enc2.encoded == []
    np.testing.assert_array_equal(again.embeddings(), first.embeddings())
    # grown corpus with one changed text: only the new and the changed document are encoded
    ids3 = ["a", "b", "c", "d"]
    texts3 = ["alpha text", "beta text CHANGED", "gamma text", "delta text"]
    grown, enc3 = _sync(tmp_path / "c", ids3, texts3, dtype=dtype)
    assert sorted(enc3.encoded) == ["beta text CHANGED", "delta text"]
    assert grown.docids.to_pylist() == ids3
    ref = FakeEncoder(texts3)(np.arange(4))
    tol = {"float32": 0, "float16": 1e-3, "int8": 0.02}[dtype]
    np.testing.assert_allclose(grown.embeddings(), ref, atol=tol)
    assert grown.corpus_version != first.corpus_version
    # reordering is a new corpus version but reuses every embedding
    order = [3, 1, 0, 2]
    ids4, texts4 = [ids3[i] for i in order], [texts3[i] for i in order]
    moved, enc4 = _sync(tmp_path / "c", ids4, texts4, dtype=dtype)
    assert enc4.encoded == []
    np.testing.assert_allclose(moved.embeddings(), grown.embeddings()[order], atol=tol)


def test_refuses_another_model_dtype_dimension_or_settings(tmp_path: Path) -> None:
    ids, texts = ["a", "b"], ["one", "two"]
    _sync(tmp_path / "c", ids, texts, settings={"normalize": True})
    other = ModelIdentity("other", "b" * 64)
    with pytest.raises(IndexFormatError, match=r"encoded by m .* not by other"):
        _sync(tmp_path / "c", ids, texts, model=other)
    with pytest.raises(IndexFormatError, match="stores float32, not int8"):
        _sync(tmp_path / "c", ids, texts, dtype="int8")
    with pytest.raises(IndexFormatError, match="normalize=True"):
        _sync(tmp_path / "c", ids, texts, settings={"normalize": False})
    with pytest.raises(IndexFormatError, match="dimension"):
        _sync(tmp_path / "c", ["a", "b", "z"], ["one", "two", "new"], dim=4)
    # a model name differing with the same weights is the same model
    same = ModelIdentity("/some/folder", MODEL.digest)
    _, enc = _sync(tmp_path / "c", ids, texts, model=same, settings={"normalize": True})
    assert enc.encoded == []


def test_rebuild_replaces_with_a_warning(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    ids, texts = ["a", "b"], ["one", "two"]
    _sync(tmp_path / "c", ids, texts)
    other = ModelIdentity("other", "b" * 64)
    with caplog.at_level("WARNING"):
        cache, enc = _sync(tmp_path / "c", ids, texts, model=other, rebuild=True)
    assert enc.encoded == texts and cache.model == other
    assert "ignoring the embedding cache" in caplog.text


def test_check_corpus_version(tmp_path: Path) -> None:
    cache, _ = _sync(tmp_path / "c", ["a"], ["one"])
    version = corpus_version(pa.array(["a"]), text_fingerprints(pa.array(["one"])))
    assert cache.check(corpus_version=version, model=MODEL, dim=8) is cache
    other = corpus_version(pa.array(["a"]), text_fingerprints(pa.array(["one!"])))
    with pytest.raises(IndexFormatError, match="corpus version"):
        cache.check(corpus_version=other)


def test_corrupt_and_foreign_caches(tmp_path: Path) -> None:
    _sync(tmp_path / "c", ["a", "b"], ["one", "two"])
    f = tmp_path / "c" / "embeddings.npy"
    data = bytearray(f.read_bytes())
    data[-3] ^= 0x55
    f.write_bytes(bytes(data))
    with pytest.raises(IndexFormatError, match="checksum"):
        EmbeddingCache.open(tmp_path / "c")
    with pytest.raises(IndexFormatError, match="checksum"):
        _sync(tmp_path / "c", ["a", "b"], ["one", "two"])
    cache, enc = _sync(tmp_path / "c", ["a", "b"], ["one", "two"], rebuild=True)
    assert len(enc.encoded) == 2 and len(cache) == 2
    (tmp_path / "x").mkdir()
    (tmp_path / "x" / "notes.txt").write_text("mine")
    with pytest.raises(IndexFormatError, match="not an embedding cache"):
        EmbeddingCache.open(tmp_path / "x")
    with pytest.raises(IndexFormatError, match="not an embedding cache"):
        _sync(tmp_path / "x", ["a"], ["one"], rebuild=True)  # never deletes a foreign folder
    assert (tmp_path / "x" / "notes.txt").exists()
    m = json.loads((tmp_path / "c" / "manifest.json").read_text())
    m["format"] = "rankstack-vector-index"
    (tmp_path / "c" / "manifest.json").write_text(json.dumps(m))
    with pytest.raises(IndexFormatError, match="not an embedding cache"):
        EmbeddingCache.open(tmp_path / "c")


# ------------------------------------------------------------------ precisions
@settings(max_examples=50, deadline=None)
@given(
    n=st.integers(1, 40),
    d=st.integers(1, 16),
    seed=st.integers(0, 2**16),
    scale=st.floats(1e-3, 100.0),
)
def test_int8_round_trip_bound(n: int, d: int, seed: int, scale: float) -> None:
    x = (np.random.default_rng(seed).normal(size=(n, d)) * scale).astype(np.float32)
    codes, s = _codec.encode(x, "int8")
    assert codes.dtype == np.int8 and s is not None and s.shape == (d,)
    err = np.abs(_codec.decode(codes, "int8", s) - x)
    assert (err <= s / 2 * (1 + 1e-5) + 1e-12).all()
    assert np.abs(codes).max() <= 127


@settings(max_examples=50, deadline=None)
@given(n=st.integers(1, 40), d=st.integers(1, 16), seed=st.integers(0, 2**16))
def test_float16_round_trip_bound(n: int, d: int, seed: int) -> None:
    x = np.random.default_rng(seed).normal(size=(n, d)).astype(np.float32)
    back = _codec.round_trip(x, "float16")
    bound = np.maximum(np.abs(x) * 2.0**-11, 2.0**-25)
    assert (np.abs(back - x) <= bound * (1 + 1e-6)).all()


def test_codec_refusals() -> None:
    with pytest.raises(DataError, match="unknown embedding dtype"):
        _codec.encode(np.zeros((1, 2)), "bfloat16")
    with pytest.raises(DataError, match="float16's range"):
        _codec.encode(np.full((1, 2), 1e6), "float16")
    with pytest.raises(DataError, match="NaN"):
        _codec.encode(np.array([[np.nan]]), "int8")
    zero = _codec.encode(np.zeros((3, 2)), "int8")
    assert zero[1] is not None and (zero[1] == 1).all()


def test_int8_grown_corpus_scale_only_grows(tmp_path: Path) -> None:
    ids = ["a", "b"]
    first, _ = _sync(tmp_path / "c", ids, ["x", "y"], dtype="int8")
    grown, _ = _sync(tmp_path / "c", [*ids, "c"], ["x", "y", "z"], dtype="int8")
    assert first.scale is not None and grown.scale is not None
    assert (np.asarray(grown.scale) >= np.asarray(first.scale)).all()
    ref = FakeEncoder(["x", "y", "z"])(np.arange(3))
    assert (np.abs(grown.embeddings() - ref) <= np.asarray(grown.scale) + 1e-6).all()


# ------------------------------------------------------------------ fingerprints
def test_fingerprints_detect_changes_and_handle_slices() -> None:
    texts = pa.array(["", "a", "ab", "ba", "a" * 10_000, "héllo", None])
    fp = text_fingerprints(texts)
    assert len({tuple(r) for r in fp[:6]}) == 6  # all distinct
    assert tuple(fp[6]) == tuple(fp[0])  # null reads as ""
    np.testing.assert_array_equal(text_fingerprints(texts.slice(2, 3)), fp[2:5])
    np.testing.assert_array_equal(text_fingerprints(texts.cast(pa.large_string())), fp)


def test_fingerprints_chunking_is_invisible(monkeypatch: pytest.MonkeyPatch) -> None:
    from rankstack.dense import _fingerprint

    rng = np.random.default_rng(0)
    sizes = rng.integers(0, 50, size=300)
    texts = pa.array(["".join(rng.choice(list("abc "), size=int(n))) for n in sizes])
    full = text_fingerprints(texts)
    monkeypatch.setattr(_fingerprint, "CHUNK_BYTES", 7)
    np.testing.assert_array_equal(text_fingerprints(texts), full)


@settings(max_examples=60, deadline=None)
@given(a=st.text(max_size=30), b=st.text(max_size=30))
def test_fingerprint_equal_iff_text_equal(a: str, b: str) -> None:
    fa, fb = text_fingerprints(pa.array([a, b]))
    assert (tuple(fa) == tuple(fb)) == (a == b)


def test_corpus_version_depends_on_ids_texts_and_order() -> None:
    corpus = Corpus.from_arrays(["a", "b"], ["x", "y"])
    fp = text_fingerprints(corpus.contents())
    v = corpus_version(corpus.docids, fp)
    assert v == corpus_version(pa.array(["a", "b"]), fp)
    assert v != corpus_version(pa.array(["a", "c"]), fp)
    assert v != corpus_version(pa.array(["b", "a"]), fp[::-1].copy())
    assert v != corpus_version(pa.array(["ab", ""]), fp)
