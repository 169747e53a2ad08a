"""Neural training from aggregated display lists: the click objectives and the epoch loop.

The data are :class:`~rankstack.ultr.features.DisplayLists`: distinct displayed lists with the
clicks summed over their sessions at each position. A batch gathers the (normalised) feature
vectors of a few lists, scores them with the ranker's scorer and hands the scores, click counts,
session counts and mask to an *objective*:

- :class:`SoftmaxObjective`: the (inverse-propensity-)weighted softmax cross-entropy of ULTRA
  (Ai et al. 2018, "Unbiased learning to rank with unbiased propensity estimation", SIGIR,
  eq. 8 with the softmax ranking loss of Section 4.3; Ai et al. 2021, ULTRA, CIKM): with
  clicks ``c`` and per-position weights ``w``,
  ``L = −Σ_lists Σ_i w_i c_i log softmax(s)_i / Σ_lists Σ_i w_i c_i``.
  ``w = 1`` is the naive learner, ``w_i = p_1 / p_i`` is IPW (Joachims et al. 2017; Wang et
  al. 2016). The loss is linear in the clicks, so summing a list's sessions first is exact.
- :class:`DualLearningObjective`: DLA (Ai et al. 2018, Section 4): a propensity model (one
  logit per position, softmax over the shown positions) and the ranker are trained jointly;
  the ranker's loss is the softmax loss weighted by ``softmax(φ)_1 / softmax(φ)_i`` (the
  paper's L_IPW, eq. 8), the propensity model's loss is the softmax loss of the logits ``φ``
  weighted by ``softmax(s)_1 / softmax(s)_i`` (L_IRW, eq. 9); each weight is computed without
  gradient, from the other model.
- :class:`RegressionEMObjective`: regression-EM (Wang et al. 2018, "Position bias estimation
  for unbiased learning to rank in personal search", WSDM, Section 4) with
  ``P(click) = θ_k γ(q, d)`` and ``γ = sigmoid(s)``: each batch fits ``s`` by cross-entropy
  to the posterior ``P(R = 1 | c) = c + (1 − c) (1 − θ)γ / (1 − θγ)`` (the expectation of the
  paper's sampled labels, weighted by the impressions); after each epoch the M-step sets
  ``θ_k`` to the mean posterior ``P(E = 1 | c)`` over all impressions at position ``k``.

The loop (:func:`fit_lists`) shuffles lists with a seeded generator, validates after every
epoch, keeps the best epoch and writes safetensors checkpoints through
:mod:`rankstack.ltr.training`, so runs are deterministic for a seed and resumable.
"""

from __future__ import annotations

import logging
import math
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import Tensor, nn

from rankstack.exceptions import DataError
from rankstack.ltr.losses._common import masked_log_softmax
from rankstack.ltr.training import (
    LoopConfig,
    RNGs,
    TrainState,
    _progress,
    load_checkpoint,
    restore_checkpoint,
    save_checkpoint,
)
from rankstack.ultr._rem_gbdt import em_converged

logger = logging.getLogger(__name__)


# ---------------------------------------------------------------------------------- data
@dataclass(frozen=True, eq=False)
class ListData:
    """Lists as tensors: row indices into a normalised feature matrix, clicks, sessions.

    Attributes
    ----------
    features : float32 ``[rows, F]`` (normalised LETOR features)
    rows : int64 ``[lists, L]`` rows in display order, -1 past a list's end
    clicks : float32 ``[lists, L]`` clicks (or graded labels) per position
    sessions : float32 ``[lists]`` sessions behind each list
    """

    features: Tensor
    rows: Tensor
    clicks: Tensor
    sessions: Tensor

    @classmethod
    def build(
        cls, features: np.ndarray, rows: np.ndarray, clicks: np.ndarray, sessions: np.ndarray
    ) -> ListData:
        if not np.isfinite(features).all():
            raise DataError("features are NaN or infinite after normalisation")
        return cls(
            torch.from_numpy(np.ascontiguousarray(features, dtype=np.float32)),
            torch.from_numpy(np.ascontiguousarray(rows, dtype=np.int64)),
            torch.from_numpy(np.ascontiguousarray(clicks, dtype=np.float32)),
            torch.from_numpy(np.ascontiguousarray(sessions, dtype=np.float32)),
        )

    def __len__(self) -> int:
        return int(self.rows.shape[0])

    def batch(self, idx: Tensor) -> tuple[Tensor, Tensor, Tensor, Tensor]:
        """``(x, clicks, sessions, mask)`` of the lists ``idx``, cut to their longest list."""
        rows = self.rows[idx]
        mask = rows >= 0
        length = int(mask.sum(dim=1).max()) if len(idx) else 0
        rows, mask = rows[:, :length], mask[:, :length]
        x = self.features[rows.clamp(min=0)]
        return x, self.clicks[idx, :length], self.sessions[idx], mask


def score_lists(scorer: nn.Module, data: ListData, chunk: int = 4096) -> Tensor:
    """Scores ``[lists, L]`` of every list (eval mode, no gradient; 0 at padding)."""
    was = scorer.training
    scorer.eval()
    out = torch.zeros(data.rows.shape, dtype=torch.float32)
    try:
        with torch.inference_mode():
            for lo in range(0, len(data), chunk):
                idx = torch.arange(lo, min(lo + chunk, len(data)))
                x, _, _, m = data.batch(idx)
                s = scorer(x, m)
                out[idx, : s.shape[1]] = torch.where(m, s, torch.zeros_like(s))
    finally:
        scorer.train(was)
    return out


# ---------------------------------------------------------------------------------- objectives
def weighted_softmax_loss(scores: Tensor, targets: Tensor, mask: Tensor) -> Tensor:
    """``−Σ t_i log softmax(s)_i / Σ t_i`` over the real positions of all lists (0 if Σt = 0).

    ULTRA's ``softmax_loss`` (Ai et al. 2018) with the per-list normalisation cancelled, as
    there: a list weighs in by its total weighted clicks.
    """
    t = torch.where(mask, targets, torch.zeros_like(targets))
    lsm = masked_log_softmax(scores, mask)
    total = t.sum()
    return -(t * lsm).sum() / total.clamp(min=1e-12)


class Objective(nn.Module):
    """A click objective: a loss over a batch, plus an optional end-of-epoch update."""

    def loss(self, scores: Tensor, clicks: Tensor, sessions: Tensor, mask: Tensor) -> Tensor:
        raise NotImplementedError

    def end_epoch(self, scorer: nn.Module, data: ListData) -> None:
        """Called after every epoch (regression-EM's M-step)."""

    def propensities(self) -> np.ndarray | None:
        """Relative propensities ``p_k / p_1`` the objective estimates, or None."""
        return None

    def converged(self) -> bool:
        """True when the objective's own stopping criterion is met (regression-EM)."""
        return False

    def epoch_record(self) -> dict[str, float]:
        """Extra figures for the epoch's history record."""
        return {}


class SoftmaxObjective(Objective):
    """Softmax loss with fixed per-position weights (naive: all 1; IPW: ``p_1 / p_k``)."""

    weights: Tensor

    def __init__(self, weights: np.ndarray) -> None:
        super().__init__()
        self.register_buffer("weights", torch.as_tensor(weights, dtype=torch.float32))

    def loss(self, scores: Tensor, clicks: Tensor, sessions: Tensor, mask: Tensor) -> Tensor:
        w = self.weights[: scores.shape[1]]
        return weighted_softmax_loss(scores, clicks * w, mask)


class DualLearningObjective(Objective):
    """DLA: the ranker and a per-position propensity model, each weighted by the other."""

    def __init__(self, n_positions: int, max_weight: float | None = None) -> None:
        super().__init__()
        self.logits = nn.Parameter(torch.zeros(n_positions))
        self.max_weight = max_weight

    def _ratio(self, logits: Tensor, mask: Tensor) -> Tensor:
        """``softmax(z)_1 / softmax(z)_i = exp(z_1 − z_i)`` per list (no gradient), clipped."""
        with torch.no_grad():
            w = torch.exp(logits[:, :1] - logits)
            if self.max_weight is not None:
                w = w.clamp(max=float(self.max_weight))
            return torch.where(mask, w, torch.zeros_like(w))

    def loss(self, scores: Tensor, clicks: Tensor, sessions: Tensor, mask: Tensor) -> Tensor:
        phi = self.logits[: scores.shape[1]].expand_as(scores)
        rank_loss = weighted_softmax_loss(scores, clicks * self._ratio(phi, mask), mask)
        exam_loss = weighted_softmax_loss(phi, clicks * self._ratio(scores, mask), mask)
        return rank_loss + exam_loss

    def propensities(self) -> np.ndarray:
        z = self.logits.detach().double()
        return torch.exp(z - z[0]).numpy()


class RegressionEMObjective(Objective):
    """Regression-EM: cross-entropy of ``sigmoid(s)`` to the relevance posterior; θ by EM.

    EM runs until no propensity ``θ_k`` changes by more than ``tol`` (relative) over
    ``window`` consecutive iterations (:func:`em_converged`; the caller's ``epochs`` caps it):
    Wang et al. 2018 iterate EM to convergence.
    """

    theta: Tensor

    def __init__(
        self, n_positions: int, init: float = 0.5, tol: float | None = None, window: int = 5
    ) -> None:
        super().__init__()
        self.register_buffer("theta", torch.full((n_positions,), float(init)))
        self.tol = tol
        self.window = int(window)
        self.log_likelihoods: list[float] = []
        self.thetas: list[np.ndarray] = []

    def _posteriors(
        self, scores: Tensor, clicks: Tensor, sessions: Tensor
    ) -> tuple[Tensor, Tensor]:
        """Expected relevant and examined impressions per position, given the clicks
        (Wang et al. 2018, Section 4.1: ``P(E=1, R=0 | C=0) = θ(1−γ)/(1−θγ)``,
        ``P(E=0, R=1 | C=0) = (1−θ)γ/(1−θγ)``; a click means ``E = R = 1``)."""
        theta = self.theta[: scores.shape[1]].clamp(1e-6, 1 - 1e-6)
        gamma = torch.sigmoid(scores.detach())
        unclicked = (sessions[:, None] - clicks).clamp(min=0)
        denom = (1 - theta * gamma).clamp(min=1e-9)
        relevant = clicks + unclicked * (1 - theta) * gamma / denom
        examined = clicks + unclicked * theta * (1 - gamma) / denom
        return relevant, examined

    def loss(self, scores: Tensor, clicks: Tensor, sessions: Tensor, mask: Tensor) -> Tensor:
        relevant, _ = self._posteriors(scores, clicks, sessions)
        n = torch.where(mask, sessions[:, None].expand_as(scores), torch.zeros_like(scores))
        target = torch.where(n > 0, relevant / n.clamp(min=1e-9), torch.zeros_like(scores))
        bce = nn.functional.binary_cross_entropy_with_logits(
            scores, target.clamp(0.0, 1.0), weight=n, reduction="sum"
        )
        return bce / n.sum().clamp(min=1e-9)

    def end_epoch(self, scorer: nn.Module, data: ListData) -> None:
        # M-step for θ (Wang et al. 2018, eq. for θ_k^{t+1}): the mean posterior of
        # examination over the impressions at position k
        scores = score_lists(scorer, data)
        mask = data.rows >= 0
        _, examined = self._posteriors(scores, data.clicks, data.sessions)
        n = torch.where(mask, data.sessions[:, None].expand_as(scores), torch.zeros_like(scores))
        examined = torch.where(mask, examined, torch.zeros_like(examined))
        shown = n.sum(dim=0)
        k = int(shown.shape[0])
        new = examined.sum(dim=0) / shown.clamp(min=1e-9)
        self.theta[:k] = torch.where(shown > 0, new.clamp(1e-6, 1.0), self.theta[:k])
        # log-likelihood of the clicks: Σ c log(θγ) + (n − c) log(1 − θγ)
        prob = (self.theta[:k].double() * torch.sigmoid(scores.double())).clamp(1e-12, 1 - 1e-12)
        c = torch.where(mask, data.clicks.double(), torch.zeros_like(prob))
        unclicked = (n.double() - c).clamp(min=0)
        ll = (c * torch.log(prob) + unclicked * torch.log1p(-prob)).sum()
        self.log_likelihoods.append(float(ll))
        self.thetas.append(self.theta.detach().double().numpy().copy())

    def converged(self) -> bool:
        return em_converged(self.thetas, self.tol, self.window)

    def epoch_record(self) -> dict[str, float]:
        return {"log_likelihood": self.log_likelihoods[-1]} if self.log_likelihoods else {}

    def propensities(self) -> np.ndarray:
        t = self.theta.detach().double()
        return (t / t[0]).numpy()


# ---------------------------------------------------------------------------------- loop
@dataclass
class ListLoopConfig:
    """Settings of :func:`fit_lists` (taken from the base NeuralRanker's parameters)."""

    epochs: int
    batch_size: int
    optimizer: str = "adam"
    lr: float = 1e-3
    propensity_lr: float | None = None
    weight_decay: float = 0.0
    clip_grad_norm: float | None = None
    patience: int | None = None
    seed: int = 0
    progress: bool = False
    checkpoint_dir: Path | None = None
    resume: bool = False
    meta: Mapping[str, Any] | None = None


def _optimizer(
    name: str, groups: list[dict[str, Any]], weight_decay: float
) -> torch.optim.Optimizer:
    if name == "adam":
        return torch.optim.Adam(groups, weight_decay=weight_decay)
    if name == "adamw":
        return torch.optim.AdamW(groups, weight_decay=weight_decay)
    if name == "sgd":
        return torch.optim.SGD(groups, lr=groups[0]["lr"], weight_decay=weight_decay)
    raise DataError(f"unknown optimizer {name!r}; choose from adam, adamw, sgd")


def fit_lists(
    scorer: nn.Module,
    objective: Objective,
    data: ListData,
    config: ListLoopConfig,
    validate: Callable[[], float] | None = None,
) -> TrainState:
    """Train ``scorer`` (and the objective's parameters) on ``data``; returns the final state.

    With ``validate`` the best epoch (validation nDCG@10, higher is better) is restored into
    both modules at the end; ``patience`` stops after that many epochs without improvement.
    Runs under the caller's torch seed scope (dropout); batches come from ``config.seed``.
    """
    if len(data) == 0:
        raise DataError("no display lists to train on (the click log is empty)")
    both = nn.ModuleDict({"scorer": scorer, "objective": objective})
    groups: list[dict[str, Any]] = [{"params": list(scorer.parameters()), "lr": float(config.lr)}]
    extra = list(objective.parameters())
    if extra:
        plr = config.propensity_lr if config.propensity_lr is not None else config.lr
        groups.append({"params": extra, "lr": float(plr)})
    optimizer = _optimizer(config.optimizer, groups, float(config.weight_decay))
    rngs = RNGs.seeded(int(config.seed))
    state = TrainState()
    ckpt = config.checkpoint_dir
    if config.resume and ckpt is not None and (ckpt / "checkpoint.json").is_file():
        saved, tensors = load_checkpoint(ckpt)
        if dict(saved["meta"]) != dict(config.meta or {}):
            from rankstack.ltr.training import CheckpointError

            raise CheckpointError(
                f"{ckpt}: the checkpoint was written for other parameters or data; "
                "resume with the same settings and click log"
            )
        state = restore_checkpoint(saved, tensors, model=both, optimizer=optimizer, rngs=rngs)
        logger.info("resuming from %s after epoch %d", ckpt, state.epoch)
    loop = LoopConfig(
        epochs=int(config.epochs),
        batch_size=int(config.batch_size),
        patience=config.patience,
        progress=bool(config.progress),
    )
    n = len(data)
    with _progress(loop, state) as advance:
        while state.epoch < config.epochs and not state.stopped:
            started = time.perf_counter()
            both.train()
            total, n_batches = 0.0, 0
            perm = torch.randperm(n, generator=rngs.shuffle)
            for idx in torch.split(perm, int(config.batch_size)):
                x, clicks, sessions, mask = data.batch(idx)
                loss = objective.loss(scorer(x, mask), clicks, sessions, mask)
                value = float(loss.detach())
                if not math.isfinite(value):
                    raise DataError(
                        f"the training loss became {value} in epoch {state.epoch + 1}; lower "
                        "the learning rate, clip the weights (max_weight) or clip gradients"
                    )
                optimizer.zero_grad(set_to_none=True)
                loss.backward()  # type: ignore[no-untyped-call]
                if config.clip_grad_norm is not None:
                    nn.utils.clip_grad_norm_(both.parameters(), float(config.clip_grad_norm))
                optimizer.step()
                total += value
                n_batches += 1
            objective.end_epoch(scorer, data)
            state.epoch += 1
            record: dict[str, Any] = {
                "epoch": state.epoch,
                "loss": total / max(n_batches, 1),
                "train_seconds": time.perf_counter() - started,
                **objective.epoch_record(),
            }
            if objective.converged():
                state.stopped = True
            props = objective.propensities()
            if props is not None:
                record["propensities"] = [float(v) for v in props]
            if validate is not None:
                score = float(validate())
                record[loop.measure] = score
                state.observe(score, both, config.patience)
            record["seconds"] = time.perf_counter() - started
            state.history.append(record)
            logger.info(
                "epoch %d: loss %.5f%s",
                state.epoch,
                record["loss"],
                f", {loop.measure} {record[loop.measure]:.4f}" if validate else "",
            )
            if ckpt is not None:
                save_checkpoint(
                    ckpt,
                    model=both,
                    optimizer=optimizer,
                    state=state,
                    rngs=rngs,
                    meta=dict(config.meta or {}),
                )
            advance(record)
    if state.best_weights is not None:
        both.load_state_dict(state.best_weights)
    both.eval()
    return state
