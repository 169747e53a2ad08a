"""Training data for neural rankers: queries, their positives, and mined candidate pools.

:func:`build_training_data` joins queries, qrels and a corpus with one or more first-stage
runs (BM25, a dense retriever...). For every query it keeps the relevant documents (label
> 0) and a **pool** of candidates: the union of the runs' top ``depth`` documents minus the
positives, ordered by their best rank in any run. The pools are the static hard negatives of
STAR and the documents ADORE re-scores (:mod:`rankstack.train.negatives`). Everything is
held as integer arrays with per-query offsets (documents are indices into the corpus); the
joins are vectorised (``pyarrow.compute.index_in`` and one sort), with no loop over rows.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from rankstack.data import Corpus, Qrels, Queries, Run
from rankstack.data._columns import offsets_from_sizes, to_str_list
from rankstack.exceptions import DataError


@dataclass(frozen=True, eq=False)
class TrainingData:
    """Queries with positives and candidate pools (see the module docstring).

    Attributes
    ----------
    qids, query_texts : the training queries (only those with a positive in the corpus)
    docids, doc_texts : the corpus (documents are referred to by their index here)
    pos_offsets, pos_docs : per query, the relevant documents
    pos_ranks : best 1-based rank of each positive in the runs (``inf`` when not retrieved)
    pool_offsets, pool_docs : per query, the non-relevant candidates by best rank
    pool_ranks : best 1-based rank of each pool document
    """

    qids: pa.Array
    query_texts: list[str]
    docids: pa.Array
    doc_texts: list[str]
    pos_offsets: np.ndarray
    pos_docs: np.ndarray
    pos_ranks: np.ndarray
    pool_offsets: np.ndarray
    pool_docs: np.ndarray
    pool_ranks: np.ndarray

    @property
    def n_queries(self) -> int:
        return len(self.qids)

    @property
    def n_docs(self) -> int:
        return len(self.docids)

    def positives(self, q: int) -> np.ndarray:
        return self.pos_docs[self.pos_offsets[q] : self.pos_offsets[q + 1]]

    def pool(self, q: int) -> np.ndarray:
        return self.pool_docs[self.pool_offsets[q] : self.pool_offsets[q + 1]]

    def subset(self, queries: np.ndarray) -> TrainingData:
        """The same corpus with only the given query indices (in that order)."""
        q = np.asarray(queries, dtype=np.int64)

        def part(offsets: np.ndarray, *cols: np.ndarray) -> tuple[np.ndarray, ...]:
            sizes = np.diff(offsets)[q]
            starts = offsets[:-1][q]
            rows = np.repeat(starts - np.concatenate([[0], np.cumsum(sizes)[:-1]]), sizes)
            rows = rows + np.arange(int(sizes.sum()), dtype=np.int64)
            return (offsets_from_sizes(sizes), *(c[rows] for c in cols))

        po, pd_, pr = part(self.pos_offsets, self.pos_docs, self.pos_ranks)
        lo, ld, lr = part(self.pool_offsets, self.pool_docs, self.pool_ranks)
        return TrainingData(
            qids=self.qids.take(pa.array(q)),
            query_texts=[self.query_texts[i] for i in q],
            docids=self.docids,
            doc_texts=self.doc_texts,
            pos_offsets=po,
            pos_docs=pd_,
            pos_ranks=pr,
            pool_offsets=lo,
            pool_docs=ld,
            pool_ranks=lr,
        )


def _index_of(values: pa.Array, universe: pa.Array) -> np.ndarray:
    """Position of each value in ``universe`` (-1 when absent)."""
    pos = pc.fill_null(pc.index_in(values, value_set=universe), -1)
    return np.asarray(pos.to_numpy(zero_copy_only=False), dtype=np.int64)


def build_training_data(
    queries: Queries,
    qrels: Qrels,
    corpus: Corpus,
    runs: Sequence[Run] = (),
    *,
    depth: int = 50,
    fields: Sequence[str] | None = None,
) -> TrainingData:
    """Join queries, qrels, corpus and mining runs into :class:`TrainingData`.

    Parameters
    ----------
    queries, qrels:
        Training queries and their judgements; queries without a relevant document in the
        corpus are left out.
    corpus:
        The documents (their texts: ``fields`` joined, title first by default).
    runs:
        First-stage runs over the training queries whose top ``depth`` documents form the
        candidate pools (hard negatives). None: pools are empty (random negatives only).
    depth:
        Candidates taken from each run per query.
    """
    if depth < 0:
        raise DataError(f"build_training_data: depth must be >= 0, found {depth}")
    n_docs = len(corpus)
    qmap = _index_of(qrels.qid_column(), queries.qids)
    dmap = _index_of(qrels.docids, corpus.docids)
    ok = (qmap >= 0) & (dmap >= 0) & (np.asarray(qrels.labels) > 0)
    if not ok.any():
        raise DataError(
            "build_training_data: no relevant (label > 0) judgement joins a query and a corpus "
            "document; check that queries, qrels and corpus belong together"
        )
    pos_q, pos_d = qmap[ok], dmap[ok]
    keep_q = np.unique(pos_q)  # query indices with a positive, in query order
    new_of = np.full(len(queries), -1, dtype=np.int64)
    new_of[keep_q] = np.arange(len(keep_q))
    pos_key = np.unique(new_of[pos_q] * n_docs + pos_d)

    # candidates of every run: (query, doc, rank), best rank per pair
    keys, ranks = [np.zeros(0, np.int64)], [np.zeros(0, np.float64)]
    for run in runs:
        r = run.cut(depth)
        rq = _index_of(r.qids, queries.qids)[r.query_index]
        rd = _index_of(r.docids, corpus.docids)
        good = (rq >= 0) & (rd >= 0)
        good &= new_of[np.maximum(rq, 0)] >= 0
        keys.append(new_of[rq[good]] * n_docs + rd[good])
        ranks.append(r.ranks[good].astype(np.float64) + 1.0)
    key = np.concatenate(keys)
    rank = np.concatenate(ranks)
    order = np.lexsort((rank, key))
    key, rank = key[order], rank[order]
    first = np.ones(len(key), dtype=bool)
    first[1:] = key[1:] != key[:-1]
    key, rank = key[first], rank[first]

    # positives with their best rank (inf when no run retrieved them)
    at = np.searchsorted(key, pos_key)
    found = (at < len(key)) & (key[np.minimum(at, max(len(key) - 1, 0))] == pos_key)
    pos_rank = np.where(found, rank[np.minimum(at, max(len(key) - 1, 0))], np.inf)
    if not len(key):
        pos_rank = np.full(len(pos_key), np.inf)
    n_q = len(keep_q)
    pos_sizes = np.bincount(pos_key // n_docs, minlength=n_q)

    # pools: candidates that are not positives, by (query, rank)
    is_pos = np.isin(key, pos_key)
    key, rank = key[~is_pos], rank[~is_pos]
    order = np.lexsort((key % n_docs, rank, key // n_docs))
    key, rank = key[order], rank[order]
    pool_sizes = np.bincount(key // n_docs, minlength=n_q)

    texts = to_str_list(corpus.contents(fields))
    qtexts = to_str_list(queries.texts)
    return TrainingData(
        qids=queries.qids.take(pa.array(keep_q)),
        query_texts=[qtexts[i] for i in keep_q],
        docids=corpus.docids,
        doc_texts=texts,
        pos_offsets=offsets_from_sizes(pos_sizes),
        pos_docs=(pos_key % n_docs).astype(np.int64),
        pos_ranks=pos_rank.astype(np.float64),
        pool_offsets=offsets_from_sizes(pool_sizes),
        pool_docs=(key % n_docs).astype(np.int64),
        pool_ranks=rank,
    )
