"""``NeuralRanker``: a PyTorch ranker (MLP or context-aware self-attention) with a pluggable loss.

>>> from rankstack import datasets
>>> from rankstack.ltr import NeuralRanker
>>> fold = datasets.load("letor/mq2008/fold1")                         # doctest: +SKIP
>>> ranker = NeuralRanker(model="mlp", loss="listnet").fit(fold.letor("train"),
...                                                       fold.letor("vali"))  # doctest: +SKIP
>>> reranked = ranker.transform(None, fold.letor("test").run)           # doctest: +SKIP

The scorers are in :mod:`rankstack.ltr.scorers`, the losses in :mod:`rankstack.ltr.losses`
and the packing, epoch loop and checkpoints in :mod:`rankstack.ltr.training`. A saved model
is a folder with ``model.json`` (architecture, parameters, feature names, history),
``weights.safetensors`` and ``preprocessing.json`` (the fitted feature normaliser, as for
LambdaMART); nothing is pickled.
"""

from __future__ import annotations

import hashlib
import inspect
import json
import logging
import os
from collections.abc import Mapping, Sequence
from functools import partial
from pathlib import Path
from typing import Any, ClassVar

import numpy as np

from rankstack._compat import require

require("torch")
require("safetensors")

import torch  # noqa: E402
from safetensors import SafetensorError  # noqa: E402
from safetensors.torch import load as st_load  # noqa: E402
from safetensors.torch import save as st_save  # noqa: E402
from torch import Tensor, nn  # noqa: E402

from rankstack.data import Run  # noqa: E402
from rankstack.exceptions import DataError  # noqa: E402
from rankstack.io.letor import LetorData  # noqa: E402
from rankstack.ltr.base import ModelFormatError, Ranker, align_features, register_ranker  # noqa: E402
from rankstack.ltr.losses import get_loss  # noqa: E402
from rankstack.ltr.preprocessing import FeatureNormalizer, NormalizeSpec  # noqa: E402
from rankstack.ltr.scorers import SCORERS, build_scorer, n_parameters  # noqa: E402
from rankstack.ltr.training import (  # noqa: E402
    CheckpointError,
    LoopConfig,
    PackedLists,
    RNGs,
    TrainState,
    load_checkpoint,
    pack_lists,
    predict_packed,
    read_checkpoint_config,
    restore_checkpoint,
    save_checkpoint,
    torch_threads,
    train_loop,
    write_bytes,
)

logger = logging.getLogger(__name__)

WEIGHTS_NAME = "weights.safetensors"
PREPROCESSING_NAME = "preprocessing.json"  # the same file name as LambdaMART's
OPTIMIZERS = ("adam", "adamw", "sgd")
VALID_MEASURE = "nDCG@10"
# parameters that may differ between a checkpoint and the run that resumes it
_RESUMABLE = {"epochs", "early_stopping", "progress", "checkpoint_dir", "n_threads"}


@register_ranker
class NeuralRanker(Ranker):
    """A neural ranker trained with a listwise, pairwise or pointwise loss.

    Parameters
    ----------
    model:
        ``"mlp"`` (each document scored alone) or ``"context"`` (self-attention over the
        documents of a query; Pobrotyn et al. 2020, arXiv:2005.10084).
    hidden:
        Hidden layer sizes of the MLP.
    dropout:
        Dropout of the MLP's hidden layers or inside the encoder blocks.
    d_model, n_heads, n_layers, dim_feedforward:
        Sizes of the context-aware scorer (projection width, heads, encoder blocks, width of
        the blocks' feed-forward layers).
    loss:
        A name in :data:`rankstack.ltr.losses.LOSSES` (``listnet``, ``lambdaloss``,
        ``neuralndcg``...); ``loss_params`` are its keyword parameters. Losses that sample
        (``listmle``'s tie shuffling, ``pg_rank``) get a generator seeded from ``seed``.
    optimizer, lr, weight_decay:
        ``"adam"``, ``"adamw"`` or ``"sgd"`` with this learning rate and weight decay.
    epochs, batch_size:
        Passes over the training queries and queries per batch.
    max_list_len:
        In training, lists longer than this keep a uniform random subset of that many
        documents, drawn afresh every epoch (allRank's slate length); prediction always
        scores every document. None keeps whole lists.
    clip_grad_norm:
        Clip the gradient norm to this value before each step (None: no clipping).
    early_stopping:
        With validation data, stop after this many epochs without a strict improvement of the
        validation nDCG@10 (:func:`rankstack.evaluate.evaluate`, trec_eval's definition);
        None trains all epochs. The best epoch's weights are restored at the end either way.
    normalize:
        Feature normalisation spec for :class:`~rankstack.ltr.preprocessing.FeatureNormalizer`
        (``"zscore"``, ``"minmax/query"``, ``{"method": "log1p"}``, ``"none"``); fitted on
        the training set and saved with the model.
    seed:
        Seeds initialisation, dropout, shuffling and sampling: on CPU the same seed (and the
        same ``n_threads``) gives bit-identical weights and predictions.
    n_threads:
        ``torch.set_num_threads`` during fit and predict (restored afterwards); None keeps
        torch's setting. The default is 1: a batch of LETOR lists is a small tensor, and
        intra-op threads that wait on each other cost more than they give on a shared or
        busy machine (2 threads on the 2-core benchmark machine under load made an epoch
        2 to 7 times slower; see ``docs/ltr.md``).
    checkpoint_dir:
        Write a checkpoint there after every epoch; resume with ``fit(..., resume=True)`` or
        :meth:`resume`.
    progress:
        Show a progress bar with the epoch, training loss and validation nDCG@10.

    Attributes
    ----------
    model_ : torch.nn.Module
        The trained scorer.
    normalizer_ : FeatureNormalizer
    history_ : list of dict
        One record per epoch: ``epoch``, ``loss`` (mean over batches), ``nDCG@10``
        (with validation data), ``train_seconds`` and ``seconds``.
    best_epoch_, best_score_ :
        The epoch whose weights were kept and its validation nDCG@10 (None without
        validation data: the last epoch is kept).
    """

    kind: ClassVar[str] = "neural"

    def __init__(
        self,
        model: str = "mlp",
        hidden: Sequence[int] = (64, 32),
        dropout: float = 0.1,
        d_model: int = 64,
        n_heads: int = 4,
        n_layers: int = 2,
        dim_feedforward: int = 128,
        loss: str = "listnet",
        loss_params: Mapping[str, Any] | None = None,
        optimizer: str = "adam",
        lr: float = 1e-3,
        weight_decay: float = 0.0,
        epochs: int = 100,
        batch_size: int = 32,
        max_list_len: int | None = None,
        clip_grad_norm: float | None = None,
        early_stopping: int | None = 10,
        normalize: NormalizeSpec = "zscore",
        seed: int = 0,
        n_threads: int | None = 1,
        checkpoint_dir: str | os.PathLike[str] | None = None,
        progress: bool = True,
    ) -> None:
        self.model = model
        self.hidden = hidden
        self.dropout = dropout
        self.d_model = d_model
        self.n_heads = n_heads
        self.n_layers = n_layers
        self.dim_feedforward = dim_feedforward
        self.loss = loss
        self.loss_params = loss_params
        self.optimizer = optimizer
        self.lr = lr
        self.weight_decay = weight_decay
        self.epochs = epochs
        self.batch_size = batch_size
        self.max_list_len = max_list_len
        self.clip_grad_norm = clip_grad_norm
        self.early_stopping = early_stopping
        self.normalize = normalize
        self.seed = seed
        self.n_threads = n_threads
        self.checkpoint_dir = checkpoint_dir
        self.progress = progress

    model_: nn.Module | None = None
    normalizer_: FeatureNormalizer | None = None
    history_: list[dict[str, Any]] | None = None
    best_epoch_: int | None = None
    best_score_: float | None = None

    def get_params(self) -> dict[str, Any]:
        params = super().get_params()
        if isinstance(params.get("checkpoint_dir"), os.PathLike):  # saved in model.json as text
            params["checkpoint_dir"] = os.fspath(params["checkpoint_dir"])
        return params

    # ------------------------------------------------------------------ checks
    def _check_params(self) -> None:
        if self.model not in SCORERS:
            raise DataError(f"unknown model {self.model!r}; choose from {list(SCORERS)}")
        if self.optimizer not in OPTIMIZERS:
            raise DataError(f"unknown optimizer {self.optimizer!r}; choose from {list(OPTIMIZERS)}")
        for name in ("epochs", "batch_size"):
            value = getattr(self, name)
            if not isinstance(value, (int, np.integer)) or value < 1:
                raise DataError(f"{name} must be an integer >= 1, found {value!r}")
        if self.max_list_len is not None and self.max_list_len < 1:
            raise DataError(f"max_list_len must be >= 1 or None, found {self.max_list_len!r}")
        if self.early_stopping is not None and self.early_stopping < 1:
            raise DataError(f"early_stopping must be >= 1 or None, found {self.early_stopping!r}")
        if not self.lr > 0:
            raise DataError(f"lr must be > 0, found {self.lr!r}")
        if not 0.0 <= self.dropout < 1.0:
            raise DataError(f"dropout must be in [0, 1), found {self.dropout!r}")
        self._loss_fn(None)  # validates the loss name and its parameters

    def _loss_fn(self, generator: torch.Generator | None) -> Any:
        fn = get_loss(self.loss)
        params = dict(self.loss_params or {})
        accepted = inspect.signature(fn).parameters
        valid = [k for k in list(accepted)[3:] if k != "generator"]
        unknown = [k for k in params if k not in valid]
        if unknown:
            raise DataError(
                f"loss {self.loss!r} has no parameter(s) {unknown}; valid: {valid or 'none'}"
            )
        if "generator" in accepted:
            params["generator"] = generator
        return partial(fn, **params)

    def _architecture(self) -> dict[str, Any]:
        if self.model == "mlp":
            return {"hidden": [int(h) for h in self.hidden], "dropout": float(self.dropout)}
        return {
            "d_model": int(self.d_model),
            "n_heads": int(self.n_heads),
            "n_layers": int(self.n_layers),
            "dim_feedforward": int(self.dim_feedforward),
            "dropout": float(self.dropout),
        }

    def _build(self, n_features: int) -> nn.Module:
        return build_scorer(self.model, n_features, **self._architecture())

    def _make_optimizer(self, module: nn.Module) -> torch.optim.Optimizer:
        params = module.parameters()
        if self.optimizer == "adam":
            return torch.optim.Adam(params, lr=self.lr, weight_decay=self.weight_decay)
        if self.optimizer == "adamw":
            return torch.optim.AdamW(params, lr=self.lr, weight_decay=self.weight_decay)
        return torch.optim.SGD(params, lr=self.lr, weight_decay=self.weight_decay)

    # ------------------------------------------------------------------ fit
    def fit(
        self, train: LetorData, valid: LetorData | None = None, *, resume: bool = False
    ) -> NeuralRanker:
        """Train on ``train``; with ``valid``, early-stop and keep the best epoch by nDCG@10.

        With ``resume=True`` and a checkpoint in ``checkpoint_dir``, training continues from
        the last completed epoch exactly as if it had never stopped (without a checkpoint
        it starts afresh). The data must be the same as in the interrupted run.
        """
        if not isinstance(train, LetorData):
            raise DataError(f"fit: expected LetorData for train, found {type(train).__name__}")
        if valid is not None and not isinstance(valid, LetorData):
            raise DataError(f"fit: expected LetorData for valid, found {type(valid).__name__}")
        self._check_params()
        if train.run.n_queries == 0 or len(train) == 0:
            raise DataError("fit: the training set has no documents")
        if valid is not None and len(valid) == 0:
            raise DataError("fit: the validation set has no documents; pass valid=None")
        names = tuple(train.run.feature_names)
        ckpt_dir = None if self.checkpoint_dir is None else Path(self.checkpoint_dir)
        checkpoint = None
        if resume:
            if ckpt_dir is None:
                raise DataError("fit(resume=True) needs checkpoint_dir")
            if (ckpt_dir / "checkpoint.json").is_file():
                checkpoint = load_checkpoint(ckpt_dir)
                self._check_resumable(checkpoint[0]["meta"], train)
            else:
                logger.info("no checkpoint in %s: training from the start", ckpt_dir)

        with torch_threads(self.n_threads), torch.random.fork_rng(devices=[]):
            torch.manual_seed(int(self.seed))
            normalizer = FeatureNormalizer.from_spec(self.normalize).fit(train.run)
            packed = pack_lists(
                train.features,
                train.run.offsets,
                train.labels,
                transform=normalizer.transform_matrix,
            )
            logger.info(
                "packed %d queries in %d length buckets (%.1f%% padding)",
                packed.n_queries,
                len(packed.buckets),
                100.0 * (1 - packed.n_rows / max(packed.padded_size, 1)),
            )
            module = self._build(len(names))
            optimizer = self._make_optimizer(module)
            rngs = RNGs.seeded(int(self.seed))
            loss_fn = self._loss_fn(rngs.loss)
            state: TrainState | None = None
            if checkpoint is not None:
                state = restore_checkpoint(
                    *checkpoint, model=module, optimizer=optimizer, rngs=rngs
                )
                logger.info("resuming from %s after epoch %d", ckpt_dir, state.epoch)
            validate = None
            if valid is not None:
                validate = self._validator(module, normalizer, valid, names)
            on_epoch_end = None
            if ckpt_dir is not None:
                meta = {
                    "params": _jsonable_params(self.get_params()),
                    "feature_names": list(names),
                    "fingerprint": _fingerprint(train),
                }
                folder = ckpt_dir

                def on_epoch_end(s: TrainState) -> None:
                    save_checkpoint(
                        folder, model=module, optimizer=optimizer, state=s, rngs=rngs, meta=meta
                    )

            config = LoopConfig(
                epochs=int(self.epochs),
                batch_size=int(self.batch_size),
                max_list_len=self.max_list_len,
                clip_grad_norm=self.clip_grad_norm,
                patience=self.early_stopping if valid is not None else None,
                measure=VALID_MEASURE,
                progress=bool(self.progress),
            )
            logger.info(
                "training a %s scorer (%d parameters) with %s on %d queries",
                self.model,
                n_parameters(module),
                self.loss,
                packed.n_queries,
            )
            state = train_loop(
                module,
                optimizer,
                loss_fn,
                packed,
                config,
                rngs,
                state=state,
                validate=validate,
                on_epoch_end=on_epoch_end,
            )
            if state.best_weights is not None:
                module.load_state_dict(state.best_weights)
        module.eval()
        self.model_ = module
        self.normalizer_ = normalizer
        self.feature_names_ = names
        self.history_ = state.history
        self.best_epoch_ = state.best_epoch if state.best_weights is not None else state.epoch
        self.best_score_ = state.best_score
        return self

    def _validator(
        self,
        module: nn.Module,
        normalizer: FeatureNormalizer,
        valid: LetorData,
        names: tuple[str, ...],
    ) -> Any:
        from rankstack.evaluate import evaluate

        feats = align_features(valid.run, names)
        normalizer.check(feats, source="the validation data")
        packed = pack_lists(feats, valid.run.offsets, transform=normalizer.transform_matrix)
        qrels = valid.qrels
        run = valid.run

        def validate() -> float:
            scores = predict_packed(module, packed).astype(np.float64)
            return evaluate(run.with_scores(scores), qrels, [VALID_MEASURE])[VALID_MEASURE]

        return validate

    def _check_resumable(self, meta: Mapping[str, Any], train: LetorData) -> None:
        saved = meta.get("params", {})
        mine = _jsonable_params(self.get_params())
        differ = sorted(k for k in mine if k not in _RESUMABLE and saved.get(k) != mine[k])
        if differ:
            raise CheckpointError(
                "the checkpoint was written with other parameters: "
                + ", ".join(f"{k}={saved.get(k)!r} (now {mine[k]!r})" for k in differ)
            )
        if meta.get("fingerprint") != _fingerprint(train):
            raise CheckpointError(
                "the checkpoint was written for other training data (features, labels or "
                "queries differ); resume with the same training set"
            )

    @classmethod
    def resume(
        cls,
        checkpoint_dir: str | os.PathLike[str],
        train: LetorData,
        valid: LetorData | None = None,
        **overrides: Any,
    ) -> NeuralRanker:
        """Continue the run checkpointed in ``checkpoint_dir`` and return the fitted ranker.

        The parameters come from the checkpoint; ``overrides`` may change ``epochs`` (to
        train longer), ``early_stopping``, ``progress`` and ``n_threads``.
        """
        config = read_checkpoint_config(Path(checkpoint_dir))
        params = _params_from_json(dict(config["meta"].get("params", {})))
        bad = sorted(set(overrides) - _RESUMABLE)
        if bad:
            raise DataError(
                f"resume: parameter(s) {bad} cannot change when resuming; "
                f"allowed: {sorted(_RESUMABLE)}"
            )
        params.update(overrides)
        params["checkpoint_dir"] = os.fspath(checkpoint_dir)
        ranker = cls(**params)
        return ranker.fit(train, valid, resume=True)

    # ------------------------------------------------------------------ predict
    def _predict(self, features: np.ndarray, run: Run) -> np.ndarray:
        if self.model_ is None or self.normalizer_ is None:
            self.check_fitted()
            raise DataError("this NeuralRanker has no trained scorer")
        self.normalizer_.check(features, source=str(run.metadata.get("source", "the run")))
        with torch_threads(self.n_threads):
            packed = pack_lists(features, run.offsets, transform=self.normalizer_.transform_matrix)
            return predict_packed(self.model_, packed).astype(np.float64)

    def predict_packed(self, packed: PackedLists) -> np.ndarray:
        """Scores of an already packed (and normalised) set, in its row order."""
        if self.model_ is None:
            self.check_fitted()
            raise DataError("this NeuralRanker has no trained scorer")
        with torch_threads(self.n_threads):
            return predict_packed(self.model_, packed).astype(np.float64)

    # ------------------------------------------------------------------ persistence
    def _save(self, folder: Path) -> dict[str, Any]:
        if self.model_ is None or self.normalizer_ is None:
            raise DataError("this NeuralRanker has no trained scorer to save")
        state = {k: v.detach().contiguous().clone() for k, v in self.model_.state_dict().items()}
        write_bytes(folder / WEIGHTS_NAME, st_save(state, metadata={"format": "rankstack-neural"}))
        write_bytes(folder / PREPROCESSING_NAME, json.dumps(self.normalizer_.to_dict()).encode())
        return {
            "architecture": {"model": self.model, **self._architecture()},
            "n_features": len(self.feature_names_ or ()),
            "weights": WEIGHTS_NAME,
            "preprocessing_file": PREPROCESSING_NAME,
            "history": self.history_ or [],
            "best_epoch": self.best_epoch_,
            "best_score": self.best_score_,
        }

    @classmethod
    def _load(cls, folder: Path, config: dict[str, Any]) -> NeuralRanker:
        for key in ("architecture", "n_features", "weights", "preprocessing_file"):
            if key not in config:
                raise ModelFormatError(f"{folder}: model.json lacks {key!r}")
        ranker = cls(**_params_from_json(dict(config["params"])))
        n_features = int(config["n_features"])
        if n_features != len(config["feature_names"]):
            raise ModelFormatError(
                f"{folder}: n_features {n_features} but {len(config['feature_names'])} names"
            )
        arch = dict(config["architecture"])
        try:
            module = build_scorer(str(arch.pop("model")), n_features, **arch)
        except (DataError, TypeError, KeyError) as exc:
            raise ModelFormatError(f"{folder}: bad architecture in model.json ({exc})") from exc
        path = folder / str(config["weights"])
        try:
            tensors = st_load(path.read_bytes())
        except (OSError, SafetensorError) as exc:
            raise ModelFormatError(f"{path}: cannot read the weights ({exc})") from exc
        _load_weights(module, tensors, path)
        module.eval()
        pre = folder / str(config["preprocessing_file"])
        try:
            normalizer = FeatureNormalizer.from_dict(json.loads(pre.read_text(encoding="utf-8")))
        except (OSError, json.JSONDecodeError, UnicodeDecodeError, DataError) as exc:
            raise ModelFormatError(f"{pre}: cannot read the feature normaliser ({exc})") from exc
        ranker.model_ = module
        ranker.normalizer_ = normalizer
        ranker.history_ = list(config.get("history", []))
        ranker.best_epoch_ = config.get("best_epoch")
        ranker.best_score_ = config.get("best_score")
        return ranker


def _load_weights(module: nn.Module, tensors: Mapping[str, Tensor], path: Path) -> None:
    """Load a state dict, failing with :class:`ModelFormatError` on any mismatch."""
    expected = module.state_dict()
    missing = sorted(set(expected) - set(tensors))
    extra = sorted(set(tensors) - set(expected))
    if missing or extra:
        raise ModelFormatError(
            f"{path}: the weights do not match the architecture (missing {missing[:5]}, "
            f"unexpected {extra[:5]})"
        )
    for name, tensor in tensors.items():
        want = expected[name]
        if tensor.shape != want.shape or tensor.dtype != want.dtype:
            raise ModelFormatError(
                f"{path}: weight {name!r} has shape {tuple(tensor.shape)} {tensor.dtype}, the "
                f"architecture needs {tuple(want.shape)} {want.dtype}"
            )
    module.load_state_dict(dict(tensors), strict=True)


def _jsonable_params(params: Mapping[str, Any]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for k, v in params.items():
        if isinstance(v, tuple):
            v = list(v)
        elif isinstance(v, Mapping):
            v = dict(v)
        elif isinstance(v, os.PathLike):
            v = os.fspath(v)
        out[k] = v
    return out


def _params_from_json(params: dict[str, Any]) -> dict[str, Any]:
    """Constructor parameters from ``model.json`` (lists back to tuples; unknown keys dropped)."""
    valid = inspect.signature(NeuralRanker.__init__).parameters
    unknown = sorted(set(params) - set(valid))
    if unknown:
        raise ModelFormatError(f"model.json has unknown NeuralRanker parameter(s) {unknown}")
    if isinstance(params.get("hidden"), list):
        params["hidden"] = tuple(params["hidden"])
    return params


def _fingerprint(data: LetorData) -> str:
    """A digest of a training set (features, labels, query sizes, feature names)."""
    h = hashlib.blake2b(digest_size=16)
    h.update(repr(tuple(data.run.feature_names)).encode())
    for arr in (data.run.sizes, data.labels, data.features):
        h.update(np.ascontiguousarray(arr).view(np.uint8).reshape(-1).data)
    return h.hexdigest()


__all__ = ["NeuralRanker"]
