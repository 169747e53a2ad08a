"""Training machinery of the neural rankers: padded packing, the epoch loop, checkpoints.

Packing (:func:`pack_lists`)
    Queries are grouped once, up front, into *buckets* of similar list length (lengths within a
    factor ``growth`` or ``slack`` documents of the bucket's shortest), and each bucket is held
    as padded tensors ``[queries, length, features]`` with a mask. A training batch is then a
    row gather from one bucket, cut to its longest list: nothing is re-padded per batch, and
    padding stays within about 25 % of the real documents however skewed the lengths are.
    Building a bucket is numpy fancy indexing; there is no loop over documents.

Epochs (:func:`train_loop`)
    Each epoch shuffles the queries of every bucket and the order of all batches with a seeded
    :class:`torch.Generator`, so the same seed gives the same batches. Lists longer than
    ``max_list_len`` are sub-sampled to that many documents, afresh in every epoch (a uniform
    random subset, as allRank's ``FixLength``). After each epoch the validation measure is
    computed (by the caller: nDCG@10 with :func:`rankstack.evaluate.evaluate`), early stopping
    counts epochs without a strict improvement, and a checkpoint is written.

Checkpoints (:func:`save_checkpoint`, :func:`load_checkpoint`)
    ``checkpoint.json`` (epoch, history, early-stopping state, optimizer hyper-parameters,
    the caller's metadata) plus one ``epoch-NNNN.safetensors`` with the model and optimizer
    state tensors, the best weights so far and the three RNG states (torch's global generator,
    which drives dropout, the shuffling generator and the loss generator). The tensors are
    written first and the JSON, which names them, is renamed into place last, so a crash
    leaves the previous checkpoint intact. Never pickle. Restoring all of it makes a resumed
    run continue bit-identically to an uninterrupted one on CPU.
"""

from __future__ import annotations

import json
import logging
import math
import time
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any, cast

import numpy as np
import torch
from safetensors import SafetensorError
from safetensors.torch import load as st_load
from safetensors.torch import save as st_save
from torch import Tensor, nn

from rankstack.exceptions import DataError, IndexFormatError
from rankstack.io._files import atomic_write, read_versioned_json

logger = logging.getLogger(__name__)

CHECKPOINT_FORMAT_VERSION = 1
CHECKPOINT_NAME = "checkpoint.json"

Transform = Callable[[np.ndarray, np.ndarray], np.ndarray]
"""``(features[rows, F], offsets) -> features``: a per-bucket feature transform."""


class CheckpointError(IndexFormatError):
    """A checkpoint folder is missing, truncated, foreign or of another format version."""


# ---------------------------------------------------------------------------------- packing
@dataclass(frozen=True, eq=False)
class Bucket:
    """Queries of similar length as padded tensors.

    Attributes
    ----------
    features : float32 ``[queries, length, features]``, 0 at padding
    labels : float32 ``[queries, length]`` (0 at padding), or None for prediction
    mask : bool ``[queries, length]``, True at real documents
    lengths : int64 ``[queries]`` real documents per query
    rows : int64 ``[queries, length]`` source row of each position, -1 at padding
    """

    features: Tensor
    labels: Tensor | None
    mask: Tensor
    lengths: Tensor
    rows: np.ndarray

    @property
    def n_queries(self) -> int:
        return int(self.lengths.shape[0])


@dataclass(frozen=True, eq=False)
class PackedLists:
    """A whole data set as length buckets; built once by :func:`pack_lists`."""

    buckets: tuple[Bucket, ...]
    n_rows: int
    n_features: int

    @property
    def n_queries(self) -> int:
        return sum(b.n_queries for b in self.buckets)

    @property
    def padded_size(self) -> int:
        """Positions held, padding included (``sum(queries x length)``)."""
        return sum(int(b.mask.numel()) for b in self.buckets)


def plan_buckets(sizes: np.ndarray, *, growth: float = 1.25, slack: int = 8) -> list[np.ndarray]:
    """Query indices of each bucket, by increasing length (queries without documents dropped).

    A bucket starting at length ``s`` takes every query of length ``<= max(s * growth, s +
    slack)``, so padding is bounded by ``growth`` (and by ``slack`` documents for short lists).
    """
    sizes = np.asarray(sizes, dtype=np.int64)
    order = np.argsort(sizes, kind="stable")
    order = order[sizes[order] > 0]
    if len(order) == 0:
        return []
    sorted_sizes = sizes[order]
    buckets = []
    start = 0
    while start < len(order):
        first = int(sorted_sizes[start])
        cap = max(first * growth, first + slack)
        stop = int(np.searchsorted(sorted_sizes, cap, side="right"))
        buckets.append(order[start:stop])
        start = stop
    return buckets


def pack_lists(
    features: np.ndarray,
    offsets: np.ndarray,
    labels: np.ndarray | None = None,
    *,
    transform: Transform | None = None,
    growth: float = 1.25,
    slack: int = 8,
    chunk_rows: int = 1 << 16,
) -> PackedLists:
    """Pad query-grouped rows into length buckets (see the module docstring).

    Parameters
    ----------
    features:
        ``[rows, F]`` feature matrix, rows grouped by query.
    offsets:
        Query offsets (``len = queries + 1``), as :attr:`rankstack.data.Run.offsets`.
    labels:
        One graded label per row (training), or None (prediction).
    transform:
        Applied to the rows of each bucket with the bucket's own query offsets before padding
        (a fitted feature normaliser), so no full-size normalised copy is ever held.
    growth, slack:
        Bucket widths (see :func:`plan_buckets`).
    chunk_rows:
        Rows gathered and transformed at a time (whole queries), bounding the temporaries.

    Raises
    ------
    DataError
        On NaN or infinite features (after ``transform``) or labels, or negative labels.
    """
    offsets = np.asarray(offsets, dtype=np.int64)
    sizes = np.diff(offsets)
    n_features = int(features.shape[1])
    if labels is not None:
        bad = ~np.isfinite(labels) | (labels < 0)
        if bad.any():
            r = int(np.flatnonzero(bad)[0])
            raise DataError(
                f"labels must be finite and >= 0; row {r} has {labels[r]!r} "
                f"({int(bad.sum())} bad labels in all)"
            )
    buckets = []
    for qs in plan_buckets(sizes, growth=growth, slack=slack):
        n = sizes[qs]
        length = int(n.max())
        pos = np.arange(length, dtype=np.int64)
        mask = pos[None, :] < n[:, None]
        rows = np.where(mask, offsets[qs][:, None] + pos[None, :], -1)
        x = torch.zeros((len(qs), length, n_features), dtype=torch.float32)
        y = None if labels is None else torch.zeros((len(qs), length), dtype=torch.float32)
        # whole queries at a time, about chunk_rows rows, to bound the temporaries
        step = max(1, chunk_rows // length)
        for lo in range(0, len(qs), step):
            part = slice(lo, lo + step)
            flat = rows[part][mask[part]]
            src = features[flat]
            if transform is not None:
                src = transform(src, np.concatenate([[0], np.cumsum(n[part])]))
            src = np.asarray(src, dtype=np.float32)
            finite = np.isfinite(src).all(axis=1)
            if not finite.all():
                bad_rows = flat[~finite]
                raise DataError(
                    f"{len(bad_rows)} rows have NaN or infinite features"
                    f"{' after normalisation' if transform is not None else ''} (first: row "
                    f"{int(bad_rows[0])}); clean the data or choose another normalisation"
                )
            x.numpy()[part][mask[part]] = src
            if y is not None and labels is not None:
                y.numpy()[part][mask[part]] = labels[flat]
        buckets.append(
            Bucket(
                features=x,
                labels=y,
                mask=torch.from_numpy(mask),
                lengths=torch.from_numpy(n.astype(np.int64)),
                rows=rows,
            )
        )
    return PackedLists(tuple(buckets), n_rows=int(offsets[-1]), n_features=n_features)


def epoch_batches(
    packed: PackedLists, batch_size: int, generator: torch.Generator
) -> list[tuple[int, Tensor]]:
    """``(bucket, query indices)`` of every batch of one epoch, shuffled with ``generator``."""
    batches: list[tuple[int, Tensor]] = []
    for b, bucket in enumerate(packed.buckets):
        perm = torch.randperm(bucket.n_queries, generator=generator)
        batches.extend((b, chunk) for chunk in torch.split(perm, batch_size))
    order = torch.randperm(len(batches), generator=generator).tolist()
    return [batches[i] for i in order]


def take_batch(
    bucket: Bucket,
    idx: Tensor,
    *,
    max_list_len: int | None = None,
    generator: torch.Generator | None = None,
) -> tuple[Tensor, Tensor, Tensor]:
    """``(x, y, mask)`` of the queries ``idx`` of a bucket, cut to their longest list.

    With ``max_list_len``, longer lists keep a uniform random subset of that many documents
    (in their original order).
    """
    if bucket.labels is None:
        raise DataError("this packed set has no labels; it was packed for prediction")
    length = int(bucket.lengths[idx].max())
    x = bucket.features[idx, :length]
    y = bucket.labels[idx, :length]
    m = bucket.mask[idx, :length]
    if max_list_len is not None and length > max_list_len:
        keys = torch.rand(m.shape, generator=generator).masked_fill(~m, 2.0)
        keep = keys.argsort(dim=1)[:, :max_list_len].sort(dim=1).values
        x = x.gather(1, keep[:, :, None].expand(-1, -1, x.shape[2]))
        y = y.gather(1, keep)
        m = m.gather(1, keep)
    return x, y, m


def predict_packed(
    model: nn.Module, packed: PackedLists, *, max_docs: int = 1 << 16, max_pairs: int = 1 << 23
) -> np.ndarray:
    """Scores of every row (float32, source row order) under ``torch.inference_mode``.

    Each bucket is scored in chunks of at most ``max_docs`` documents and ``max_pairs``
    document pairs (attention) per forward pass.
    """
    out = np.zeros(packed.n_rows, dtype=np.float32)
    was_training = model.training
    model.eval()
    try:
        with torch.inference_mode():
            for bucket in packed.buckets:
                length = int(bucket.mask.shape[1])
                step = max(1, min(max_docs // length, max_pairs // (length * length)))
                for lo in range(0, bucket.n_queries, step):
                    hi = min(lo + step, bucket.n_queries)
                    m = bucket.mask[lo:hi]
                    scores = model(bucket.features[lo:hi], m)
                    m_np = m.numpy()
                    out[bucket.rows[lo:hi][m_np]] = scores.numpy()[m_np]
    finally:
        model.train(was_training)
    return out


# ---------------------------------------------------------------------------------- loop
@dataclass
class TrainState:
    """Everything about a run's progress that a checkpoint must carry besides tensors."""

    epoch: int = 0
    history: list[dict[str, Any]] = field(default_factory=list)
    best_epoch: int | None = None
    best_score: float | None = None
    bad_epochs: int = 0
    stopped: bool = False
    best_weights: dict[str, Tensor] | None = None

    def observe(self, score: float, module: nn.Module, patience: int | None) -> None:
        """Record this epoch's validation score: keep the best weights, count bad epochs
        and stop after ``patience`` epochs without a strict improvement."""
        if self.best_score is None or score > self.best_score:
            self.best_score, self.best_epoch, self.bad_epochs = score, self.epoch, 0
            self.best_weights = {k: v.detach().clone() for k, v in module.state_dict().items()}
        else:
            self.bad_epochs += 1
        if patience is not None and self.bad_epochs >= patience:
            self.stopped = True

    def to_json(self) -> dict[str, Any]:
        return {
            "epoch": self.epoch,
            "history": self.history,
            "best_epoch": self.best_epoch,
            "best_score": self.best_score,
            "bad_epochs": self.bad_epochs,
            "stopped": self.stopped,
        }


@dataclass
class LoopConfig:
    """Settings of :func:`train_loop`."""

    epochs: int
    batch_size: int
    max_list_len: int | None = None
    clip_grad_norm: float | None = None
    patience: int | None = None
    measure: str = "nDCG@10"
    progress: bool = False


@dataclass
class RNGs:
    """The generators of a run: shuffling/sub-sampling and loss sampling (global = dropout)."""

    shuffle: torch.Generator
    loss: torch.Generator

    @classmethod
    def seeded(cls, seed: int) -> RNGs:
        # distinct streams derived from one seed
        return cls(
            shuffle=torch.Generator().manual_seed(seed * 2 + 1),
            loss=torch.Generator().manual_seed(seed * 2 + 2),
        )


def train_loop(
    model: nn.Module,
    optimizer: torch.optim.Optimizer,
    loss_fn: Callable[[Tensor, Tensor, Tensor], Tensor],
    packed: PackedLists,
    config: LoopConfig,
    rngs: RNGs,
    *,
    state: TrainState | None = None,
    validate: Callable[[], float] | None = None,
    on_epoch_end: Callable[[TrainState], None] | None = None,
) -> TrainState:
    """Train ``model`` for the remaining epochs of ``state`` and return the final state.

    ``validate`` returns the validation measure (higher is better) after an epoch; the best
    epoch's weights are kept in ``state.best_weights`` (not loaded into the model: the caller
    decides). ``on_epoch_end`` runs after each epoch (checkpointing).
    """
    state = state or TrainState()
    with _progress(config, state) as advance:
        while state.epoch < config.epochs and not state.stopped:
            started = time.perf_counter()
            model.train()
            total, n_batches = 0.0, 0
            for b, idx in epoch_batches(packed, config.batch_size, rngs.shuffle):
                x, y, m = take_batch(
                    packed.buckets[b], idx, max_list_len=config.max_list_len, generator=rngs.shuffle
                )
                loss = loss_fn(model(x, m), y, m)
                value = float(loss.detach())
                if not math.isfinite(value):
                    raise DataError(
                        f"the training loss became {value} in epoch {state.epoch + 1}; lower "
                        "the learning rate, clip gradients or normalise the features"
                    )
                optimizer.zero_grad(set_to_none=True)
                loss.backward()  # type: ignore[no-untyped-call]
                if config.clip_grad_norm is not None:
                    nn.utils.clip_grad_norm_(model.parameters(), config.clip_grad_norm)
                optimizer.step()
                total += value
                n_batches += 1
            state.epoch += 1
            record: dict[str, Any] = {
                "epoch": state.epoch,
                "loss": total / max(n_batches, 1),
                "train_seconds": time.perf_counter() - started,
            }
            if validate is not None:
                score = float(validate())
                record[config.measure] = score
                state.observe(score, model, config.patience)
            record["seconds"] = time.perf_counter() - started
            state.history.append(record)
            logger.info(
                "epoch %d: loss %.5f%s (%.2f s)",
                state.epoch,
                record["loss"],
                f", {config.measure} {record[config.measure]:.4f}" if validate else "",
                record["seconds"],
            )
            if on_epoch_end is not None:
                on_epoch_end(state)
            advance(record)
    if state.stopped:
        logger.info(
            "early stopping after epoch %d: best %s %.4f at epoch %s",
            state.epoch,
            config.measure,
            state.best_score or 0.0,
            state.best_epoch,
        )
    return state


@contextmanager
def _progress(config: LoopConfig, state: TrainState) -> Iterator[Callable[[dict[str, Any]], None]]:
    """A rich progress bar over epochs (or a no-op), yielding an ``advance(record)`` callback."""
    if not config.progress:
        yield lambda record: None
        return
    from rich.console import Console
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

    bar = Progress(
        TextColumn("epoch"),
        MofNCompleteColumn(),
        BarColumn(),
        TimeElapsedColumn(),
        TextColumn("loss {task.fields[loss]}  {task.fields[measure]} {task.fields[valid]}"),
        console=Console(stderr=True),
    )
    with bar:
        task = bar.add_task(
            "train",
            total=config.epochs,
            completed=state.epoch,
            loss="-",
            measure=config.measure,
            valid="-",
        )

        def advance(record: dict[str, Any]) -> None:
            valid = record.get(config.measure)
            bar.update(
                task,
                completed=record["epoch"],
                loss=f"{record['loss']:.4f}",
                valid="-" if valid is None else f"{valid:.4f}",
            )

        yield advance


# ---------------------------------------------------------------------------------- checkpoints
def save_checkpoint(
    folder: str | Path,
    *,
    model: nn.Module,
    optimizer: torch.optim.Optimizer,
    state: TrainState,
    rngs: RNGs,
    meta: Mapping[str, Any],
) -> Path:
    """Write the checkpoint of the current epoch into ``folder`` (atomically; see module doc).

    ``meta`` is the caller's JSON-serialisable description (for NeuralRanker: its
    parameters, the feature names and a digest of the training data), returned as
    ``config["meta"]`` on load.
    """
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    tensors: dict[str, Tensor] = {}
    for k, v in model.state_dict().items():
        tensors[f"model/{k}"] = v
    opt = optimizer.state_dict()
    scalars: dict[str, dict[str, Any]] = {}
    for pid, pstate in opt["state"].items():
        for key, value in pstate.items():
            if isinstance(value, Tensor):
                tensors[f"optim/{pid}/{key}"] = value
            else:
                scalars.setdefault(str(pid), {})[key] = value
    if state.best_weights is not None:
        for k, v in state.best_weights.items():
            tensors[f"best/{k}"] = v
    tensors["rng/global"] = torch.get_rng_state()
    tensors["rng/shuffle"] = rngs.shuffle.get_state()
    tensors["rng/loss"] = rngs.loss.get_state()
    blob = st_save({k: v.detach().contiguous().clone() for k, v in tensors.items()})
    name = f"epoch-{state.epoch:04d}.safetensors"
    write_bytes(folder / name, blob)
    config = {
        "format": "rankstack-checkpoint",
        "version": CHECKPOINT_FORMAT_VERSION,
        "tensors": name,
        "n_tensors": len(tensors),
        "state": state.to_json(),
        "optimizer": {"param_groups": opt["param_groups"], "scalars": scalars},
        "meta": dict(meta),
    }
    write_bytes(folder / CHECKPOINT_NAME, json.dumps(config, indent=1).encode())
    for old in folder.glob("epoch-*.safetensors"):
        if old.name != name:
            old.unlink(missing_ok=True)
    return folder


def read_checkpoint_config(folder: str | Path) -> dict[str, Any]:
    """The checked ``checkpoint.json`` of a checkpoint folder.

    Raises
    ------
    CheckpointError
        When the folder has no checkpoint, or one that is corrupt or of another version.
    """
    path = Path(folder) / CHECKPOINT_NAME
    if not path.is_file():
        raise CheckpointError(f"{folder}: no {CHECKPOINT_NAME}; nothing to resume from")
    return read_versioned_json(
        path,
        fmt="rankstack-checkpoint",
        version=CHECKPOINT_FORMAT_VERSION,
        keys=("tensors", "n_tensors", "state", "optimizer", "meta"),
        error=CheckpointError,
        what="checkpoint",
    )


def load_checkpoint(folder: str | Path) -> tuple[dict[str, Any], dict[str, Tensor]]:
    """``(config, tensors)`` of the checkpoint in ``folder``, checked for completeness."""
    config = read_checkpoint_config(folder)
    path = Path(folder) / str(config["tensors"])
    try:
        tensors = st_load(path.read_bytes())
    except (OSError, SafetensorError) as exc:
        raise CheckpointError(f"{path}: cannot read the checkpoint tensors ({exc})") from exc
    if len(tensors) != config["n_tensors"]:
        raise CheckpointError(
            f"{path}: {len(tensors)} tensors, the checkpoint lists {config['n_tensors']}"
        )
    return config, tensors


def restore_checkpoint(
    config: Mapping[str, Any],
    tensors: Mapping[str, Tensor],
    *,
    model: nn.Module,
    optimizer: torch.optim.Optimizer,
    rngs: RNGs,
) -> TrainState:
    """Load model, optimizer and RNG states from a checkpoint; return its :class:`TrainState`."""

    def part(prefix: str) -> dict[str, Tensor]:
        return {k[len(prefix) :]: v for k, v in tensors.items() if k.startswith(prefix)}

    try:
        model.load_state_dict(part("model/"), strict=True)
        opt_state: dict[int, dict[str, Any]] = {}
        for key, value in part("optim/").items():
            pid, name = key.split("/", 1)
            opt_state.setdefault(int(pid), {})[name] = value
        for pid, values in config["optimizer"]["scalars"].items():
            opt_state.setdefault(int(pid), {}).update(values)
        groups = [_tuples(dict(g)) for g in config["optimizer"]["param_groups"]]
        optimizer.load_state_dict({"state": opt_state, "param_groups": groups})
        torch.set_rng_state(tensors["rng/global"])
        rngs.shuffle.set_state(tensors["rng/shuffle"])
        rngs.loss.set_state(tensors["rng/loss"])
        s = config["state"]
        best = part("best/") or None
        return TrainState(
            epoch=int(s["epoch"]),
            history=list(s["history"]),
            best_epoch=s["best_epoch"],
            best_score=s["best_score"],
            bad_epochs=int(s["bad_epochs"]),
            stopped=bool(s["stopped"]),
            best_weights=best,
        )
    except (KeyError, ValueError, RuntimeError, TypeError) as exc:
        raise CheckpointError(
            f"the checkpoint does not fit this model or optimizer ({exc})"
        ) from exc


def _tuples(group: dict[str, Any]) -> dict[str, Any]:
    """JSON turned tuples (Adam's ``betas``) into lists; turn short float lists back."""
    for key, value in group.items():
        if key != "params" and isinstance(value, list) and all(isinstance(v, float) for v in value):
            group[key] = tuple(value)
    return group


def write_bytes(path: Path, data: bytes) -> None:
    """Write ``data`` to ``path`` atomically (temporary file, then rename)."""
    with atomic_write(path, "wb") as fh:
        cast("IO[bytes]", fh).write(data)


@contextmanager
def torch_threads(n: int | None) -> Iterator[None]:
    """Run with ``torch.set_num_threads(n)`` and restore the previous count afterwards."""
    if n is None:
        yield
        return
    if n < 1:
        raise DataError(f"n_threads must be >= 1 (or None), found {n}")
    before = torch.get_num_threads()
    torch.set_num_threads(int(n))
    try:
        yield
    finally:
        torch.set_num_threads(before)


__all__ = [
    "CHECKPOINT_FORMAT_VERSION",
    "Bucket",
    "CheckpointError",
    "LoopConfig",
    "PackedLists",
    "RNGs",
    "TrainState",
    "epoch_batches",
    "load_checkpoint",
    "pack_lists",
    "plan_buckets",
    "predict_packed",
    "read_checkpoint_config",
    "restore_checkpoint",
    "save_checkpoint",
    "take_batch",
    "torch_threads",
    "write_bytes",
]
