"""Simulated click logs over a labelled LETOR set: the standard unbiased-LTR protocol.

The protocol of Joachims, Swaminathan and Schnabel 2017 ("Unbiased Learning-to-Rank with
Biased Feedback", WSDM, Section 6) and Ai et al. 2018 ("Unbiased Learning to Rank with
Unbiased Propensity Estimation", SIGIR, Section 5.1):

1. a *production ranker* is trained on the labels of a small random fraction (1%) of the
   training queries (:class:`ProductionRanker`: a linear pairwise model, close to the Ranking
   SVM of those papers, or LambdaMART);
2. it ranks every training query's documents and shows the top ``k`` (10);
3. each session draws a query (uniformly, or from given weights) and clicks from a click model
   (:mod:`rankstack.ultr.click_models`) over the displayed list, with the relevance-to-click
   mapping of :func:`~rankstack.ultr.click_models.click_probability_of_label`.

Sessions are drawn in fixed blocks of :data:`BLOCK_SESSIONS`, block ``b`` with the generator
``numpy.random.default_rng([seed, b])``: a log depends only on the seed and the settings, not
on the chunk size it is streamed in, and a shorter log is a prefix of a longer one. Nothing
loops over sessions; a block is a few ``[sessions, k]`` arrays.
"""

from __future__ import annotations

import hashlib
import logging
from collections.abc import Callable, Iterator, Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from rankstack.data import ClickLog, Run
from rankstack.data._columns import take_str, to_str_list
from rankstack.exceptions import DataError, NotFittedError
from rankstack.io._files import PathLike
from rankstack.io.letor import LetorData
from rankstack.ultr.click_models import ClickModel, click_probability_of_label, make_click_model

logger = logging.getLogger(__name__)

__all__ = [
    "BLOCK_SESSIONS",
    "ClickSimulator",
    "MixtureSimulator",
    "ProductionRanker",
    "impression_rows",
    "simulate_clicks",
    "simulate_clicks_to_file",
    "simulator_from_metadata",
]

#: sessions drawn per random block (part of what a seed means; changing it changes logs)
BLOCK_SESSIONS = 1 << 16

Progress = Callable[[int, int], None]


# ---------------------------------------------------------------------- production ranker
class ProductionRanker:
    """The logging policy: a ranker trained on the labels of a fraction of the queries.

    Parameters
    ----------
    model:
        ``"linear"`` (default): a linear scorer over z-scored features trained with the
        pairwise logistic loss (RankNet's loss with a linear model, Burges et al. 2005; a
        smooth stand-in for the Ranking SVM of Joachims 2002 used by Joachims et al. 2017 and
        Ai et al. 2018) and an L2 penalty ``l2``, by L-BFGS; deterministic.
        ``"lambdamart"``: :class:`~rankstack.ltr.LambdaMART` (100 trees of 7 leaves; needs
        ``rankstack[ltr]``). Or any unfitted :class:`~rankstack.ltr.Ranker`, trained on the
        chosen queries, or a fitted one, used as it is.
    fraction:
        Fraction of the queries whose labels train it (at least one query). Queries are drawn
        among those with at least two distinct labels (a query with one label gives no pair).
    seed:
        Seed of the query draw (and of LambdaMART).
    l2:
        L2 penalty of the linear model.

    Attributes
    ----------
    train_qids_ : list of str
        The queries whose labels were used.
    identity_ : dict
        What the simulated log's metadata records about this ranker.
    """

    def __init__(
        self, model: Any = "linear", fraction: float = 0.01, seed: int = 0, l2: float = 1e-2
    ) -> None:
        self.model = model
        self.fraction = fraction
        self.seed = seed
        self.l2 = l2

    def fit(self, data: LetorData) -> ProductionRanker:
        if not 0.0 < self.fraction <= 1.0:
            raise DataError(f"production fraction must be in (0, 1], found {self.fraction}")
        run = data.run
        nq = run.n_queries
        if nq == 0:
            raise DataError("the LETOR set has no queries")
        qidx = run.query_index
        ymin = np.full(nq, np.inf)
        ymax = np.full(nq, -np.inf)
        np.minimum.at(ymin, qidx, data.labels)
        np.maximum.at(ymax, qidx, data.labels)
        eligible = np.flatnonzero(ymax > ymin)
        n_pick = max(1, round(self.fraction * nq))
        rng = np.random.default_rng(self.seed)
        if len(eligible) == 0:
            logger.warning("no query has two distinct labels: the production ranker is constant")
            picked = np.zeros(0, dtype=np.int64)
        else:
            picked = np.sort(rng.choice(eligible, size=min(n_pick, len(eligible)), replace=False))
        self.train_qids_ = to_str_list(run.qids.take(pa.array(picked, type=pa.int64())))
        kind = self.model if isinstance(self.model, str) else type(self.model).__name__
        self.fitted_model_: Any = None
        if isinstance(self.model, str) and self.model == "linear":
            self._fit_linear(data, picked)
            digest = hashlib.sha256(self.coef_.tobytes() + self.mean_.tobytes()).hexdigest()
        else:
            self.fitted_model_ = self._fit_ranker(data, picked)
            digest = None
        self.identity_ = {
            "model": kind,
            "fraction": self.fraction,
            "seed": self.seed,
            "n_train_queries": len(self.train_qids_),
            "train_qids": self.train_qids_,
            "weights_sha256": digest,
        }
        return self

    def _subset(self, data: LetorData, picked: np.ndarray) -> tuple[LetorData, np.ndarray]:
        run = data.run
        sizes = run.sizes[picked]
        rows = (
            np.concatenate([np.arange(run.offsets[q], run.offsets[q + 1]) for q in picked])
            if len(picked)
            else np.zeros(0, dtype=np.int64)
        )
        sub = run.take_rows(rows, sizes, qids=run.qids.take(pa.array(picked, type=pa.int64())))
        return LetorData(sub, data.labels[rows]), rows

    def _fit_linear(self, data: LetorData, picked: np.ndarray) -> None:
        from scipy.optimize import minimize

        x = data.features.astype(np.float64)
        self.mean_ = x.mean(axis=0) if len(x) else np.zeros(data.n_features)
        std = x.std(axis=0) if len(x) else np.ones(data.n_features)
        self.scale_ = np.where(std > 0, std, 1.0)
        run = data.run
        left: list[np.ndarray] = []
        right: list[np.ndarray] = []
        for q in picked.tolist():  # a handful of queries: the 1% sample
            lo, hi = int(run.offsets[q]), int(run.offsets[q + 1])
            y = data.labels[lo:hi]
            i, j = np.nonzero(y[:, None] > y[None, :])
            left.append(i + lo)
            right.append(j + lo)
        self.coef_ = np.zeros(data.n_features)
        if not left or sum(len(a) for a in left) == 0:
            return
        li, ri = np.concatenate(left), np.concatenate(right)
        diff = (x[li] - x[ri]) / self.scale_
        l2 = self.l2

        def loss(w: np.ndarray) -> tuple[float, np.ndarray]:
            m = diff @ w
            value = float(np.logaddexp(0.0, -m).mean() + 0.5 * l2 * w @ w)
            sig = -np.exp(-np.logaddexp(0.0, m))  # d/dm log(1 + e^-m) = -1 / (1 + e^m)
            grad = diff.T @ sig / len(m) + l2 * w
            return value, grad

        res = minimize(loss, self.coef_, jac=True, method="L-BFGS-B")
        self.coef_ = np.asarray(res.x, dtype=np.float64)

    def _fit_ranker(self, data: LetorData, picked: np.ndarray) -> Any:
        from rankstack.ltr import LambdaMART, Ranker

        model = self.model
        if isinstance(model, str):
            if model != "lambdamart":
                raise DataError(
                    f"unknown production model {model!r}; use 'linear', 'lambdamart' or a Ranker"
                )
            model = LambdaMART(
                n_estimators=100,
                learning_rate=0.1,
                num_leaves=7,
                min_data_in_leaf=5,
                seed=self.seed,
            )
        if not isinstance(model, Ranker):
            raise DataError(f"production model must be a name or a Ranker, found {type(model)}")
        if model.is_fitted:
            return model
        if len(picked) == 0:
            raise DataError("no query with two distinct labels to train the production ranker")
        sub, _ = self._subset(data, picked)
        return model.fit(sub)  # type: ignore[attr-defined]

    def predict(self, run: Run) -> np.ndarray:
        """One score per row of ``run`` (which carries the training features)."""
        if not hasattr(self, "identity_"):
            raise NotFittedError("this ProductionRanker is not fitted yet: call fit(data) first")
        if self.fitted_model_ is not None:
            return np.asarray(self.fitted_model_.predict(run), dtype=np.float64)
        if run.features is None:
            raise DataError("the run carries no features for the production ranker")
        x = run.features.astype(np.float64)
        out: np.ndarray = ((x - self.mean_) / self.scale_) @ self.coef_
        return out


def top_k_rows(run: Run, scores: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
    """Per query, the rows of its top ``k`` by score (ties: earlier row first), padded with -1.

    Returns ``(rows[n_queries, k], sizes[n_queries])``.
    """
    if k < 1:
        raise DataError(f"k must be >= 1, found {k}")
    n = len(run)
    qidx = run.query_index
    order = np.lexsort((np.arange(n), -np.asarray(scores, dtype=np.float64), qidx))
    rank = np.arange(n) - np.repeat(run.offsets[:-1], run.sizes)  # rank of order[i] in its query
    keep = rank < k
    rows = np.full((run.n_queries, k), -1, dtype=np.int64)
    rows[qidx[order][keep], rank[keep]] = order[keep]
    return rows, np.minimum(run.sizes, k).astype(np.int64)


# ---------------------------------------------------------------------- simulator
class ClickSimulator:
    """Displayed lists from a production ranker and a click model that samples sessions.

    Parameters
    ----------
    data:
        The labelled LETOR set (the training split).
    click_model:
        A :class:`~rankstack.ultr.click_models.ClickModel` or its name (``pbm``...).
    k:
        Length of the displayed list (shorter for queries with fewer documents).
    eps_pos, eps_neg, max_label:
        The relevance-to-click mapping (default ``max_label``: the largest label in ``data``).
    production:
        A :class:`ProductionRanker` (fitted or not), a fitted :class:`~rankstack.ltr.Ranker`,
        or one score per row of ``data.run``. Default: ``ProductionRanker("linear",
        production_fraction, production_seed)``.
    query_weights:
        Sampling probability of each query of ``data.run`` (normalised); default uniform.
    seed:
        Seed of the sessions.
    dataset:
        A name for the data, recorded in the metadata.
    """

    def __init__(
        self,
        data: LetorData,
        click_model: ClickModel | str = "pbm",
        *,
        k: int = 10,
        eps_pos: float = 1.0,
        eps_neg: float = 0.1,
        max_label: int | None = None,
        production: Any = None,
        production_fraction: float = 0.01,
        production_model: Any = "linear",
        production_seed: int = 0,
        query_weights: Sequence[float] | np.ndarray | None = None,
        seed: int = 0,
        dataset: str | None = None,
    ) -> None:
        self.data = data
        self.model = make_click_model(click_model) if isinstance(click_model, str) else click_model
        self.k = int(k)
        self.eps_pos = float(eps_pos)
        self.eps_neg = float(eps_neg)
        labels = np.asarray(data.labels)
        if labels.size and (labels < 0).any():
            raise DataError("labels must be >= 0 for click simulation")
        self.max_label = int(
            max_label if max_label is not None else (labels.max() if labels.size else 0)
        )
        self.seed = int(seed)
        self.dataset = dataset
        run = data.run
        if run.n_queries == 0 or len(run) == 0:
            raise DataError("the LETOR set has no documents to show")
        # production ranking and displayed lists
        if production is None:
            production = ProductionRanker(production_model, production_fraction, production_seed)
        if isinstance(production, ProductionRanker):
            if not hasattr(production, "identity_"):
                production.fit(data)
            scores = production.predict(run)
            identity: dict[str, Any] = dict(production.identity_)
        elif isinstance(production, (np.ndarray, Sequence)):
            scores = np.asarray(production, dtype=np.float64)
            if scores.shape != (len(run),):
                raise DataError(
                    f"production scores: expected {len(run)} values, found {scores.shape}"
                )
            identity = {
                "model": "given scores",
                "scores_sha256": hashlib.sha256(scores.tobytes()).hexdigest(),
            }
        else:
            scores = np.asarray(production.predict(run), dtype=np.float64)
            identity = {
                "model": type(production).__name__,
                "params": _plain(getattr(production, "get_params", dict)()),
            }
        self.production_identity = identity
        self.production_scores = scores
        rows, sizes = top_k_rows(run, scores, self.k)
        shown = np.flatnonzero(sizes > 0)
        self.qids = run.qids.take(pa.array(shown, type=pa.int64()))
        self.rows = rows[shown]
        self.sizes = sizes[shown]
        self.mask = np.arange(self.k)[None, :] < self.sizes[:, None]
        rel = click_probability_of_label(
            labels, eps_pos=self.eps_pos, eps_neg=self.eps_neg, max_label=self.max_label
        )
        self.attract = np.where(self.mask, rel[np.maximum(self.rows, 0)], 0.0)
        self.labels = np.where(self.mask, labels[np.maximum(self.rows, 0)], 0)
        if query_weights is None:
            self.query_probs: np.ndarray | None = None
        else:
            w = np.asarray(query_weights, dtype=np.float64)
            if w.shape != (run.n_queries,) or (w < 0).any() or not np.isfinite(w).all():
                raise DataError(
                    f"query_weights: expected {run.n_queries} non-negative finite numbers"
                )
            w = w[shown]
            if w.sum() <= 0:
                raise DataError("query_weights sum to zero")
            self.query_probs = w / w.sum()

    @property
    def n_queries(self) -> int:
        return len(self.qids)

    def query_distribution(self) -> np.ndarray:
        """Probability of each simulated query (``self.qids`` order)."""
        if self.query_probs is None:
            return np.full(self.n_queries, 1.0 / self.n_queries)
        return self.query_probs

    def metadata(self, sessions: int | None = None) -> dict[str, Any]:
        """What a simulated log records: click model, parameters, true propensities, k..."""
        exam = self.model.examination(self.k)
        return {
            "generator": "rankstack.ultr.simulate",
            "click_model": self.model.name,
            "click_model_params": _plain(self.model.params()),
            "propensities": None if exam is None else [float(x) for x in exam],
            "relevance_to_click": {
                "formula": "eps_neg + (eps_pos - eps_neg) * (2^y - 1) / (2^max_label - 1)",
                "eps_pos": self.eps_pos,
                "eps_neg": self.eps_neg,
                "max_label": self.max_label,
            },
            "k": self.k,
            "seed": self.seed,
            "block_sessions": BLOCK_SESSIONS,
            "sessions": sessions,
            "query_sampling": "uniform" if self.query_probs is None else "weighted",
            "n_queries": self.n_queries,
            "production": self.production_identity,
            "dataset": self.dataset,
        }

    def expected_click_probabilities(self) -> np.ndarray:
        """Exact ``P(click)`` of each displayed position of each query, ``[n_queries, k]``."""
        return self.model.click_probabilities(self.attract, self.mask)

    def expected_ctr_by_position(self) -> np.ndarray:
        """Expected CTR at each position over the session distribution (NaN if never shown)."""
        w = self.query_distribution()[:, None]
        shown = (w * self.mask).sum(axis=0)
        clicks = (w * self.expected_click_probabilities()).sum(axis=0)
        with np.errstate(invalid="ignore", divide="ignore"):
            out: np.ndarray = np.where(shown > 0, clicks / shown, np.nan)
        return out

    def _block(self, b: int) -> tuple[np.ndarray, np.ndarray]:
        rng = np.random.default_rng([self.seed, b])
        if self.query_probs is None:
            q = rng.integers(0, self.n_queries, size=BLOCK_SESSIONS)
        else:
            q = rng.choice(self.n_queries, size=BLOCK_SESSIONS, p=self.query_probs)
        clicks = self.model.sample(self.attract[q], self.mask[q], rng)
        return q, clicks

    def _log(
        self,
        q: np.ndarray,
        clicks: np.ndarray,
        metadata: Mapping[str, Any],
        displayed: np.ndarray | None = None,
    ) -> ClickLog:
        """The log of sessions ``q`` (query indices) with ``clicks``; ``displayed``: each
        session's ``[k]`` rows if not ``self.rows[q]`` (same lengths as ``self.sizes[q]``)."""
        mask = self.mask[q]
        rows = (self.rows[q] if displayed is None else displayed)[mask]
        return ClickLog(
            session_qids=take_str(self.qids, q),
            offsets=np.concatenate([[0], np.cumsum(self.sizes[q])]).astype(np.int64),
            docids=take_str(self.data.run.docids, rows),
            clicks=clicks[mask],
            metadata=metadata,
        )

    def iter_sessions(self, sessions: int, chunk_sessions: int = 100_000) -> Iterator[ClickLog]:
        """The first ``sessions`` sessions of this seed, in chunks of ``chunk_sessions``."""
        meta = self.metadata(sessions)
        for q, c in _stream_blocks(self._block, sessions, chunk_sessions):
            yield self._log(q, c, meta)

    def simulate(self, sessions: int) -> ClickLog:
        """The first ``sessions`` sessions as one log."""
        return _whole_log(self, sessions)


#: second element of the generator seed of the mixture's ranker draws, ``[seed, this, block]``
#: (a stream apart from the simulators' ``[seed, block]``)
MIXTURE_STREAM = 104_729


class MixtureSimulator:
    """A log that spans several production rankers: each session is served by one of several
    :class:`ClickSimulator` drawn at random (the log of a ranker that was updated, or of
    A/B buckets).

    The simulators must differ only in their production ranker: same data, click model,
    ``k``, relevance-to-click mapping, query distribution and seed. Session ``i`` draws its
    simulator ``r_i`` (``weights``, default uniform) and is that simulator's session ``i``,
    sampled by its own :meth:`ClickSimulator._block`; the draws of ``r`` come from
    ``numpy.random.default_rng([seed, MIXTURE_STREAM, block])``, so the log has the same
    block structure (reproducible, chunk-independent, a shorter log a prefix of a longer one).
    With one simulator the log is that simulator's. Under a deterministic production ranker
    every (query, document) is shown at one position only; over several rankers the same
    pair is shown at several positions, which the learned propensity estimators
    (regression-EM, DLA) and the harvesting estimator
    (:func:`~rankstack.ultr.estimate_from_interventions`) need.

    The log's metadata is the simulators' with ``production = {"model": "mixture",
    "rankers": [...identities], "weights": [...]}``.
    """

    def __init__(
        self,
        simulators: Sequence[ClickSimulator],
        weights: Sequence[float] | np.ndarray | None = None,
    ) -> None:
        sims = list(simulators)
        if not sims:
            raise DataError("MixtureSimulator needs at least one simulator")
        first = sims[0]
        common = _without_production(first.metadata())
        for i, sim in enumerate(sims[1:], start=1):
            same = (
                _without_production(sim.metadata()) == common
                and len(sim.data.run) == len(first.data.run)
                and sim.qids.equals(first.qids)
                and np.array_equal(sim.sizes, first.sizes)
                and np.array_equal(sim.query_distribution(), first.query_distribution())
            )
            if not same:
                raise DataError(
                    f"MixtureSimulator: simulator {i} differs from simulator 0 in more than its "
                    "production ranker (data, click model, k, query distribution or seed)"
                )
        if weights is None:
            w = np.full(len(sims), 1.0 / len(sims))
        else:
            w = np.asarray(weights, dtype=np.float64)
            if w.shape != (len(sims),) or (w < 0).any() or not np.isfinite(w).all():
                raise DataError(f"weights: expected {len(sims)} non-negative finite numbers")
            if w.sum() <= 0:
                raise DataError("weights sum to zero")
            w = w / w.sum()
        self.simulators = sims
        self.weights = w
        self.seed = first.seed
        self.k = first.k
        self._rows = np.stack([sim.rows for sim in sims])  # [simulators, queries, k]

    @property
    def n_queries(self) -> int:
        return self.simulators[0].n_queries

    def metadata(self, sessions: int | None = None) -> dict[str, Any]:
        """The simulators' metadata, ``production`` listing every ranker and its weight."""
        meta = self.simulators[0].metadata(sessions)
        meta["production"] = {
            "model": "mixture",
            "rankers": [sim.production_identity for sim in self.simulators],
            "weights": [float(x) for x in self.weights],
        }
        return meta

    def _block(self, b: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        parts = [sim._block(b) for sim in self.simulators]
        if len(parts) == 1:
            q, c = parts[0]
            return q, c, np.zeros(len(q), dtype=np.int64)
        rng = np.random.default_rng([self.seed, MIXTURE_STREAM, b])
        r = rng.choice(len(parts), size=BLOCK_SESSIONS, p=self.weights)
        i = np.arange(BLOCK_SESSIONS)
        q = np.stack([p[0] for p in parts])[r, i]
        c = np.stack([p[1] for p in parts])[r, i]
        return q, c, r

    def iter_sessions(self, sessions: int, chunk_sessions: int = 100_000) -> Iterator[ClickLog]:
        """The first ``sessions`` sessions, in chunks of ``chunk_sessions``."""
        meta = self.metadata(sessions)
        first = self.simulators[0]
        for q, c, r in _stream_blocks(self._block, sessions, chunk_sessions):
            yield first._log(q, c, meta, displayed=self._rows[r, q])

    def simulate(self, sessions: int) -> ClickLog:
        """The first ``sessions`` sessions as one log."""
        return _whole_log(self, sessions)


def _without_production(meta: Mapping[str, Any]) -> dict[str, Any]:
    return {key: value for key, value in meta.items() if key != "production"}


def _whole_log(sim: ClickSimulator | MixtureSimulator, sessions: int) -> ClickLog:
    """A simulator's first ``sessions`` sessions as one chunk (an empty log for 0)."""
    chunks = list(sim.iter_sessions(sessions, chunk_sessions=max(1, sessions)))
    if not chunks:
        return ClickLog.from_arrays([], [], [], np.zeros(0, np.uint8), metadata=sim.metadata(0))
    return chunks[0]


def _stream_blocks(
    block: Callable[[int], tuple[np.ndarray, ...]], sessions: int, chunk_sessions: int
) -> Iterator[tuple[np.ndarray, ...]]:
    """The first ``sessions`` sessions of ``block(b)`` (per-session arrays of
    :data:`BLOCK_SESSIONS` sessions), in chunks of ``chunk_sessions``."""
    if sessions < 0:
        raise DataError(f"sessions must be >= 0, found {sessions}")
    if chunk_sessions < 1:
        raise DataError(f"chunk_sessions must be >= 1, found {chunk_sessions}")
    done = 0
    while done < sessions:
        want = min(chunk_sessions, sessions - done)
        parts: list[tuple[np.ndarray, ...]] = []
        got = 0
        while got < want:
            b, off = divmod(done + got, BLOCK_SESSIONS)
            take = min(want - got, BLOCK_SESSIONS - off)
            parts.append(tuple(a[off : off + take] for a in block(b)))
            got += take
        if len(parts) == 1:
            yield parts[0]
        else:
            yield tuple(np.concatenate(columns) for columns in zip(*parts, strict=True))
        done += want


def _plain(value: Any) -> Any:
    from rankstack.io._clicks_common import jsonable

    return jsonable(value)


def _simulator(
    data: LetorData,
    model: str | ClickModel,
    *,
    eta: float | None,
    eps_pos: float,
    eps_neg: float,
    k: int,
    seed: int,
    production: Any,
    production_fraction: float,
    production_model: Any,
    query_weights: Any,
    model_params: Mapping[str, Any] | None,
    dataset: str | None,
    max_label: int | None,
) -> ClickSimulator:
    click_model = (
        model
        if isinstance(model, ClickModel)
        else make_click_model(model, eta=eta, **dict(model_params or {}))
    )
    return ClickSimulator(
        data,
        click_model,
        k=k,
        eps_pos=eps_pos,
        eps_neg=eps_neg,
        max_label=max_label,
        production=production,
        production_fraction=production_fraction,
        production_model=production_model,
        query_weights=query_weights,
        seed=seed,
        dataset=dataset,
    )


def simulate_clicks(
    data: LetorData,
    model: str | ClickModel = "pbm",
    *,
    eta: float | None = 1.0,
    eps_pos: float = 1.0,
    eps_neg: float = 0.1,
    k: int = 10,
    sessions: int = 100_000,
    seed: int = 0,
    production: Any = None,
    production_fraction: float = 0.01,
    production_model: Any = "linear",
    query_weights: Any = None,
    model_params: Mapping[str, Any] | None = None,
    dataset: str | None = None,
    max_label: int | None = None,
) -> ClickLog:
    """Simulate ``sessions`` search sessions with clicks over ``data`` (the standard protocol).

    ``model``: ``"pbm"`` (``eta``), ``"cascade"``, ``"dcm"`` (``model_params={"lambdas": ...}``),
    ``"ubm"`` (``eta`` or ``model_params={"gamma": ...}``), or a
    :class:`~rankstack.ultr.click_models.ClickModel`. The log's metadata records the click
    model, its parameters, the true per-position propensities (PBM), ``k``, the seed and the
    production ranker's identity. See :class:`ClickSimulator` for the other parameters; for a
    log too large for memory use :func:`simulate_clicks_to_file`.
    """
    sim = _simulator(
        data, model, eta=eta, eps_pos=eps_pos, eps_neg=eps_neg, k=k, seed=seed,
        production=production, production_fraction=production_fraction,
        production_model=production_model, query_weights=query_weights,
        model_params=model_params, dataset=dataset, max_label=max_label,
    )  # fmt: skip
    return sim.simulate(sessions)


def simulate_clicks_to_file(
    data: LetorData,
    path: PathLike,
    model: str | ClickModel = "pbm",
    *,
    eta: float | None = 1.0,
    eps_pos: float = 1.0,
    eps_neg: float = 0.1,
    k: int = 10,
    sessions: int = 1_000_000,
    seed: int = 0,
    production: Any = None,
    production_fraction: float = 0.01,
    production_model: Any = "linear",
    query_weights: Any = None,
    model_params: Mapping[str, Any] | None = None,
    dataset: str | None = None,
    max_label: int | None = None,
    chunk_sessions: int = 100_000,
    progress: Progress | None = None,
) -> Path:
    """Stream a simulated log to ``path`` (``.parquet`` or ``.jsonl[.gz]``) chunk by chunk.

    Memory holds one chunk of ``chunk_sessions`` sessions; the file appears, with its end
    marker, only when all sessions are written. ``progress(done, total)`` is called after
    each chunk. Same sessions as :func:`simulate_clicks` with the same arguments.
    """
    from rankstack.io.clicks import ClickLogWriter

    sim = _simulator(
        data, model, eta=eta, eps_pos=eps_pos, eps_neg=eps_neg, k=k, seed=seed,
        production=production, production_fraction=production_fraction,
        production_model=production_model, query_weights=query_weights,
        model_params=model_params, dataset=dataset, max_label=max_label,
    )  # fmt: skip
    with ClickLogWriter(path, metadata=sim.metadata(sessions)) as writer:
        for chunk in sim.iter_sessions(sessions, chunk_sessions):
            writer.write(chunk)
            if progress is not None:
                progress(writer.sessions, sessions)
    return Path(path)


def simulator_from_metadata(data: LetorData, metadata: Mapping[str, Any]) -> ClickSimulator:
    """Rebuild the simulator that wrote a simulated log, over the same LETOR set.

    The production ranker is retrained with the recorded model, fraction and seed, and must
    come out identical (same training queries, same weights); the click model, ``k``, the
    relevance-to-click mapping and the seed are those recorded. Used to compute the true
    metric of a logged simulation (:func:`~rankstack.ultr.counterfactual.true_metric`).
    Raises :class:`DataError` for a log this module did not write, weighted query sampling
    (the weights are not recorded) or other data.
    """
    if metadata.get("generator") != "rankstack.ultr.simulate":
        raise DataError("the log was not written by rankstack's click simulator")
    if metadata.get("query_sampling") != "uniform":
        raise DataError("the log's query weights are not recorded; cannot rebuild its simulator")
    prod = dict(metadata.get("production") or {})
    if prod.get("model") not in ("linear", "LambdaMART", "lambdamart"):
        raise DataError(f"cannot retrain the log's production ranker ({prod.get('model')!r})")
    rel = dict(metadata.get("relevance_to_click") or {})
    params = {
        k: v for k, v in dict(metadata.get("click_model_params") or {}).items() if v is not None
    }
    production = ProductionRanker(
        "linear" if prod["model"] == "linear" else "lambdamart",
        float(prod["fraction"]),
        int(prod["seed"]),
    )
    sim = ClickSimulator(
        data,
        make_click_model(str(metadata["click_model"]), **params),
        k=int(metadata["k"]),
        eps_pos=float(rel.get("eps_pos", 1.0)),
        eps_neg=float(rel.get("eps_neg", 0.1)),
        max_label=rel.get("max_label"),
        production=production,
        seed=int(metadata.get("seed", 0)),
        dataset=metadata.get("dataset"),
    )
    same = sim.production_identity.get("train_qids") == prod.get("train_qids") and (
        prod.get("weights_sha256") is None
        or sim.production_identity.get("weights_sha256") == prod.get("weights_sha256")
    )
    if not same:
        raise DataError(
            "retraining the production ranker on this data gives another ranker than the "
            "log's: the log was simulated over other data"
        )
    return sim


# ---------------------------------------------------------------------- joins
def impression_rows(log: ClickLog, run: Run) -> np.ndarray:
    """For each impression of ``log``, the row of ``run`` with its (query, document); -1 if none.

    A hash join of ``qid + "\\x1f" + docid`` keys in Arrow (no Python loop), used to attach
    features and labels to logged impressions.
    """
    sep = pa.scalar("\x1f")
    run_keys = pc.binary_join_element_wise(run.qid_column(), run.docids, sep)
    log_qids = take_str(log.session_qids, log.session_index)
    log_keys = pc.binary_join_element_wise(log_qids, log.docids, sep)
    idx = pc.index_in(log_keys, value_set=run_keys)
    out: np.ndarray = idx.fill_null(-1).to_numpy(zero_copy_only=False).astype(np.int64)
    return out
