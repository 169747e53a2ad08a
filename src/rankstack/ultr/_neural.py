"""The neural side of :class:`~rankstack.ultr.learners.UnbiasedRanker` (needs torch).

Builds the base :class:`~rankstack.ltr.NeuralRanker`'s scorer and feature normaliser, trains
the scorer on display lists with the method's objective (:mod:`rankstack.ultr._training`) and
returns a fitted NeuralRanker holding it, so prediction and the saved format are the
NeuralRanker's own.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from rankstack._compat import require

require("torch")
require("safetensors")

import torch  # noqa: E402

from rankstack.exceptions import DataError  # noqa: E402
from rankstack.io.letor import LetorData  # noqa: E402
from rankstack.ltr.base import align_features  # noqa: E402
from rankstack.ltr.neural import NeuralRanker, _jsonable_params  # noqa: E402
from rankstack.ltr.preprocessing import FeatureNormalizer  # noqa: E402
from rankstack.ltr.training import pack_lists, predict_packed, torch_threads  # noqa: E402
from rankstack.ultr._training import (  # noqa: E402
    DualLearningObjective,
    ListData,
    ListLoopConfig,
    Objective,
    RegressionEMObjective,
    SoftmaxObjective,
    fit_lists,
)
from rankstack.ultr.features import DisplayLists  # noqa: E402
from rankstack.ultr.propensity import Propensities  # noqa: E402

if TYPE_CHECKING:
    from rankstack.ultr.learners import UnbiasedRanker

logger = logging.getLogger(__name__)

VALID_MEASURE = "nDCG@10"
#: base parameters that may differ between a checkpoint and the run that resumes it
_RESUMABLE = {"epochs", "early_stopping", "progress", "checkpoint_dir", "n_threads"}


def _validator(
    scorer: torch.nn.Module,
    normalizer: FeatureNormalizer,
    valid: LetorData,
    names: tuple[str, ...],
) -> Callable[[], float]:
    from rankstack.evaluate import evaluate

    feats = align_features(valid.run, names)
    normalizer.check(feats, source="the validation data")
    packed = pack_lists(feats, valid.run.offsets, transform=normalizer.transform_matrix)
    qrels = valid.qrels
    run = valid.run

    def validate() -> float:
        scores = predict_packed(scorer, packed).astype(np.float64)
        return evaluate(run.with_scores(scores), qrels, [VALID_MEASURE])[VALID_MEASURE]

    return validate


def _loop_config(
    base: NeuralRanker,
    *,
    epochs: int | None = None,
    validate: bool = True,
    propensity_lr: float | None = None,
    checkpoint: Path | None = None,
    resume: bool = False,
    meta: Mapping[str, Any] | None = None,
) -> ListLoopConfig:
    return ListLoopConfig(
        epochs=int(epochs if epochs is not None else base.epochs),
        batch_size=int(base.batch_size),
        optimizer=str(base.optimizer),
        lr=float(base.lr),
        propensity_lr=propensity_lr,
        weight_decay=float(base.weight_decay),
        clip_grad_norm=base.clip_grad_norm,
        patience=base.early_stopping if validate else None,
        seed=int(base.seed),
        progress=bool(base.progress),
        checkpoint_dir=checkpoint,
        resume=resume,
        meta=meta,
    )


def _wrap(
    base: NeuralRanker,
    scorer: torch.nn.Module,
    normalizer: FeatureNormalizer,
    names: tuple[str, ...],
    state: Any,
) -> NeuralRanker:
    ranker = NeuralRanker(**base.get_params())
    scorer.eval()
    ranker.model_ = scorer
    ranker.normalizer_ = normalizer
    ranker.feature_names_ = names
    ranker.history_ = [{k: v for k, v in r.items() if k != "propensities"} for r in state.history]
    ranker.best_epoch_ = state.best_epoch if state.best_weights is not None else state.epoch
    ranker.best_score_ = state.best_score
    return ranker


def fit_neural(
    model: UnbiasedRanker,
    lists: DisplayLists,
    valid: LetorData | None,
    given: Propensities | None,
    *,
    resume: bool = False,
) -> tuple[NeuralRanker, Propensities | None, list[dict[str, Any]]]:
    """Train the neural base with ``model.method`` on ``lists``; see the learners module."""
    from rankstack.ultr.learners import _fingerprint

    base = model.make_base()
    if not isinstance(base, NeuralRanker):  # pragma: no cover - base checked by the caller
        raise DataError("base 'neural' did not give a NeuralRanker")
    base._check_params()
    letor = lists.letor
    names = tuple(letor.run.feature_names)
    k = lists.n_positions
    ckpt = None if base.checkpoint_dir is None else Path(base.checkpoint_dir)
    if resume and ckpt is None:
        raise DataError("fit(resume=True) needs checkpoint_dir in params")
    params = _jsonable_params(model.get_params())
    params["params"] = {
        k: v for k, v in dict(params.get("params") or {}).items() if k not in _RESUMABLE
    }
    meta = {"params": params, "fingerprint": _fingerprint(lists)}
    history: list[dict[str, Any]] = []
    props: Propensities | None = None
    with torch_threads(base.n_threads), torch.random.fork_rng(devices=[]):
        torch.manual_seed(int(base.seed))
        normalizer = FeatureNormalizer.from_spec(base.normalize).fit(letor.run)
        feats = normalizer.transform_matrix(letor.features, letor.run.offsets)
        data = ListData.build(feats, lists.rows, lists.clicks, lists.sessions)
        scorer = base._build(len(names))
        propensity_lr = None
        objective: Objective
        if model.method == "rem":
            em = RegressionEMObjective(k, tol=model.em_tol)
            em_config = _loop_config(
                base,
                epochs=int(model.em_iterations),
                validate=False,
                checkpoint=None if ckpt is None else ckpt / "em",
                resume=resume,
                meta={**meta, "phase": "em"},
            )
            em_state = fit_lists(scorer, em, data, em_config)
            history += [{"phase": "em", **r} for r in em_state.history]
            props = Propensities.from_values(
                em.propensities(), method="rem", info={"theta_1": float(em.theta[0])}
            )
            if model.rem_ranker == "regression":
                return _wrap(base, scorer, normalizer, names, em_state), props, history
            scorer = base._build(len(names))
            objective = SoftmaxObjective(props.weights(k, model.max_weight))
        elif model.method == "dla":
            objective = DualLearningObjective(k, model.max_weight)
            from rankstack.ultr.learners import DEFAULT_PROPENSITY_LR

            propensity_lr = model.propensity_lr or DEFAULT_PROPENSITY_LR
        elif model.method == "ipw":
            if given is None:  # pragma: no cover - checked by the caller
                raise DataError("ipw needs propensities")
            props = given
            objective = SoftmaxObjective(given.weights(k, model.max_weight))
        else:
            objective = SoftmaxObjective(np.ones(k))
        validate = None if valid is None else _validator(scorer, normalizer, valid, names)
        config = _loop_config(
            base,
            propensity_lr=propensity_lr,
            checkpoint=None if ckpt is None else ckpt / "rank",
            resume=resume,
            meta={**meta, "phase": "rank"},
        )
        state = fit_lists(scorer, objective, data, config, validate)
    history += [{"phase": "rank", **r} for r in state.history]
    if model.method == "dla":
        estimate = objective.propensities()
        if estimate is not None:
            props = Propensities.from_values(estimate, method="dla")
    return _wrap(base, scorer, normalizer, names, state), props, history


def fit_neural_labels(
    train: LetorData,
    valid: LetorData | None,
    *,
    params: Mapping[str, Any],
    seed: int = 0,
) -> NeuralRanker:
    """The full-information neural ranker: the click learners' scorer and softmax loss on the
    true graded labels of every document (each query one list, its labels as clicks)."""
    base = NeuralRanker(**{**dict(params), "seed": int(seed)})
    base._check_params()
    if len(train) == 0:
        raise DataError("fit: the training set has no documents")
    run = train.run
    names = tuple(run.feature_names)
    sizes = run.sizes
    keep = np.flatnonzero(sizes > 0)
    length = int(sizes.max())
    pos = np.arange(length)
    mask = pos[None, :] < sizes[keep][:, None]
    rows = np.where(mask, run.offsets[keep][:, None] + pos[None, :], -1)
    labels = np.where(mask, train.labels[np.maximum(rows, 0)], 0).astype(np.float64)
    if (labels < 0).any():
        raise DataError("labels must be >= 0")
    with torch_threads(base.n_threads), torch.random.fork_rng(devices=[]):
        torch.manual_seed(int(base.seed))
        normalizer = FeatureNormalizer.from_spec(base.normalize).fit(run)
        feats = normalizer.transform_matrix(train.features, run.offsets)
        data = ListData.build(feats, rows, labels, np.ones(len(keep)))
        scorer = base._build(len(names))
        validate = None if valid is None else _validator(scorer, normalizer, valid, names)
        state = fit_lists(
            scorer, SoftmaxObjective(np.ones(length)), data, _loop_config(base), validate
        )
    return _wrap(base, scorer, normalizer, names, state)


__all__ = ["fit_neural", "fit_neural_labels"]
