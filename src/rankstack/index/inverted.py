"""``Index``: a loaded (memory-mapped) or in-memory inverted index with a forward index.

Per field the index holds

- the **inverted** postings in CSC layout (term -> doc ids ascending + term frequencies):
  ``inv_indptr[t]:inv_indptr[t+1]`` are term ``t``'s postings;
- the **forward** index in CSR layout (doc -> term ids ascending + term frequencies), which
  RM3 and feature extraction (TF-IDF, language-model scores, per-field BM25) read per document;
- document lengths in tokens after analysis (stopwords removed, as Lucene counts them);
- optionally token **positions** aligned with the forward postings (for proximity features):
  ``positions[pos_indptr[p]:pos_indptr[p+1]]`` are the positions of forward posting ``p``.

Shared by all fields: the vocabulary (term strings; ids are row numbers), the doc ids and each
doc id's rank in string order (for trec_eval's tie order), and the tokenizer settings.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence
from functools import cached_property
from itertools import pairwise
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from rankstack.exceptions import DataError, IndexFormatError, MissingFeaturesError
from rankstack.index import _format
from rankstack.index.tokenizer import AnalyzedBatch, Analyzer, Tokenizer

logger = logging.getLogger(__name__)

FIELD_ARRAYS = ("doclen", "inv_indptr", "inv_docs", "inv_tf", "fwd_indptr", "fwd_terms", "fwd_tf")
POSITION_ARRAYS = ("pos_indptr", "positions")


def strings_from_arrays(data: np.ndarray, offsets: np.ndarray) -> pa.Array:
    """A string array over UTF-8 bytes and int64 offsets: the bytes are not copied; the
    offsets become int32 (a plain ``string`` array) when the bytes are under 2 GiB."""
    n = len(offsets) - 1
    data_buf = pa.py_buffer(np.ascontiguousarray(data))
    if len(data) < 2**31 - 1:
        off32 = np.asarray(offsets).astype(np.int32)
        return pa.StringArray.from_buffers(n, pa.py_buffer(off32), data_buf)
    return pa.LargeStringArray.from_buffers(
        n, pa.py_buffer(np.ascontiguousarray(offsets)), data_buf
    )


def strings_to_arrays(values: pa.Array | Sequence[str]) -> tuple[np.ndarray, np.ndarray]:
    """UTF-8 bytes (uint8) and int64 offsets of a string array (inverse of the above)."""
    arr = (
        values if isinstance(values, (pa.Array, pa.ChunkedArray)) else pa.array(values, pa.string())
    )
    if isinstance(arr, pa.ChunkedArray):
        arr = arr.combine_chunks()
    arr = arr.cast(pa.large_string())
    arr = pa.concat_arrays([arr])  # drops any slice offset
    _, off_buf, data_buf = arr.buffers()
    offsets = np.frombuffer(off_buf, dtype=np.int64)[: len(arr) + 1].copy()
    start, stop = int(offsets[0]), int(offsets[-1])
    data = (
        np.frombuffer(data_buf, dtype=np.uint8)[start:stop].copy()
        if data_buf is not None and stop > start
        else np.zeros(0, dtype=np.uint8)
    )
    return data, offsets - start


class FieldIndex:
    """Postings, forward index and statistics of one field.

    Statistics follow Lucene's ``CollectionStatistics``: ``doc_count`` counts documents with at
    least one token in the field and ``avgdl = n_tokens / doc_count``.
    """

    def __init__(self, name: str, arrays: Mapping[str, np.ndarray], n_terms: int) -> None:
        self.name = name
        self.n_terms = n_terms
        self.doclen: np.ndarray = arrays["doclen"]
        self.inv_indptr: np.ndarray = arrays["inv_indptr"]
        self.inv_docs: np.ndarray = arrays["inv_docs"]
        self.inv_tf: np.ndarray = arrays["inv_tf"]
        self.fwd_indptr: np.ndarray = arrays["fwd_indptr"]
        self.fwd_terms: np.ndarray = arrays["fwd_terms"]
        self.fwd_tf: np.ndarray = arrays["fwd_tf"]
        self.pos_indptr: np.ndarray | None = arrays.get("pos_indptr")
        self.positions: np.ndarray | None = arrays.get("positions")
        self.n_docs = len(self.doclen)
        self._check()

    def _check(self) -> None:
        nnz = len(self.inv_docs)
        ok = (
            len(self.inv_indptr) == self.n_terms + 1
            and len(self.fwd_indptr) == self.n_docs + 1
            and len(self.inv_tf) == nnz
            and len(self.fwd_terms) == nnz
            and len(self.fwd_tf) == nnz
        )
        if ok and nnz:
            ok = int(self.inv_indptr[-1]) == nnz and int(self.fwd_indptr[-1]) == nnz
        if ok and self.pos_indptr is not None and self.positions is not None:
            ok = len(self.pos_indptr) == nnz + 1 and int(self.pos_indptr[-1]) == len(self.positions)
        if not ok:
            raise IndexFormatError(
                f"field {self.name!r}: array sizes do not agree with each other (corrupt index); "
                "rebuild it"
            )

    def __repr__(self) -> str:
        return f"FieldIndex({self.name!r}, {self.n_docs} docs, {self.n_postings} postings)"

    # ----------------------------------------------------------------- statistics
    @property
    def n_postings(self) -> int:
        return len(self.inv_docs)

    @cached_property
    def n_tokens(self) -> int:
        """Total tokens in the field (Lucene's ``sumTotalTermFreq``)."""
        return int(self.doclen.sum(dtype=np.int64))

    @cached_property
    def doc_count(self) -> int:
        """Documents with at least one token in the field (Lucene's ``docCount``)."""
        return int(np.count_nonzero(self.doclen))

    @property
    def avgdl(self) -> float:
        """Mean length over documents that have the field (Lucene's ``avgFieldLength``)."""
        return self.n_tokens / self.doc_count if self.doc_count else 0.0

    @cached_property
    def df(self) -> np.ndarray:
        """Document frequency of every term (int64, one per vocabulary entry)."""
        return np.diff(np.asarray(self.inv_indptr, dtype=np.int64))

    @cached_property
    def cf(self) -> np.ndarray:
        """Collection frequency of every term: total occurrences in the field (int64)."""
        return np.bincount(
            np.asarray(self.fwd_terms), weights=self.fwd_tf, minlength=self.n_terms
        ).astype(np.int64)

    # ----------------------------------------------------------------- access
    def postings(self, term_id: int) -> tuple[np.ndarray, np.ndarray]:
        """Doc indices (ascending) and term frequencies of one term."""
        lo, hi = int(self.inv_indptr[term_id]), int(self.inv_indptr[term_id + 1])
        return self.inv_docs[lo:hi], self.inv_tf[lo:hi]

    def doc_terms(self, doc: int) -> tuple[np.ndarray, np.ndarray]:
        """Term ids (ascending) and frequencies of one document (its term vector)."""
        lo, hi = int(self.fwd_indptr[doc]), int(self.fwd_indptr[doc + 1])
        return self.fwd_terms[lo:hi], self.fwd_tf[lo:hi]

    def doc_positions(self, doc: int) -> list[np.ndarray]:
        """Positions of each term of :meth:`doc_terms`, in the same order."""
        if self.pos_indptr is None or self.positions is None:
            raise MissingFeaturesError(
                f"field {self.name!r} was indexed without positions (build with positions=True)"
            )
        lo, hi = int(self.fwd_indptr[doc]), int(self.fwd_indptr[doc + 1])
        bounds = np.asarray(self.pos_indptr[lo : hi + 1])
        return [self.positions[a:b] for a, b in pairwise(bounds)]

    def inverted_matrix(self) -> Any:
        """The postings as a scipy CSC matrix (docs x terms) of term frequencies (no copy)."""
        import scipy.sparse as sp

        return sp.csc_matrix(
            (self.inv_tf, self.inv_docs, self.inv_indptr), shape=(self.n_docs, self.n_terms)
        )

    def forward_matrix(self) -> Any:
        """The forward index as a scipy CSR matrix (docs x terms) of term frequencies."""
        import scipy.sparse as sp

        return sp.csr_matrix(
            (self.fwd_tf, self.fwd_terms, self.fwd_indptr), shape=(self.n_docs, self.n_terms)
        )


class Index:
    """An inverted index over one or more fields of a corpus.

    Build one with :func:`rankstack.index.build_index` (or :meth:`Index.build`) and open a saved
    one with :meth:`Index.load`; arrays of a loaded index are memory-mapped, so opening is
    cheap and the OS shares pages between processes.
    """

    def __init__(
        self,
        arrays: Mapping[str, np.ndarray],
        manifest: Mapping[str, Any],
        path: Path | None = None,
    ) -> None:
        self.path = path
        self.manifest: dict[str, Any] = dict(manifest)
        self._arrays = dict(arrays)
        self.tokenizer = Tokenizer.from_dict(self.manifest.get("tokenizer", {}))
        self.n_docs = int(self.manifest["n_docs"])
        self.n_terms = int(self.manifest["n_terms"])
        self.fields: dict[str, FieldIndex] = {}
        for name in self.manifest["fields"]:
            prefix = f"fields/{name}/"
            sub = {k[len(prefix) :]: v for k, v in self._arrays.items() if k.startswith(prefix)}
            missing = [a for a in FIELD_ARRAYS if a not in sub]
            if missing:
                raise IndexFormatError(f"index field {name!r} lacks arrays {missing}; rebuild it")
            self.fields[name] = FieldIndex(name, sub, self.n_terms)
        self.docid_rank: np.ndarray = self._arrays["docid_rank"]
        if len(self.docid_rank) != self.n_docs:
            raise IndexFormatError("index: docid_rank does not match the document count")
        self._query_analyzer: Analyzer | None = None

    # ----------------------------------------------------------------- construction
    @classmethod
    def load(cls, path: str | Path, *, verify: bool = False, mmap: bool = True) -> Index:
        """Open a saved index; ``verify=True`` also checks every array's sha256."""
        folder = Path(path)
        manifest = _format.read_manifest(folder)
        if verify:
            _format.verify_checksums(folder, manifest)
        arrays = {
            name: _format.open_array(folder, name, spec, mmap=mmap)
            for name, spec in manifest["arrays"].items()
        }
        for key in ("n_docs", "n_terms", "fields", "tokenizer"):
            if key not in manifest:
                raise IndexFormatError(f"index {folder}: the manifest lacks {key!r}; rebuild it")
        return cls(arrays, manifest, folder)

    @classmethod
    def build(cls, corpus: Any, path: str | Path | None = None, **kwargs: Any) -> Index:
        """Same as :func:`rankstack.index.build_index`."""
        from rankstack.index.builder import build_index

        return build_index(corpus, path, **kwargs)

    def save(self, path: str | Path, *, overwrite: bool = True) -> Index:
        """Write this index to ``path`` atomically and return the memory-mapped copy."""
        from rankstack.index.builder import write_index

        write_index(path, self._arrays, self.manifest, overwrite=overwrite)
        return Index.load(path)

    def verify(self) -> None:
        """Re-hash every array of a saved index against the manifest."""
        if self.path is None:
            return
        _format.verify_checksums(self.path, self.manifest)

    def __repr__(self) -> str:
        where = f", path={str(self.path)!r}" if self.path else ""
        return f"Index({self.n_docs} docs, {self.n_terms} terms, fields={list(self.fields)}{where})"

    # ----------------------------------------------------------------- fields
    @property
    def field_names(self) -> list[str]:
        return list(self.fields)

    def field(self, name: str | None = None) -> FieldIndex:
        """One field; ``None`` gives the only field (or ``contents``) of the index."""
        if name is None:
            if len(self.fields) == 1:
                return next(iter(self.fields.values()))
            if "contents" in self.fields:
                return self.fields["contents"]
            raise MissingFeaturesError(
                f"this index has several fields {self.field_names}; name one"
            )
        if name not in self.fields:
            raise MissingFeaturesError(
                f"the index has no field {name!r}; it has {self.field_names}"
            )
        return self.fields[name]

    @property
    def positions(self) -> bool:
        return bool(self.manifest.get("positions", False))

    # ----------------------------------------------------------------- ids and terms
    @cached_property
    def docids(self) -> pa.Array:
        """Doc ids in index order (a large_string array over the mapped bytes)."""
        return strings_from_arrays(self._arrays["docids_data"], self._arrays["docids_offsets"])

    @cached_property
    def terms(self) -> pa.Array:
        """The vocabulary: ``terms[i]`` is the string of term id ``i``."""
        return strings_from_arrays(self._arrays["vocab_data"], self._arrays["vocab_offsets"])

    @cached_property
    def vocabulary(self) -> dict[str, int]:
        """Term string -> term id (built on first use)."""
        return {t: i for i, t in enumerate(self.terms.to_pylist())}

    def term_id(self, term: str) -> int:
        """Id of an analysed term, or -1 if it is not in the vocabulary."""
        return self.vocabulary.get(term, -1)

    def doc_index(self, docids: Sequence[str] | pa.Array) -> np.ndarray:
        """Internal index of each doc id (-1 for ids not in the index)."""
        want = (
            docids
            if isinstance(docids, (pa.Array, pa.ChunkedArray))
            else pa.array(list(docids), pa.string())
        )
        pos = pc.index_in(want, value_set=self.docids)
        return np.asarray(pc.fill_null(pos, -1).to_numpy(zero_copy_only=False), dtype=np.int64)

    # ----------------------------------------------------------------- analysis
    def analyze_queries(self, texts: pa.Array | Sequence[str]) -> AnalyzedBatch:
        """Analyse query texts with the index's tokenizer, mapped to its vocabulary.

        Terms missing from the vocabulary are left out (and counted in ``n_unknown``).
        """
        if self._query_analyzer is None:
            self._query_analyzer = self.tokenizer.analyzer(self.vocabulary)
        return self._query_analyzer.analyze_batch(texts)

    def array(self, name: str) -> np.ndarray:
        """A raw array by manifest name (for extensions and tests)."""
        if name not in self._arrays:
            raise DataError(f"the index has no array {name!r}")
        return self._arrays[name]

    @property
    def array_names(self) -> list[str]:
        return list(self._arrays)
