"""``EmbeddingCache``: document embeddings on disk, tied to the model and corpus they came from.

A cache is a folder (written atomically, :mod:`rankstack.dense._store`) holding:

- ``embeddings.npy``: one row per document, stored as float32, float16 or int8
  (:mod:`rankstack.dense._codec`), with ``scale.npy`` (per-dimension scales) for int8;
- ``docid_offsets.npy`` / ``docid_bytes.npy``: the document ids, in row order;
- ``fingerprints.npy``: a 128-bit fingerprint of each embedded text
  (:mod:`rankstack.dense._fingerprint`);
- ``manifest.json``: format name and version, the model identity (name + SHA-256 of its
  files), the encoding settings, the dtype, the dimension, the corpus version (a hash of the
  ids and texts) and the SHA-256 of every array.

:func:`sync_cache` brings a cache up to date with a corpus: rows whose id and text are
unchanged are reused, new or changed documents are encoded, and the result is written as the
cache of the new corpus version. A cache written by another model, with other settings, another
dtype or dimension is refused (or, with ``rebuild=True``, replaced after a warning), never mixed.
"""

from __future__ import annotations

import hashlib
import json
import logging
import re
import time
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from rankstack.dense import _codec, _store
from rankstack.dense._fingerprint import corpus_version
from rankstack.dense.model import ModelIdentity
from rankstack.exceptions import DataError, IndexFormatError
from rankstack.io._files import PathLike

logger = logging.getLogger(__name__)

FORMAT_NAME = "rankstack-embeddings"
FORMAT_VERSION = 1
WHAT = "embedding cache"
HINT = "re-encode it with `rankstack dense encode` (or BiEncoder(..., rebuild=True))"


class EmbeddingCache:
    """Document embeddings read from a cache folder (open one with :meth:`open`).

    Attributes
    ----------
    path : the folder
    model : :class:`~rankstack.dense.model.ModelIdentity` of the encoder
    dtype : ``float32``, ``float16`` or ``int8``
    dim : embedding dimension
    corpus_version : SHA-256 of the ids and texts the embeddings belong to
    settings : encoding settings (normalisation, maximum sequence length...)
    docids : pyarrow string array, one id per row
    fingerprints : ``(n, 2)`` uint64, one per row
    """

    def __init__(
        self,
        path: Path,
        manifest: Mapping[str, Any],
        docids: pa.Array,
        fingerprints: np.ndarray,
        codes: np.ndarray,
        scale: np.ndarray | None,
    ) -> None:
        self.path = Path(path)
        self.manifest = dict(manifest)
        self.model = ModelIdentity.from_json(manifest["model"])
        self.dtype = str(manifest["dtype"])
        self.dim = int(manifest["dim"])
        self.corpus_version = str(manifest["corpus_version"])
        self.settings: dict[str, Any] = dict(manifest.get("settings", {}))
        self.docids = docids
        self.fingerprints = fingerprints
        self.codes = codes
        self.scale = scale

    # ------------------------------------------------------------------ reading
    @classmethod
    def open(cls, path: PathLike, *, verify: bool = True, mmap: bool = True) -> EmbeddingCache:
        """Open a cache folder, refusing a foreign, corrupt or other-version one.

        ``verify`` re-hashes every array (reads the whole cache once).
        """
        folder = Path(path)
        manifest = _store.read_manifest(folder, FORMAT_NAME, FORMAT_VERSION, WHAT, HINT)
        try:
            dtype = _codec.check_dtype(str(manifest["dtype"]))
            dim = int(manifest["dim"])
            n = int(manifest["n_docs"])
            ModelIdentity.from_json(manifest["model"])
            str(manifest["corpus_version"])
        except (KeyError, TypeError, ValueError) as exc:
            raise IndexFormatError(
                f"{WHAT} {folder}: the manifest is incomplete ({exc}); {HINT}"
            ) from exc
        names: tuple[str, ...] = ("embeddings", "docid_offsets", "docid_bytes", "fingerprints")
        if dtype == "int8":
            names = (*names, "scale")
        arrays = _store.open_arrays(
            folder, manifest, names, what=WHAT, hint=HINT, mmap=mmap, verify=verify
        )
        codes = arrays["embeddings"]
        if codes.shape != (n, dim) or arrays["fingerprints"].shape != (n, 2):
            raise IndexFormatError(
                f"{WHAT} {folder}: arrays of shape {codes.shape} and "
                f"{arrays['fingerprints'].shape} do not match {n} documents of dimension {dim}; "
                f"{HINT}"
            )
        docids = _store.arrays_to_strings(
            arrays["docid_offsets"], arrays["docid_bytes"], WHAT, folder
        )
        if len(docids) != n:
            raise IndexFormatError(f"{WHAT} {folder}: {len(docids)} ids for {n} rows; {HINT}")
        version = corpus_version(docids, arrays["fingerprints"])
        if version != manifest["corpus_version"]:
            raise IndexFormatError(
                f"{WHAT} {folder}: the ids and fingerprints do not hash to the recorded corpus "
                f"version (corrupt); {HINT}"
            )
        return cls(folder, manifest, docids, arrays["fingerprints"], codes, arrays.get("scale"))

    def __len__(self) -> int:
        return len(self.docids)

    def __repr__(self) -> str:
        return (
            f"EmbeddingCache({str(self.path)!r}, {len(self)} x {self.dim} {self.dtype}, "
            f"model={self.model})"
        )

    def embeddings(self, rows: np.ndarray | None = None) -> np.ndarray:
        """The embeddings (all rows, or ``rows``) decoded to float32."""
        codes = self.codes if rows is None else self.codes[np.asarray(rows, dtype=np.int64)]
        return _codec.decode(codes, self.dtype, self.scale)

    # ------------------------------------------------------------------ checks
    def mismatches(
        self,
        *,
        model: ModelIdentity | None = None,
        dim: int | None = None,
        dtype: str | None = None,
        settings: Mapping[str, Any] | None = None,
        corpus_version: str | None = None,
    ) -> list[str]:
        """What differs from the expectations given (empty when the cache fits them)."""
        out: list[str] = []
        if model is not None and not self.model.same_model(model):
            out.append(f"it was encoded by {self.model}, not by {model}")
        if dim is not None and self.dim != dim:
            out.append(f"its embeddings have dimension {self.dim}, not {dim}")
        if dtype is not None and self.dtype != dtype:
            out.append(f"it stores {self.dtype}, not {dtype}")
        if settings is not None:
            for key, value in settings.items():
                if key in self.settings and self.settings[key] != value:
                    out.append(f"it was encoded with {key}={self.settings[key]!r}, not {value!r}")
        if corpus_version is not None and self.corpus_version != corpus_version:
            out.append(
                f"it belongs to corpus version {self.corpus_version[:12]}, not "
                f"{corpus_version[:12]} (documents were added, removed or changed)"
            )
        return out

    def check(self, **expect: Any) -> EmbeddingCache:
        """Raise :class:`IndexFormatError` naming every mismatch with ``expect`` (the keywords
        of :meth:`mismatches`); return ``self`` when there is none."""
        problems = self.mismatches(**expect)
        if problems:
            raise IndexFormatError(
                f"{WHAT} {self.path} does not fit: " + "; ".join(problems) + ". Use another "
                "cache folder, or rebuild=True (--rebuild) to replace it"
            )
        return self

    def reusable_rows(self, docids: pa.Array, fingerprints: np.ndarray) -> np.ndarray:
        """For each (id, text fingerprint), the cache row holding its embedding, or -1."""
        pos = pc.fill_null(pc.index_in(docids, value_set=self.docids), -1)
        rows = np.asarray(pos.to_numpy(zero_copy_only=False), dtype=np.int64)
        found = rows >= 0
        same = np.zeros(len(rows), dtype=bool)
        if found.any():
            old = np.asarray(self.fingerprints)[rows[found]]
            same[found] = (old == fingerprints[found]).all(axis=1)
        return np.where(same, rows, -1)


def default_cache_dir(
    model: ModelIdentity, version: str, dtype: str, settings: Mapping[str, Any] | None = None
) -> Path:
    """``RANKSTACK_HOME/embeddings/<model>-<key>``: one cache per model, corpus version,
    dtype and settings (what ``cache_dir="auto"`` uses)."""
    from rankstack.datasets import home_dir

    desc = json.dumps([model.digest, version, dtype, dict(settings or {})], sort_keys=True)
    key = hashlib.sha256(desc.encode()).hexdigest()[:20]
    slug = re.sub(r"[^A-Za-z0-9._]+", "-", Path(model.name).name).strip("-.")[:48] or "model"
    return Path(home_dir()) / "embeddings" / f"{slug}-{key}"


def write_cache(
    path: PathLike,
    *,
    model: ModelIdentity,
    docids: pa.Array,
    fingerprints: np.ndarray,
    codes: np.ndarray,
    dtype: str,
    scale: np.ndarray | None = None,
    settings: Mapping[str, Any] | None = None,
) -> EmbeddingCache:
    """Write a cache folder atomically and return it opened (without re-hashing)."""
    _codec.check_dtype(dtype)
    if codes.ndim != 2 or len(codes) != len(docids) or fingerprints.shape != (len(docids), 2):
        raise DataError(
            f"write_cache: {len(docids)} ids, {fingerprints.shape} fingerprints and "
            f"{codes.shape} embeddings do not line up"
        )
    if dtype == "int8" and scale is None:
        raise DataError("write_cache: int8 embeddings need their scales")
    offsets, data = _store.strings_to_arrays(docids)
    arrays: dict[str, np.ndarray] = {
        "embeddings": codes,
        "docid_offsets": offsets,
        "docid_bytes": data,
        "fingerprints": np.ascontiguousarray(fingerprints, dtype=np.uint64),
    }
    if scale is not None:
        arrays["scale"] = np.asarray(scale, dtype=np.float32)
    meta = {
        "model": model.to_json(),
        "dtype": dtype,
        "dim": int(codes.shape[1]),
        "n_docs": len(docids),
        "corpus_version": corpus_version(docids, fingerprints),
        "settings": dict(settings or {}),
        "created": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
    }
    _store.write_folder(Path(path), FORMAT_NAME, FORMAT_VERSION, meta, arrays, WHAT)
    return EmbeddingCache.open(path, verify=False)


def sync_cache(
    path: PathLike,
    *,
    model: ModelIdentity,
    docids: pa.Array,
    fingerprints: np.ndarray,
    encode: Callable[[np.ndarray], np.ndarray],
    dtype: str = "float32",
    settings: Mapping[str, Any] | None = None,
    rebuild: bool = False,
) -> EmbeddingCache:
    """The cache at ``path`` for exactly these documents, encoding only what it lacks.

    Parameters
    ----------
    docids, fingerprints:
        The corpus in order (ids and :func:`~rankstack.dense._fingerprint.text_fingerprints`
        of the texts to embed).
    encode:
        Maps an array of document positions to their float32 embeddings.
    rebuild:
        Replace (with a warning) a cache that is corrupt or was written by another model,
        settings, dtype or dimension, instead of refusing it.
    """
    _codec.check_dtype(dtype)
    folder = Path(path)
    version = corpus_version(docids, fingerprints)
    old: EmbeddingCache | None = None
    if folder.exists() and (not folder.is_dir() or any(folder.iterdir())):
        try:
            old = EmbeddingCache.open(folder)
            old.check(model=model, dtype=dtype, settings=settings)
        except IndexFormatError as exc:
            if not rebuild:
                raise
            logger.warning("ignoring the %s at %s and re-encoding: %s", WHAT, folder, exc)
            old = None
    if old is not None and old.corpus_version == version:
        logger.info("%s %s is up to date (%d documents)", WHAT, folder, len(old))
        return old
    n = len(docids)
    rows = old.reusable_rows(docids, fingerprints) if old is not None else np.full(n, -1)
    todo = np.flatnonzero(rows < 0)
    logger.info(
        "%s %s: reusing %d of %d embeddings, encoding %d", WHAT, folder, n - len(todo), n, len(todo)
    )
    fresh = np.asarray(encode(todo), dtype=np.float32) if len(todo) else None
    if fresh is not None and (fresh.ndim != 2 or len(fresh) != len(todo)):
        raise DataError(f"encode returned shape {fresh.shape} for {len(todo)} documents")
    dim = fresh.shape[1] if fresh is not None else (old.dim if old is not None else 0)
    if old is not None and old.dim != dim:
        raise IndexFormatError(
            f"{WHAT} {folder}: the model now gives dimension {dim} but the cache holds "
            f"{old.dim}; use rebuild=True"
        )
    codes, scale = _assemble(old, rows, todo, fresh, dtype, n, dim)
    return write_cache(
        folder,
        model=model,
        docids=docids,
        fingerprints=fingerprints,
        codes=codes,
        dtype=dtype,
        scale=scale,
        settings=settings,
    )


def _assemble(
    old: EmbeddingCache | None,
    rows: np.ndarray,
    todo: np.ndarray,
    fresh: np.ndarray | None,
    dtype: str,
    n: int,
    dim: int,
) -> tuple[np.ndarray, np.ndarray | None]:
    """Stored codes for the new corpus: old rows copied, fresh rows encoded.

    For int8 the scales only grow: old codes are copied bit for bit while the fresh
    embeddings fit the old scales; otherwise old rows are re-quantised from their decoded
    values (error then at most ``old_scale/2 + new_scale/2 <= new_scale`` per value).
    """
    kept = np.flatnonzero(rows >= 0)
    if dtype != "int8":
        codes = np.empty((n, dim), dtype=np.float32 if dtype == "float32" else np.float16)
        if old is not None and len(kept):
            codes[kept] = np.asarray(old.codes)[rows[kept]]
        if fresh is not None:
            codes[todo] = _codec.encode(fresh, dtype)[0]
        return codes, None
    old_scale = None if old is None or old.scale is None else np.asarray(old.scale)
    if fresh is None:
        scale = old_scale if old_scale is not None else np.ones(dim, np.float32)
    elif old_scale is None or not len(kept):
        scale = _codec.int8_scale(fresh)
    else:
        scale = _codec.int8_scale(fresh, floor=old_scale)
    codes = np.empty((n, dim), dtype=np.int8)
    if old is not None and len(kept):
        if old_scale is not None and np.array_equal(scale, old_scale):
            codes[kept] = np.asarray(old.codes)[rows[kept]]
        else:
            codes[kept] = _codec.encode(old.embeddings(rows[kept]), "int8", scale)[0]
    if fresh is not None:
        codes[todo] = _codec.encode(fresh, "int8", scale)[0]
    return codes, scale
