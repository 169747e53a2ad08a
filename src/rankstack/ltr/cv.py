"""Cross-validation over the standard LETOR folds: train, early-stop on vali, test.

For each fold k the model is trained on ``foldk/train``, early-stopped on ``foldk/vali``
(the validation set is used for nothing else) and evaluated on ``foldk/test``; the report
gives each fold's values and their mean and standard deviation over folds. This is LETOR's
protocol (Qin and Liu, "Introducing LETOR 4.0 Datasets", arXiv:1306.2597): the test folds
never influence training or model selection.

Measures use trec_eval's definitions (:func:`rankstack.evaluate.evaluate`; names
``nDCG@10``, ``AP``...) and, with ``letor_eval=True``, also LETOR 4.0's
(:mod:`rankstack.ltr.letor_eval`; names ``LETOR:NDCG@10``, ``LETOR:MAP``...).

A dataset is a registry name with fold splits (``letor/mq2008``) or a folder in LETOR's
layout (``Fold1/train.txt``, ``Fold1/vali.txt``, ``Fold1/test.txt``, optionally gzipped).
"""

from __future__ import annotations

import inspect
import logging
import re
import time
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from rankstack.exceptions import DataError, DatasetNotFoundError
from rankstack.io.letor import LetorData, read_letor
from rankstack.ltr.base import Ranker, make_ranker
from rankstack.ltr.config import DEFAULT_MEASURES
from rankstack.ltr.letor_eval import LETOR_MEASURES, letor_evaluate, prefixed

logger = logging.getLogger(__name__)

#: ``on_fold(fold_number, values)`` after each fold
FoldCallback = Callable[[int, dict[str, float]], None]


@dataclass(frozen=True)
class CVResult:
    """Per-fold values and their mean and standard deviation (sample, ``ddof=1``)."""

    dataset: str
    model: str
    params: dict[str, Any]
    measures: tuple[str, ...]
    folds: tuple[dict[str, float], ...]
    mean: dict[str, float] = field(default_factory=dict)
    std: dict[str, float] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        """``{"folds": [{"fold": 1, "nDCG@10": ...}, ...], "mean": {...}, "std": {...}}``."""
        return {
            "dataset": self.dataset,
            "model": self.model,
            "params": dict(self.params),
            "measures": list(self.measures),
            "folds": [dict(f) for f in self.folds],
            "mean": dict(self.mean),
            "std": dict(self.std),
        }


def parse_folds(text: str | Sequence[int] | None, available: Sequence[int]) -> list[int]:
    """Fold numbers from ``"1-5"``, ``"1,3,5"``, ``"2"`` or a list; default: all available."""
    if text is None:
        return list(available)
    if isinstance(text, str):
        out: list[int] = []
        for part in text.replace(" ", "").split(","):
            m = re.fullmatch(r"(\d+)(?:-(\d+))?", part)
            if m is None:
                raise DataError(f"folds: expected e.g. '1-5' or '1,3', found {text!r}")
            lo, hi = int(m.group(1)), int(m.group(2) or m.group(1))
            if hi < lo:
                raise DataError(f"folds: empty range {part!r}")
            out.extend(range(lo, hi + 1))
        folds = list(dict.fromkeys(out))
    else:
        folds = [int(f) for f in text]
    missing = [f for f in folds if f not in available]
    if missing or not folds:
        raise DataError(
            f"folds {missing or folds} are not available; the dataset has {list(available)}"
        )
    return folds


class FoldSource:
    """The folds of a registry dataset or of a LETOR-layout folder."""

    def __init__(self, dataset: str) -> None:
        self.dataset = dataset
        self._folder: Path | None = None
        path = Path(dataset).expanduser()
        try:
            from rankstack import datasets

            ds = datasets.load(dataset)
        except DatasetNotFoundError:
            if not path.is_dir():
                raise
            self._folder = path
            found = [
                int(m.group(1))
                for p in path.iterdir()
                if p.is_dir() and (m := re.fullmatch(r"fold(\d+)", p.name.lower()))
            ]
            self.folds = sorted(found)
        else:
            if ds.kind != "letor":
                raise DataError(
                    f"{dataset!r} is a {ds.kind} dataset; cross-validation needs LETOR folds"
                )
            numbers = {
                int(m.group(1))
                for s in ds.entry.splits
                if (m := re.fullmatch(r"fold(\d+)/(train|vali|test)", s))
            }
            self.folds = sorted(numbers)
            self._ds = ds
        if not self.folds:
            raise DataError(f"{dataset!r} has no folds (expected fold1/train, fold1/vali, ...)")

    def load(self, fold: int, split: str) -> LetorData:
        """``split`` (``train``, ``vali`` or ``test``) of fold ``fold``."""
        if self._folder is None:
            return self._ds.letor(f"fold{fold}/{split}")
        folder = next(
            p for p in self._folder.iterdir() if p.is_dir() and p.name.lower() == f"fold{fold}"
        )
        for name in (f"{split}.txt", f"{split}.txt.gz", split):
            if (folder / name).is_file():
                return read_letor(folder / name)
        raise DatasetNotFoundError(f"{folder}: no {split}.txt (or .txt.gz) in this fold")


def evaluate_scores(
    data: LetorData,
    scores: np.ndarray,
    measures: Iterable[str] = DEFAULT_MEASURES,
    *,
    letor_eval: bool = False,
) -> dict[str, float]:
    """trec_eval measures of ``scores`` (aligned with ``data``'s rows), and LETOR's if asked."""
    from rankstack.evaluate import evaluate

    values = evaluate(data.run.with_scores(scores), data.qrels, list(measures))
    if letor_eval:
        values.update(prefixed(letor_evaluate(scores, data.labels, data.run.offsets)))
    return values


def fit_model(
    model: Ranker,
    train: LetorData,
    valid: LetorData | None,
    progress: Callable[[int, dict[str, float]], None] | None = None,
) -> Ranker:
    """``model.fit(train, valid)``, passing ``progress`` when the model's ``fit`` takes it."""
    fitter: Any = model  # the fit protocol is documented on Ranker, not declared
    if progress is not None and "progress" in inspect.signature(fitter.fit).parameters:
        fitter.fit(train, valid, progress=progress)
    else:
        fitter.fit(train, valid)
    return model


def cross_validate(
    dataset: str = "letor/mq2008",
    model: str = "lambdamart",
    params: Mapping[str, Any] | None = None,
    *,
    folds: str | Sequence[int] | None = None,
    measures: Sequence[str] = DEFAULT_MEASURES,
    letor_eval: bool = False,
    on_fold: FoldCallback | None = None,
    progress: Callable[[int, dict[str, float]], None] | None = None,
) -> CVResult:
    """Train and evaluate ``model`` on each fold; see the module docstring for the protocol.

    Parameters
    ----------
    dataset:
        Registry name (``letor/mq2008``) or a folder with ``Fold1``... subfolders.
    model, params:
        Registry kind and parameters for :func:`~rankstack.ltr.base.make_ranker`
        (``"neural"`` with ``{"loss": "lambdaloss"}``, ...).
    folds:
        Fold numbers (``"1-5"``, ``[1, 2]``); default all.
    measures:
        trec_eval measure names; ``letor_eval`` adds LETOR 4.0's NDCG@1,3,5,10 and MAP.
    on_fold, progress:
        Called after each fold with its values, and after each training round.
    """
    params = dict(params or {})
    make_ranker(model, **params)  # fail on a bad parameter before loading anything
    source = FoldSource(dataset)
    chosen = parse_folds(folds, source.folds)
    names = list(measures) + ([f"LETOR:{m}" for m in LETOR_MEASURES] if letor_eval else [])
    rows: list[dict[str, float]] = []
    for k in chosen:
        train, valid, test = (source.load(k, s) for s in ("train", "vali", "test"))
        ranker = make_ranker(model, **params)
        start = time.perf_counter()
        fit_model(ranker, train, valid, progress)
        seconds = time.perf_counter() - start
        values = evaluate_scores(test, ranker.predict(test.run), measures, letor_eval=letor_eval)
        row: dict[str, Any] = {"fold": k, **{n: values[n] for n in names}}
        row["train_seconds"] = round(seconds, 3)
        best = getattr(ranker, "best_iteration_", None)
        if best is not None:
            row["best_iteration"] = int(best)
        rows.append(row)
        logger.info("fold %d: %s", k, {n: round(values[n], 4) for n in names})
        if on_fold is not None:
            on_fold(k, {n: values[n] for n in names})
    table = np.array([[r[n] for n in names] for r in rows], dtype=np.float64)
    mean = table.mean(axis=0)
    std = table.std(axis=0, ddof=1) if len(rows) > 1 else np.zeros(len(names))
    return CVResult(
        dataset=dataset,
        model=model,
        params=params,
        measures=tuple(names),
        folds=tuple(rows),
        mean={n: float(v) for n, v in zip(names, mean)},
        std={n: float(v) for n, v in zip(names, std)},
    )
