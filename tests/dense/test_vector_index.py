"""VectorIndex: exact search equals brute force, approximate recall, persistence, corruption."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pyarrow as pa
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from rankstack.dense.vector_index import VectorIndex, exact_search
from rankstack.exceptions import DataError, IndexFormatError


def _data(n: int = 500, d: int = 16, m: int = 20, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    x = rng.normal(size=(n, d)).astype(np.float32)
    x /= np.linalg.norm(x, axis=1, keepdims=True)
    q = rng.normal(size=(m, d)).astype(np.float32)
    return x, q


def _ids(n: int) -> list[str]:
    return [f"doc{i:05d}" for i in range(n)]


def brute_force(x: np.ndarray, q: np.ndarray, ids: list[str], k: int) -> list[list[str]]:
    """Full sort by score descending, then doc id descending (trec_eval's order)."""
    s = q.astype(np.float32) @ x.T
    out = []
    for row in s:
        ranked = sorted(range(len(ids)), key=lambda i: (row[i], ids[i]), reverse=True)
        out.append([ids[i] for i in ranked[:k]])
    return out


@pytest.mark.parametrize("backend", ["numpy", "faiss"])
@pytest.mark.parametrize("k", [1, 10, 499, 500, 600])
def test_exact_equals_brute_force(backend: str, k: int) -> None:
    x, q = _data()
    ids = _ids(len(x))
    index = VectorIndex.build(x, ids, "exact", backend=backend)
    scores, rows = index.search(q, k)
    assert scores.shape == rows.shape == (len(q), k)
    want = brute_force(x, q, ids, k)
    kk = min(k, len(x))
    for i in range(len(q)):
        got = index.ids.take(pa.array(rows[i, :kk])).to_pylist()
        assert got == want[i]
        assert np.all(np.diff(scores[i, :kk]) <= 0)
    if k > len(x):
        assert (rows[:, len(x) :] == -1).all() and np.isneginf(scores[:, len(x) :]).all()


def test_exact_ties_follow_docid_order() -> None:
    # every document has the same score: the top k are the k largest ids, descending
    x = np.ones((50, 4), dtype=np.float32)
    ids = [f"d{i:02d}" for i in np.random.default_rng(0).permutation(50)]
    index = VectorIndex.build(x, ids, "exact")
    _, rows = index.search(np.ones((2, 4), np.float32), 5)
    got = index.ids.take(pa.array(rows[0])).to_pylist()
    assert got == ["d49", "d48", "d47", "d46", "d45"]


@settings(max_examples=30, deadline=None)
@given(
    n=st.integers(1, 80),
    k=st.integers(1, 90),
    levels=st.integers(1, 4),
    seed=st.integers(0, 2**16),
)
def test_exact_search_with_many_ties(n: int, k: int, levels: int, seed: int) -> None:
    rng = np.random.default_rng(seed)
    x = rng.integers(0, levels, size=(n, 3)).astype(np.float32)
    q = rng.integers(0, levels, size=(4, 3)).astype(np.float32)
    ids = [f"d{i}" for i in rng.permutation(n)]
    rank = np.argsort(np.argsort(np.array(ids)))
    kk = min(k, n)
    _, rows = exact_search(x, q, kk, rank)
    want = brute_force(x, q, ids, kk)
    assert [[ids[r] for r in row] for row in rows] == want


def test_hnsw_recall_on_a_small_set() -> None:
    x, q = _data(n=3000, d=32, m=100, seed=1)
    ids = _ids(len(x))
    exact = VectorIndex.build(x, ids, "exact")
    hnsw = VectorIndex.build(x, ids, "hnsw", M=16, ef_construction=100, ef_search=64)
    _, want = exact.search(q, 10)
    _, got = hnsw.search(q, 10)
    recall = np.mean([len(set(a) & set(b)) / 10 for a, b in zip(want, got)])
    assert recall >= 0.95
    assert hnsw.build_seconds > 0


def test_ivf_recall_grows_with_nprobe() -> None:
    x, q = _data(n=4000, d=16, m=100, seed=2)
    ids = _ids(len(x))
    _, want = VectorIndex.build(x, ids, "exact").search(q, 10)
    ivf = VectorIndex.build(x, ids, "ivf", nlist=64, nprobe=1)

    def recall() -> float:
        _, got = ivf.search(q, 10)
        return float(np.mean([len(set(a) & set(b)) / 10 for a, b in zip(want, got)]))

    low = recall()
    ivf.set_search_params(nprobe=64)  # every cell: exact
    assert recall() == 1.0 > low


@pytest.mark.parametrize("kind", ["exact", "hnsw", "ivf"])
def test_save_load_round_trip(kind: str, tmp_path: Path) -> None:
    x, q = _data(n=400, seed=3)
    params = {"nlist": 8} if kind == "ivf" else {}
    index = VectorIndex.build(x, _ids(len(x)), kind, metadata={"note": "t"}, **params)
    index.save(tmp_path / "vi")
    loaded = VectorIndex.load(tmp_path / "vi")
    assert loaded.kind == kind and loaded.metadata == {"note": "t"} and len(loaded) == len(x)
    assert loaded.ids.to_pylist() == index.ids.to_pylist()
    s1, r1 = index.search(q, 7)
    s2, r2 = loaded.search(q, 7)
    np.testing.assert_array_equal(r1, r2)
    np.testing.assert_allclose(s1, s2, rtol=1e-6)
    np.testing.assert_allclose(loaded.vectors([3, 5]), x[[3, 5]], rtol=1e-6)
    index.save(tmp_path / "vi")  # replacing an index of the same format is allowed


@pytest.mark.parametrize("kind", ["exact", "hnsw"])
def test_corrupt_index_refused(kind: str, tmp_path: Path) -> None:
    x, _ = _data(n=200)
    VectorIndex.build(x, _ids(len(x)), kind).save(tmp_path / "vi")
    name = "vectors.npy" if kind == "exact" else "faiss.npy"
    f = tmp_path / "vi" / name
    data = bytearray(f.read_bytes())
    data[len(data) // 2] ^= 0xFF
    f.write_bytes(bytes(data))
    with pytest.raises(IndexFormatError, match="checksum"):
        VectorIndex.load(tmp_path / "vi")


def test_truncated_and_foreign_folders_refused(tmp_path: Path) -> None:
    x, _ = _data(n=100)
    VectorIndex.build(x, _ids(len(x)), "exact").save(tmp_path / "vi")
    f = tmp_path / "vi" / "vectors.npy"
    f.write_bytes(f.read_bytes()[:-16])
    with pytest.raises(IndexFormatError, match=r"truncated|checksum"):
        VectorIndex.load(tmp_path / "vi", verify=False)
    with pytest.raises(IndexFormatError, match="does not exist"):
        VectorIndex.load(tmp_path / "nothing")
    (tmp_path / "other").mkdir()
    (tmp_path / "other" / "manifest.json").write_text(json.dumps({"format": "rankstack-index"}))
    with pytest.raises(IndexFormatError, match="not a vector index"):
        VectorIndex.load(tmp_path / "other")
    with pytest.raises(IndexFormatError, match="not a vector index"):
        VectorIndex.build(x, _ids(len(x))).save(tmp_path / "other")  # not overwritten
    manifest = json.loads((tmp_path / "vi" / "manifest.json").read_text())
    manifest["version"] = 99
    (tmp_path / "vi" / "manifest.json").write_text(json.dumps(manifest))
    with pytest.raises(IndexFormatError, match="version 99"):
        VectorIndex.load(tmp_path / "vi")


def test_bad_input() -> None:
    x, q = _data(n=50)
    with pytest.raises(DataError, match="kind"):
        VectorIndex.build(x, _ids(50), "lsh")
    with pytest.raises(DataError, match="unknown parameter"):
        VectorIndex.build(x, _ids(50), "hnsw", nprobe=3)
    with pytest.raises(DataError, match="unique"):
        VectorIndex.build(x, ["a"] * 50)
    with pytest.raises(DataError, match="ids for"):
        VectorIndex.build(x, _ids(49))
    index = VectorIndex.build(x, _ids(50))
    with pytest.raises(DataError, match="dimension"):
        index.search(q[:, :3], 5)
    with pytest.raises(DataError, match="k must"):
        index.search(q, -1)
    with pytest.raises(DataError, match="cannot be changed"):
        index.set_search_params(M=4)


def test_rows_of_and_single_query() -> None:
    x, q = _data(n=30)
    index = VectorIndex.build(x, _ids(30))
    assert index.rows_of(["doc00003", "nope"]).tolist() == [3, -1]
    s, _r = index.search(q[0], 3)  # one query as a vector
    assert s.shape == (1, 3)
