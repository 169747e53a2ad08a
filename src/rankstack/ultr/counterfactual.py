"""Counterfactual evaluation: how would a new ranker do, estimated from a logged click log.

**Estimand.** For a new ranking ``pi`` (a :class:`~rankstack.data.Run` over the logged
queries' candidates) and a rank weight ``lambda(r)``, the per-session click metric

    M(pi) = E_sessions [ sum_{d shown in the session} lambda(rank_pi(d)) * gamma(d) ]

where ``gamma(d) = P(click | examined, d)`` is the document's click-relevance under the
examination hypothesis. Weights (``metric``, cut-off ``c``): ``"dcg"``
``lambda(r) = 1 / log2(1 + r)`` for ``r <= c``; ``"hits"`` ``lambda(r) = 1`` for ``r <= c``;
``"ctr"`` ``lambda(r) = p_r`` for ``r <= c`` (the expected clicks ``pi`` would get under the
same position bias). Only documents the logging policy showed can be clicked, so ``M`` sums
over shown documents (IPS needs ``p > 0``, Joachims et al. 2017, Section 4); documents the
new ranker puts in its top ``c`` that were never shown contribute nothing to ``M`` or to the
estimates, and documents absent from ``pi`` get ``lambda = 0``.

**IPS** (Joachims, Swaminathan and Schnabel 2017, "Unbiased Learning-to-Rank with Biased
Feedback", WSDM, Eq. 9 and Section 4): each session ``i`` contributes
``X_i = sum_{d clicked} lambda(rank_pi(d)) / p(rank_logged(d))`` with the examination
propensity ``p`` of the position it was clicked at; ``IPS = mean_i X_i`` is unbiased for ``M``
under the position-based model with the true propensities (optionally clipped from below at
``clip``, which trades bias for variance, Strehl et al. 2010).

**SNIPS** (Swaminathan and Joachims 2015, "The Self-Normalized Estimator for Counterfactual
Learning", NeurIPS): ``sum_i w_i X_i / sum_i w_i``. With a deterministic top-k logging
policy the only randomness of the logging process besides the clicks is which query a session
draws, and the weight of a session is ``w_i = pi_log(q_i) / hat pi(q_i)``: the known
probability of its query (uniform for the standard simulation protocol, given otherwise)
over its observed frequency. This normalises the weights within each query, giving
``SNIPS = sum_q pi_log(q) * mean_{i in q} X_i`` (over the logged queries, weights
renormalised): the estimate no longer varies with how many sessions each query happened to
get, so its variance is that of the click noise alone. Without a known query distribution
the weights are all 1 and SNIPS equals IPS (reported in ``Estimate.note``).

**Confidence intervals**: the Poisson bootstrap over sessions (each session drawn
``Poisson(1)`` times per replicate; Hanley and MacGibbon 2006; Chamandy et al. 2012,
"Estimating uncertainty for massive data streams", Google), vectorised over replicates; the
percentile interval at ``level``. Sessions of one query with equal values are resampled as one
group (a sum of ``m`` Poisson(1) draws is one Poisson(``m``) draw), which gives the same
distribution with far fewer draws.

:func:`true_metric` computes ``M`` exactly for a simulated log (labels, click model, displayed
lists), which the tests and ``benchmarks/ultr_simulate.py`` check the intervals against.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import pyarrow as pa
import scipy.sparse as sp

from rankstack.data import ClickLog, Run
from rankstack.data._columns import group_codes, take_str
from rankstack.exceptions import DataError
from rankstack.ultr.simulate import ClickSimulator

logger = logging.getLogger(__name__)

__all__ = [
    "ESTIMATORS",
    "METRICS",
    "Estimate",
    "counterfactual_estimate",
    "rank_weights",
    "session_values",
    "true_metric",
]

METRICS = ("dcg", "hits", "ctr")
ESTIMATORS = ("ips", "snips")
_REPLICATE_BLOCK = 64


@dataclass(frozen=True)
class Estimate:
    """A point estimate with its bootstrap standard error and percentile interval."""

    estimator: str
    value: float
    ci_low: float
    ci_high: float
    std_error: float
    level: float
    sessions: int
    queries: int
    replicates: int
    note: str = ""

    def to_dict(self) -> dict[str, Any]:
        return {
            "estimator": self.estimator,
            "value": self.value,
            "ci_low": self.ci_low,
            "ci_high": self.ci_high,
            "std_error": self.std_error,
            "level": self.level,
            "sessions": self.sessions,
            "queries": self.queries,
            "replicates": self.replicates,
            "note": self.note,
        }

    def covers(self, value: float) -> bool:
        return self.ci_low <= value <= self.ci_high


def rank_weights(
    metric: str, cutoff: int, propensities: Sequence[float] | np.ndarray | None = None
) -> np.ndarray:
    """``lambda(r)`` for ``r = 1..cutoff`` (see the module docstring)."""
    if cutoff < 1:
        raise DataError(f"cutoff must be >= 1, found {cutoff}")
    r = np.arange(1, cutoff + 1, dtype=np.float64)
    if metric == "dcg":
        out: np.ndarray = 1.0 / np.log2(1.0 + r)
        return out
    if metric == "hits":
        return np.ones(cutoff)
    if metric == "ctr":
        if propensities is None or len(propensities) < cutoff:
            raise DataError(f"metric 'ctr' needs propensities for ranks 1..{cutoff}")
        return np.asarray(propensities[:cutoff], dtype=np.float64)
    raise DataError(f"unknown metric {metric!r}; choose from {list(METRICS)}")


def _propensities(log_meta: Mapping[str, Any], given: Any) -> np.ndarray:
    p = given if given is not None else log_meta.get("propensities")
    if p is None:
        raise DataError(
            "propensities are needed (one per display position, position 1 first): pass "
            "them, or use a log whose metadata records them (a simulated PBM log does)"
        )
    arr = np.asarray(p, dtype=np.float64)
    if arr.ndim != 1 or not len(arr) or (arr <= 0).any() or (arr > 1).any():
        raise DataError("propensities must be a list of probabilities in (0, 1]")
    return arr


def _rank_lookup(run: Run) -> tuple[pa.Array, np.ndarray]:
    sep = pa.scalar("\x1f")
    import pyarrow.compute as pc

    keys = pc.binary_join_element_wise(run.qid_column(), run.docids, sep)
    return keys, run.ranks + 1


def _new_ranks(qids: pa.Array, docids: pa.Array, keys: pa.Array, ranks: np.ndarray) -> np.ndarray:
    """1-based rank of each (qid, docid) in the run; 0 when the run lacks it."""
    import pyarrow.compute as pc

    wanted = pc.binary_join_element_wise(qids, docids, pa.scalar("\x1f"))
    idx = pc.index_in(wanted, value_set=keys).fill_null(-1).to_numpy(zero_copy_only=False)
    idx = np.asarray(idx, dtype=np.int64)
    return np.where(idx >= 0, ranks[np.maximum(idx, 0)], 0)


def _weights(lam: np.ndarray, new_rank: np.ndarray, cutoff: int) -> np.ndarray:
    """``lambda(rank)`` for 1-based ranks, 0 beyond the cut-off or for absent documents (0)."""
    inside = (new_rank >= 1) & (new_rank <= cutoff)
    out: np.ndarray = np.where(inside, lam[np.clip(new_rank, 1, cutoff) - 1], 0.0)
    return out


def session_values(
    log: ClickLog,
    run: Run,
    *,
    propensities: Sequence[float] | np.ndarray | None = None,
    metric: str = "dcg",
    cutoff: int = 10,
    clip: float | None = None,
) -> np.ndarray:
    """``X_i``: the inverse-propensity-weighted click metric of each session (float64)."""
    prop = _propensities(log.metadata, propensities)
    lam = rank_weights(metric, cutoff, prop)
    clicked = np.flatnonzero(log.clicks)
    session = log.session_index[clicked]
    pos = log.positions[clicked]
    if len(pos) and pos.max() >= len(prop):
        raise DataError(
            f"a click at position {int(pos.max()) + 1} but propensities for {len(prop)} "
            "positions only"
        )
    keys, ranks = _rank_lookup(run)
    new_rank = _new_ranks(
        take_str(log.session_qids, session), take_str(log.docids, clicked), keys, ranks
    )
    weight = _weights(lam, new_rank, cutoff)
    p = prop[pos]
    if clip is not None:
        p = np.maximum(p, clip)
    out: np.ndarray = np.bincount(session, weights=weight / p, minlength=len(log))
    return out


def _query_probs(
    qids: pa.Array, meta: Mapping[str, Any], given: Any
) -> tuple[np.ndarray | None, str]:
    """Known probability of each logged query, or None (unknown)."""
    if given is None:
        if meta.get("query_sampling") == "uniform" and meta.get("n_queries"):
            n = int(meta["n_queries"])
            return np.full(len(qids), 1.0 / n), ""
        return None, "the log's query distribution is unknown: SNIPS weights are 1 (= IPS)"
    if isinstance(given, str) and given == "uniform":
        return np.full(len(qids), 1.0 / max(1, len(qids))), ""
    if isinstance(given, Mapping):
        w = np.array([float(given.get(q, 0.0)) for q in qids.to_pylist()])
    else:
        raise DataError("query_distribution must be 'uniform' or a mapping qid -> probability")
    if (w < 0).any() or not np.isfinite(w).all():
        raise DataError("query_distribution: probabilities must be finite and >= 0")
    return w, ""


def _percentile(reps: np.ndarray, level: float) -> tuple[float, float]:
    lo, hi = np.quantile(reps, [(1 - level) / 2, 1 - (1 - level) / 2])
    return float(lo), float(hi)


def counterfactual_estimate(
    log: ClickLog | Iterable[ClickLog],
    run: Run,
    *,
    propensities: Sequence[float] | np.ndarray | None = None,
    metric: str = "dcg",
    cutoff: int = 10,
    estimators: Sequence[str] = ESTIMATORS,
    bootstrap: int = 1000,
    level: float = 0.95,
    seed: int = 0,
    clip: float | None = None,
    query_distribution: Any = None,
) -> dict[str, Estimate]:
    """IPS and SNIPS estimates of ``run``'s click metric on a log, with bootstrap intervals.

    Parameters
    ----------
    log:
        A :class:`~rankstack.data.ClickLog` or chunks of one (streamed from a file).
    run:
        The new ranking of the logged queries' candidates (e.g. ``ranker.transform(q, run)``).
    propensities:
        Examination probability of each display position (position 1 first); default the
        ``propensities`` recorded in the log's metadata (simulated PBM logs).
    metric, cutoff:
        The rank weight ``lambda`` (``dcg``, ``hits``, ``ctr``) and its cut-off.
    estimators:
        Any of ``"ips"``, ``"snips"``.
    bootstrap, level, seed:
        Poisson-bootstrap replicates (0: no interval), interval level, seed.
    clip:
        Lower bound on propensities (clipped IPS); None keeps the estimator unbiased.
    query_distribution:
        The logging query distribution for SNIPS: ``"uniform"`` or ``{qid: probability}``;
        default from the log's metadata (a simulated log records uniform sampling).
    """
    for e in estimators:
        if e not in ESTIMATORS:
            raise DataError(f"unknown estimator {e!r}; choose from {list(ESTIMATORS)}")
    if not 0 < level < 1:
        raise DataError(f"level must be in (0, 1), found {level}")
    chunks = [log] if isinstance(log, ClickLog) else log
    values: list[np.ndarray] = []
    qid_parts: list[pa.Array] = []
    meta: Mapping[str, Any] = {}
    for chunk in chunks:
        if not meta:
            meta = chunk.metadata
        values.append(
            session_values(
                chunk, run, propensities=propensities, metric=metric, cutoff=cutoff, clip=clip
            )
        )
        qid_parts.append(chunk.session_qids)
    if not values or sum(len(v) for v in values) == 0:
        raise DataError("the click log has no sessions")
    x = np.concatenate(values)
    from rankstack.data._columns import concat_str

    qids, codes = group_codes(concat_str(qid_parts))
    probs, note = _query_probs(qids, meta, query_distribution)
    n, nq = len(x), len(qids)
    counts = np.bincount(codes, minlength=nq)
    sums = np.bincount(codes, weights=x, minlength=nq)
    out: dict[str, Estimate] = {}
    reps = _bootstrap(x, codes, nq, probs, bootstrap, seed, estimators)
    for e in estimators:
        if e == "ips":
            value = float(x.mean())
            this_note = ""
        else:
            if probs is None:
                value, this_note = float(x.mean()), note
            else:
                shown = counts > 0
                means = sums[shown] / counts[shown]
                value = float((probs[shown] * means).sum() / probs[shown].sum())
                this_note = ""
        r = reps.get(e)
        lo, hi = _percentile(r, level) if r is not None else (float("nan"), float("nan"))
        out[e] = Estimate(
            estimator=e,
            value=value,
            ci_low=lo,
            ci_high=hi,
            std_error=float(r.std(ddof=1)) if r is not None and len(r) > 1 else float("nan"),
            level=level,
            sessions=n,
            queries=nq,
            replicates=0 if r is None else len(r),
            note=this_note,
        )
    return out


def _bootstrap(
    x: np.ndarray,
    codes: np.ndarray,
    nq: int,
    probs: np.ndarray | None,
    replicates: int,
    seed: int,
    estimators: Sequence[str],
) -> dict[str, np.ndarray]:
    """Poisson-bootstrap replicates of each estimator (see the module docstring)."""
    if replicates <= 0:
        return {}
    rng = np.random.default_rng(seed)
    # Sessions of one query with the same value are exchangeable, and a sum of m Poisson(1)
    # draws is one Poisson(m) draw: resample (query, value) groups with their sizes instead of
    # sessions (exactly the same distribution, far fewer draws).
    order = np.lexsort((x, codes))
    xs, cs = x[order], codes[order]
    new_group = np.ones(len(xs), dtype=bool)
    new_group[1:] = (xs[1:] != xs[:-1]) | (cs[1:] != cs[:-1])
    starts = np.flatnonzero(new_group)
    sizes = np.diff(np.append(starts, len(xs))).astype(np.float64)
    gx, gq = xs[starts], cs[starts]
    g = len(starts)
    # groups x queries indicators: per-query sums of the weighted values and of the weights
    ind = sp.csr_matrix((np.ones(g), (np.arange(g), gq)), shape=(g, nq))
    val = sp.csr_matrix((gx, (np.arange(g), gq)), shape=(g, nq))
    ips: list[np.ndarray] = []
    snips: list[np.ndarray] = []
    for start in range(0, replicates, _REPLICATE_BLOCK):
        b = min(_REPLICATE_BLOCK, replicates - start)
        w = rng.poisson(sizes[None, :], size=(b, g)).astype(np.float64)
        c = np.asarray((ind.T @ w.T).T)
        s = np.asarray((val.T @ w.T).T)
        total = c.sum(axis=1)
        ips.append(s.sum(axis=1) / np.maximum(total, 1.0))
        if probs is None:
            snips.append(ips[-1])
        else:
            shown = c > 0
            pw = probs[None, :] * shown
            with np.errstate(invalid="ignore", divide="ignore"):
                means = np.where(shown, s / np.where(shown, c, 1.0), 0.0)
            snips.append((pw * means).sum(axis=1) / np.maximum(pw.sum(axis=1), 1e-300))
    out: dict[str, np.ndarray] = {}
    if "ips" in estimators:
        out["ips"] = np.concatenate(ips)
    if "snips" in estimators:
        out["snips"] = np.concatenate(snips)
    return out


def true_metric(
    simulator: ClickSimulator,
    run: Run,
    *,
    metric: str = "dcg",
    cutoff: int = 10,
    propensities: Sequence[float] | np.ndarray | None = None,
) -> float:
    """The exact ``M(run)`` on the simulator's sessions: the query-distribution-weighted sum of
    ``lambda(rank_run(d)) * gamma(d)`` over each query's displayed documents, with ``gamma``
    the click model's relevance-to-click probability (what IPS estimates under the PBM)."""
    prop = propensities
    if prop is None:
        exam = simulator.model.examination(simulator.k)
        prop = None if exam is None else exam
    lam = rank_weights(metric, cutoff, prop)
    keys, ranks = _rank_lookup(run)
    mask = simulator.mask
    q_of = np.repeat(np.arange(simulator.n_queries), mask.sum(axis=1))
    rows = simulator.rows[mask]
    new_rank = _new_ranks(
        take_str(simulator.qids, q_of), take_str(simulator.data.run.docids, rows), keys, ranks
    )
    weight = _weights(lam, new_rank, cutoff) * simulator.attract[mask]
    per_query = np.bincount(q_of, weights=weight, minlength=simulator.n_queries)
    return float((simulator.query_distribution() * per_query).sum())
