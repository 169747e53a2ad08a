"""``Hybrid``: lexical + dense retrieval fused into one ranking, with the weight learned.

Two first stages (typically BM25 and a :class:`~rankstack.dense.encoder.BiEncoder`) run on
the same queries and their runs are fused by :func:`rankstack.retrieve.fusion.fuse_runs`:

- ``method="rrf"``: reciprocal rank fusion (Cormack et al., SIGIR 2009), nothing to learn;
- ``method="interpolate"``: ``alpha * norm(s_sparse) + (1 - alpha) * norm(s_dense)`` per
  query, scores normalised per query (``norm``: min-max by default; Lee, SIGIR 1997), a
  document missing from one run contributing 0 for it. This is the convex combination
  studied for hybrid retrieval by Bruch, Gai and Ingber, "An analysis of fusion functions for
  hybrid retrieval", ACM TOIS 2023, who also tune its weight on training queries.

``fit(train_queries, train_qrels)`` picks ``alpha`` by grid search on the training queries
(the measure, nDCG@10 by default, averaged as trec_eval does), running each stage once and
re-fusing per grid point; the chosen weight is ``alpha_``. Passing ``alpha=`` fixes it
instead.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence

import numpy as np

from rankstack.data import Qrels, Queries, Run
from rankstack.exceptions import DataError, NotFittedError
from rankstack.pipeline import Stage
from rankstack.retrieve.fusion import NORMS, fuse_runs

logger = logging.getLogger(__name__)

METHODS = ("interpolate", "rrf")
#: default grid of alpha (weight of the first, sparse stage): 0, 0.05, ..., 1
DEFAULT_GRID = tuple(round(a, 2) for a in np.linspace(0.0, 1.0, 21).tolist())


class Hybrid(Stage):
    """Fusion of a sparse and a dense stage (RRF, or interpolation with a fitted weight).

    Parameters
    ----------
    sparse, dense:
        The two stages (any stages; ``alpha`` weights ``sparse``).
    method:
        ``interpolate`` (default) or ``rrf``.
    norm:
        Per-query score normalisation before interpolating (``minmax``, ``zscore``, ``max``,
        ``sum`` or ``none``).
    alpha:
        Fixed interpolation weight in [0, 1]; ``None`` means learn it with :meth:`fit`.
    k:
        RRF's smoothing constant (60).
    depth:
        Only the top ``depth`` of each run take part (default: all they return).
    grid:
        Candidate values of ``alpha`` for :meth:`fit` (default 0, 0.05, ..., 1).
    measure:
        What :meth:`fit` maximises on the training queries (default ``nDCG@10``).
    name:
        Name of the stage in feature tables and run tags.
    """

    def __init__(
        self,
        sparse: Stage,
        dense: Stage,
        method: str = "interpolate",
        norm: str = "minmax",
        alpha: float | None = None,
        k: int = 60,
        depth: int | None = None,
        grid: Sequence[float] | None = None,
        measure: str = "nDCG@10",
        name: str = "hybrid",
    ) -> None:
        if method not in METHODS:
            raise DataError(f"Hybrid: method must be one of {list(METHODS)}, found {method!r}")
        if norm not in NORMS:
            raise DataError(f"Hybrid: norm must be one of {list(NORMS)}, found {norm!r}")
        if alpha is not None and not 0.0 <= float(alpha) <= 1.0:
            raise DataError(f"Hybrid: alpha must be in [0, 1], found {alpha}")
        if grid is not None and (not len(grid) or any(not 0.0 <= float(a) <= 1.0 for a in grid)):
            raise DataError(f"Hybrid: grid must be values in [0, 1], found {list(grid)}")
        self.sparse = sparse
        self.dense = dense
        self.method = method
        self.norm = norm
        self.alpha = None if alpha is None else float(alpha)
        self.k = int(k)
        self.depth = depth
        self.grid = None if grid is None else [float(a) for a in grid]
        self.measure = measure
        self.name = name
        self.alpha_: float | None = None
        self.fit_scores_: dict[float, float] = {}

    @property
    def is_retriever(self) -> bool:  # type: ignore[override]
        return self.sparse.is_retriever or self.dense.is_retriever

    @property
    def is_fitted(self) -> bool:
        """True when the stage can rank: RRF, a fixed ``alpha``, or after :meth:`fit`."""
        return self.method == "rrf" or self.alpha is not None or self.alpha_ is not None

    def weight(self) -> float | None:
        """The interpolation weight in use (fixed or fitted; None for RRF)."""
        if self.method == "rrf":
            return None
        if self.alpha is not None:
            return self.alpha
        if self.alpha_ is None:
            raise NotFittedError(
                f"{type(self).__name__} {self.name!r} interpolates with a learned weight: call "
                ".fit(train_queries, train_qrels) first, or give alpha="
            )
        return self.alpha_

    def _fuse(self, sparse: Run, dense: Run, alpha: float | None) -> Run:
        if self.method == "rrf":
            fused = fuse_runs([sparse, dense], "rrf", k=self.k, depth=self.depth)
        else:
            fused = fuse_runs(
                [sparse, dense], "interpolate", norm=self.norm, alpha=alpha, depth=self.depth
            )
        return fused.with_metadata(stage=self.name, alpha=alpha)

    def transform(self, queries: Queries, run: Run | None = None) -> Run:
        """Run both stages on ``queries`` (and the incoming run) and fuse their runs."""
        alpha = self.weight()
        return self._fuse(
            self.sparse.transform(queries, run), self.dense.transform(queries, run), alpha
        )

    def fit(
        self,
        train_queries: Queries,
        train_qrels: Qrels,
        valid_queries: Queries | None = None,
        valid_qrels: Qrels | None = None,
    ) -> Hybrid:
        """Choose ``alpha_`` maximising :attr:`measure` on the training queries.

        Each stage runs once; every grid value re-fuses the two runs. Ties go to the first
        grid value reaching the maximum. Validation queries are not used (the weight is a
        single number; cross-validate the pipeline to estimate its effect). RRF and a fixed
        ``alpha`` have nothing to learn.
        """
        from rankstack.evaluate import evaluate

        if self.method == "rrf" or self.alpha is not None:
            logger.info("Hybrid %r: nothing to fit (%s)", self.name, self.method)
            return self
        if len(train_queries) == 0:
            raise DataError("Hybrid.fit: no training queries")
        sparse = self.sparse.transform(train_queries)
        dense = self.dense.transform(train_queries)
        grid = self.grid if self.grid is not None else list(DEFAULT_GRID)
        scores: dict[float, float] = {}
        for a in grid:
            fused = self._fuse(sparse, dense, a)
            values = evaluate(fused, train_qrels, [self.measure])
            scores[a] = float(next(iter(values.values())))
        best = max(grid, key=lambda a: (scores[a], -grid.index(a)))
        self.alpha_ = best
        self.fit_scores_ = scores
        logger.info(
            "Hybrid %r: alpha=%.2f gives %s %.4f on %d training queries",
            self.name,
            best,
            self.measure,
            scores[best],
            len(train_queries),
        )
        return self

    def __repr__(self) -> str:
        alpha = self.alpha if self.alpha is not None else self.alpha_
        return (
            f"Hybrid({self.sparse!r}, {self.dense!r}, method={self.method!r}, norm={self.norm!r}"
            f", alpha={alpha})"
        )
