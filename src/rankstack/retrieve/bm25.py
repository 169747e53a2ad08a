"""``BM25``: the first-stage retriever over an :class:`~rankstack.index.Index`.

Scoring variants are defined in :mod:`rankstack.retrieve.scoring` (Kamphuis et al., ECIR
2020); the default, ``lucene`` with ``k1=0.9, b=0.4``, reproduces Anserini/Pyserini's BM25.
Multi-field retrieval scores each field with its own statistics (document frequencies, average
length) and sums the fields' scores with weights, as Pyserini's BEIR "multifield" runs do.

The per-posting impacts for the chosen parameters are computed once (vectorised, O(postings))
and cached; a batch of queries is then one sparse matrix product plus a top-k selection
(:mod:`rankstack.retrieve._search`).
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa

from rankstack.data import Corpus, Queries, Run
from rankstack.data._columns import take_str
from rankstack.exceptions import DataError
from rankstack.index import Index, Tokenizer, build_index
from rankstack.pipeline import Stage
from rankstack.retrieve import _search
from rankstack.retrieve.scoring import DEFAULT_DELTA, check_variant, impacts

logger = logging.getLogger(__name__)


class BM25(Stage):
    """BM25 retrieval (a :class:`~rankstack.pipeline.Stage` that produces candidates).

    Parameters
    ----------
    index:
        An :class:`~rankstack.index.Index` or the path of a saved one.
    k1, b:
        Term-frequency saturation and length normalisation (Anserini's defaults 0.9, 0.4).
    variant:
        ``lucene`` (default), ``robertson``, ``atire``, ``bm25l`` or ``bm25+``.
    delta:
        The lower bound of BM25L (default 0.5) and BM25+ (default 1.0).
    k:
        Documents returned per query.
    fields:
        ``None``: the index's single field (or ``contents``), or every field with weight 1
        when the index has several and no ``contents``; else ``{"title": 1.0, "text": 1.0}``.
    quantize:
        Use Lucene's one-byte document lengths (default: on for ``lucene`` only).
    n_jobs:
        Threads over query batches (numpy and scipy release the GIL in the heavy parts).
    name:
        Name of the stage in feature tables and run tags.
    """

    is_retriever = True

    def __init__(
        self,
        index: Index | str | Path,
        k1: float = 0.9,
        b: float = 0.4,
        variant: str = "lucene",
        delta: float | None = None,
        k: int = 1000,
        fields: Mapping[str, float] | None = None,
        quantize: bool | None = None,
        n_jobs: int = 1,
        name: str = "bm25",
    ) -> None:
        self.index = index
        self.k1 = float(k1)
        self.b = float(b)
        self.variant = check_variant(variant)
        self.delta = delta
        self.k = int(k)
        self.fields = dict(fields) if fields is not None else None
        self.quantize = quantize
        self.n_jobs = int(n_jobs)
        self.name = name
        if self.k < 0:
            raise DataError(f"BM25: k must be >= 0, found {k}")
        if self.k1 < 0 or not 0.0 <= self.b <= 1.0:
            raise DataError(f"BM25 needs k1 >= 0 and 0 <= b <= 1, found k1={k1}, b={b}")
        self._index: Index | None = index if isinstance(index, Index) else None
        self._w: Any = None
        self._w_key: tuple[Any, ...] | None = None
        self._df: np.ndarray | None = None

    # ------------------------------------------------------------------ construction
    @classmethod
    def from_corpus(
        cls,
        corpus: Corpus,
        *,
        tokenizer: Tokenizer | None = None,
        index_fields: Any = None,
        multifield: bool = False,
        path: str | Path | None = None,
        **params: Any,
    ) -> BM25:
        """Index ``corpus`` (in memory unless ``path`` is given) and return a BM25 over it."""
        idx = build_index(
            corpus, path, fields=index_fields, multifield=multifield, tokenizer=tokenizer
        )
        return cls(idx, **params)

    # ------------------------------------------------------------------ state
    @property
    def index_(self) -> Index:
        """The opened index (a path is opened on first use)."""
        if self._index is None:
            self._index = Index.load(self.index)  # type: ignore[arg-type]
        return self._index

    def field_weights(self) -> dict[str, float]:
        """Index field -> weight actually used."""
        idx = self.index_
        if self.fields is not None:
            for name in self.fields:
                idx.field(name)  # raises for unknown fields
            return {k: float(v) for k, v in self.fields.items()}
        if len(idx.fields) == 1 or "contents" in idx.fields:
            return {idx.field().name: 1.0}
        return dict.fromkeys(idx.field_names, 1.0)

    def impact_matrix(self) -> Any:
        """Terms x docs CSR matrix of weighted per-posting scores (computed once, cached)."""
        key = (self.variant, self.k1, self.b, self.delta, self.quantize, str(self.fields))
        if self._w is None or self._w_key != key:
            idx = self.index_
            total = None
            for name, weight in self.field_weights().items():
                f = idx.field(name)
                imp = impacts(f, self.variant, self.k1, self.b, self.delta, self.quantize)
                if weight != 1.0:
                    imp = (imp * np.float32(weight)).astype(np.float32)
                m = _search.impact_matrix(f.inv_indptr, f.inv_docs, imp, idx.n_docs)
                total = m if total is None else (total + m).tocsr()
            self._w = total
            self._w_key = key
            self._df = np.diff(self._w.indptr).astype(np.int64)
        return self._w

    def _df_bound(self) -> np.ndarray:
        """Per term, the number of postings in the impact matrix (batching cost bound)."""
        self.impact_matrix()
        assert self._df is not None
        return self._df

    # ------------------------------------------------------------------ retrieval
    def search_terms(self, q: Any, k: int | None = None) -> _search.Hits:
        """Top-k hits (internal doc indices) for a queries x terms weight matrix."""
        kk = self.k if k is None else int(k)
        return _search.search(
            q.tocsr(),
            self.impact_matrix(),
            kk,
            self.index_.docid_rank,
            self._df_bound(),
            self.n_jobs,
        )

    def query_matrix(self, queries: Queries) -> tuple[Any, np.ndarray]:
        """Analysed queries as a (queries x terms) matrix of term counts, and each query's
        number of analysed tokens (known and unknown terms)."""
        idx = self.index_
        batch = idx.analyze_queries(queries.texts)
        lengths = batch.lengths
        rows = np.repeat(np.arange(len(queries), dtype=np.int64), lengths)
        q = _search.query_matrix(
            rows, batch.ids, np.ones(len(batch.ids), np.float32), len(queries), idx.n_terms
        )
        empty = int(np.count_nonzero(lengths == 0))
        if empty:
            logger.warning(
                "%d of %d queries have no indexed terms after analysis (stopwords only or "
                "unknown words); they get an empty ranking",
                empty,
                len(queries),
            )
        return q, lengths + batch.n_unknown

    def hits_to_run(self, queries: Queries, hits: _search.Hits) -> Run:
        docids = take_str(self.index_.docids, hits.docs)
        if pa.types.is_large_string(docids.type):
            docids = docids.cast(pa.string())
        return Run(
            qids=queries.qids,
            offsets=hits.offsets,
            docids=docids,
            scores=hits.scores.astype(np.float64),
            metadata={"stage": self.name, "retriever": repr(self)},
        )

    def transform(self, queries: Queries, run: Run | None = None) -> Run:
        """Retrieve the top ``k`` documents of each query (an incoming run is ignored)."""
        q, _ = self.query_matrix(queries)
        return self.hits_to_run(queries, self.search_terms(q))

    def __repr__(self) -> str:
        where = self.index if not isinstance(self.index, Index) else self.index_
        delta = self.delta if self.delta is not None else DEFAULT_DELTA.get(self.variant)
        extra = f", delta={delta}" if delta is not None else ""
        fields = f", fields={self.fields}" if self.fields else ""
        return (
            f"BM25({where!r}, variant={self.variant!r}, k1={self.k1}, b={self.b}{extra}, "
            f"k={self.k}{fields})"
        )
