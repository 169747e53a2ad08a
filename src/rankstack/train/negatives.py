"""Negative samplers: random, STAR (static hard + random) and ADORE (re-mined by the model).

Zhan et al. 2021, "Optimizing Dense Retrieval Model Training with Hard Negatives", SIGIR,
compare two ways to pick the negatives of a training query:

- **STAR** (Stable Training Algorithm for dense Retrieval): *static* hard negatives, mined
  once before training by a fixed retriever, combined with random negatives that stabilise
  training (in their dense setting, the other queries' documents of the batch). Here:
  ``round(n * hard_fraction)`` negatives drawn uniformly from the query's pool (the mining
  runs' top ``depth``, see :class:`~rankstack.train.data.TrainingData`), the rest drawn
  uniformly from the whole corpus. The bi-encoder trainer adds the in-batch negatives too.
- **ADORE** (Algorithm for Directly Optimizing Ranking pErformance): *dynamic* hard
  negatives, the top-ranked non-relevant documents **under the model being trained**. For a
  dense retriever they re-retrieve with the current query encoder; for a cross-encoder (which
  cannot search a corpus) the pool of a first stage is re-scored by the current model and its
  top ``n`` non-relevant documents are taken. Re-scoring every step is expensive on a CPU, so
  a query's mined negatives are refreshed when they are older than ``refresh`` steps
  (``refresh=1``: every time the query is seen).

Every sampler returns, with the negatives, their rank in the static pool (``inf`` for random
documents): what the curriculum's difficulty heuristic reads. Given the same seed the
samplers draw the same documents.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np

from rankstack.exceptions import DataError
from rankstack.train.data import TrainingData

Scorer = Callable[[int, np.ndarray], np.ndarray]
"""``(query index, doc indices) -> scores`` of the model being trained (inference mode)."""


@dataclass(frozen=True)
class Negatives:
    """``docs[b, j]``: the j-th negative of batch query b; ``ranks`` their pool rank."""

    docs: np.ndarray
    ranks: np.ndarray


def _random_docs(
    data: TrainingData, q: int, n: int, rng: np.random.Generator, exclude: np.ndarray
) -> np.ndarray:
    """``n`` documents drawn uniformly, none of them in ``exclude`` (positives)."""
    if n <= 0:
        return np.zeros(0, dtype=np.int64)
    if data.n_docs - len(np.unique(exclude)) < 1:
        raise DataError("random negatives: every corpus document is relevant to a query")
    out = rng.integers(0, data.n_docs, size=n)
    bad = np.isin(out, exclude)
    while bad.any():  # rare: redraw the few that hit a positive
        out[bad] = rng.integers(0, data.n_docs, size=int(bad.sum()))
        bad = np.isin(out, exclude)
    return out.astype(np.int64)


def _pool_rank(data: TrainingData, q: int, docs: np.ndarray) -> np.ndarray:
    pool = data.pool(q)
    ranks = data.pool_ranks[data.pool_offsets[q] : data.pool_offsets[q + 1]]
    out = np.full(len(docs), np.inf)
    if len(pool):
        hit = np.isin(docs, pool)
        order = np.argsort(pool)
        at = np.searchsorted(pool[order], docs[hit])
        out[hit] = ranks[order][at]
    return out


class NegativeSampler:
    """Base class: ``sample`` the negatives of a batch of training queries."""

    name = "base"

    def sample(
        self,
        data: TrainingData,
        queries: np.ndarray,
        n: int,
        rng: np.random.Generator,
        *,
        step: int = 0,
        scorer: Scorer | None = None,
    ) -> Negatives:
        docs = (
            np.stack([self._one(data, int(q), n, rng, step, scorer) for q in queries])
            if len(queries)
            else np.zeros((0, n), dtype=np.int64)
        )
        ranks = (
            np.stack([_pool_rank(data, int(q), d) for q, d in zip(queries, docs)])
            if len(queries)
            else np.zeros((0, n))
        )
        return Negatives(docs.astype(np.int64), ranks)

    def _one(
        self,
        data: TrainingData,
        q: int,
        n: int,
        rng: np.random.Generator,
        step: int,
        scorer: Scorer | None,
    ) -> np.ndarray:
        raise NotImplementedError

    # state carried by checkpoints (ADORE's mined negatives); stateless by default
    def state(self) -> dict[str, np.ndarray]:
        return {}

    def load_state(self, state: dict[str, np.ndarray]) -> None:
        return None


class RandomNegatives(NegativeSampler):
    """Negatives drawn uniformly from the corpus (the baseline of Zhan et al.)."""

    name = "random"

    def _one(
        self, data: TrainingData, q: int, n: int, rng: np.random.Generator, step: int, scorer: Any
    ) -> np.ndarray:
        return _random_docs(data, q, n, rng, data.positives(q))


class StaticHardNegatives(NegativeSampler):
    """STAR's negatives: static hard ones from the pool plus random ones.

    Parameters
    ----------
    hard_fraction:
        Share of the ``n`` negatives drawn from the query's static pool (the rest are random);
        a pool smaller than that is topped up with random documents.
    depth:
        Only the pool's first ``depth`` candidates are used (None: the whole pool).
    """

    name = "star"

    def __init__(self, hard_fraction: float = 0.5, depth: int | None = None) -> None:
        if not 0.0 <= hard_fraction <= 1.0:
            raise DataError(f"hard_fraction must be in [0, 1], found {hard_fraction}")
        self.hard_fraction = float(hard_fraction)
        self.depth = depth

    def _one(
        self, data: TrainingData, q: int, n: int, rng: np.random.Generator, step: int, scorer: Any
    ) -> np.ndarray:
        pool = data.pool(q)[: self.depth]
        n_hard = min(round(n * self.hard_fraction), len(pool))
        hard = rng.choice(pool, size=n_hard, replace=False) if n_hard else pool[:0]
        rand = _random_docs(data, q, n - n_hard, rng, np.concatenate([data.positives(q), hard]))
        return np.concatenate([hard, rand]).astype(np.int64)


class DynamicHardNegatives(NegativeSampler):
    """ADORE's negatives: the pool's top-``n`` non-relevant documents under the current model.

    Parameters
    ----------
    depth:
        Pool candidates re-scored per query (None: the whole pool).
    refresh:
        Steps a query's mined negatives stay valid before they are re-mined.
    """

    name = "adore"

    def __init__(self, depth: int | None = 30, refresh: int = 1) -> None:
        if refresh < 1:
            raise DataError(f"refresh must be >= 1, found {refresh}")
        self.depth = depth
        self.refresh = int(refresh)
        self._mined: dict[int, tuple[int, np.ndarray]] = {}

    def _one(
        self,
        data: TrainingData,
        q: int,
        n: int,
        rng: np.random.Generator,
        step: int,
        scorer: Scorer | None,
    ) -> np.ndarray:
        if scorer is None:
            raise DataError("ADORE negatives need the model's scorer (the trainer passes it)")
        cached = self._mined.get(q)
        if cached is None or step - cached[0] >= self.refresh or len(cached[1]) != n:
            pool = data.pool(q)[: self.depth]
            if len(pool):
                scores = np.asarray(scorer(q, pool), dtype=np.float64)
                order = np.lexsort((np.arange(len(pool)), -scores))
                top = pool[order[:n]]
            else:
                top = pool[:0]
            fill = _random_docs(
                data, q, n - len(top), rng, np.concatenate([data.positives(q), top])
            )
            cached = (step, np.concatenate([top, fill]).astype(np.int64))
            self._mined[q] = cached
        return cached[1]

    def state(self) -> dict[str, np.ndarray]:
        if not self._mined:
            return {}
        qs = np.array(sorted(self._mined), dtype=np.int64)
        return {
            "queries": qs,
            "steps": np.array([self._mined[q][0] for q in qs], dtype=np.int64),
            "docs": np.stack([self._mined[q][1] for q in qs]).astype(np.int64),
        }

    def load_state(self, state: dict[str, np.ndarray]) -> None:
        self._mined = {}
        if "queries" in state:
            for q, s, d in zip(state["queries"], state["steps"], state["docs"]):
                self._mined[int(q)] = (int(s), np.asarray(d, dtype=np.int64))


def make_sampler(
    kind: str, *, hard_fraction: float = 0.5, depth: int | None = 30, refresh: int = 1
) -> NegativeSampler:
    """A sampler by name: ``random``, ``star`` or ``adore``."""
    key = kind.strip().lower()
    if key == "random":
        return RandomNegatives()
    if key == "star":
        return StaticHardNegatives(hard_fraction=hard_fraction, depth=depth)
    if key == "adore":
        return DynamicHardNegatives(depth=depth, refresh=refresh)
    raise DataError(f"unknown negative sampling {kind!r}; use random, star or adore")
