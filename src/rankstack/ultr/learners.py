"""Unbiased learning to rank from clicks: naive, IPW, regression-EM, DLA, LightGBM's debiased
lambdarank, behind one :class:`UnbiasedRanker`.

>>> from rankstack.ultr import UnbiasedRanker                                 # doctest: +SKIP
>>> ranker = UnbiasedRanker(base="neural", method="dla").fit(log, train, valid)  # doctest: +SKIP
>>> ranker.propensities_                     # estimated p_k / p_1             # doctest: +SKIP
>>> reranked = ranker.transform(None, test.run)                                # doctest: +SKIP

``fit(clicks, features, valid)`` joins the click log to the LETOR feature vectors
(:func:`rankstack.ultr.features.join_clicks`), aggregates it (:mod:`rankstack.ultr.features`)
and trains a base ranker, a :class:`~rankstack.ltr.NeuralRanker` or a
:class:`~rankstack.ltr.LambdaMART`, with the chosen correction:

============  =========================================  ========================================
method        neural base                                LambdaMART base
============  =========================================  ========================================
naive         softmax loss on clicks                     lambdarank on click-rate grades
ipw           softmax loss, clicks weighted ``p_1/p_k``  lambdarank on IPW click-rate grades
              (Joachims et al. 2017; Wang et al. 2016;
              ULTRA's IPW, Ai et al. 2018)
rem           regression-EM (Wang et al. 2018) estimates ``θ_k``, then IPW with them
              (``rem_ranker="regression"`` keeps EM's own relevance model ``γ`` as the ranker)
dla           Dual Learning Algorithm (Ai et al. 2018)   the same, boosting the softmax loss
                                                         (:mod:`rankstack.ultr._dla_gbdt`)
lgbm_position (not available)                            LightGBM's position-debiased lambdarank
                                                         (Unbiased LambdaMART, Hu et al. 2019)
============  =========================================  ========================================

LambdaMART's labels: LightGBM's lambdarank takes integer grades, so the per-document click
rate ``r(q, d) = Σ_k w_k c_k(q, d) / N(q)`` (``c_k``: clicks at position ``k``, ``N(q)``:
sessions of the query, ``w_k = 1`` naive or ``p_1 / p_k`` IPW: an unbiased estimate of the
document's click probability when examined at the top) becomes the grade ``round(levels · r)``
clipped to ``0..levels``, with a linear gain (``label_gain = 0, 1, ..., levels``), so DCG
weighs documents by their estimated relevance. This is the "inverse-propensity-weighted
relevance labels" variant; LightGBM's per-row weights scale a document's whole gradient, not a
click's, so they would not give IPW. ``lgbm_position`` gives every distinct displayed list as a
query group with its per-position click rate as the grade and the positions to LightGBM's
``position`` (LightGBM >= 4.1), which learns the position bias factors itself.

Only documents that were shown are trained on; the click log never says anything about the
others. Validation data (true labels) select the best epoch or boosting round, as in ULTRA's
offline protocol; nothing else looks at them.

A saved model is a folder: ``model.json`` (kind ``"unbiased"``, parameters, the propensities),
``propensities.json`` (:meth:`rankstack.ultr.propensity.Propensities.save`), and the base
ranker's own folder in ``ranker/``. Nothing is pickled; a loaded model predicts
bit-identically.
"""

from __future__ import annotations

import hashlib
import json
import logging
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any, ClassVar

import numpy as np

from rankstack.data import ClickLog, Run
from rankstack.exceptions import DataError
from rankstack.io.letor import LetorData
from rankstack.ltr.base import ModelFormatError, Ranker, register_ranker
from rankstack.ltr.gbdt import LambdaMART
from rankstack.ultr.features import DisplayLists, PositionCounts, join_clicks
from rankstack.ultr.propensity import Propensities

logger = logging.getLogger(__name__)

BASES = ("neural", "lambdamart")
METHODS = ("naive", "ipw", "rem", "dla", "lgbm_position")
_METHOD_BASES = {
    "naive": BASES,
    "ipw": BASES,
    "rem": BASES,
    "dla": BASES,
    "lgbm_position": ("lambdamart",),
}
PROPENSITIES_NAME = "propensities.json"
#: DLA's propensity learning rate when not given: ULTRA's DLA learning rate (Ai et al. 2021)
DEFAULT_PROPENSITY_LR = 0.05
RANKER_DIR = "ranker"

#: keys of a click log's metadata that may hold the true propensities (simulated logs)
_TRUTH_KEYS = ("propensities", "true_propensities", "examination")


@register_ranker
class UnbiasedRanker(Ranker):
    """A ranker learned from a click log with position bias removed.

    Parameters
    ----------
    base:
        ``"neural"`` (:class:`~rankstack.ltr.NeuralRanker`'s scorer, optimiser and
        normaliser; its ``loss`` parameter is not used: the method sets the loss) or
        ``"lambdamart"`` (:class:`~rankstack.ltr.LambdaMART`).
    method:
        ``"naive"``, ``"ipw"``, ``"rem"``, ``"dla"`` or ``"lgbm_position"`` (see the module
        docstring for which base allows which).
    propensities:
        For ``ipw``: the propensity of each position 1..k (any scale), a path to a file
        written by :meth:`Propensities.save` (JSON/CSV), or ``"log"`` for the true
        propensities a simulator stored in the click log's metadata.
    params:
        Parameters of the base ranker (e.g. ``{"hidden": [64, 32], "lr": 0.001}`` or
        ``{"n_estimators": 300}``); ``seed`` is set from ``seed``.
    max_weight:
        Clip inverse propensity weights (IPW, DLA, and IPW after regression-EM) at this value;
        None: no clipping (ULTRA's default).
    propensity_lr:
        DLA: learning rate of the propensity model (default 0.05, ULTRA's DLA learning rate:
        its ``k`` logits must travel ``log p_k``, down to ``-4.6`` at ``eta = 2``, within the
        few epochs the ranker needs before early stopping, at most about ``lr`` per step;
        with LambdaMART one step per boosting round).
    em_iterations:
        Regression-EM: at most this many EM iterations (neural: epochs of the relevance
        model, each followed by the M-step for ``θ``; LambdaMART: regression forests fitted).
    em_tol:
        Regression-EM stops once no propensity ``θ_k`` moved by more than this (relative,
        ``|Δ log θ_k|``) over the last 5 iterations; None runs all ``em_iterations``. The
        default 3e-3 was set on synthetic logs whose relevance is a function of the features
        (tests/ultr/test_regression_em.py), where 30 iterations (the old fixed count) left
        EM unconverged.
    em_trees:
        Regression-EM with LambdaMART: trees of each iteration's regression forest.
    rem_ranker:
        Regression-EM's ranker: ``"ipw"`` (default, Wang et al. 2018: the estimated
        propensities train an IPW ranker) or ``"regression"`` (EM's relevance model itself,
        as ULTRA's ``RegressionEM``).
    label_levels:
        LambdaMART: grades of the click-rate labels (see the module docstring).
    on_unknown:
        ``"error"`` or ``"drop"``: sessions whose query or documents lack features.
    seed:
        Seeds everything (initialisation, batches, boosting); the same seed gives the same
        model on the same machine.

    Attributes
    ----------
    ranker_ : the fitted base ranker (NeuralRanker or LambdaMART)
    propensities_ : Propensities or None (naive, lgbm_position): used or estimated ``p_k/p_1``
    history_ : per-epoch/iteration records (loss, validation nDCG@10, propensities)
    n_sessions_, n_lists_ : sessions in the log and distinct displayed lists trained on
    """

    kind: ClassVar[str] = "unbiased"

    def __init__(
        self,
        base: str = "neural",
        method: str = "dla",
        propensities: Sequence[float] | str | None = None,
        params: Mapping[str, Any] | None = None,
        max_weight: float | None = None,
        propensity_lr: float | None = None,
        em_iterations: int = 300,
        em_tol: float | None = 3e-3,
        em_trees: int = 50,
        rem_ranker: str = "ipw",
        label_levels: int = 20,
        on_unknown: str = "error",
        seed: int = 0,
    ) -> None:
        self.base = base
        self.method = method
        self.propensities = propensities
        self.params = params
        self.max_weight = max_weight
        self.propensity_lr = propensity_lr
        self.em_iterations = em_iterations
        self.em_tol = em_tol
        self.em_trees = em_trees
        self.rem_ranker = rem_ranker
        self.label_levels = label_levels
        self.on_unknown = on_unknown
        self.seed = seed

    ranker_: Ranker | None = None
    propensities_: Propensities | None = None
    history_: list[dict[str, Any]] | None = None
    n_sessions_: int = 0
    n_lists_: int = 0

    def get_params(self) -> dict[str, Any]:
        params = super().get_params()
        p = params.get("propensities")
        if p is not None and not isinstance(p, str):
            params["propensities"] = [float(v) for v in np.asarray(p, dtype=np.float64)]
        if params.get("params") is not None:
            params["params"] = dict(params["params"])
        return params

    # ------------------------------------------------------------------ checks
    def _check_params(self) -> None:
        if self.base not in BASES:
            raise DataError(f"base must be one of {list(BASES)}, found {self.base!r}")
        if self.method not in METHODS:
            raise DataError(f"method must be one of {list(METHODS)}, found {self.method!r}")
        if self.base not in _METHOD_BASES[self.method]:
            allowed = " or ".join(repr(b) for b in _METHOD_BASES[self.method])
            raise DataError(f"method {self.method!r} needs base {allowed}, found {self.base!r}")
        if self.method == "ipw" and self.propensities is None:
            raise DataError(
                "method 'ipw' needs propensities: a list (one per position), a file written by "
                "Propensities.save, or 'log' for a simulated log's true propensities"
            )
        if self.max_weight is not None and not self.max_weight >= 1:
            raise DataError(f"max_weight must be >= 1 or None, found {self.max_weight!r}")
        if self.em_tol is not None and not (
            isinstance(self.em_tol, (int, float)) and 0 < self.em_tol < 1
        ):
            raise DataError(f"em_tol must be in (0, 1) or None, found {self.em_tol!r}")
        for name in ("em_iterations", "em_trees", "label_levels"):
            v = getattr(self, name)
            if not isinstance(v, (int, np.integer)) or isinstance(v, bool) or v < 1:
                raise DataError(f"{name} must be an integer >= 1, found {v!r}")
        if self.rem_ranker not in ("ipw", "regression"):
            raise DataError(f"rem_ranker must be 'ipw' or 'regression', found {self.rem_ranker!r}")
        if self.on_unknown not in ("error", "drop"):
            raise DataError(f"on_unknown must be 'error' or 'drop', found {self.on_unknown!r}")
        if self.propensity_lr is not None and not self.propensity_lr > 0:
            raise DataError(f"propensity_lr must be > 0, found {self.propensity_lr!r}")
        if self.params is not None and not isinstance(self.params, Mapping):
            raise DataError("params must be a table of base-ranker parameters")

    def _base_params(self) -> dict[str, Any]:
        params = dict(self.params or {})
        params["seed"] = int(self.seed)
        return params

    def make_base(self, **overrides: Any) -> Ranker:
        """An unfitted base ranker with this model's parameters (checked)."""
        from rankstack.ltr.base import make_ranker

        return make_ranker(self.base, **{**self._base_params(), **overrides})

    def given_propensities(
        self, metadata: Mapping[str, Any] | ClickLog | None = None
    ) -> Propensities | None:
        """The ``propensities`` parameter as :class:`Propensities` (None when not set);
        ``metadata``: the click log's (for ``"log"``)."""
        p = self.propensities
        if p is None:
            return None
        if isinstance(p, str):
            if p == "log":
                if metadata is None:
                    raise DataError("propensities='log' needs the click log")
                truth = log_propensities(metadata)
                if truth is None:
                    raise DataError(
                        "propensities='log': the click log's metadata holds no true "
                        f"propensities (looked for {list(_TRUTH_KEYS)})"
                    )
                return truth
            return Propensities.load(p)
        return Propensities.from_values(p, method="given")

    # ------------------------------------------------------------------ fit
    def fit(
        self,
        clicks: ClickLog | DisplayLists,
        features: LetorData,
        valid: LetorData | None = None,
        *,
        resume: bool = False,
    ) -> UnbiasedRanker:
        """Learn from ``clicks`` shown over the documents of ``features``; returns ``self``.

        ``clicks`` is a :class:`~rankstack.data.ClickLog`, or its display lists already
        aggregated against ``features`` (:func:`rankstack.ultr.features.aggregate_lists`,
        for logs streamed from disk). ``valid`` (true labels) selects the best epoch /
        boosting round. With a neural base and a ``checkpoint_dir`` in ``params``,
        ``resume=True`` continues an interrupted run.

        Raises
        ------
        UnknownClickDataError
            The log shows queries or documents that ``features`` lacks (with counts).
        DataError
            Bad parameters, an empty log, or IPW without propensities for every position.
        """
        self._check_params()
        if not isinstance(features, LetorData):
            raise DataError(f"fit: expected LetorData features, found {type(features).__name__}")
        if valid is not None and not isinstance(valid, LetorData):
            raise DataError(f"fit: valid must be LetorData, found {type(valid).__name__}")
        self.make_base()  # checks the base parameters before any work
        if isinstance(clicks, DisplayLists):
            if clicks.letor is not features:
                raise DataError("fit: the display lists were aggregated against other features")
            lists = clicks
        elif isinstance(clicks, ClickLog):
            if len(clicks) == 0:
                raise DataError("fit: the click log has no sessions")
            impressions = join_clicks(clicks, features, on_unknown=self.on_unknown)  # type: ignore[arg-type]
            lists = impressions.by_list()
        else:
            raise DataError(f"fit: expected a ClickLog, found {type(clicks).__name__}")
        if len(lists) == 0:
            raise DataError("fit: no session of the click log shows a document")
        truth = log_propensities(lists.metadata)
        given = self.given_propensities(lists.metadata)
        if given is not None and len(given) < lists.n_positions:
            raise DataError(
                f"the log shows up to {lists.n_positions} positions but {len(given)} "
                "propensities were given; give one per position"
            )
        logger.info(
            "%s/%s: %d sessions, %d distinct lists, k=%d",
            self.base,
            self.method,
            int(lists.sessions.sum()),
            len(lists),
            lists.n_positions,
        )
        ranker: Ranker
        if self.base == "neural":
            from rankstack.ultr._neural import fit_neural

            ranker, props, history = fit_neural(self, lists, valid, given, resume=resume)
        else:
            ranker, props, history = self._fit_lambdamart(lists, valid, given)
        if props is not None and truth is not None:
            props = props.with_truth(truth)
        self.ranker_ = ranker
        self.propensities_ = props
        self.history_ = history
        self.n_sessions_ = int(lists.sessions.sum())
        self.n_lists_ = len(lists)
        self.feature_names_ = ranker.feature_names_
        return self

    # ------------------------------------------------------------------ LambdaMART
    def _fit_lambdamart(
        self, lists: DisplayLists, valid: LetorData | None, given: Propensities | None
    ) -> tuple[Ranker, Propensities | None, list[dict[str, Any]]]:
        k = lists.n_positions
        if self.method == "lgbm_position":
            data, position = position_groups(lists, int(self.label_levels))
            model = self._lambdamart()
            model.fit(data, valid, position=position)
            return model, None, _lgb_history(model)
        if self.method == "dla":
            from rankstack.ultr._dla_gbdt import dla_gbdt

            ranker, estimate, dla_history = dla_gbdt(
                lists,
                valid,
                base=self._lambdamart(),
                propensity_lr=float(self.propensity_lr or DEFAULT_PROPENSITY_LR),
                max_weight=self.max_weight,
            )
            return ranker, Propensities.from_values(estimate, method="dla"), dla_history
        counts = lists.by_position()
        history: list[dict[str, Any]] = []
        props: Propensities | None = None
        if self.method == "naive":
            weights = np.ones(k)
        elif self.method == "ipw":
            if given is None:  # pragma: no cover - checked in _check_params
                raise DataError("ipw needs propensities")
            props = given
            weights = given.weights(k, self.max_weight)
        else:  # rem
            from rankstack.ultr._rem_gbdt import regression_em_gbdt

            theta, gamma_model, history = regression_em_gbdt(
                counts,
                iterations=int(self.em_iterations),
                trees=int(self.em_trees),
                tol=self.em_tol,
                base=self._lambdamart(),
            )
            props = Propensities.from_values(theta, method="rem", info={"theta_1": float(theta[0])})
            if self.rem_ranker == "regression":
                return gamma_model, props, history
            weights = props.weights(k, self.max_weight)
        data = click_rate_labels(counts, weights, int(self.label_levels))
        model = self._lambdamart()
        model.fit(data, valid)
        return model, props, history + _lgb_history(model)

    def _lambdamart(self) -> LambdaMART:
        levels = int(self.label_levels)
        params = self._base_params()
        params["label_gain"] = [float(i) for i in range(levels + 1)]
        model = self.make_base(**params)
        if not isinstance(model, LambdaMART):  # pragma: no cover - base checked
            raise DataError("base 'lambdamart' did not give a LambdaMART")
        return model

    # ------------------------------------------------------------------ predict
    def _predict(self, features: np.ndarray, run: Run) -> np.ndarray:
        if self.ranker_ is None:  # pragma: no cover - guarded by check_fitted
            raise DataError("this UnbiasedRanker is not fitted")
        return self.ranker_._predict(features, run)

    # ------------------------------------------------------------------ persistence
    def _save(self, folder: Path) -> dict[str, Any]:
        if self.ranker_ is None:  # pragma: no cover - guarded by check_fitted
            raise DataError("this UnbiasedRanker has no trained ranker to save")
        self.ranker_.save(folder / RANKER_DIR)
        extra: dict[str, Any] = {
            "base_kind": self.ranker_.kind,
            "ranker": RANKER_DIR,
            "history": self.history_ or [],
            "n_sessions": int(self.n_sessions_),
            "n_lists": int(self.n_lists_),
            "propensities_file": None,
        }
        if self.propensities_ is not None:
            self.propensities_.save(folder / PROPENSITIES_NAME)
            data = (folder / PROPENSITIES_NAME).read_bytes()
            extra["propensities_file"] = PROPENSITIES_NAME
            extra["propensities_sha256"] = hashlib.sha256(data).hexdigest()
        return extra

    @classmethod
    def _load(cls, folder: Path, config: dict[str, Any]) -> UnbiasedRanker:
        params = dict(config["params"])
        unknown = sorted(set(params) - set(cls().get_params()))
        if unknown:
            raise ModelFormatError(f"{folder}: unknown UnbiasedRanker parameter(s) {unknown}")
        model = cls(**params)
        for key in ("ranker", "base_kind"):
            if key not in config:
                raise ModelFormatError(f"{folder}: model.json lacks {key!r}")
        ranker = Ranker.load(folder / str(config["ranker"]))
        if ranker.kind != config["base_kind"]:
            raise ModelFormatError(
                f"{folder}: the base ranker is a {ranker.kind!r}, model.json says "
                f"{config['base_kind']!r}"
            )
        name = config.get("propensities_file")
        props = None
        if name:
            path = folder / str(name)
            if not path.is_file():
                raise ModelFormatError(f"{folder}: {name} is missing")
            if hashlib.sha256(path.read_bytes()).hexdigest() != config.get("propensities_sha256"):
                raise ModelFormatError(f"{path}: checksum mismatch; the file was modified")
            props = Propensities.load(path)
        model.ranker_ = ranker
        model.propensities_ = props
        model.history_ = list(config.get("history") or [])
        model.n_sessions_ = int(config.get("n_sessions", 0))
        model.n_lists_ = int(config.get("n_lists", 0))
        return model


# ---------------------------------------------------------------------------------- helpers
def log_propensities(log: ClickLog | Mapping[str, Any]) -> Propensities | None:
    """The true relative propensities a simulator stored in a log's metadata, if any."""
    metadata = log.metadata if isinstance(log, ClickLog) else log
    for key in _TRUTH_KEYS:
        value = metadata.get(key)
        if value is None:
            continue
        if isinstance(value, str):
            try:
                value = json.loads(value)
            except json.JSONDecodeError:
                continue
        if isinstance(value, Mapping):
            value = value.get("values", value.get("propensities"))
        try:
            props = Propensities.from_values(value, method="true")
        except DataError:
            continue
        return Propensities(props.values, "true", props.values.copy(), None, {"source": key})
    return None


def click_rates(counts: PositionCounts, weights: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """``(rows, rates)``: each shown LETOR row and its weighted click rate
    ``Σ_k w_k c_k / N(q)`` (``N(q)``: sessions of its query). With ``w_k = p_1 / p_k`` its
    expectation is the row's click probability when examined at position 1 (IPW)."""
    w = np.asarray(weights, dtype=np.float64)[counts.positions]
    rows, first, inverse = np.unique(counts.rows, return_index=True, return_inverse=True)
    weighted = np.bincount(inverse.reshape(-1), weights=counts.clicks * w, minlength=len(rows))
    return rows, weighted / np.maximum(counts.query_sessions[first], 1e-12)


def click_rate_labels(counts: PositionCounts, weights: np.ndarray, levels: int) -> LetorData:
    """The shown documents with the graded (IPW) click rate as label (module docstring)."""
    rows, rate = click_rates(counts, weights)
    grades = np.clip(np.rint(rate * levels), 0, levels).astype(np.int32)
    return _subset(counts.letor, rows, grades)


def position_groups(lists: DisplayLists, levels: int) -> tuple[LetorData, np.ndarray]:
    """Every distinct list as a query group: graded click rate per position and positions."""
    m = lists.mask
    k = lists.n_positions
    rows = lists.rows[m]
    pos = np.broadcast_to(np.arange(k, dtype=np.int32), lists.rows.shape)[m]
    rate = (lists.clicks / np.maximum(lists.sessions[:, None], 1))[m]
    grades = np.clip(np.rint(rate * levels), 0, levels).astype(np.int32)
    sizes = m.sum(axis=1)
    run = lists.letor.run
    import pyarrow as pa

    from rankstack.data._columns import offsets_from_sizes, take_str

    qids = take_str(run.qids, lists.query_index)
    list_ids = pa.array([f"{q}#{i}" for i, q in enumerate(qids.to_pylist())])
    feats = lists.letor.features[rows]
    group_run = Run(
        qids=list_ids,
        offsets=offsets_from_sizes(sizes),
        docids=take_str(run.docids, rows),
        scores=np.zeros(len(rows)),
        features=feats,
        feature_names=run.feature_names,
        metadata={"source": "display lists"},
    )
    return LetorData(group_run, grades), pos


def _subset(letor: LetorData, rows: np.ndarray, labels: np.ndarray) -> LetorData:
    """The given rows (sorted, so grouped by query) of a LETOR set with new labels."""
    run = letor.run
    qidx = run.query_index[rows]
    sizes = np.bincount(qidx, minlength=run.n_queries)
    keep = np.flatnonzero(sizes > 0)
    sub = run.take_rows(rows, sizes[keep], qids=run.qids.take(keep))
    return LetorData(sub, labels)


def _lgb_history(model: LambdaMART) -> list[dict[str, Any]]:
    valid = (model.evals_result_ or {}).get("valid", {})
    if not valid:
        return []
    n = len(next(iter(valid.values())))
    return [{"round": i + 1, **{m: v[i] for m, v in valid.items()}} for i in range(n)]


def _fingerprint(lists: DisplayLists) -> str:
    """A digest of the aggregated training data (for checkpoints)."""
    h = hashlib.blake2b(digest_size=16)
    for arr in (lists.rows, lists.clicks, lists.sessions, lists.letor.features):
        h.update(np.ascontiguousarray(arr).view(np.uint8).reshape(-1).data)
    return h.hexdigest()


def fit_full_information(
    train: LetorData,
    valid: LetorData | None = None,
    *,
    base: str = "neural",
    params: Mapping[str, Any] | None = None,
    seed: int = 0,
) -> Ranker:
    """The full-information upper bound: the base ranker trained on the true labels.

    Neural: the same scorer, optimiser and softmax loss as the click learners, with the
    graded labels of every document of a query as its "clicks"; LambdaMART: plain
    :class:`~rankstack.ltr.LambdaMART` on the labels.
    """
    if base == "lambdamart":
        model = LambdaMART(**{**dict(params or {}), "seed": int(seed)})
        return model.fit(train, valid)
    from rankstack.ultr._neural import fit_neural_labels

    return fit_neural_labels(train, valid, params=dict(params or {}), seed=int(seed))


__all__ = [
    "BASES",
    "METHODS",
    "UnbiasedRanker",
    "click_rate_labels",
    "click_rates",
    "fit_full_information",
    "log_propensities",
    "position_groups",
]
