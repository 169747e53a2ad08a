"""LETOR 4.0's own evaluation measures (``Eval-Score-4.0.pl``), vectorised over queries.

The published LETOR 4.0 baselines were computed with the Perl script ``Eval-Score-4.0.pl``
shipped with the datasets (Qin and Liu, "Introducing LETOR 4.0 Datasets", arXiv:1306.2597,
2013; script by Jun Xu and Tie-Yan Liu, revised 3 March 2009). Its definitions are not
trec_eval's, so numbers are only comparable under the same definition. This module
implements the script's definitions exactly:

- documents are ranked by score, descending; ties keep the order of the input rows (the
  script sorts a file-ordered list with Perl's stable merge sort);
- **NDCG@k**: gain ``2^label - 1`` (the script's table 0 -> 0, 1 -> 1, 2 -> 3), discount 1 at
  ranks 1 and 2 and ``1 / log2(rank)`` from rank 3 on (Järvelin and Kekäläinen's original
  DCG with base b = 2), normalised by the DCG of the labels sorted by gain; a query with no
  relevant document scores 0; **a query with fewer than k documents scores 0 at NDCG@k**
  (the script fills NDCG only for the positions the list has and averages the empty
  positions as 0);
- **P@k**: relevant (label >= 1) documents in the top k, divided by k (missing positions
  count as not relevant);
- **MAP**: the mean over queries of average precision over the query's list, divided by the
  number of relevant documents in the list; 0 for a query with none.

Differences from trec_eval (``ndcg_cut.k``, ``map``, as :func:`rankstack.evaluate.evaluate`
computes them):

1. NDCG's gain and discount: trec_eval uses the label itself as gain (linear) and discounts
   rank r by ``1 / log2(r + 1)``; LETOR uses ``2^label - 1`` and no discount at rank 2.
2. Lists shorter than the cut-off: trec_eval computes NDCG@k over the documents there are;
   LETOR gives 0. On MQ2008 about half the test queries have fewer than 10 documents, which
   is why LETOR's NDCG@10 (about 0.23) is far below its NDCG@5 (about 0.47).

Queries without relevant documents score 0 in both (LightGBM's own ``ndcg`` metric scores
them 1). MAP agrees with trec_eval's ``map`` when every document of the list is judged, as
in LETOR files, except for the order of tied scores (trec_eval breaks ties by doc id).

Queries with no rows are not evaluated (the script only sees queries present in the file).
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence

import numpy as np

from rankstack.exceptions import DataError, MeasureError

#: the measures LETOR 4.0's baseline tables report
LETOR_MEASURES = ("NDCG@1", "NDCG@3", "NDCG@5", "NDCG@10", "MAP")
#: prefix of LETOR-definition measure names next to trec_eval's in one table
PREFIX = "LETOR:"

_NAME = re.compile(r"^(?:LETOR:)?(NDCG|P)@([1-9][0-9]*)$|^(?:LETOR:)?(MAP)$", re.IGNORECASE)


def parse_letor_measure(name: str) -> tuple[str, int]:
    """``("NDCG", 10)``, ``("P", 5)`` or ``("MAP", 0)`` from a measure name."""
    m = _NAME.match(name.strip())
    if m is None:
        raise MeasureError(
            f"unknown LETOR measure {name!r}; expected NDCG@k, P@k or MAP (e.g. 'NDCG@10')"
        )
    if m.group(3):
        return "MAP", 0
    return m.group(1).upper(), int(m.group(2))


def _rank_order(scores: np.ndarray, qidx: np.ndarray) -> np.ndarray:
    """Row order by query, then score descending, ties in input order."""
    return np.lexsort((np.arange(len(scores)), -scores, qidx))


def letor_evaluate_per_query(
    scores: np.ndarray,
    labels: np.ndarray,
    offsets: np.ndarray,
    measures: Iterable[str] = LETOR_MEASURES,
) -> dict[str, np.ndarray]:
    """Per-query values of LETOR measures, one array per measure aligned with the queries.

    Parameters
    ----------
    scores, labels:
        One predicted score and one integer grade (>= 0) per row, rows grouped by query.
    offsets:
        Query offsets (``Run.offsets``): rows ``offsets[i]:offsets[i+1]`` belong to query i.
    measures:
        Names such as ``"NDCG@10"``, ``"P@5"``, ``"MAP"`` (``"LETOR:"`` prefix optional).

    Returns
    -------
    dict
        ``{"NDCG@10": array, ...}`` keyed by the canonical names, over the queries with at
        least one row, in query order.
    """
    scores = np.asarray(scores, dtype=np.float64)
    labels = np.asarray(labels)
    offsets = np.asarray(offsets, dtype=np.int64)
    n = len(scores)
    if labels.shape != (n,) or offsets.ndim != 1 or len(offsets) < 1 or offsets[-1] != n:
        raise DataError(
            f"letor_evaluate: {n} scores, labels of shape {labels.shape} and offsets ending at "
            f"{offsets[-1] if len(offsets) else None}; they must describe the same rows"
        )
    if np.isnan(scores).any():
        raise DataError("letor_evaluate: the scores contain NaN")
    if n and labels.min() < 0:
        raise DataError(f"letor_evaluate: labels must be >= 0, found {labels.min()}")
    parsed = {_canonical(m): parse_letor_measure(m) for m in measures}
    if not parsed:
        raise MeasureError("no measure given")
    sizes = np.diff(offsets)
    keep = sizes > 0
    n_q = len(sizes)
    qidx = np.repeat(np.arange(n_q), sizes)
    rank = np.arange(n) - np.repeat(offsets[:-1], sizes)  # 0-based position in the list
    lab = labels.astype(np.int64)
    ranked = lab[_rank_order(scores, qidx)]
    ideal = lab[np.lexsort((-lab, qidx))]
    rel = ranked > 0
    out: dict[str, np.ndarray] = {}
    for name, (kind, k) in parsed.items():
        if kind == "MAP":
            hits = np.cumsum(rel)
            within = hits - np.repeat(_starts_cum(hits, offsets), sizes)
            prec = np.where(rel, within / (rank + 1.0), 0.0)
            n_rel = np.bincount(qidx, weights=rel.astype(np.float64), minlength=n_q)
            total = np.bincount(qidx, weights=prec, minlength=n_q)
            value = np.divide(total, n_rel, out=np.zeros(n_q), where=n_rel > 0)
        elif kind == "P":
            top = (rank < k) & rel
            value = np.bincount(qidx, weights=top.astype(np.float64), minlength=n_q) / k
        else:
            # 0-based rank r: 1 for r < 2, else log(2) / log(r + 1), the script's expression
            disc = np.where(rank < 2, 1.0, np.log(2.0) / np.log(np.maximum(rank, 2) + 1.0))
            cut = rank < k
            gain = np.exp2(ranked.astype(np.float64)) - 1.0
            gain_ideal = np.exp2(ideal.astype(np.float64)) - 1.0
            dcg = np.bincount(qidx, weights=np.where(cut, gain * disc, 0.0), minlength=n_q)
            idcg = np.bincount(qidx, weights=np.where(cut, gain_ideal * disc, 0.0), minlength=n_q)
            value = np.divide(dcg, idcg, out=np.zeros(n_q), where=idcg > 0)
            value[sizes < k] = 0.0
        out[name] = value[keep]
    return out


def _starts_cum(cum: np.ndarray, offsets: np.ndarray) -> np.ndarray:
    """For each query, the running total just before its first row (0 for the first)."""
    starts = offsets[:-1]
    before = np.zeros(len(starts), dtype=cum.dtype)
    inner = starts > 0
    before[inner] = cum[starts[inner] - 1]
    return before


def _canonical(name: str) -> str:
    kind, k = parse_letor_measure(name)
    return "MAP" if kind == "MAP" else f"{kind}@{k}"


def letor_evaluate(
    scores: np.ndarray,
    labels: np.ndarray,
    offsets: np.ndarray,
    measures: Iterable[str] = LETOR_MEASURES,
) -> dict[str, float]:
    """Mean over queries of each LETOR measure (the script's ``Average`` line, unrounded).

    See :func:`letor_evaluate_per_query` for the parameters. With no query every value is 0.
    """
    per_query = letor_evaluate_per_query(scores, labels, offsets, measures)
    return {name: float(v.mean()) if len(v) else 0.0 for name, v in per_query.items()}


def prefixed(values: dict[str, float], names: Sequence[str] | None = None) -> dict[str, float]:
    """The same values with the ``"LETOR:"`` prefix, for tables next to trec_eval's names."""
    keys = list(values) if names is None else list(names)
    return {PREFIX + k: values[k] for k in keys}
