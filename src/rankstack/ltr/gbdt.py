"""LambdaMART: gradient-boosted regression trees trained with lambda gradients.

LambdaMART (Burges, "From RankNet to LambdaRank to LambdaMART: An Overview", MSR-TR-2010-82;
Wu, Burges, Svore and Gao, "Adapting boosting for information retrieval measures",
Information Retrieval 13(3), 2010) boosts regression trees on the LambdaRank gradients of
NDCG. We train it with LightGBM's ``lambdarank`` objective through its core
:func:`lightgbm.train` API (query groups from ``run.sizes``), or with XGBoost's
``rank:ndcg`` objective (``backend="xgboost"``) behind the same interface.

Training is deterministic for a given ``seed`` and ``n_jobs``: LightGBM runs with
``deterministic=True``, a fixed thread count and column-wise histograms
(``force_col_wise``), as LightGBM's documentation asks for reproducible models. ``n_jobs``
defaults to 1 so that a model is reproducible on any machine.

The model folder holds ``model.json`` (parameters, feature names, best iteration, the
booster file's SHA-256), the booster as LightGBM's text format (``booster.txt``) or
XGBoost's JSON (``booster.json``), and the feature normaliser's state
(``preprocessing.json``). Nothing is pickled; a loaded model predicts bit-identically.
"""

from __future__ import annotations

import hashlib
import json
import logging
import math
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from rankstack._compat import require
from rankstack.data import Run
from rankstack.exceptions import DataError
from rankstack.io.letor import LetorData
from rankstack.ltr.base import ModelFormatError, Ranker, align_features, register_ranker
from rankstack.ltr.preprocessing import FeatureNormalizer, NormalizeSpec

logger = logging.getLogger(__name__)

BACKENDS = ("lightgbm", "xgboost")
_BOOSTER_FILE = {"lightgbm": "booster.txt", "xgboost": "booster.json"}
_PREPROCESSING_FILE = "preprocessing.json"
#: LightGBM's default label_gain has this many entries (2^i - 1 for i < 31)
DEFAULT_GAIN_LEVELS = 31

#: ``progress(iteration, {"ndcg@10": value, ...})`` after each boosting round (1-based)
Progress = Callable[[int, dict[str, float]], None]


@register_ranker
class LambdaMART(Ranker):
    """LambdaMART on LightGBM's ``lambdarank`` objective (XGBoost's ``rank:ndcg`` optional).

    Parameters
    ----------
    n_estimators:
        Maximum number of boosting rounds (trees).
    learning_rate:
        Shrinkage applied to each tree.
    num_leaves:
        Maximum leaves per tree (XGBoost: ``max_leaves`` with loss-guided growth).
    min_data_in_leaf:
        Minimum number of rows in a leaf (LightGBM only; XGBoost bounds the hessian sum
        instead: pass ``min_child_weight`` in ``booster_params``).
    feature_fraction:
        Fraction of features sampled for each tree (XGBoost: ``colsample_bytree``).
    bagging:
        Fraction of rows sampled for each tree (1.0: no bagging; XGBoost: ``subsample``).
    lambdarank_truncation_level:
        Pairs are formed with the top this-many documents of each query (LightGBM default
        30; XGBoost: ``lambdarank_num_pair_per_sample``). ``None``: the backend's default.
    label_gain:
        Gain of each label (LightGBM's ``label_gain``; default ``2^label - 1`` for labels
        0..30). Labels must be below its length.
    early_stopping_rounds:
        Stop when validation nDCG@``eval_at[0]`` has not improved for this many rounds and
        keep the best iteration (needs ``valid`` or ``cv_rounds``; ``None`` trains all rounds).
    cv_rounds:
        Choose the number of trees by this many-fold cross-validation over the training
        queries instead of a validation set (LightGBM only): :func:`lightgbm.cv` on seeded
        query folds, early stopping on the nDCG@``eval_at[0]`` averaged over the folds, then
        one refit on all training queries with that many trees. For small collections, where
        a dev carve of a few dozen queries makes early stopping noisy. A ``valid`` set given
        with it joins the training queries (every labelled query is used).
    eval_at:
        Cut-off(s) of the validation nDCG (LightGBM's own definition, where a query with
        no relevant document counts 1); the first one drives early stopping.
    seed:
        Seed of every random choice (bagging, feature sampling).
    n_jobs:
        Threads. Results are reproducible for a fixed ``seed`` and ``n_jobs``.
    backend:
        ``"lightgbm"`` or ``"xgboost"``.
    normalize:
        Feature normalisation spec (see :func:`rankstack.ltr.preprocessing.parse_spec`):
        ``None``, ``"zscore"``, ``"minmax/query"``, ``{"method": "log1p", ...}``. Trees are
        invariant to global monotone rescaling, so this matters for per-query normalisation.
    max_label:
        Largest allowed label (the declared grade range); a larger label is an error.
    booster_params:
        Extra parameters passed to the backend as they are (e.g. ``{"max_bin": 63}``).

    Attributes
    ----------
    best_iteration_ : int
        Number of trees used for prediction (the best validation round, or all rounds).
    evals_result_ : dict
        ``{"valid": {"ndcg@10": [value per round], ...}}`` (empty without validation data).
    normalizer_ : FeatureNormalizer
        The fitted feature normaliser (method ``"none"`` by default).
    booster_ :
        The trained :class:`lightgbm.Booster` or :class:`xgboost.Booster`.
    """

    kind = "lambdamart"

    def __init__(
        self,
        n_estimators: int = 500,
        learning_rate: float = 0.05,
        num_leaves: int = 31,
        min_data_in_leaf: int = 20,
        feature_fraction: float = 1.0,
        bagging: float = 1.0,
        lambdarank_truncation_level: int | None = None,
        label_gain: Sequence[float] | None = None,
        early_stopping_rounds: int | None = 10,
        cv_rounds: int | None = None,
        eval_at: int | Sequence[int] = 10,
        seed: int = 0,
        n_jobs: int = 1,
        backend: str = "lightgbm",
        normalize: NormalizeSpec = None,
        max_label: int | None = None,
        booster_params: Mapping[str, Any] | None = None,
    ) -> None:
        self.n_estimators = n_estimators
        self.learning_rate = learning_rate
        self.num_leaves = num_leaves
        self.min_data_in_leaf = min_data_in_leaf
        self.feature_fraction = feature_fraction
        self.bagging = bagging
        self.lambdarank_truncation_level = lambdarank_truncation_level
        self.label_gain = label_gain
        self.early_stopping_rounds = early_stopping_rounds
        self.cv_rounds = cv_rounds
        self.eval_at = eval_at
        self.seed = seed
        self.n_jobs = n_jobs
        self.backend = backend
        self.normalize = normalize
        self.max_label = max_label
        self.booster_params = booster_params

    best_iteration_: int = 0
    evals_result_: dict[str, dict[str, list[float]]]
    normalizer_: FeatureNormalizer | None = None
    booster_: Any = None

    # ------------------------------------------------------------------ parameters
    @property
    def cutoffs(self) -> list[int]:
        """``eval_at`` as a list of cut-offs, in the given order."""
        at = [self.eval_at] if isinstance(self.eval_at, (int, np.integer)) else self.eval_at
        return [int(k) for k in at]

    def _check_params(self) -> None:
        def need(ok: bool, what: str) -> None:
            if not ok:
                raise DataError(f"LambdaMART: {what}")

        need(self.backend in BACKENDS, f"backend must be one of {BACKENDS}, found {self.backend!r}")
        need(_is_int(self.n_estimators) and self.n_estimators >= 1, "n_estimators must be >= 1")
        need(
            isinstance(self.learning_rate, (int, float)) and self.learning_rate > 0,
            f"learning_rate must be > 0, found {self.learning_rate!r}",
        )
        need(_is_int(self.num_leaves) and self.num_leaves >= 2, "num_leaves must be >= 2")
        need(_is_int(self.min_data_in_leaf) and self.min_data_in_leaf >= 0, "min_data_in_leaf")
        for name in ("feature_fraction", "bagging"):
            v = getattr(self, name)
            need(isinstance(v, (int, float)) and 0 < v <= 1, f"{name} must be in (0, 1]")
        trunc = self.lambdarank_truncation_level
        need(trunc is None or (_is_int(trunc) and trunc >= 1), "lambdarank_truncation_level >= 1")
        esr = self.early_stopping_rounds
        need(esr is None or (_is_int(esr) and esr >= 1), "early_stopping_rounds must be >= 1")
        cvr = self.cv_rounds
        need(cvr is None or (_is_int(cvr) and cvr >= 2), "cv_rounds must be >= 2 folds")
        need(cvr is None or self.backend == "lightgbm", "cv_rounds needs backend 'lightgbm'")
        try:
            ks = self.cutoffs
        except (TypeError, ValueError):
            ks = []
        need(
            bool(ks) and all(k >= 1 for k in ks), f"eval_at must be cut-offs >= 1: {self.eval_at!r}"
        )
        need(_is_int(self.n_jobs) and self.n_jobs >= 1, "n_jobs must be >= 1")
        need(_is_int(self.seed), "seed must be an integer")
        need(self.max_label is None or _is_int(self.max_label), "max_label must be an integer")
        if self.label_gain is not None:
            gains = list(self.label_gain)
            need(
                bool(gains) and all(isinstance(g, (int, float)) for g in gains),
                "label_gain must be a non-empty list of numbers",
            )
        if self.booster_params is not None:
            need(isinstance(self.booster_params, Mapping), "booster_params must be a table")

    def gain_levels(self) -> int:
        """Number of labels the gain table covers (labels must be below it)."""
        return DEFAULT_GAIN_LEVELS if self.label_gain is None else len(list(self.label_gain))

    def lightgbm_params(self) -> dict[str, Any]:
        """The exact parameter dict given to :func:`lightgbm.train`."""
        params: dict[str, Any] = {
            "objective": "lambdarank",
            "metric": "ndcg",
            "eval_at": self.cutoffs,
            "learning_rate": float(self.learning_rate),
            "num_leaves": int(self.num_leaves),
            "min_data_in_leaf": int(self.min_data_in_leaf),
            "feature_fraction": float(self.feature_fraction),
            "bagging_fraction": float(self.bagging),
            "bagging_freq": 1 if self.bagging < 1 else 0,
            "seed": int(self.seed),
            "deterministic": True,
            "force_col_wise": True,
            "num_threads": int(self.n_jobs),
            "verbosity": -1,
        }
        if self.lambdarank_truncation_level is not None:
            params["lambdarank_truncation_level"] = int(self.lambdarank_truncation_level)
        if self.label_gain is not None:
            params["label_gain"] = [float(g) for g in self.label_gain]
        params.update(dict(self.booster_params or {}))
        return params

    def xgboost_params(self) -> dict[str, Any]:
        """The exact parameter dict given to :func:`xgboost.train`."""
        if self.label_gain is not None:
            default = [2.0**i - 1 for i in range(len(list(self.label_gain)))]
            if [float(g) for g in self.label_gain] != default:
                raise DataError(
                    "LambdaMART: backend 'xgboost' uses the gain 2^label - 1 only; "
                    "a custom label_gain needs backend 'lightgbm'"
                )
        ks = self.cutoffs
        params: dict[str, Any] = {
            "objective": "rank:ndcg",
            # XGBoost early-stops on the last metric: put eval_at[0] last
            "eval_metric": [f"ndcg@{k}" for k in ks[1:]] + [f"ndcg@{ks[0]}"],
            "eta": float(self.learning_rate),
            "tree_method": "hist",
            "grow_policy": "lossguide",
            "max_depth": 0,
            "max_leaves": int(self.num_leaves),
            "colsample_bytree": float(self.feature_fraction),
            "subsample": float(self.bagging),
            "seed": int(self.seed),
            "nthread": int(self.n_jobs),
            "verbosity": 0,
        }
        if self.lambdarank_truncation_level is not None:
            params["lambdarank_pair_method"] = "topk"
            params["lambdarank_num_pair_per_sample"] = int(self.lambdarank_truncation_level)
        params.update(dict(self.booster_params or {}))
        return params

    # ------------------------------------------------------------------ fitting
    def fit(
        self,
        train: LetorData,
        valid: LetorData | None = None,
        *,
        progress: Progress | None = None,
        position: np.ndarray | None = None,
    ) -> LambdaMART:
        """Train on ``train``, early-stopping on ``valid`` when given; returns ``self``.

        ``position`` (LightGBM only, >= 4.1): the 0-based display position of each training
        row, for LightGBM's position-debiased lambdarank (Unbiased LambdaMART, Hu et al.
        2019, WWW), which learns one bias factor per position; tune it with
        ``booster_params={"lambdarank_position_bias_regularization": ...}``.

        Raises :class:`~rankstack.exceptions.DataError` for a negative label, a label at or
        above the gain table's length or above ``max_label`` (naming the label, query and
        document), non-finite features, or validation data lacking training features.
        """
        self._check_params()
        if not isinstance(train, LetorData):
            raise DataError(f"LambdaMART.fit: expected LetorData, found {type(train).__name__}")
        if len(train) == 0:
            raise DataError("LambdaMART.fit: the training set has no rows")
        names = tuple(train.run.feature_names)
        self._check_labels(train, "training")
        check_finite(train.features, train.run, "training")
        normalizer = FeatureNormalizer.from_spec(self.normalize).fit(train.run)
        x_train = normalizer.transform_matrix(train.features, train.run.offsets)
        valid_set = None
        if valid is not None:
            if not isinstance(valid, LetorData):
                raise DataError(f"LambdaMART.fit: valid must be LetorData, found {type(valid)}")
            self._check_labels(valid, "validation")
            xv = align_features(valid.run, names)
            check_finite(xv, valid.run, "validation")
            normalizer.check(xv, source="the validation data")
            valid_set = (normalizer.transform_matrix(xv, valid.run.offsets), valid)
        if position is not None:
            position = np.asarray(position)
            if self.backend != "lightgbm":
                raise DataError("LambdaMART: position debiasing needs backend 'lightgbm'")
            if position.shape != (len(train),) or position.dtype.kind not in "iu":
                raise DataError(
                    f"LambdaMART.fit: position must hold one integer per training row "
                    f"({len(train)}), found shape {position.shape} of {position.dtype}"
                )
        if self.cv_rounds is not None and valid_set is not None:
            x_train, train, position = _join_valid(x_train, train, valid_set, position)
            valid_set = None
        self.normalizer_ = normalizer
        self.evals_result_ = {}
        if self.cv_rounds is not None:
            self._fit_lightgbm_cv(x_train, train, position)
        elif self.backend == "lightgbm":
            self._fit_lightgbm(x_train, train, valid_set, progress, position)
        else:
            self._fit_xgboost(x_train, train, valid_set, progress)
        self.feature_names_ = names
        logger.info(
            "LambdaMART (%s): %d trees, best iteration %d",
            self.backend,
            self._num_trees(),
            self.best_iteration_,
        )
        return self

    def _check_labels(self, data: LetorData, what: str) -> None:
        labels = data.labels
        if len(labels) == 0:
            return
        if labels.dtype.kind == "f" and not np.array_equal(labels, np.round(labels)):
            row = int(np.flatnonzero(labels != np.round(labels))[0])
            raise DataError(
                f"{self._where(data, row, what)}: label {labels[row]} is not an integer"
            )
        lo, hi = labels.min(), labels.max()
        if lo < 0:
            row = int(np.argmin(labels))
            raise DataError(
                f"{self._where(data, row, what)}: label {int(lo)} is negative; ranking labels "
                "are grades 0, 1, 2, ..."
            )
        if self.max_label is not None and hi > self.max_label:
            row = int(np.argmax(labels))
            raise DataError(
                f"{self._where(data, row, what)}: label {int(hi)} is above max_label="
                f"{self.max_label} (the declared grade range is 0..{self.max_label})"
            )
        levels = self.gain_levels()
        if hi >= levels:
            row = int(np.argmax(labels))
            raise DataError(
                f"{self._where(data, row, what)}: label {int(hi)} has no gain: label_gain "
                f"covers labels 0..{levels - 1}; give a longer label_gain"
            )

    @staticmethod
    def _where(data: LetorData, row: int, what: str) -> str:
        q = int(np.searchsorted(data.run.offsets, row, side="right") - 1)
        return (
            f"{what} data, query {data.run.qids[q].as_py()!r}, document "
            f"{data.run.docids[row].as_py()!r}"
        )

    def _fit_lightgbm(
        self,
        x_train: np.ndarray,
        train: LetorData,
        valid: tuple[np.ndarray, LetorData] | None,
        progress: Progress | None,
        position: np.ndarray | None = None,
    ) -> None:
        lgb = require("lightgbm")
        params = self.lightgbm_params()
        dtrain = _lightgbm_dataset(x_train, train, position)
        valid_sets, callbacks = [], []
        if valid is not None:
            xv, vdata = valid
            dvalid = lgb.Dataset(xv, label=vdata.labels, group=_groups(vdata.run), reference=dtrain)
            valid_sets = [dvalid]
            callbacks.append(
                _LightGBMMonitor(
                    f"ndcg@{self.cutoffs[0]}",
                    self.early_stopping_rounds,
                    self.evals_result_,
                    progress,
                )
            )
        booster = lgb.train(
            params,
            dtrain,
            num_boost_round=int(self.n_estimators),
            valid_sets=valid_sets,
            valid_names=["valid"] if valid_sets else None,
            callbacks=callbacks,
        )
        self.booster_ = booster
        self.best_iteration_ = int(booster.best_iteration or booster.current_iteration())

    def _fit_lightgbm_cv(
        self, x_train: np.ndarray, train: LetorData, position: np.ndarray | None
    ) -> None:
        """Trees chosen by ``cv_rounds``-fold CV over queries, then one refit on all."""
        lgb = require("lightgbm")
        k = int(self.cv_rounds or 0)
        n_queries = train.run.n_queries
        if n_queries < k:
            raise DataError(
                f"LambdaMART: cv_rounds={k} needs at least {k} training queries, found {n_queries}"
            )
        params = self.lightgbm_params()
        metric = f"ndcg@{self.cutoffs[0]}"
        params["eval_at"] = [self.cutoffs[0]]
        dtrain = _lightgbm_dataset(x_train, train, position)
        offsets = train.run.offsets
        order = np.random.default_rng(self.seed).permutation(n_queries)
        folds = []
        for held in np.array_split(order, k):
            is_held = np.zeros(n_queries, dtype=bool)
            is_held[held] = True
            rows = np.repeat(is_held, np.diff(offsets))
            folds.append((np.flatnonzero(~rows), np.flatnonzero(rows)))
        callbacks = []
        if self.early_stopping_rounds is not None:
            callbacks.append(lgb.early_stopping(int(self.early_stopping_rounds), verbose=False))
        result = lgb.cv(
            params,
            dtrain,
            num_boost_round=int(self.n_estimators),
            folds=folds,
            callbacks=callbacks,
        )
        mean = [float(v) for v in result[f"valid {metric}-mean"]]
        rounds = int(np.argmax(mean)) + 1
        self.evals_result_ = {"cv": {f"{metric}-mean": mean}}
        booster = lgb.train(params, dtrain, num_boost_round=rounds)
        self.booster_ = booster
        self.best_iteration_ = rounds
        logger.info("LambdaMART: %d-fold CV chose %d trees (%s %.4f)", k, rounds, metric, max(mean))

    def _fit_xgboost(
        self,
        x_train: np.ndarray,
        train: LetorData,
        valid: tuple[np.ndarray, LetorData] | None,
        progress: Progress | None,
    ) -> None:
        xgb = require("xgboost")
        params = self.xgboost_params()
        nthread = int(self.n_jobs)
        dtrain = xgb.DMatrix(x_train, label=train.labels, nthread=nthread)
        dtrain.set_group(_groups(train.run))
        evals: list[Any] = []
        result: dict[str, Any] = {}
        callbacks: list[Any] = []
        if valid is not None:
            xv, vdata = valid
            dvalid = xgb.DMatrix(xv, label=vdata.labels, nthread=nthread)
            dvalid.set_group(_groups(vdata.run))
            evals = [(dvalid, "valid")]
            if progress is not None:
                callbacks.append(_xgboost_progress(xgb, progress))
        booster = xgb.train(
            params,
            dtrain,
            num_boost_round=int(self.n_estimators),
            evals=evals,
            early_stopping_rounds=self.early_stopping_rounds if evals else None,
            evals_result=result,
            verbose_eval=False,
            callbacks=callbacks,
        )
        self.booster_ = booster
        self.evals_result_ = {
            data: {name: [float(v) for v in values] for name, values in metrics.items()}
            for data, metrics in result.items()
        }
        rounds = booster.num_boosted_rounds()
        best = getattr(booster, "best_iteration", None) if evals else None
        self.best_iteration_ = int(best) + 1 if best is not None else int(rounds)

    def _num_trees(self) -> int:
        if self.booster_ is None:
            return 0
        if self.backend == "lightgbm":
            return int(self.booster_.current_iteration())
        return int(self.booster_.num_boosted_rounds())

    # ------------------------------------------------------------------ prediction
    def _predict(self, features: np.ndarray, run: Run) -> np.ndarray:
        if self.normalizer_ is None or self.booster_ is None:  # pragma: no cover - is_fitted
            raise DataError("LambdaMART: the model is not fitted")
        check_finite(features, run, "the scored")
        self.normalizer_.check(features, source=str(run.metadata.get("source", "the run")))
        x = self.normalizer_.transform_matrix(features, run.offsets)
        if self.backend == "lightgbm":
            return self.booster_.predict(
                x, num_iteration=self.best_iteration_ or None, num_threads=int(self.n_jobs)
            )
        xgb = require("xgboost")
        dmat = xgb.DMatrix(x, nthread=int(self.n_jobs))
        return self.booster_.predict(dmat, iteration_range=(0, self.best_iteration_))

    def feature_importance(self, kind: str = "gain") -> dict[str, float]:
        """Importance of each feature, by name: total ``gain`` of its splits, or ``split`` count.

        Counts only the trees used for prediction (``best_iteration_``).
        """
        self.check_fitted()
        if kind not in ("gain", "split"):
            raise DataError(f"feature_importance: kind must be 'gain' or 'split', found {kind!r}")
        names = list(self.feature_names_ or ())
        if self.backend == "lightgbm":
            values = self.booster_.feature_importance(
                importance_type=kind, iteration=self.best_iteration_ or None
            )
            return {n: float(v) for n, v in zip(names, values)}
        booster = self.booster_[: self.best_iteration_]
        scores = booster.get_score(importance_type="total_gain" if kind == "gain" else "weight")
        return {n: float(scores.get(f"f{i}", 0.0)) for i, n in enumerate(names)}

    # ------------------------------------------------------------------ persistence
    def _save(self, folder: Path) -> dict[str, Any]:
        if self.normalizer_ is None:  # pragma: no cover - guarded by check_fitted
            raise DataError("LambdaMART: nothing to save")
        booster_file = _BOOSTER_FILE[self.backend]
        if self.backend == "lightgbm":
            text = self.booster_.model_to_string(num_iteration=self.best_iteration_ or None)
            data = text.encode("utf-8")
            version = require("lightgbm").__version__
        else:
            data = bytes(self.booster_[: self.best_iteration_].save_raw(raw_format="json"))
            version = require("xgboost").__version__
        (folder / booster_file).write_bytes(data)
        (folder / _PREPROCESSING_FILE).write_text(
            json.dumps(self.normalizer_.to_dict()), encoding="utf-8"
        )
        return {
            "backend": self.backend,
            "booster_file": booster_file,
            "booster_sha256": hashlib.sha256(data).hexdigest(),
            "backend_version": version,
            "best_iteration": int(self.best_iteration_),
            "preprocessing_file": _PREPROCESSING_FILE,
            "evals_result": self.evals_result_,
        }

    @classmethod
    def _load(cls, folder: Path, config: dict[str, Any]) -> LambdaMART:
        params = dict(config["params"])
        valid = set(cls().get_params())
        unknown = sorted(set(params) - valid)
        if unknown:
            raise ModelFormatError(f"{folder}: unknown LambdaMART parameter(s) {unknown}")
        model = cls(**params)
        backend = config.get("backend")
        if backend not in BACKENDS or backend != model.backend:
            raise ModelFormatError(f"{folder}: unknown or inconsistent backend {backend!r}")
        path = folder / str(config.get("booster_file", _BOOSTER_FILE[backend]))
        if not path.is_file():
            raise ModelFormatError(f"{folder}: the booster file {path.name} is missing")
        data = path.read_bytes()
        if hashlib.sha256(data).hexdigest() != config.get("booster_sha256"):
            raise ModelFormatError(
                f"{path}: checksum mismatch; the booster file is truncated or was modified"
            )
        n_features = len(config["feature_names"])
        try:
            if backend == "lightgbm":
                lgb = require("lightgbm")
                booster = lgb.Booster(model_str=data.decode("utf-8"))
                found = booster.num_feature()
            else:
                xgb = require("xgboost")
                booster = xgb.Booster()
                booster.load_model(bytearray(data))
                found = booster.num_features()
        except Exception as exc:  # the backends raise their own error types
            if isinstance(exc, (ModelFormatError, ImportError)):
                raise
            raise ModelFormatError(f"{path}: not a readable {backend} model ({exc})") from exc
        if found != n_features:
            raise ModelFormatError(
                f"{path}: the booster has {found} features but model.json lists {n_features}"
            )
        pre = folder / str(config.get("preprocessing_file", _PREPROCESSING_FILE))
        if not pre.is_file():
            raise ModelFormatError(f"{folder}: {pre.name} is missing")
        try:
            state = json.loads(pre.read_text(encoding="utf-8"))
            model.normalizer_ = FeatureNormalizer.from_dict(state)
        except (json.JSONDecodeError, UnicodeDecodeError, DataError) as exc:
            raise ModelFormatError(f"{pre}: {exc}") from exc
        model.booster_ = booster
        model.best_iteration_ = int(config["best_iteration"])
        model.evals_result_ = dict(config.get("evals_result") or {})
        return model


def wrap_booster(
    base: LambdaMART,
    booster: Any,
    normalizer: FeatureNormalizer,
    *,
    objective: str,
    best_iteration: int,
    feature_names: Sequence[str],
    evals: dict[str, Any] | None = None,
) -> LambdaMART:
    """A fitted :class:`LambdaMART` around a booster trained outside :meth:`LambdaMART.fit`
    (e.g. with a custom objective by the unbiased learners), with ``base``'s parameters and
    ``objective`` recorded in its booster parameters so a saved model says how it was made."""
    params = base.get_params()
    params["booster_params"] = {**dict(params.get("booster_params") or {}), "objective": objective}
    model = LambdaMART(**params)
    model.normalizer_ = normalizer
    model.booster_ = booster
    model.best_iteration_ = int(best_iteration)
    model.evals_result_ = dict(evals or {})
    model.feature_names_ = tuple(feature_names)
    return model


def _lightgbm_dataset(x: np.ndarray, data: LetorData, position: np.ndarray | None) -> Any:
    """A LightGBM ranking dataset (query groups; display positions when debiasing)."""
    extra = {} if position is None else {"position": position}
    lgb = require("lightgbm")
    return lgb.Dataset(
        x,
        label=data.labels,
        group=_groups(data.run),
        params={"verbosity": -1},
        free_raw_data=False,
        **extra,
    )


def _join_valid(
    x_train: np.ndarray,
    train: LetorData,
    valid: tuple[np.ndarray, LetorData],
    position: np.ndarray | None,
) -> tuple[np.ndarray, LetorData, np.ndarray | None]:
    """Training plus validation queries as one set (``cv_rounds`` uses every label)."""
    if position is not None:
        raise DataError("LambdaMART: cv_rounds with position debiasing takes no valid set")
    xv, vdata = valid
    run = Run.concat(
        [
            train.run.with_features(x_train, train.run.feature_names),
            vdata.run.with_features(xv, train.run.feature_names),
        ]
    )
    labels = np.concatenate([train.labels, vdata.labels])
    return np.vstack([x_train, xv]), LetorData(run, labels), None


def _is_int(value: Any) -> bool:
    return isinstance(value, (int, np.integer)) and not isinstance(value, bool)


def _groups(run: Run) -> np.ndarray:
    """Query sizes for the backend (queries without rows are left out)."""
    sizes = run.sizes
    return sizes[sizes > 0]


def check_finite(matrix: np.ndarray, run: Run, what: str) -> None:
    """Raise :class:`DataError` naming the first NaN or infinite feature value.

    A column sum in float64 is non-finite exactly when a value is (float32 values cannot
    overflow a float64 sum), so the common case costs one pass and no temporary matrix.
    """
    if matrix.size == 0:
        return
    totals = np.add.reduce(matrix, axis=0, dtype=np.float64)
    if np.isfinite(totals).all():
        return
    col = int(np.flatnonzero(~np.isfinite(totals))[0])
    row = int(np.flatnonzero(~np.isfinite(matrix[:, col]))[0])
    q = int(np.searchsorted(run.offsets, row, side="right") - 1)
    name = run.feature_names[col] if col < len(run.feature_names) else str(col)
    raise DataError(
        f"{what} data: feature {name!r} of document {run.docids[row].as_py()!r} (query "
        f"{run.qids[q].as_py()!r}) is {matrix[row, col]}; features must be finite numbers"
    )


class _LightGBMMonitor:
    """Records the validation measures, reports progress and stops early on ``metric``.

    Like :func:`lightgbm.early_stopping`, but always on ``metric`` (LightGBM sorts
    ``eval_at``, so "the first metric" would be the smallest cut-off); at the last round it
    also rewinds to the best iteration, as LightGBM's callback does.
    """

    order = 30
    before_iteration = False

    def __init__(
        self,
        metric: str,
        rounds: int | None,
        record: dict[str, dict[str, list[float]]],
        progress: Progress | None,
    ) -> None:
        self.metric = metric
        self.rounds = rounds
        self.record = record
        self.progress = progress
        self.best = -math.inf
        self.best_iteration = 0
        self.best_results: list[Any] = []

    def __call__(self, env: Any) -> None:
        lgb = require("lightgbm")
        values: dict[str, float] = {}
        for item in env.evaluation_result_list or []:
            data_name, metric_name, value = item[0], item[1], float(item[2])
            self.record.setdefault(data_name, {}).setdefault(metric_name, []).append(value)
            if data_name == "valid":
                values[metric_name] = value
        if self.progress is not None:
            self.progress(env.iteration + 1, values)
        if self.metric not in values:
            return
        current = values[self.metric]
        if current > self.best:
            self.best, self.best_iteration = current, env.iteration
            self.best_results = list(env.evaluation_result_list)
        if self.rounds is None:
            return
        stop = env.iteration - self.best_iteration >= self.rounds
        if stop or env.iteration == env.end_iteration - 1:
            raise lgb.callback.EarlyStopException(self.best_iteration, self.best_results)


def _xgboost_progress(xgb: Any, progress: Progress) -> Any:
    """An XGBoost training callback that reports the validation measures each round."""

    class _Report(xgb.callback.TrainingCallback):  # type: ignore[misc]
        def after_iteration(self, model: Any, epoch: int, evals_log: Any) -> bool:
            values = {name: float(v[-1]) for name, v in evals_log.get("valid", {}).items()}
            progress(epoch + 1, values)
            return False

    return _Report()
