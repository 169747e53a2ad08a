"""LambdaMART trained on a Dask cluster with LightGBM's distributed (data-parallel) learner.

:func:`fit_dask` trains a :class:`~rankstack.ltr.gbdt.LambdaMART` through
:class:`lightgbm.dask.DaskLGBMRanker`: the training rows are cut into partitions of whole
queries (LightGBM's lambdarank gradients are computed per query, so a query must never be
split across machines), each partition is placed on one worker, and the workers build each
tree together, exchanging feature histograms over LightGBM's socket network (``tree_learner
= "data"``). The fitted booster ends up in the same :class:`LambdaMART` object, so
:meth:`LambdaMART.save` writes the usual model folder and :meth:`LambdaMART.load` reads it;
nothing about the format depends on how the model was trained.

Differences from single-process training, all documented in ``docs/operations.md``:

- LightGBM's Dask interface does not support early stopping (lightgbm-org/LightGBM#3712:
  workers that stop at different rounds deadlock). Here all ``n_estimators`` rounds are
  trained, then the client evaluates the validation nDCG@k of every round with LightGBM's
  own definition (:func:`lightgbm_ndcg`) and applies the same rule as single-process
  training (stop ``early_stopping_rounds`` rounds after the best one, keep the best): the
  chosen iteration and ``evals_result_`` follow that rule, at the cost of training the
  rounds after the stop.
- Feature bin boundaries are computed by each machine from its own rows and histograms are
  summed over the network, so the trees differ numerically from single-process training.
"""

from __future__ import annotations

import contextlib
import logging
import math
import sys
import warnings
from typing import Any

import numpy as np

from rankstack._compat import require
from rankstack.batch._partition import group_bounds
from rankstack.exceptions import DataError
from rankstack.io.letor import LetorData
from rankstack.ltr.base import align_features
from rankstack.ltr.gbdt import LambdaMART, Progress, check_finite
from rankstack.ltr.preprocessing import FeatureNormalizer

logger = logging.getLogger(__name__)

#: LightGBM parameter -> the name LightGBM's scikit-learn classes use for it
_SKLEARN_NAMES = {
    "min_data_in_leaf": "min_child_samples",
    "feature_fraction": "colsample_bytree",
    "bagging_fraction": "subsample",
    "bagging_freq": "subsample_freq",
    "seed": "random_state",
}
#: parameters LightGBM's Dask interface sets itself, or that need validation data
_DROPPED = ("num_threads", "metric", "eval_at")


def fit_dask(
    model: LambdaMART,
    train: LetorData,
    valid: LetorData | None = None,
    *,
    client: Any,
    partitions: int | None = None,
    progress: Progress | None = None,
) -> LambdaMART:
    """Train ``model`` (LightGBM backend) on the Dask cluster of ``client``; returns ``model``.

    Parameters
    ----------
    model:
        An unfitted :class:`LambdaMART` with ``backend="lightgbm"``; its parameters are used
        as in :meth:`LambdaMART.fit` (``n_jobs`` is replaced by each worker's thread count).
    train, valid:
        As in :meth:`LambdaMART.fit`; ``valid`` selects the best iteration after training
        (see the module docstring).
    client:
        A :class:`distributed.Client` with at least one worker.
    partitions:
        Partitions of whole queries, balanced by rows (default: one per worker). Partition
        ``i`` is placed on worker ``i % workers``.
    progress:
        ``progress(round, {"ndcg@10": value, ...})`` for each evaluated validation round.

    Raises
    ------
    DataError
        For the same bad input as :meth:`LambdaMART.fit`, a non-LightGBM backend, or a
        cluster without workers.
    """
    lgb_dask = require("lightgbm.dask")
    model._check_params()
    if model.backend != "lightgbm":
        raise DataError(
            f"LambdaMART on Dask needs backend 'lightgbm' (LightGBM's Dask ranker), found "
            f"{model.backend!r}"
        )
    if not isinstance(train, LetorData):
        raise DataError(f"fit_dask: expected LetorData, found {type(train).__name__}")
    if len(train) == 0:
        raise DataError("fit_dask: the training set has no rows")
    workers = sorted(client.nthreads())
    if not workers:
        raise DataError("fit_dask: the Dask cluster has no workers")
    names = tuple(train.run.feature_names)
    model._check_labels(train, "training")
    check_finite(train.features, train.run, "training")
    normalizer = FeatureNormalizer.from_spec(model.normalize).fit(train.run)
    x_train = normalizer.transform_matrix(train.features, train.run.offsets)
    x_valid = None
    if valid is not None:
        if not isinstance(valid, LetorData):
            raise DataError(f"fit_dask: valid must be LetorData, found {type(valid).__name__}")
        model._check_labels(valid, "validation")
        xv = align_features(valid.run, names)
        check_finite(xv, valid.run, "validation")
        normalizer.check(xv, source="the validation data")
        x_valid = normalizer.transform_matrix(xv, valid.run.offsets)

    x, y, group = _scattered(client, workers, x_train, train, partitions or len(workers))
    ranker = lgb_dask.DaskLGBMRanker(client=client, **_ranker_params(model))
    with warnings.catch_warnings(), contextlib.redirect_stdout(sys.stderr):
        # the Dask interface warns that it replaces num_threads, and prints its port search
        warnings.filterwarnings("ignore", message=r"Parameter \w+ will be ignored")
        ranker.fit(x, y, group=group)
    booster = ranker.to_local().booster_
    model.normalizer_ = normalizer
    model.booster_ = booster
    model.evals_result_ = {}
    n_trees = int(booster.current_iteration())
    model.best_iteration_ = n_trees
    if valid is not None and x_valid is not None:
        best = _select_iteration(model, booster, x_valid, valid, progress)
        if best is not None:
            model.best_iteration_ = best
    model.feature_names_ = names
    logger.info(
        "LambdaMART on Dask (%d workers): %d trees, best iteration %d",
        len(workers),
        n_trees,
        model.best_iteration_,
    )
    return model


def _ranker_params(model: LambdaMART) -> dict[str, Any]:
    """``model.lightgbm_params()`` under the names LightGBM's scikit-learn classes take."""
    params = model.lightgbm_params()
    for key in _DROPPED:
        params.pop(key, None)
    out: dict[str, Any] = {"n_estimators": int(model.n_estimators)}
    for key, value in params.items():
        out[_SKLEARN_NAMES.get(key, key)] = value
    return out


def _scattered(
    client: Any, workers: list[str], x: np.ndarray, train: LetorData, n_parts: int
) -> tuple[Any, Any, Any]:
    """Dask arrays of features, labels and query sizes, one chunk per partition of whole
    queries, each chunk placed on its worker (so each worker trains on its own rows)."""
    da = require("dask.array")
    dask = require("dask")
    run = train.run
    bounds = group_bounds(run.offsets, n_parts)
    xs, ys, gs = [], [], []
    for i in range(len(bounds) - 1):
        qa, qb = int(bounds[i]), int(bounds[i + 1])
        lo, hi = int(run.offsets[qa]), int(run.offsets[qb])
        sizes = run.sizes[qa:qb]
        sizes = sizes[sizes > 0].astype(np.int64)
        if hi == lo:
            continue
        target = [workers[i % len(workers)]]
        fx, fy, fg = client.scatter(
            [np.ascontiguousarray(x[lo:hi]), np.asarray(train.labels[lo:hi]), sizes],
            workers=target,
            hash=False,  # fresh keys: a hashed key may be released by an earlier fit's cleanup
        )
        xs.append(da.from_delayed(dask.delayed(fx), shape=(hi - lo, x.shape[1]), dtype=x.dtype))
        ys.append(da.from_delayed(dask.delayed(fy), shape=(hi - lo,), dtype=train.labels.dtype))
        gs.append(da.from_delayed(dask.delayed(fg), shape=(len(sizes),), dtype=np.int64))
    return da.concatenate(xs), da.concatenate(ys), da.concatenate(gs)


def _select_iteration(
    model: LambdaMART,
    booster: Any,
    x_valid: np.ndarray,
    valid: LetorData,
    progress: Progress | None,
) -> int | None:
    """The best iteration on ``valid`` under single-process early stopping's rule (1-based),
    recording ``model.evals_result_``; None without early stopping (keep every tree)."""
    cutoffs = model.cutoffs
    metric = f"ndcg@{cutoffs[0]}"
    gain = _label_gain(model)
    rounds = model.early_stopping_rounds
    n_trees = int(booster.current_iteration())
    scores = np.zeros(len(x_valid), dtype=np.float64)
    record: dict[str, list[float]] = {f"ndcg@{k}": [] for k in sorted(set(cutoffs))}
    best, best_iteration = -math.inf, 0
    for it in range(n_trees):
        scores += booster.predict(x_valid, start_iteration=it, num_iteration=1, raw_score=True)
        values = lightgbm_ndcg(scores, valid.labels, valid.run.offsets, cutoffs, gain)
        for name, value in values.items():
            record[name].append(value)
        if progress is not None:
            progress(it + 1, values)
        if values[metric] > best:
            best, best_iteration = values[metric], it
        if rounds is not None and it - best_iteration >= rounds:
            break
    model.evals_result_ = {"valid": record}
    return None if rounds is None else best_iteration + 1


def _label_gain(model: LambdaMART) -> np.ndarray:
    params = model.lightgbm_params()
    gains = params.get("label_gain")
    if gains is None:
        return np.array([2.0**i - 1 for i in range(model.gain_levels())], dtype=np.float64)
    return np.asarray([float(g) for g in gains], dtype=np.float64)


def lightgbm_ndcg(
    scores: np.ndarray,
    labels: np.ndarray,
    offsets: np.ndarray,
    cutoffs: list[int],
    label_gain: np.ndarray,
) -> dict[str, float]:
    """Mean nDCG@k over the non-empty queries, as LightGBM's ``ndcg`` metric defines it.

    Per query: documents ordered by descending score, ties in row order (LightGBM's stable
    sort); gain ``label_gain[label]``, discount ``1 / log2(2 + rank)``; the ideal DCG from
    the labels sorted in descending order; a query whose ideal DCG is 0 counts 1
    (LightGBM's ``rank_metric.hpp``, ``dcg_calculator.cpp``).
    """
    offsets = np.asarray(offsets, dtype=np.int64)
    sizes = np.diff(offsets)
    keep = sizes > 0
    n = int(offsets[-1])
    query = np.repeat(np.arange(len(sizes), dtype=np.int64), sizes)
    rank = np.arange(n, dtype=np.int64) - np.repeat(offsets[:-1], sizes)
    rows = np.arange(n, dtype=np.int64)
    grades = np.asarray(labels).astype(np.int64)
    order = np.lexsort((rows, -np.asarray(scores, dtype=np.float64), query))
    ideal = np.lexsort((rows, -grades, query))
    discount = 1.0 / np.log2(2.0 + rank)
    got = label_gain[grades[order]] * discount
    best = label_gain[grades[ideal]] * discount
    out: dict[str, float] = {}
    for k in sorted(set(cutoffs)):
        top = rank < k
        dcg = np.bincount(query, weights=np.where(top, got, 0.0), minlength=len(sizes))
        idcg = np.bincount(query, weights=np.where(top, best, 0.0), minlength=len(sizes))
        per_query = np.where(idcg > 0, dcg / np.where(idcg > 0, idcg, 1.0), 1.0)[keep]
        out[f"ndcg@{k}"] = float(per_query.mean()) if len(per_query) else 0.0
    return out


def fit_on_scheduler(
    model: Any,
    train: LetorData,
    valid: LetorData | None = None,
    *,
    scheduler: str,
    workers: int = 2,
    progress: Progress | None = None,
) -> Any:
    """:func:`fit_dask` on ``scheduler`` (``"local"``, an address, or ``"none"``: in-process
    ``model.fit``), what ``rankstack train --scheduler`` runs; returns ``model``."""
    from rankstack.batch import dask_client

    with dask_client(scheduler, workers=workers, dashboard=False) as client:
        if client is None:
            from rankstack.ltr.cv import fit_model

            return fit_model(model, train, valid, progress)
        if not isinstance(model, LambdaMART):
            raise DataError(
                f"training on a Dask cluster supports LambdaMART (LightGBM) only, found "
                f"{type(model).__name__}; leave out --scheduler"
            )
        return fit_dask(model, train, valid, client=client, progress=progress)
