"""Join a run to its judgements once; every measure then reads the shared pieces.

Only the retrieved documents that have a judgement for their query ("judged rows") are
materialised: with a 10,000 x 1,000 run that is a few hundred thousand rows out of ten
million. Each judged row keeps its query, its 0-based rank and its label coded as trec_eval
codes it (``form_res_rels.c``): the grade when it is >= 0, ``UNJUDGED = -2`` for a negative
grade (in the pool but not judged). Retrieved documents absent from the qrels
(``NONPOOL = -1``) are implied: they occupy ranks but never count as relevant.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from rankstack.data import Qrels, Run
from rankstack.data._columns import concat_str, offsets_from_sizes, take_str
from rankstack.evaluate import _segments as seg

logger = logging.getLogger(__name__)

UNJUDGED = -2  # trec_eval's RELVALUE_UNJUDGED: in the qrels with a negative grade


@dataclass
class EvalContext:
    """Per-query facts shared by all measures, over an internal list of ``n_queries`` queries.

    Attributes
    ----------
    n_queries : number of internal queries (per-query arrays have this length)
    n_ret : documents retrieved per query
    jq, jrank, jlabel : query, 0-based rank and coded label of each judged row, sorted by
        query then rank
    qrel_offsets, qrel_grades : each query's judged grades (all of them, negative included),
        sorted in decreasing order within the query; ``qrel_offsets`` has ``n_queries + 1``
        entries
    judged_only : whether unjudged documents were removed before ranking (trec_eval ``-J``)
    """

    n_queries: int
    n_ret: np.ndarray
    jq: np.ndarray
    jrank: np.ndarray
    jlabel: np.ndarray
    qrel_offsets: np.ndarray
    qrel_grades: np.ndarray
    judged_only: bool = False
    _cache: dict[Any, Any] = field(default_factory=dict, repr=False)

    def cached(self, key: Any, make: Any) -> Any:
        """``make()`` computed once per context and key (ideal DCG, relevant counts...)."""
        if key not in self._cache:
            self._cache[key] = make()
        return self._cache[key]

    @property
    def qrel_query(self) -> np.ndarray:
        """The query of each entry of ``qrel_grades``."""
        return self.cached("qrel_query", lambda: _row_group(self.qrel_offsets))

    def num_rel(self, rel: int) -> np.ndarray:
        """Judged documents with grade >= ``rel`` per query (trec_eval's ``num_rel``)."""

        def make() -> np.ndarray:
            keep = self.qrel_grades >= rel
            return seg.count(self.qrel_query[keep], self.n_queries)

        return self.cached(("num_rel", rel), make)

    def num_nonrel(self, rel: int) -> np.ndarray:
        """Judged documents with 0 <= grade < ``rel`` per query (bpref's non-relevant pool)."""

        def make() -> np.ndarray:
            g = self.qrel_grades
            keep = (g >= 0) & (g < rel)
            return seg.count(self.qrel_query[keep], self.n_queries)

        return self.cached(("num_nonrel", rel), make)

    def relevant(self, rel: int) -> tuple[np.ndarray, np.ndarray]:
        """Query and rank of each retrieved relevant document (label >= ``rel``)."""

        def make() -> tuple[np.ndarray, np.ndarray]:
            keep = self.jlabel >= rel
            return self.jq[keep], self.jrank[keep]

        return self.cached(("relevant", rel), make)

    def view(self, judged_only: bool) -> EvalContext:
        """This context, or the one where unjudged documents were removed before ranking.

        trec_eval's ``-J`` keeps documents with a grade >= 0 and re-ranks them in their original
        order; the number of relevant documents is unchanged.
        """
        if not judged_only or self.judged_only:
            return self

        def make() -> EvalContext:
            keep = self.jlabel >= 0
            jq = self.jq[keep]
            return EvalContext(
                n_queries=self.n_queries,
                n_ret=seg.count(jq, self.n_queries),
                jq=jq,
                jrank=seg.position_in_group(jq),
                jlabel=self.jlabel[keep],
                qrel_offsets=self.qrel_offsets,
                qrel_grades=self.qrel_grades,
                judged_only=True,
            )

        return self.cached("judged_only_view", make)


@dataclass(frozen=True)
class Evaluation:
    """A context plus which internal queries are reported, in trec_eval's order."""

    context: EvalContext
    qids: pa.Array  # reported query ids, sorted as strcmp sorts them
    index: np.ndarray  # internal query index of each reported query


def _row_group(offsets: np.ndarray) -> np.ndarray:
    sizes = np.diff(offsets)
    return np.repeat(np.arange(len(sizes), dtype=np.int64), sizes)


def _ranges(starts: np.ndarray, sizes: np.ndarray) -> np.ndarray:
    total = int(sizes.sum())
    if total == 0:
        return np.zeros(0, dtype=np.int64)
    base = np.repeat(starts - offsets_from_sizes(sizes)[:-1], sizes)
    return base + np.arange(total, dtype=np.int64)


def _index_in(values: pa.Array, value_set: pa.Array) -> np.ndarray:
    """Position of each value in ``value_set`` (-1 when absent), via Arrow's hash lookup."""
    if len(values) == 0:
        return np.zeros(0, dtype=np.int64)
    if len(value_set) == 0:
        return np.full(len(values), -1, dtype=np.int64)
    if pa.types.is_large_string(values.type) != pa.types.is_large_string(value_set.type):
        value_set = value_set.cast(values.type)
    idx = pc.index_in(values, value_set=value_set)
    return np.asarray(pc.fill_null(idx, -1).to_numpy(zero_copy_only=False), dtype=np.int64)


def _found_in(values: pa.Array, value_set: pa.Array) -> tuple[np.ndarray, np.ndarray]:
    """Rows of ``values`` present in ``value_set`` and their positions there (both int64).

    Reads Arrow's result buffers directly: no null filling and no full-length int64 copy, which
    matters for the ten million doc ids of a large run.
    """
    n = len(values)
    if n == 0 or len(value_set) == 0:
        empty = np.zeros(0, dtype=np.int64)
        return empty, empty
    if pa.types.is_large_string(values.type) != pa.types.is_large_string(value_set.type):
        value_set = value_set.cast(values.type)
    idx = pc.index_in(values, value_set=value_set)
    if isinstance(idx, pa.ChunkedArray):
        idx = idx.combine_chunks()
    validity, data = idx.buffers()[0], idx.buffers()[1]
    codes = np.frombuffer(data, dtype=np.int32, count=n + idx.offset)[idx.offset :]
    if idx.null_count == 0 or validity is None:
        rows = np.arange(n, dtype=np.int64)
    else:
        bits = np.unpackbits(
            np.frombuffer(validity, dtype=np.uint8), count=n + idx.offset, bitorder="little"
        )
        rows = np.flatnonzero(bits[idx.offset :])
    return rows, codes[rows].astype(np.int64)


def build(run: Run, qrels: Qrels, *, complete: bool = False) -> Evaluation:
    """Join ``run`` to ``qrels`` and decide which queries are evaluated.

    Evaluated queries are those of the run that have judgements. Run queries without any are
    skipped with a logged warning (trec_eval skips them silently). With ``complete`` (trec_eval
    ``-c``), judged queries absent from the run are evaluated too, as empty rankings.
    """
    # internal queries: the run's, then (complete only) judged queries the run lacks
    qmap = _index_in(run.qids, qrels.qids)
    n_run_q = run.n_queries
    unjudged = int((qmap < 0).sum())
    if unjudged:
        sample = run.qids.filter(pa.array(qmap < 0)).slice(0, 3).to_pylist()
        logger.warning(
            "%d of %d run queries have no judgements in the qrels and are skipped (e.g. %s)",
            unjudged,
            n_run_q,
            ", ".join(map(str, sample)),
        )
    extra = np.zeros(0, dtype=np.int64)
    if complete:
        extra = np.setdiff1d(np.arange(qrels.n_queries), qmap[qmap >= 0])
    qrels_of = np.concatenate([qmap, extra])
    qids_internal = concat_str([run.qids, take_str(qrels.qids, extra)])
    n_q = len(qrels_of)
    n_ret = np.concatenate([run.sizes.astype(np.int64), np.zeros(len(extra), dtype=np.int64)])

    # judged rows: retrieved documents that the qrels judge for that query
    udocs = pc.unique(qrels.docids)
    n_u = max(len(udocs), 1)
    cand, cand_code = _found_in(run.docids, udocs)
    cand_q = np.searchsorted(run.offsets, cand, side="right") - 1
    cand_qrels = qmap[cand_q]
    keep = cand_qrels >= 0
    cand, cand_q, cand_qrels, cand_code = (
        cand[keep],
        cand_q[keep],
        cand_qrels[keep],
        cand_code[keep],
    )
    qrels_key = qrels.query_index * n_u + _index_in(qrels.docids, udocs)
    order = np.argsort(qrels_key, kind="stable")
    sorted_key = qrels_key[order]
    run_key = cand_qrels * n_u + cand_code
    pos = np.minimum(np.searchsorted(sorted_key, run_key), max(len(sorted_key) - 1, 0))
    match = sorted_key[pos] == run_key if len(sorted_key) else np.zeros(0, dtype=bool)
    rows = cand[match]
    jq = cand_q[match]
    grade = qrels.labels[order][pos[match]].astype(np.int64)
    jlabel = np.where(grade < 0, UNJUDGED, grade)
    jrank = rows - run.offsets[jq]

    # each internal query's grades, sorted decreasingly (the ideal ranking)
    by_grade = np.lexsort((-qrels.labels.astype(np.int64), qrels.query_index))
    sorted_grades = qrels.labels[by_grade].astype(np.int64)
    has = qrels_of >= 0
    starts = np.where(has, qrels.offsets[np.maximum(qrels_of, 0)], 0)
    sizes = np.where(has, qrels.sizes[np.maximum(qrels_of, 0)], 0).astype(np.int64)
    grades = sorted_grades[_ranges(starts, sizes)]

    ctx = EvalContext(
        n_queries=n_q,
        n_ret=n_ret,
        jq=jq,
        jrank=jrank,
        jlabel=jlabel,
        qrel_offsets=offsets_from_sizes(sizes),
        qrel_grades=grades,
    )
    evaluated = np.flatnonzero(has)
    names = take_str(qids_internal, evaluated)
    order_q = pc.sort_indices(names).to_numpy().astype(np.int64)
    return Evaluation(ctx, take_str(names, order_q), evaluated[order_q])
