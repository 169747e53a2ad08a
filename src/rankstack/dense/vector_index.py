"""``VectorIndex``: inner-product search over document embeddings, exact or approximate.

Kinds, behind one interface (``build`` / ``search`` / ``save`` / ``load``):

- ``exact``: brute force. ``backend="numpy"`` multiplies query blocks by the matrix (BLAS)
  and selects the top k with ``argpartition``; ``backend="faiss"`` uses faiss's
  ``IndexFlatIP``. Ties are ordered by doc id descending (trec_eval's order), so the top k
  equals the first k rows of the full ranking.
- ``hnsw``: a faiss ``IndexHNSWFlat`` graph (Malkov and Yashunin, "Efficient and robust
  approximate nearest neighbor search using Hierarchical Navigable Small World graphs", IEEE
  TPAMI 2020); parameters ``M`` (links per node), ``ef_construction`` and ``ef_search``.
- ``ivf``: a faiss ``IndexIVFFlat`` inverted file over k-means cells (Jegou, Douze and
  Schmid, "Product quantization for nearest neighbor search", IEEE TPAMI 2011, the IVF part);
  parameters ``nlist`` (cells) and ``nprobe`` (cells visited per query).

Scores are inner products, i.e. cosine similarities for normalised embeddings. The index
is a folder written atomically with a manifest and the SHA-256 of every array; the faiss
structure is stored as its own serialisation, and loading re-hashes it before faiss parses
it, so a corrupt index is refused with a message instead of crashing the process.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from rankstack._compat import require
from rankstack.dense import _store
from rankstack.exceptions import DataError, IndexFormatError
from rankstack.io._files import PathLike

logger = logging.getLogger(__name__)

FORMAT_NAME = "rankstack-vector-index"
FORMAT_VERSION = 1
WHAT = "vector index"
HINT = "rebuild it with `rankstack dense index` (or VectorIndex.build)"
KINDS = ("exact", "hnsw", "ivf")
#: bytes of one block of query x document scores in the numpy exact search
BLOCK_BYTES = 1 << 27

DEFAULTS: dict[str, dict[str, Any]] = {
    "exact": {"backend": "numpy"},
    "hnsw": {"M": 16, "ef_construction": 100, "ef_search": 64},
    "ivf": {"nlist": None, "nprobe": 16},
}
#: IVF k-means training sample per cell (faiss warns below 39)
IVF_TRAIN_PER_CELL = 64
#: parameters that can change after building (search-time settings)
SEARCH_PARAMS = {"ef_search", "nprobe", "backend"}


def docid_ranks(ids: pa.Array) -> np.ndarray:
    """The rank of each id in ascending string order (ties ordered by id descending)."""
    order = pc.sort_indices(ids).to_numpy()
    rank = np.empty(len(ids), dtype=np.int64)
    rank[order] = np.arange(len(ids), dtype=np.int64)
    return rank


def _faiss() -> Any:
    return require("faiss")


def _as_matrix(x: Any, what: str, dim: int | None = None) -> np.ndarray:
    arr = np.asarray(x)
    if arr.ndim == 1 and dim is not None and arr.shape[0] == dim:
        arr = arr[None, :]
    if arr.ndim != 2:
        raise DataError(f"{what}: expected a 2-D array (rows x dimension), found shape {arr.shape}")
    if dim is not None and arr.shape[1] != dim:
        raise DataError(f"{what}: expected dimension {dim}, found {arr.shape[1]}")
    if arr.dtype.kind not in "fiu":
        raise DataError(f"{what}: expected numbers, found dtype {arr.dtype}")
    arr = np.ascontiguousarray(arr, dtype=np.float32)
    if not np.isfinite(arr).all():
        raise DataError(f"{what}: NaN or infinite values")
    return arr


class VectorIndex:
    """Embeddings of documents (rows) with their ids, searchable by inner product.

    Build one with :meth:`build` or open a saved one with :meth:`load`.

    Attributes
    ----------
    kind : ``exact``, ``hnsw`` or ``ivf``
    ids : pyarrow string array, the id of each row
    dim : dimension
    params : the kind's parameters (see :data:`DEFAULTS`)
    metadata : free-form provenance (model identity, corpus version...) saved with the index
    build_seconds : time the build took (0 for a loaded index)
    """

    def __init__(
        self,
        kind: str,
        ids: pa.Array,
        dim: int,
        *,
        vectors: np.ndarray | None = None,
        faiss_index: Any = None,
        params: Mapping[str, Any] | None = None,
        metadata: Mapping[str, Any] | None = None,
        doc_rank: np.ndarray | None = None,
    ) -> None:
        self.kind = kind
        self.ids = ids
        self.dim = int(dim)
        self.vectors_ = vectors
        self.faiss_index_ = faiss_index
        self.params: dict[str, Any] = {**DEFAULTS[kind], **dict(params or {})}
        self.metadata: dict[str, Any] = dict(metadata or {})
        self.doc_rank = docid_ranks(ids) if doc_rank is None else doc_rank
        self.build_seconds = 0.0
        self._flat: Any = None
        self._quantizer: Any = None
        self._apply_search_params()

    def __len__(self) -> int:
        return len(self.ids)

    def __repr__(self) -> str:
        params = ", ".join(f"{k}={v}" for k, v in self.params.items())
        return f"VectorIndex({self.kind}, {len(self)} x {self.dim}, {params})"

    # ------------------------------------------------------------------ building
    @classmethod
    def build(
        cls,
        embeddings: np.ndarray,
        ids: Any,
        kind: str = "exact",
        *,
        metadata: Mapping[str, Any] | None = None,
        seed: int = 0,
        **params: Any,
    ) -> VectorIndex:
        """Index ``embeddings`` (one row per id).

        Parameters
        ----------
        embeddings:
            ``n x d`` float array (normalise it for cosine similarity).
        ids:
            ``n`` unique document ids (strings).
        kind:
            ``exact``, ``hnsw`` or ``ivf``.
        params:
            ``exact``: ``backend`` (``numpy``, the faster here, or ``faiss``). ``hnsw``: ``M``
            (16), ``ef_construction`` (100), ``ef_search`` (64). ``ivf``: ``nlist`` (default
            ``4 * sqrt(n)``, at most ``n / 39``), ``nprobe`` (16); k-means trains on at most
            :data:`IVF_TRAIN_PER_CELL` points per cell.
        seed:
            Seed of the IVF k-means.
        """
        from rankstack.data._columns import as_str_array

        if kind not in KINDS:
            raise DataError(f"unknown vector index kind {kind!r}; choose one of {list(KINDS)}")
        unknown = set(params) - set(DEFAULTS[kind])
        if unknown:
            raise DataError(
                f"{kind} index: unknown parameter(s) {sorted(unknown)}; valid: "
                f"{sorted(DEFAULTS[kind])}"
            )
        x = _as_matrix(embeddings, "VectorIndex.build: embeddings")
        id_arr = as_str_array(ids, "ids")
        if len(id_arr) != len(x):
            raise DataError(f"VectorIndex.build: {len(id_arr)} ids for {len(x)} embeddings")
        if len(pc.unique(id_arr)) != len(id_arr):
            raise DataError("VectorIndex.build: document ids must be unique")
        p = {**DEFAULTS[kind], **params}
        t0 = time.perf_counter()
        if kind == "exact":
            if p["backend"] not in ("numpy", "faiss"):
                raise DataError(
                    f"exact index: backend must be numpy or faiss, not {p['backend']!r}"
                )
            index = cls(kind, id_arr, x.shape[1], vectors=x, params=p, metadata=metadata)
        elif kind == "hnsw":
            faiss = _faiss()
            if int(p["M"]) < 2 or int(p["ef_construction"]) < 1 or int(p["ef_search"]) < 1:
                raise DataError(f"hnsw index: need M >= 2 and ef_* >= 1, found {p}")
            fi = faiss.IndexHNSWFlat(x.shape[1], int(p["M"]), faiss.METRIC_INNER_PRODUCT)
            fi.hnsw.efConstruction = int(p["ef_construction"])
            if len(x):
                fi.add(x)
            index = cls(kind, id_arr, x.shape[1], faiss_index=fi, params=p, metadata=metadata)
        else:
            faiss = _faiss()
            n = len(x)
            if n == 0:
                raise DataError("ivf index: needs at least one embedding to train on")
            nlist = p["nlist"]
            if nlist is None:
                nlist = int(np.clip(round(4 * np.sqrt(n)), 1, max(1, n // 39)))
            nlist = int(nlist)
            if not 1 <= nlist <= n:
                raise DataError(f"ivf index: nlist must be in [1, {n}], found {nlist}")
            p["nlist"] = nlist
            quantizer = faiss.IndexFlatIP(x.shape[1])
            fi = faiss.IndexIVFFlat(quantizer, x.shape[1], nlist, faiss.METRIC_INNER_PRODUCT)
            fi.cp.seed = int(seed)
            train = x
            limit = IVF_TRAIN_PER_CELL * nlist
            if n > limit:
                rows = np.random.default_rng(seed).choice(n, size=limit, replace=False)
                train = x[np.sort(rows)]
            fi.train(train)
            fi.add(x)
            fi.quantizer_trains_alone = 0
            index = cls(kind, id_arr, x.shape[1], faiss_index=fi, params=p, metadata=metadata)
            index._quantizer = quantizer  # keep the Python object alive with the index
        index.build_seconds = time.perf_counter() - t0
        logger.info(
            "built %s vector index over %d x %d in %.2f s",
            kind,
            len(x),
            x.shape[1],
            index.build_seconds,
        )
        return index

    def set_search_params(self, **params: Any) -> VectorIndex:
        """Change search-time parameters (``ef_search``, ``nprobe``, ``backend``)."""
        bad = set(params) - (SEARCH_PARAMS & set(DEFAULTS[self.kind]))
        if bad:
            raise DataError(
                f"{self.kind} index: {sorted(bad)} cannot be changed after building; "
                f"search-time parameters: {sorted(SEARCH_PARAMS & set(DEFAULTS[self.kind]))}"
            )
        self.params.update(params)
        self._apply_search_params()
        return self

    def _apply_search_params(self) -> None:
        fi = self.faiss_index_
        if fi is None:
            return
        if self.kind == "hnsw":
            fi.hnsw.efSearch = int(self.params["ef_search"])
        elif self.kind == "ivf":
            fi.nprobe = int(self.params["nprobe"])

    # ------------------------------------------------------------------ searching
    def search(self, queries: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
        """The top ``k`` rows of each query by inner product.

        Returns
        -------
        scores : float32 ``(n_queries, k)``, best first; ``-inf`` pads queries with fewer hits
        rows : int64 ``(n_queries, k)``, positions into :attr:`ids`; ``-1`` pads
        """
        q = _as_matrix(queries, "VectorIndex.search: queries", self.dim)
        k = int(k)
        if k < 0:
            raise DataError(f"k must be >= 0, found {k}")
        m = len(q)
        kk = min(k, len(self))
        if kk == 0 or m == 0:
            return _pad(np.zeros((m, 0), np.float32), np.zeros((m, 0), np.int64), k)
        if self.kind == "exact" and self.params.get("backend", "numpy") == "numpy":
            scores, rows = exact_search(self.vectors(), q, kk, self.doc_rank)
        else:
            fi = self.faiss_index_ if self.kind != "exact" else self._flat_index()
            d, i = fi.search(q, kk)
            scores, rows = d.astype(np.float32), i.astype(np.int64)
            scores[rows < 0] = -np.inf
        return _pad(scores, rows, k)

    def _flat_index(self) -> Any:
        if self._flat is None:
            faiss = _faiss()
            flat = faiss.IndexFlatIP(self.dim)
            flat.add(np.ascontiguousarray(self.vectors(), dtype=np.float32))
            self._flat = flat
        return self._flat

    def vectors(self, rows: np.ndarray | None = None) -> np.ndarray:
        """The stored embeddings (all, or the given rows) as float32."""
        if self.vectors_ is not None:
            return self.vectors_ if rows is None else self.vectors_[np.asarray(rows)]
        fi = self.faiss_index_
        idx = np.arange(len(self)) if rows is None else np.asarray(rows, dtype=np.int64)
        if self.kind == "ivf":
            fi.make_direct_map()
        return np.asarray(fi.reconstruct_batch(idx.astype(np.int64)), dtype=np.float32)

    def rows_of(self, docids: Any) -> np.ndarray:
        """The row of each doc id (-1 for ids not in the index)."""
        from rankstack.data._columns import as_str_array

        pos = pc.fill_null(pc.index_in(as_str_array(docids, "docid"), value_set=self.ids), -1)
        return np.asarray(pos.to_numpy(zero_copy_only=False), dtype=np.int64)

    # ------------------------------------------------------------------ persistence
    def save(self, path: PathLike) -> None:
        """Write the index folder atomically (arrays + manifest with checksums)."""
        offsets, data = _store.strings_to_arrays(self.ids)
        arrays: dict[str, np.ndarray] = {
            "docid_offsets": offsets,
            "docid_bytes": data,
            "doc_rank": self.doc_rank,
        }
        if self.kind == "exact":
            arrays["vectors"] = np.ascontiguousarray(self.vectors(), dtype=np.float32)
        else:
            arrays["faiss"] = _faiss().serialize_index(self.faiss_index_)
        meta = {
            "kind": self.kind,
            "dim": self.dim,
            "n": len(self),
            "metric": "inner_product",
            "params": self.params,
            "metadata": self.metadata,
        }
        _store.write_folder(Path(path), FORMAT_NAME, FORMAT_VERSION, meta, arrays, WHAT)

    @classmethod
    def load(cls, path: PathLike, *, verify: bool = True, mmap: bool = True) -> VectorIndex:
        """Open a saved index, refusing a foreign, corrupt or other-version folder.

        ``verify`` (default) re-hashes every array before use; ``mmap`` maps the vectors of
        an exact index instead of reading them.
        """
        folder = Path(path)
        manifest = _store.read_manifest(folder, FORMAT_NAME, FORMAT_VERSION, WHAT, HINT)
        try:
            kind = str(manifest["kind"])
            dim = int(manifest["dim"])
            n = int(manifest["n"])
            params = dict(manifest.get("params", {}))
            metadata = dict(manifest.get("metadata", {}))
        except (KeyError, TypeError, ValueError) as exc:
            raise IndexFormatError(f"{WHAT} {folder}: incomplete manifest ({exc}); {HINT}") from exc
        if kind not in KINDS:
            raise IndexFormatError(f"{WHAT} {folder}: unknown kind {kind!r}; {HINT}")
        names: tuple[str, ...] = ("docid_offsets", "docid_bytes", "doc_rank")
        names = (*names, "vectors" if kind == "exact" else "faiss")
        arrays = _store.open_arrays(
            folder, manifest, names, what=WHAT, hint=HINT, mmap=mmap, verify=verify
        )
        ids = _store.arrays_to_strings(arrays["docid_offsets"], arrays["docid_bytes"], WHAT, folder)
        if len(ids) != n or arrays["doc_rank"].shape != (n,):
            raise IndexFormatError(f"{WHAT} {folder}: {len(ids)} ids for {n} rows; {HINT}")
        if kind == "exact":
            vectors = arrays["vectors"]
            if vectors.shape != (n, dim):
                raise IndexFormatError(
                    f"{WHAT} {folder}: vectors of shape {vectors.shape}, expected ({n}, {dim})"
                )
            return cls(
                kind,
                ids,
                dim,
                vectors=vectors,
                params=params,
                metadata=metadata,
                doc_rank=np.asarray(arrays["doc_rank"]),
            )
        faiss = _faiss()
        try:
            fi = faiss.deserialize_index(np.ascontiguousarray(arrays["faiss"]))
        except RuntimeError as exc:
            raise IndexFormatError(
                f"{WHAT} {folder}: faiss cannot read it ({exc}); {HINT}"
            ) from exc
        if fi.ntotal != n or fi.d != dim:
            raise IndexFormatError(
                f"{WHAT} {folder}: the faiss index holds {fi.ntotal} x {fi.d}, the manifest "
                f"says {n} x {dim}; {HINT}"
            )
        return cls(
            kind,
            ids,
            dim,
            faiss_index=fi,
            params=params,
            metadata=metadata,
            doc_rank=np.asarray(arrays["doc_rank"]),
        )


# ------------------------------------------------------------------------------ exact search
def _pad(scores: np.ndarray, rows: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
    m, have = scores.shape
    if have >= k:
        return scores, rows
    s = np.full((m, k), -np.inf, dtype=np.float32)
    r = np.full((m, k), -1, dtype=np.int64)
    s[:, :have] = scores
    r[:, :have] = rows
    return s, r


def exact_search(
    x: np.ndarray, q: np.ndarray, k: int, doc_rank: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """Top ``k`` (``1 <= k <= len(x)``) of ``q @ x.T`` per row, by score then doc rank
    descending, in query blocks of at most :data:`BLOCK_BYTES` scores."""
    n = len(x)
    m = len(q)
    out_s = np.empty((m, k), dtype=np.float32)
    out_r = np.empty((m, k), dtype=np.int64)
    step = max(1, BLOCK_BYTES // (4 * max(n, 1)))
    for a in range(0, m, step):
        b = min(a + step, m)
        s = q[a:b] @ x.T
        if k < n:
            top = np.argpartition(s, n - k, axis=1)[:, n - k :]
            top_s = np.take_along_axis(s, top, axis=1)
            kth = top_s.min(axis=1)
            tied = np.flatnonzero((s >= kth[:, None]).sum(axis=1) > k)
            for r in tied:  # rare: ties at the k-th score; take the doc-id order among them
                cand = np.flatnonzero(s[r] >= kth[r])
                order = np.lexsort((-doc_rank[cand], -s[r, cand]))[:k]
                top[r] = cand[order]
                top_s[r] = s[r, cand[order]]
        else:
            top = np.broadcast_to(np.arange(n), s.shape).copy()
            top_s = s
        order = np.lexsort((-doc_rank[top], -top_s), axis=1)
        out_r[a:b] = np.take_along_axis(top, order, axis=1)
        out_s[a:b] = np.take_along_axis(top_s, order, axis=1)
    return out_s, out_r
