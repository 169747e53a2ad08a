"""Rank and score fusion of several runs: RRF, CombSUM, CombMNZ and normalised interpolation.

References
----------
- RRF: Cormack, Clarke and Buettcher, "Reciprocal Rank Fusion outperforms Condorcet and
  individual rank learning methods", SIGIR 2009: ``score(d) = sum_r 1 / (k + rank_r(d))``, k = 60.
- CombSUM / CombMNZ: Fox and Shaw, "Combination of multiple searches", TREC-2, 1994:
  CombSUM = sum of (normalised) scores, CombMNZ = CombSUM x number of runs retrieving d.
- Score normalisation (min-max, z-score): Lee, "Analyses of multiple evidence combination",
  SIGIR 1997; interpolation ``alpha * a + (1 - alpha) * b`` as used for hybrid retrieval.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from rankstack.data import Queries, Run
from rankstack.exceptions import DataError
from rankstack.pipeline import Stage, combine_runs

METHODS = ("rrf", "combsum", "combmnz", "interpolate")
NORMS = ("none", "minmax", "zscore", "max", "sum")


def _segment_reduce(
    values: np.ndarray, offsets: np.ndarray, ufunc: np.ufunc, empty: float
) -> np.ndarray:
    """Per-query reduction that tolerates empty queries (``reduceat`` does not)."""
    sizes = np.diff(offsets)
    out = np.full(len(sizes), empty, dtype=np.float64)
    nonempty = sizes > 0
    if nonempty.any() and len(values):
        out[nonempty] = ufunc.reduceat(values, offsets[:-1][nonempty])
    return out


def normalise_scores(run: Run, method: str = "minmax") -> np.ndarray:
    """Per-query normalised scores of ``run`` (one value per row).

    ``minmax``: (s - min) / (max - min), 1 when all scores of a query are equal (Lee 1997);
    ``zscore``: (s - mean) / std, 0 when std is 0; ``max``: s / max; ``sum``: s / sum;
    ``none``: unchanged.
    """
    s: np.ndarray = run.scores
    if method == "none" or len(s) == 0:
        return s.copy()
    sizes = run.sizes
    qi = run.query_index
    if method == "minmax":
        lo = _segment_reduce(s, run.offsets, np.minimum, 0.0)[qi]
        hi = _segment_reduce(s, run.offsets, np.maximum, 0.0)[qi]
        span = hi - lo
        return np.where(span > 0, (s - lo) / np.where(span > 0, span, 1.0), 1.0)
    if method == "zscore":
        n = np.maximum(sizes, 1).astype(np.float64)
        mean = _segment_reduce(s, run.offsets, np.add, 0.0) / n
        dev = s - mean[qi]
        var = _segment_reduce(dev * dev, run.offsets, np.add, 0.0) / n
        std = np.sqrt(var)[qi]
        return np.where(std > 0, dev / np.where(std > 0, std, 1.0), 0.0)
    if method == "max":
        hi = _segment_reduce(s, run.offsets, np.maximum, 0.0)[qi]
        return np.where(hi != 0, s / np.where(hi != 0, hi, 1.0), 0.0)
    if method == "sum":
        tot = _segment_reduce(s, run.offsets, np.add, 0.0)[qi]
        return np.where(tot != 0, s / np.where(tot != 0, tot, 1.0), 0.0)
    raise DataError(f"unknown score normalisation {method!r}; choose one of {list(NORMS)}")


def fuse_runs(
    runs: Sequence[Run],
    method: str = "rrf",
    *,
    k: int = 60,
    norm: str | None = None,
    weights: Sequence[float] | None = None,
    alpha: float | None = None,
    depth: int | None = None,
) -> Run:
    """Fuse runs over the same queries into one run.

    Parameters
    ----------
    method:
        ``rrf`` (reciprocal rank, ``k`` smoothing), ``combsum``, ``combmnz`` or ``interpolate``
        (weighted sum of normalised scores; with two runs, ``alpha`` weights the first).
    norm:
        score normalisation before combining (default ``minmax`` for the score-based methods,
        unused by RRF).
    weights:
        one weight per run (default all 1; for ``interpolate`` with ``alpha``: alpha, 1-alpha).
    depth:
        only the top ``depth`` candidates of each run take part (default: all).
    """
    if method not in METHODS:
        raise DataError(f"unknown fusion method {method!r}; choose one of {list(METHODS)}")
    if len(runs) < 1:
        raise DataError("fusion needs at least one run")
    if depth is not None:
        runs = [r.cut(depth) for r in runs]
    if weights is not None and len(weights) != len(runs):
        raise DataError(f"{len(weights)} weights for {len(runs)} runs")
    if method == "interpolate" and alpha is not None:
        if len(runs) != 2:
            raise DataError("alpha interpolation fuses exactly two runs; use weights for more")
        if not 0.0 <= alpha <= 1.0:
            raise DataError(f"alpha must be in [0, 1], found {alpha}")
        weights = [alpha, 1.0 - alpha]
    if method == "rrf":
        if k < 0:
            raise DataError(f"RRF's k must be >= 0, found {k}")
        values = [1.0 / (k + r.ranks + 1.0) for r in runs]
        fused = combine_runs(runs, values, how="sum", weights=weights)
    else:
        norm = norm or "minmax"
        values = [normalise_scores(r, norm) for r in runs]
        how = "mnz" if method == "combmnz" else "sum"
        fused = combine_runs(runs, values, how=how, weights=weights)
    return fused.with_metadata(fusion=method)


class Fuse(Stage):
    """Stage that runs several stages on the same input and fuses their runs.

    ``fuse(bm25, dense, method="rrf")`` reads as what it does; see :func:`fuse_runs`.
    """

    def __init__(
        self,
        stages: Sequence[Stage],
        method: str = "rrf",
        k: int = 60,
        norm: str | None = None,
        weights: Sequence[float] | None = None,
        alpha: float | None = None,
        depth: int | None = None,
    ) -> None:
        if method not in METHODS:
            raise DataError(f"unknown fusion method {method!r}; choose one of {list(METHODS)}")
        self.stages = list(stages)
        self.method = method
        self.k = k
        self.norm = norm
        self.weights = None if weights is None else list(weights)
        self.alpha = alpha
        self.depth = depth

    @property
    def is_retriever(self) -> bool:  # type: ignore[override]
        return any(s.is_retriever for s in self.stages)

    def transform(self, queries: Queries, run: Run | None = None) -> Run:
        runs = [s.transform(queries, run) for s in self.stages]
        return fuse_runs(
            runs,
            self.method,
            k=self.k,
            norm=self.norm,
            weights=self.weights,
            alpha=self.alpha,
            depth=self.depth,
        )


def fuse(*stages: Stage, method: str = "rrf", **options: object) -> Fuse:
    """``fuse(a, b, method="rrf")``: a :class:`Fuse` stage over the given stages."""
    return Fuse(list(stages), method=method, **options)  # type: ignore[arg-type]
