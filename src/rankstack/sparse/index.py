"""An impact-scored inverted index: per vocabulary term, the documents and their weights.

A SPLADE document representation is a sparse row of term weights; the index stores it
transposed (terms x documents, CSR), so a query touches only the postings of its own terms.
Impacts are stored either as ``float32`` or, by default, **quantised**: ``round(w * scale)``
as ``uint16`` (``scale=100``, Anserini's convention for SPLADE impact indexes), which halves
the size and drops weights below ``0.5 / scale``. A query's score for a document is
``sum_j q_j * impact_j / scale``: the float query weights times the (de-quantised) document
impacts, summed over the terms they share.

On disk: a folder of ``.npy`` arrays plus ``manifest.json`` (format name and version, the
model's identity, the encoding settings, and per array its dtype, shape and sha256), written
in a temporary sibling folder and renamed into place (the helpers of
:mod:`rankstack.index._format`). Loading checks every array's dtype, shape and size;
``verify=True`` also re-hashes the bytes, so a corrupt index is refused.
"""

from __future__ import annotations

import json
import logging
import os
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import scipy.sparse as sp

from rankstack.data._columns import as_str_array
from rankstack.exceptions import DataError, IndexFormatError
from rankstack.index import _format
from rankstack.index.inverted import strings_from_arrays, strings_to_arrays
from rankstack.io._files import replace_folder

logger = logging.getLogger(__name__)

FORMAT_NAME = "rankstack-impact-index"
FORMAT_VERSION = 1
_ARRAYS = ("indptr", "docs", "impacts", "docids_data", "docids_offsets", "docid_rank")


@dataclass(eq=False)
class ImpactIndex:
    """Terms x documents impacts (CSR) with the documents' ids.

    Attributes
    ----------
    indptr, docs, impacts : the CSR arrays (``impacts`` uint16 quantised or float32)
    docids : pyarrow string array of the documents' ids
    scale : the quantisation scale (1.0 for float32 impacts)
    meta : the manifest's description (model identity, encoder settings)
    """

    indptr: np.ndarray
    docs: np.ndarray
    impacts: np.ndarray
    docids: pa.Array
    scale: float = 1.0
    meta: dict[str, Any] = field(default_factory=dict)
    docid_rank: np.ndarray | None = None
    _matrix: Any = None

    def __post_init__(self) -> None:
        if self.docid_rank is None:
            order = pc.sort_indices(self.docids).to_numpy()
            rank = np.empty(len(order), dtype=np.int32)
            rank[order] = np.arange(len(order), dtype=np.int32)
            self.docid_rank = rank

    # ------------------------------------------------------------------ construction
    @classmethod
    def from_weights(
        cls,
        weights: Any,
        docids: Any,
        *,
        quantize: bool = True,
        scale: float = 100.0,
        meta: dict[str, Any] | None = None,
    ) -> ImpactIndex:
        """Build from a (documents x vocabulary) sparse weight matrix, one row per doc id."""
        w = sp.csr_matrix(weights, dtype=np.float32)
        ids = as_str_array(docids, "docid")
        if w.shape[0] != len(ids):
            raise DataError(f"ImpactIndex: {w.shape[0]} weight rows for {len(ids)} doc ids")
        if w.nnz and (not np.isfinite(w.data).all() or (w.data < 0).any()):
            raise DataError("ImpactIndex: weights must be finite and >= 0")
        if quantize:
            if not scale > 0:
                raise DataError(f"ImpactIndex: scale must be > 0, found {scale}")
            q = np.minimum(np.rint(w.data.astype(np.float64) * scale), 65535).astype(np.uint16)
            w = sp.csr_matrix((q, w.indices, w.indptr), shape=w.shape)
        else:
            scale = 1.0
        w.eliminate_zeros()
        t = w.T.tocsr()
        t.sort_indices()
        return cls(
            indptr=t.indptr.astype(np.int64),
            docs=t.indices.astype(np.int32),
            impacts=t.data,
            docids=ids,
            scale=float(scale),
            meta=dict(meta or {}),
        )

    # ------------------------------------------------------------------ properties
    @property
    def n_docs(self) -> int:
        return len(self.docids)

    @property
    def n_terms(self) -> int:
        return len(self.indptr) - 1

    @property
    def quantized(self) -> bool:
        return bool(self.impacts.dtype == np.uint16)

    def matrix(self) -> Any:
        """The (terms x docs) float32 CSR matrix of de-quantised impacts (built once)."""
        if self._matrix is None:
            data = self.impacts.astype(np.float32)
            if self.quantized:
                data /= np.float32(self.scale)
            from rankstack.retrieve._search import impact_matrix

            self._matrix = impact_matrix(self.indptr, self.docs, data, self.n_docs)
        return self._matrix

    def postings_per_term(self) -> np.ndarray:
        return np.diff(self.indptr).astype(np.int64)

    def __repr__(self) -> str:
        kind = f"uint16 x 1/{self.scale:g}" if self.quantized else "float32"
        return f"ImpactIndex({self.n_docs} docs, {len(self.docs)} postings, {kind})"

    # ------------------------------------------------------------------ persistence
    def save(self, path: str | os.PathLike[str], *, overwrite: bool = True) -> Path:
        """Write the index folder atomically (see the module docstring)."""
        target = Path(path)
        if target.exists():
            _check_replaceable(target, overwrite)
        data, offsets = strings_to_arrays(self.docids)
        arrays = {
            "indptr": self.indptr,
            "docs": self.docs,
            "impacts": self.impacts,
            "docids_data": data,
            "docids_offsets": offsets,
            "docid_rank": np.asarray(self.docid_rank, dtype=np.int32),
        }
        from rankstack import __version__

        with replace_folder(target) as tmp:
            specs = {name: _format.write_array(tmp, name, arr) for name, arr in arrays.items()}
            manifest = {
                "format": FORMAT_NAME,
                "version": FORMAT_VERSION,
                "rankstack_version": __version__,
                "created": datetime.now(timezone.utc).isoformat(timespec="seconds"),
                "n_docs": self.n_docs,
                "n_terms": self.n_terms,
                "n_postings": len(self.docs),
                "impacts": "uint16" if self.quantized else "float32",
                "scale": self.scale,
                "meta": self.meta,
                "arrays": specs,
            }
            _format.write_manifest(tmp, manifest)
        return target

    @classmethod
    def load(
        cls, path: str | os.PathLike[str], *, verify: bool = False, mmap: bool = True
    ) -> ImpactIndex:
        """Open a saved index, refusing foreign, truncated, corrupt or other-version folders."""
        folder = Path(path)
        manifest = read_manifest(folder)
        if verify:
            _format.verify_checksums(folder, manifest)
        specs = manifest["arrays"]
        missing = [a for a in _ARRAYS if a not in specs]
        if missing:
            raise IndexFormatError(f"impact index {folder}: the manifest lacks arrays {missing}")
        arr = {a: _format.open_array(folder, a, specs[a], mmap=mmap) for a in _ARRAYS}
        n_docs, n_terms = int(manifest.get("n_docs", -1)), int(manifest.get("n_terms", -1))
        impacts_dtype = np.uint16 if manifest.get("impacts") == "uint16" else np.float32
        problems = []
        if len(arr["indptr"]) != n_terms + 1:
            problems.append("indptr does not match the term count")
        if len(arr["docid_rank"]) != n_docs or len(arr["docids_offsets"]) != n_docs + 1:
            problems.append("the doc ids do not match the document count")
        if len(arr["docs"]) != len(arr["impacts"]) or arr["impacts"].dtype != impacts_dtype:
            problems.append("postings and impacts differ in length or type")
        elif n_terms >= 0 and len(arr["indptr"]) and int(arr["indptr"][-1]) != len(arr["docs"]):
            problems.append("indptr does not end at the posting count")
        if len(arr["docs"]) and int(np.max(arr["docs"])) >= n_docs:
            problems.append("a posting points past the last document")
        if problems:
            raise IndexFormatError(
                f"impact index {folder} is corrupt ({'; '.join(problems)}); rebuild it with "
                "`rankstack splade index`"
            )
        return cls(
            indptr=np.asarray(arr["indptr"]),
            docs=arr["docs"],
            impacts=arr["impacts"],
            docids=strings_from_arrays(arr["docids_data"], arr["docids_offsets"]),
            scale=float(manifest.get("scale", 1.0)),
            meta=dict(manifest.get("meta") or {}),
            docid_rank=np.asarray(arr["docid_rank"]),
        )


def read_manifest(folder: Path) -> dict[str, Any]:
    """The checked manifest of an impact-index folder."""
    path = folder / _format.MANIFEST
    if not folder.is_dir():
        raise IndexFormatError(f"impact index {folder} does not exist or is not a folder")
    if not path.is_file():
        raise IndexFormatError(f"{folder} is not an impact index (no {_format.MANIFEST})")
    try:
        manifest = json.loads(path.read_text(encoding="utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise IndexFormatError(
            f"impact index {folder}: manifest is not valid JSON ({exc})"
        ) from exc
    if not isinstance(manifest, dict) or manifest.get("format") != FORMAT_NAME:
        found = manifest.get("format") if isinstance(manifest, dict) else None
        raise IndexFormatError(
            f"{folder} is not an impact index: its manifest names format {found!r}, expected "
            f"{FORMAT_NAME!r}"
        )
    if manifest.get("version") != FORMAT_VERSION:
        raise IndexFormatError(
            f"impact index {folder} has format version {manifest.get('version')!r}; this "
            f"rankstack reads version {FORMAT_VERSION}; rebuild it with `rankstack splade index`"
        )
    if not isinstance(manifest.get("arrays"), dict):
        raise IndexFormatError(f"impact index {folder}: the manifest lists no arrays")
    return manifest


def _check_replaceable(target: Path, overwrite: bool) -> None:
    if not target.is_dir():
        raise IndexFormatError(f"cannot write an impact index to {target}: a file is in the way")
    if not any(target.iterdir()):
        return
    try:
        found = json.loads((target / _format.MANIFEST).read_text(encoding="utf-8")).get("format")
    except (OSError, ValueError, AttributeError):
        found = None
    if found != FORMAT_NAME:
        raise IndexFormatError(
            f"cannot write an impact index to {target}: the folder exists and is not an impact "
            "index; choose another path or remove it"
        )
    if not overwrite:
        raise IndexFormatError(f"an impact index already exists at {target} (overwrite=False)")
