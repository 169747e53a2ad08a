"""Regression-EM with a gradient-boosted regression step (Wang et al. 2018, WSDM, Section 4).

The position-based model ``P(C = 1 | q, d, k) = θ_k · γ(q, d)`` is fitted by EM on the
(query, doc, position) counts of a log (``n`` shown, ``c`` clicked):

- E-step: for the unclicked impressions, ``P(E=1, R=0 | C=0) = θ(1−γ) / (1−θγ)`` and
  ``P(E=0, R=1 | C=0) = (1−θ)γ / (1−θγ)``; a click means ``E = R = 1``.
- M-step: ``θ_k`` = the mean of ``P(E = 1 | c)`` over the impressions at position ``k``;
  ``γ = sigmoid(f(x))`` with ``f`` a LightGBM forest fitted by cross-entropy to the expected
  relevance ``(c + (n − c) P(R = 1 | C = 0)) / n`` with weight ``n``. The paper samples binary
  labels from this posterior and fits a GBDT to them; fitting the posterior itself (LightGBM's
  ``cross_entropy`` objective takes labels in [0, 1]) is the expectation of that step, without
  its sampling noise.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from typing import Any

import numpy as np

from rankstack._compat import require
from rankstack.ltr.gbdt import LambdaMART, wrap_booster
from rankstack.ltr.preprocessing import FeatureNormalizer
from rankstack.ultr.features import PositionCounts

logger = logging.getLogger(__name__)

#: initial examination probability of every position (ULTRA initialises 0.9 for all; a
#: value in the middle leaves EM room on both sides)
THETA_INIT = 0.5


def em_converged(thetas: Sequence[np.ndarray], tol: float | None, window: int) -> bool:
    """EM's stopping rule: no propensity moved by more than ``tol`` in relative terms
    (``|log θ_k(t) − log θ_k(t − window)|``) over the last ``window`` iterations; never with
    ``tol`` None."""
    if tol is None or len(thetas) <= window:
        return False
    last, before = np.log(thetas[-1]), np.log(thetas[-1 - window])
    return bool(np.max(np.abs(last - before)) <= tol)


def regression_em_gbdt(
    counts: PositionCounts,
    *,
    iterations: int,
    trees: int,
    base: LambdaMART,
    tol: float | None = None,
    window: int = 5,
) -> tuple[np.ndarray, LambdaMART, list[dict[str, Any]]]:
    """``(θ, γ model, history)``: EM over ``counts`` with up to ``iterations`` forests of
    ``trees``, stopping earlier once no ``θ_k`` moved by more than ``tol`` (relative) over
    ``window`` iterations (:func:`em_converged`).

    The γ model is a :class:`LambdaMART` object holding the last regression forest (its
    ``booster_params`` name the ``cross_entropy`` objective), so it predicts and saves like
    any LambdaMART; its scores are ``γ`` itself (LightGBM predicts the probability).
    """
    lgb = require("lightgbm")
    letor = counts.letor
    normalizer = FeatureNormalizer.from_spec(base.normalize).fit(letor.run)
    x_all = normalizer.transform_matrix(letor.features, letor.run.offsets)
    x = x_all[counts.rows]
    n = counts.shown
    c = np.minimum(counts.clicks, n)
    pos = counts.positions
    k = counts.n_positions
    params = base.lightgbm_params()
    for key in ("eval_at", "label_gain", "lambdarank_truncation_level"):
        params.pop(key, None)
    params.update({"objective": "cross_entropy", "metric": "none"})
    theta = np.full(k, THETA_INIT)
    gamma = np.full(len(n), float(np.clip(c.sum() / max(n.sum(), 1.0) / THETA_INIT, 0.01, 0.99)))
    booster = None
    history: list[dict[str, Any]] = []
    thetas: list[np.ndarray] = []
    for it in range(int(iterations)):
        t = theta[pos]
        denom = np.maximum(1.0 - t * gamma, 1e-12)
        p_r = (1.0 - t) * gamma / denom
        p_e = t * (1.0 - gamma) / denom
        relevant = (c + (n - c) * p_r) / np.maximum(n, 1e-12)
        examined = c + (n - c) * p_e
        theta = np.bincount(pos, weights=examined, minlength=k) / np.maximum(
            np.bincount(pos, weights=n, minlength=k), 1e-12
        )
        theta = np.clip(theta, 1e-6, 1.0)
        dtrain = lgb.Dataset(
            x, label=np.clip(relevant, 0.0, 1.0), weight=n, params={"verbosity": -1}
        )
        booster = lgb.train(params, dtrain, num_boost_round=int(trees))
        gamma = np.clip(booster.predict(x, num_threads=int(base.n_jobs)), 1e-6, 1 - 1e-6)
        loglik = float(
            (c * np.log(theta[pos] * gamma) + (n - c) * np.log1p(-theta[pos] * gamma)).sum()
        )
        history.append(
            {
                "phase": "em",
                "iteration": it + 1,
                "log_likelihood": loglik,
                "propensities": [float(v) for v in theta / theta[0]],
            }
        )
        logger.info("regression-EM iteration %d: log-likelihood %.2f", it + 1, loglik)
        thetas.append(theta.copy())
        if em_converged(thetas, tol, window):
            break
    model = wrap_booster(
        base,
        booster,
        normalizer,
        objective="cross_entropy",
        best_iteration=int(trees),
        feature_names=letor.run.feature_names,
    )
    return theta, model, history


__all__ = ["em_converged", "regression_em_gbdt"]
