"""An index *view* over candidate texts that a client sends (``POST /rerank``).

The served pipeline's feature stages read two kinds of numbers from an index: collection
statistics (document frequencies, collection frequencies, document count, average length) and
per-document ones (term frequencies, lengths, token positions from the forward index). For
texts that are not in the index, :func:`candidate_index` builds an :class:`~rankstack.index.Index`
whose documents are the candidates, analysed with the served index's tokenizer and mapped to
its vocabulary, while every collection statistic is the served index's. A feature computed on
the view is therefore the feature the candidate would get if it were a document of the
served collection (whose statistics it does not change): a candidate that *is* a document of
the index gets the very score the index gives it.

Which corpus fields feed an index field is recorded in the index manifest (``sources``); a
candidate has a ``title`` and a ``text``: a source named ``title`` takes the title, the other
sources of the field take the text once.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from rankstack.exceptions import DataError
from rankstack.index import FieldIndex, Index


class _CandidateField(FieldIndex):
    """A field whose documents are the candidates and whose statistics are ``base``'s."""

    def __init__(self, base: FieldIndex, arrays: dict[str, np.ndarray]) -> None:
        self.name = base.name
        self.n_terms = base.n_terms
        self.doclen = arrays["doclen"]
        self.fwd_indptr = arrays["fwd_indptr"]
        self.fwd_terms = arrays["fwd_terms"]
        self.fwd_tf = arrays["fwd_tf"]
        self.pos_indptr = arrays["pos_indptr"]
        self.positions = arrays["positions"]
        # the inverted side is the candidates' own (nothing in feature scoring reads it)
        order = np.argsort(self.fwd_terms, kind="stable")
        doc_of = np.repeat(np.arange(len(self.doclen), dtype=np.int32), np.diff(self.fwd_indptr))
        self.inv_docs = doc_of[order]
        self.inv_tf = self.fwd_tf[order]
        self.inv_indptr = np.zeros(self.n_terms + 1, dtype=np.int64)
        np.cumsum(np.bincount(self.fwd_terms, minlength=self.n_terms), out=self.inv_indptr[1:])
        # collection statistics: the served field's (cached_property values set directly)
        self.n_docs = base.n_docs
        self.__dict__["df"] = base.df
        self.__dict__["cf"] = base.cf
        self.__dict__["n_tokens"] = base.n_tokens
        self.__dict__["doc_count"] = base.doc_count


class _CandidateIndex(Index):
    """The candidates as documents, with the served index's vocabulary and statistics."""

    def __init__(self, base: Index, ids: pa.Array, fields: dict[str, _CandidateField]) -> None:
        self.path = None
        self.manifest = {**base.manifest, "positions": True, "arrays": {}}
        self._arrays = {}
        self.tokenizer = base.tokenizer
        self.n_docs = len(ids)
        self.n_terms = base.n_terms
        self.fields = dict(fields)
        order = pc.sort_indices(ids).to_numpy()
        rank = np.empty(len(order), dtype=np.int32)
        rank[order] = np.arange(len(order), dtype=np.int32)
        self.docid_rank = rank
        self._query_analyzer = None
        self.__dict__["docids"] = ids
        self.__dict__["terms"] = base.terms
        self.__dict__["vocabulary"] = base.vocabulary

    def array(self, name: str) -> np.ndarray:
        raise DataError("a candidate view has no raw arrays")


def candidate_index(
    base: Index, ids: Sequence[str], texts: Sequence[str], titles: Sequence[str]
) -> Index:
    """An index view whose documents are the given candidates (see the module docstring).

    Raises
    ------
    DataError
        For repeated candidate ids.
    """
    id_arr = pa.array(list(ids), pa.string())
    if len(pc.unique(id_arr)) != len(id_arr):
        raise DataError("candidate ids must be unique within a request")
    analyzer = base.tokenizer.analyzer(base.vocabulary)
    fields: dict[str, _CandidateField] = {}
    for name, field in base.fields.items():
        sources = base.manifest.get("fields", {}).get(name, {}).get("sources") or ["text"]
        contents = _field_texts(sources, texts, titles)
        batch = analyzer.analyze_batch(pa.array(contents, pa.string()))
        fields[name] = _CandidateField(field, _forward(batch, base.n_terms))
    return _CandidateIndex(base, id_arr, fields)


def _field_texts(sources: Sequence[str], texts: Sequence[str], titles: Sequence[str]) -> list[str]:
    use_title = "title" in sources
    use_text = any(s != "title" for s in sources)
    if use_title and use_text:
        return [f"{a} {b}" if a else b for a, b in zip(titles, texts)]
    return list(titles) if use_title else list(texts)


def _forward(batch: Any, n_terms: int) -> dict[str, np.ndarray]:
    """Forward postings with positions of an analysed batch (docs in batch order)."""
    n_docs = len(batch.offsets) - 1
    lengths = np.diff(batch.offsets)
    ids = np.asarray(batch.ids, dtype=np.int64)
    doc = np.repeat(np.arange(n_docs, dtype=np.int64), lengths)
    span = max(n_terms, 1)
    key = doc * span + ids
    order = np.argsort(key, kind="stable")  # by doc, term, then position
    key = key[order]
    positions = np.asarray(batch.positions, dtype=np.int32)[order]
    first = np.ones(len(key), dtype=bool)
    first[1:] = key[1:] != key[:-1]
    starts = np.flatnonzero(first)
    tf = np.diff(np.append(starts, len(key))).astype(np.int32)
    ukey = key[starts]
    indptr = np.zeros(n_docs + 1, dtype=np.int64)
    np.cumsum(np.bincount(ukey // span, minlength=n_docs), out=indptr[1:])
    pos_indptr = np.zeros(len(tf) + 1, dtype=np.int64)
    np.cumsum(tf, out=pos_indptr[1:])
    return {
        "doclen": (lengths + np.asarray(batch.n_unknown)).astype(np.int32),
        "fwd_indptr": indptr,
        "fwd_terms": (ukey % span).astype(np.int32),
        "fwd_tf": tf,
        "pos_indptr": pos_indptr,
        "positions": positions,
    }
