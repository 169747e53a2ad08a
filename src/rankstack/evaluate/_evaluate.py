"""``evaluate`` and ``evaluate_per_query``: trec_eval-exact measures over a Run and Qrels."""

from __future__ import annotations

import logging
import re
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

import numpy as np

from rankstack.data import Qrels, Run
from rankstack.evaluate import _context
from rankstack.evaluate._measure import Measure
from rankstack.evaluate._parse import parse_measure
from rankstack.evaluate.measures import FAMILIES
from rankstack.exceptions import DataError, MeasureError

if TYPE_CHECKING:
    import pandas as pd

logger = logging.getLogger(__name__)

MeasureLike = str | Measure
_TREC_LIST = re.compile(
    r"^(?P<base>ndcg_cut|map_cut|P|recall|success|iprec_at_recall)[._]"
    r"(?P<params>[0-9.]+(?:,[0-9.]+)+)$"
)


@dataclass(frozen=True)
class PerQuery:
    """Per-query values of several measures, aligned with ``qids``.

    Queries come in trec_eval's order (query ids sorted as byte strings).

    Attributes
    ----------
    qids : the evaluated query ids
    values : measure name -> float64 array aligned with ``qids``
    aggregates : measure name -> ``"mean"`` or ``"sum"`` (counts such as NumRet are summed)
    """

    qids: list[str]
    values: dict[str, np.ndarray]
    aggregates: dict[str, str] = field(default_factory=dict)

    def __len__(self) -> int:
        return len(self.qids)

    @property
    def measures(self) -> list[str]:
        return list(self.values)

    def mean(self) -> dict[str, float]:
        """The summary value of each measure, as trec_eval reports it.

        The mean over queries (accumulated in query order, then divided, as trec_eval does);
        counts (``NumQ``, ``NumRet``, ``NumRel``, ``NumRelRet``) are summed. With no query the
        value is 0, as in trec_eval.
        """
        out: dict[str, float] = {}
        for name, v in self.values.items():
            total = float(np.cumsum(v)[-1]) if len(v) else 0.0
            if self.aggregates.get(name, "mean") == "mean" and len(v):
                total /= len(v)
            out[name] = total
        return out

    def to_dict(self) -> dict[str, dict[str, float]]:
        """``{qid: {measure: value}}`` (pytrec_eval's layout)."""
        cols = {name: v.tolist() for name, v in self.values.items()}
        return {q: {name: cols[name][i] for name in cols} for i, q in enumerate(self.qids)}

    def to_pandas(self) -> pd.DataFrame:
        """A frame with a ``qid`` column and one column per measure."""
        from rankstack._compat import require

        pd_ = require("pandas")
        data: dict[str, object] = {"qid": self.qids}
        data.update(self.values)
        return pd_.DataFrame(data)


def parse_measures(measures: MeasureLike | Iterable[MeasureLike]) -> list[Measure]:
    """Parse one name or several, dropping repeats (same canonical name).

    trec_eval's lists of cut-offs expand to one measure each: ``P.5,10`` (or ``P_5,10``) is
    ``P@5`` and ``P@10``.
    """
    items = [measures] if isinstance(measures, (str, Measure)) else list(measures)
    if not items:
        raise MeasureError("no measure given")
    out: dict[str, Measure] = {}
    for item in items:
        for one in _expand_trec_list(item):
            m = parse_measure(one)
            out.setdefault(str(m), m)
    return list(out.values())


def _expand_trec_list(item: MeasureLike) -> list[MeasureLike]:
    if isinstance(item, str):
        m = _TREC_LIST.match("".join(item.split()))
        if m:
            return [f"{m['base']}.{p}" for p in m["params"].split(",")]
    return [item]


def evaluate_per_query(
    run: Run,
    qrels: Qrels,
    measures: MeasureLike | Iterable[MeasureLike],
    *,
    rel: int | None = None,
    complete: bool = False,
) -> PerQuery:
    """Per-query values of ``measures`` for ``run`` judged by ``qrels``, equal to trec_eval's.

    Parameters
    ----------
    run, qrels:
        The ranking (its row order is the ranking: score descending, ties by doc id descending)
        and the judgements (integer grades; 0 and negative grades are not relevant, negative
        ones count as unjudged).
    measures:
        Names such as ``"nDCG@10"``, ``"AP"``, ``"P(rel=2)@5"`` or trec_eval's ``"ndcg_cut_10"``;
        see :func:`~rankstack.evaluate.parse_measure`.
    rel:
        Minimum grade that counts as relevant for measures that do not set their own ``rel``
        (trec_eval's ``-l``; default 1).
    complete:
        Also evaluate judged queries that the run lacks, as empty rankings (trec_eval's ``-c``).
        Otherwise the evaluated queries are those of the run that have judgements; run queries
        without judgements are skipped with a logged warning.

    Returns
    -------
    PerQuery
        Values keyed by canonical measure name, queries in trec_eval's order.
    """
    if not isinstance(run, Run):
        raise DataError(f"evaluate: expected a Run, found {type(run).__name__}")
    if not isinstance(qrels, Qrels):
        raise DataError(f"evaluate: expected a Qrels, found {type(qrels).__name__}")
    default_rel = 1 if rel is None else int(rel)
    if default_rel < 0:
        raise MeasureError(f"rel must be an integer >= 0, found {rel}")
    parsed = parse_measures(measures)
    ev = _context.build(run, qrels, complete=complete)
    if len(ev.index) == 0:
        logger.warning("no query of the run has judgements in the qrels: nothing to evaluate")
    values: dict[str, np.ndarray] = {}
    aggregates: dict[str, str] = {}
    for m in parsed:
        family = FAMILIES[m.name]
        per_query = family.compute(ev.context, m, m.resolve_rel(default_rel))
        values[str(m)] = np.ascontiguousarray(per_query[ev.index], dtype=np.float64)
        aggregates[str(m)] = family.aggregate
    return PerQuery([str(q) for q in ev.qids.to_pylist()], values, aggregates)


def evaluate(
    run: Run,
    qrels: Qrels,
    measures: MeasureLike | Iterable[MeasureLike],
    *,
    rel: int | None = None,
    complete: bool = False,
) -> dict[str, float]:
    """Summary value of each measure over the evaluated queries (trec_eval's ``all`` line).

    Means over queries, except the counts ``NumQ``, ``NumRet``, ``NumRel`` and ``NumRelRet``,
    which are summed. Keys are canonical measure names (``"ndcg_cut_10"`` gives ``"nDCG@10"``).
    Parameters as :func:`evaluate_per_query`.

    Examples
    --------
    >>> evaluate(run, qrels, ["nDCG@10", "AP", "ndcg_cut_5"])  # doctest: +SKIP
    {'nDCG@10': ..., 'AP': ..., 'nDCG@5': ...}
    """
    return evaluate_per_query(run, qrels, measures, rel=rel, complete=complete).mean()
