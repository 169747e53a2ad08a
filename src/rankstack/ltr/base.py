"""The estimator interface every learned ranker follows (scikit-learn conventions).

- ``__init__`` stores its keyword arguments under the same names and does nothing else;
- ``fit(train, valid=None)`` learns from a :class:`~rankstack.io.LetorData` (a run carrying
  a feature matrix plus one label per row) and returns ``self``; learned state ends in ``_``;
- ``predict(run)`` returns one float64 score per row of a run that carries the features the
  model was trained on (matched by name, see :func:`align_features`);
- ``transform(queries, run)`` (the :class:`~rankstack.pipeline.Stage` protocol) re-scores the
  run with ``predict`` and re-sorts it, so a ranker is a pipeline stage;
- ``save(path)`` writes a folder atomically (JSON config + safetensors or a LightGBM model
  text file; never pickle) and ``load(path)`` reads it back with identical predictions.
"""

from __future__ import annotations

import inspect
import json
import logging
import os
from collections.abc import Sequence
from pathlib import Path
from typing import Any, ClassVar

import numpy as np

from rankstack.data import Queries, Run
from rankstack.exceptions import (
    DataError,
    IndexFormatError,
    MissingFeaturesError,
    NotFittedError,
    RankstackError,
)
from rankstack.io._files import read_versioned_json, replace_folder
from rankstack.pipeline import Stage, require_run

logger = logging.getLogger(__name__)

MODEL_FORMAT_VERSION = 1
CONFIG_NAME = "model.json"


class ModelFormatError(IndexFormatError):
    """A saved model folder is truncated, foreign or of another format version."""


class Ranker(Stage):
    """Base class of learned rankers; subclasses implement ``_fit``/``_predict``/``_save``."""

    #: registry name written into saved models ("lambdamart", "neural", ...)
    kind: ClassVar[str] = "ranker"

    # ------------------------------------------------------------------ sklearn protocol
    # get_params / set_params: Stage's (the constructor's parameters, read back by name)
    def clone(self) -> Ranker:
        """An unfitted copy with the same parameters."""
        return type(self)(**self.get_params())

    @property
    def is_fitted(self) -> bool:
        return getattr(self, "feature_names_", None) is not None

    def check_fitted(self) -> None:
        if not self.is_fitted:
            raise NotFittedError(
                f"this {type(self).__name__} is not fitted yet: call fit(train) or load a "
                "saved model first"
            )

    # ------------------------------------------------------------------ prediction
    def predict(self, run: Run) -> np.ndarray:
        """One score per row of ``run`` (float64), in the run's row order."""
        self.check_fitted()
        feats = align_features(run, self.feature_names_ or ())
        if len(run) == 0:
            return np.zeros(0, dtype=np.float64)
        return np.asarray(self._predict(feats, run), dtype=np.float64)

    def transform(self, queries: Queries, run: Run | None = None) -> Run:
        run = require_run(self, run)
        return run.with_scores(self.predict(run))

    def _predict(self, features: np.ndarray, run: Run) -> np.ndarray:
        raise NotImplementedError

    feature_names_: tuple[str, ...] | None = None
    #: the folder a loaded model was read from (None for one fitted here); experiment caches
    #: key on its contents (rankstack.experiment.inputs)
    saved_from_: Path | None = None

    # ------------------------------------------------------------------ persistence
    def save(self, path: str | os.PathLike[str]) -> Path:
        """Write the fitted model to the folder ``path`` atomically; returns the path."""
        self.check_fitted()
        target = Path(path)
        with replace_folder(target) as tmp:
            extra = self._save(tmp) or {}
            config = {
                "format": "rankstack-model",
                "version": MODEL_FORMAT_VERSION,
                "kind": self.kind,
                "params": _jsonable(self.get_params()),
                "feature_names": list(self.feature_names_ or ()),
                **extra,
            }
            (tmp / CONFIG_NAME).write_text(json.dumps(config, indent=2), encoding="utf-8")
        return target

    def _save(self, folder: Path) -> dict[str, Any] | None:
        raise NotImplementedError

    @classmethod
    def _load(cls, folder: Path, config: dict[str, Any]) -> Ranker:
        raise NotImplementedError

    @classmethod
    def load(cls, path: str | os.PathLike[str]) -> Ranker:
        """Load a model saved by :meth:`save` (any kind when called on :class:`Ranker`)."""
        folder = Path(path)
        config = read_config(folder)
        kind = config["kind"]
        target = cls if cls.kind == kind else _RANKERS.get(kind)
        if target is None:
            raise ModelFormatError(
                f"{folder}: model kind {kind!r} is unknown; known kinds: {sorted(_RANKERS)}"
            )
        try:
            model = target._load(folder, config)
        except (KeyError, ValueError, OSError) as exc:
            if isinstance(exc, RankstackError):
                raise
            raise ModelFormatError(f"{folder}: the model files are corrupt ({exc})") from exc
        model.feature_names_ = tuple(config["feature_names"])
        model.saved_from_ = folder
        return model


_RANKERS: dict[str, type[Ranker]] = {}


def register_ranker(cls: type[Ranker]) -> type[Ranker]:
    """Class decorator: make ``Ranker.load`` and ``make_ranker`` know this kind."""
    _RANKERS[cls.kind] = cls
    return cls


def make_ranker(kind: str, **params: Any) -> Ranker:
    """A ranker by registry name (``lambdamart``, ``neural``...) with the given parameters."""
    _import_known()
    if kind not in _RANKERS:
        raise DataError(f"unknown model {kind!r}; choose from {sorted(_RANKERS)}")
    cls = _RANKERS[kind]
    valid = inspect.signature(cls.__init__).parameters
    for key in params:
        if key not in valid:
            raise DataError(f"model {kind!r} has no parameter {key!r}; valid: {sorted(valid)}")
    return cls(**params)


def _import_known() -> None:
    """Import the built-in ranker modules so they register (lazily: they need extras)."""
    import importlib

    for module in ("rankstack.ltr.gbdt", "rankstack.ltr.neural", "rankstack.ultr.learners"):
        try:
            importlib.import_module(module)
        except ImportError:  # a missing optional dependency: that kind stays unavailable
            logger.debug("ranker module %s unavailable", module)


def read_config(folder: Path) -> dict[str, Any]:
    """The checked ``model.json`` of a saved model folder."""
    cfg = folder / CONFIG_NAME
    if not folder.is_dir():
        raise ModelFormatError(
            f"{folder}: not a model folder (expected a folder with {CONFIG_NAME})"
        )
    if not cfg.is_file():
        raise ModelFormatError(f"{folder}: {CONFIG_NAME} is missing; is this a rankstack model?")
    config = read_versioned_json(
        cfg,
        fmt="rankstack-model",
        version=MODEL_FORMAT_VERSION,
        keys=("kind", "params", "feature_names"),
        error=ModelFormatError,
        what="model",
    )
    _import_known()
    return config


def align_features(run: Run, names: Sequence[str]) -> np.ndarray:
    """The run's feature matrix with columns in the order ``names``.

    Columns the model knows but the run lacks raise :class:`MissingFeaturesError` naming them;
    extra columns are ignored.
    """
    if run.features is None:
        raise MissingFeaturesError(
            f"the run carries no features; the model needs {len(names)} ({list(names)[:5]}...): "
            "add a feature stage before the ranker"
        )
    have = list(run.feature_names)
    if tuple(have) == tuple(names):
        return run.features
    missing = [n for n in names if n not in have]
    if missing:
        raise MissingFeaturesError(
            f"the run lacks feature(s) {missing[:10]} that the model was trained on "
            f"(it has {have[:10]}{'...' if len(have) > 10 else ''})"
        )
    idx = [have.index(n) for n in names]
    return run.features[:, idx]


def _jsonable(value: Any) -> Any:
    if isinstance(value, dict):
        return {str(k): _jsonable(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_jsonable(v) for v in value]
    if isinstance(value, (np.integer,)):
        return int(value)
    if isinstance(value, (np.floating,)):
        return float(value)
    if value is None or isinstance(value, (bool, int, float, str)):
        return value
    return repr(value)
