"""The Dual Learning Algorithm with a gradient-boosted ranker (Ai et al. 2018, SIGIR, Section 4).

DLA trains a ranking model ``f`` and a propensity model ``g`` (one logit ``φ_k`` per position)
together, each on the softmax loss of the clicks weighted by the other's inverse ratios:

- ``L_IPW(f) = −Σ_lists Σ_i (softmax(φ)_1 / softmax(φ)_i) c_i log softmax(f)_i`` (eq. 8),
- ``L_IRW(g) = −Σ_lists Σ_i (softmax(f)_1 / softmax(f)_i) c_i log softmax(φ)_i`` (eq. 9),

with ``softmax(z)_1 / softmax(z)_i = exp(z_1 − z_i)`` over a displayed list. With a LightGBM
ranker, every boosting round is one functional-gradient (Newton) step on ``L_IPW`` with the
current propensities: a custom objective returns its gradient ``T softmax(f)_i − t_i`` and
hessian ``T softmax(f)_i (1 − softmax(f)_i)`` per displayed document (``t_i`` the weighted
clicks, ``T`` their sum over the list), and in the same call the propensity logits take one
Adam step on ``L_IRW`` with the current scores (learning rate ``propensity_lr``): DLA's joint
gradient scheme with the ranker's step taken in function space.

Stopping: validation (true labels) picks the boosting round, as for every learner, but only
among rounds after the propensity logits converged (none moved by more than 1% over 10
rounds): LambdaMART's early stopping (10 rounds) would otherwise end training before the
logits have travelled from 0 to ``log p_k`` (on MQ2008 at ``eta = 2``, after 3 rounds). If
they never converge within ``n_estimators`` rounds, validation picks among all rounds and a
warning says so (keeping the last round instead gave overfitted rankers on MQ2008 at
``eta = 2`` with 10^5 sessions, where the logits of the rarely clicked low positions keep
oscillating).
Setting the logits to the exact minimiser of ``L_IRW`` every round instead was tried and
is unstable: with the ranker's scores still flat the minimiser is the naive click-rate ratio,
and the pair then drifts away from the truth (on the tests' synthetic data at ``eta = 2``
the error grew from 40% to 83% over 500 rounds while validation nDCG fell).
The ranking loss must be the softmax
loss (not lambdarank) because ``L_IRW`` reads the ranker's scores as calibrated relevance
ratios, which the softmax loss gives and lambdarank's scores do not.
"""

from __future__ import annotations

import logging
import math
from typing import Any

import numpy as np

from rankstack._compat import require
from rankstack.exceptions import DataError
from rankstack.io.letor import LetorData
from rankstack.ltr.base import align_features
from rankstack.ltr.gbdt import LambdaMART, _groups, _LightGBMMonitor, wrap_booster
from rankstack.ltr.preprocessing import FeatureNormalizer
from rankstack.ultr.features import DisplayLists

logger = logging.getLogger(__name__)

_ADAM_BETAS = (0.9, 0.999)
_ADAM_EPS = 1e-8
#: the propensity logits count as converged once none moved by more than CONVERGED_TOL over
#: the last CONVERGED_WINDOW rounds (1% of a propensity over 10 rounds)
CONVERGED_TOL = 0.01
CONVERGED_WINDOW = 10


class _DualLearningRounds:
    """The custom LightGBM objective: per boosting round, one L_IPW Newton step for the trees
    and one Adam step on L_IRW for the propensity logits."""

    def __init__(self, lists: DisplayLists, propensity_lr: float, max_weight: float | None) -> None:
        mask = lists.mask
        self.mask = mask
        self.list_index, self.position = np.nonzero(mask)  # row order of the dataset
        self.clicks = np.where(mask, lists.clicks, 0.0).astype(np.float64)
        self.lengths = mask.sum(axis=1)
        k = lists.n_positions
        self.logits = np.zeros(k)
        self.lr = float(propensity_lr)
        self.max_weight = max_weight
        self.m = np.zeros(k)
        self.v = np.zeros(k)
        self.steps = 0
        #: the round after which the propensity logits had converged (None: not yet)
        self.converged_at: int | None = None
        self.history: list[np.ndarray] = []
        self.losses: list[float] = []

    def __deepcopy__(self, memo: dict[int, Any]) -> _DualLearningRounds:
        # lightgbm.train deep-copies its params; the propensity state must stay shared
        return self

    def _padded(self, values: np.ndarray) -> np.ndarray:
        out = np.zeros(self.mask.shape)
        out[self.list_index, self.position] = values
        return out

    def _inverse_ratio(self, z: np.ndarray) -> np.ndarray:
        """``softmax(z)_1 / softmax(z)_i = exp(z_1 − z_i)`` at the shown positions, clipped."""
        w = np.exp(np.clip(z[:, :1] - z, -50.0, 50.0))
        if self.max_weight is not None:
            w = np.minimum(w, float(self.max_weight))
        return np.where(self.mask, w, 0.0)

    def _softmax(self, z: np.ndarray) -> np.ndarray:
        z = np.where(self.mask, z, -np.inf)
        z = z - z.max(axis=1, keepdims=True)
        e = np.where(self.mask, np.exp(z), 0.0)
        return e / e.sum(axis=1, keepdims=True)

    def __call__(self, preds: np.ndarray, dataset: Any) -> tuple[np.ndarray, np.ndarray]:
        scores = self._padded(np.asarray(preds, dtype=np.float64))
        phi = np.broadcast_to(self.logits, self.mask.shape)
        # ranker: L_IPW with the current propensities (no gradient into them)
        t = self.clicks * self._inverse_ratio(phi)
        total = t.sum(axis=1, keepdims=True)
        p = self._softmax(scores)
        grad = total * p - t
        hess = np.maximum(total * p * (1.0 - p), 1e-9)
        loss = -(t * np.log(np.where(self.mask, p, 1.0))).sum() / max(t.sum(), 1e-12)
        if not math.isfinite(loss):
            raise DataError(
                f"DLA (LambdaMART): the ranking loss became {loss} in round "
                f"{self.steps + 1}; clip the weights (max_weight)"
            )
        self.losses.append(float(loss))
        # propensity model: one Adam step on L_IRW (eq. 9) with the current scores, as the
        # neural DLA takes per batch
        r = self.clicks * self._inverse_ratio(scores)
        q = self._softmax(np.array(phi))
        g = (r.sum(axis=1, keepdims=True) * q - r).sum(axis=0) / max(r.sum(), 1e-12)
        self.steps += 1
        b1, b2 = _ADAM_BETAS
        self.m = b1 * self.m + (1 - b1) * g
        self.v = b2 * self.v + (1 - b2) * g * g
        m_hat = self.m / (1 - b1**self.steps)
        v_hat = self.v / (1 - b2**self.steps)
        self.logits = self.logits - self.lr * m_hat / (np.sqrt(v_hat) + _ADAM_EPS)
        if self.converged_at is None and len(self.history) >= CONVERGED_WINDOW:
            moved = np.max(np.abs(self.logits - self.history[-CONVERGED_WINDOW]))
            if moved <= CONVERGED_TOL:
                self.converged_at = self.steps
        self.history.append(self.logits.copy())
        return grad[self.list_index, self.position], hess[self.list_index, self.position]

    def propensities(self, rounds: int) -> np.ndarray:
        """``p_k / p_1`` of the logits used to grow the first ``rounds`` trees."""
        z = self.history[max(min(rounds, len(self.history)) - 1, 0)]
        return np.asarray(np.exp(z - z[0]))


class _GatedMonitor(_LightGBMMonitor):
    """LambdaMART's validation monitor, counting only the rounds after the propensity logits
    converged: earlier rounds can neither be selected nor stop training. If the logits never
    converge, validation picks the best of all rounds (with a warning)."""

    def __init__(
        self,
        metric: str,
        rounds: int | None,
        record: dict[str, dict[str, list[float]]],
        progress: Any,
        dual: _DualLearningRounds,
    ) -> None:
        super().__init__(metric, rounds, record, progress)
        self.dual = dual
        self.best_any = -math.inf
        self.best_any_iteration = 0
        self.best_any_results: list[Any] = []

    def __call__(self, env: Any) -> None:
        if self.dual.converged_at is not None and env.iteration + 1 >= self.dual.converged_at:
            super().__call__(env)
            return
        for item in env.evaluation_result_list or []:
            self.record.setdefault(item[0], {}).setdefault(item[1], []).append(float(item[2]))
            if item[0] == "valid" and item[1] == self.metric and float(item[2]) > self.best_any:
                self.best_any, self.best_any_iteration = float(item[2]), env.iteration
                self.best_any_results = list(env.evaluation_result_list)
        if env.iteration == env.end_iteration - 1:
            lgb = require("lightgbm")
            logger.warning(
                "DLA (LambdaMART): the propensities did not converge in %d rounds; "
                "validation picks among all rounds",
                env.iteration + 1,
            )
            raise lgb.callback.EarlyStopException(self.best_any_iteration, self.best_any_results)


def dla_gbdt(
    lists: DisplayLists,
    valid: LetorData | None,
    *,
    base: LambdaMART,
    propensity_lr: float,
    max_weight: float | None,
) -> tuple[LambdaMART, np.ndarray, list[dict[str, Any]]]:
    """``(ranker, propensities p_k/p_1, history)``: DLA with ``base``'s LightGBM parameters,
    the softmax objective of ``L_IPW`` in place of lambdarank, early-stopped on ``valid``."""
    lgb = require("lightgbm")
    letor = lists.letor
    names = tuple(letor.run.feature_names)
    normalizer = FeatureNormalizer.from_spec(base.normalize).fit(letor.run)
    x_all = normalizer.transform_matrix(letor.features, letor.run.offsets)
    rounds = _DualLearningRounds(lists, propensity_lr, max_weight)
    x = x_all[lists.rows[rounds.list_index, rounds.position]]
    params = base.lightgbm_params()
    for key in ("label_gain", "lambdarank_truncation_level"):
        params.pop(key, None)
    params["objective"] = rounds
    dtrain = lgb.Dataset(
        x,
        label=np.zeros(len(x)),
        group=rounds.lengths[rounds.lengths > 0],
        params={"verbosity": -1},
        free_raw_data=False,
    )
    evals: dict[str, dict[str, list[float]]] = {}
    valid_sets, callbacks = [], []
    if valid is not None:
        xv = align_features(valid.run, names)
        normalizer.check(xv, source="the validation data")
        xv = normalizer.transform_matrix(xv, valid.run.offsets)
        valid_sets = [
            lgb.Dataset(xv, label=valid.labels, group=_groups(valid.run), reference=dtrain)
        ]
        callbacks.append(
            _GatedMonitor(
                f"ndcg@{base.cutoffs[0]}", base.early_stopping_rounds, evals, None, rounds
            )
        )
    else:
        params["metric"] = "none"
    booster = lgb.train(
        params,
        dtrain,
        num_boost_round=int(base.n_estimators),
        valid_sets=valid_sets,
        valid_names=["valid"] if valid_sets else None,
        callbacks=callbacks,
    )
    best = int(booster.best_iteration or booster.current_iteration())
    model = wrap_booster(
        base,
        booster,
        normalizer,
        objective="none",
        best_iteration=best,
        feature_names=names,
        evals=evals,
    )
    history = [
        {
            "phase": "dla",
            "round": i + 1,
            "loss": rounds.losses[i],
            "propensities": [float(v) for v in np.exp(z - z[0])],
        }
        for i, z in enumerate(rounds.history)
    ]
    valid_values = evals.get("valid", {})
    for name, values in valid_values.items():
        for i, value in enumerate(values[: len(history)]):
            history[i][name] = value
    if history:
        history[-1]["propensities_converged_at"] = rounds.converged_at
    return model, rounds.propensities(best), history


__all__ = ["dla_gbdt"]
