"""Rank features by LambdaMART gain and by chance-adjusted mutual information with the label.

Two views of which features matter, as in OutRank (Škrlj and Mramor, "OutRank: Speeding up
AutoML-based Model Search for Large Sparse Data sets with Cardinality-aware Feature
Ranking", RecSys 2023; github.com/outbrain/outrank):

- **gain**: the total split gain of each feature in a quick LambdaMART fit
  (:meth:`~rankstack.ltr.gbdt.LambdaMART.feature_importance`), normalised to sum 1;
- **mutual information** between the feature, discretised into at most ``n_bins``
  quantile bins, and the relevance label, estimated from the joint histogram
  (plug-in estimator, natural log).

Plug-in MI grows with the number of distinct values a feature takes even when it carries
no information, so high-cardinality features look better than they are. OutRank's
cardinality correction ("MI-numba-randomized" in ``ranking_mi_numba.py``) subtracts the
MI the same feature has with a permuted label (OutRank rolls the label array as a cheap
permutation); we do the same with ``n_permutations`` seeded random permutations and report
``mi_adjusted = MI(x; y) - mean_p MI(x; perm_p(y))``, an estimate of MI above chance. We
also report ``mi_normalised = MI / log(distinct bins)``, the fraction of the feature's
maximum entropy it shares with the label.

The histograms of all features are built at once with one ``np.bincount`` over
``(feature, bin, label)`` codes; only the binning loops over columns (not rows).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np

from rankstack.exceptions import DataError
from rankstack.io.letor import LetorData

SORT_KEYS = ("mi_adjusted", "mi", "mi_normalised", "gain", "split")


def discretise(features: np.ndarray, n_bins: int = 32) -> tuple[np.ndarray, np.ndarray]:
    """Bin codes ``(rows, features)`` and the number of distinct bins of each feature.

    A feature with at most ``n_bins`` distinct values keeps one bin per value; others are
    cut at their quantiles (bins of equal frequency; repeated edges merge).
    """
    if n_bins < 2:
        raise DataError(f"n_bins must be >= 2, found {n_bins}")
    n, width = features.shape
    codes = np.zeros((n, width), dtype=np.int32)
    counts = np.zeros(width, dtype=np.int64)
    qs = np.linspace(0.0, 1.0, n_bins + 1)[1:-1]
    for j in range(width):  # one vectorised pass per column
        col = features[:, j]
        values, inverse = np.unique(col, return_inverse=True)
        if len(values) <= n_bins:
            codes[:, j] = inverse
            counts[j] = len(values)
            continue
        edges = np.unique(np.quantile(col, qs, method="lower"))
        binned = np.searchsorted(edges, col, side="right")
        used, codes_j = np.unique(binned, return_inverse=True)
        codes[:, j] = codes_j
        counts[j] = len(used)
    return codes, counts


def mutual_information(codes: np.ndarray, n_codes: int, labels: np.ndarray) -> np.ndarray:
    """Plug-in MI (nats) between each column of ``codes`` (values < ``n_codes``) and ``labels``."""
    n, width = codes.shape
    if n == 0:
        return np.zeros(width)
    _, y = np.unique(labels, return_inverse=True)
    n_labels = int(y.max()) + 1
    cell = n_codes * n_labels
    keys = (np.arange(width, dtype=np.int64) * cell)[None, :] + codes.astype(np.int64) * n_labels
    keys = keys + y.astype(np.int64)[:, None]
    joint = np.bincount(keys.ravel(), minlength=width * cell).reshape(width, n_codes, n_labels)
    p = joint / n
    px = p.sum(axis=2, keepdims=True)
    py = p.sum(axis=1, keepdims=True)
    with np.errstate(divide="ignore", invalid="ignore"):
        terms = np.where(p > 0, p * np.log(p / (px * py)), 0.0)
    return np.maximum(terms.sum(axis=(1, 2)), 0.0)


@dataclass(frozen=True)
class FeatureRanking:
    """Scores of every feature; :meth:`rows` gives them sorted by one score."""

    names: tuple[str, ...]
    gain: np.ndarray
    split: np.ndarray
    mi: np.ndarray
    mi_adjusted: np.ndarray
    mi_normalised: np.ndarray
    n_bins: np.ndarray

    def order(self, by: str = "mi_adjusted") -> np.ndarray:
        """Feature indices, best first (ties by name order)."""
        if by not in SORT_KEYS:
            raise DataError(f"sort key must be one of {list(SORT_KEYS)}, found {by!r}")
        values = getattr(self, by)
        return np.lexsort((np.arange(len(values)), -values))

    def rows(self, by: str = "mi_adjusted", top: int | None = None) -> list[dict[str, Any]]:
        """One dict per feature (name, rank by each score, the scores), best first."""
        idx = self.order(by)[: top if top is not None else len(self.names)]
        ranks = {k: np.empty(len(self.names), dtype=np.int64) for k in ("gain", "mi_adjusted")}
        for key, arr in ranks.items():
            arr[self.order(key)] = np.arange(1, len(self.names) + 1)
        return [
            {
                "feature": self.names[i],
                "gain": float(self.gain[i]),
                "split": int(self.split[i]),
                "mi": float(self.mi[i]),
                "mi_adjusted": float(self.mi_adjusted[i]),
                "mi_normalised": float(self.mi_normalised[i]),
                "bins": int(self.n_bins[i]),
                "rank_gain": int(ranks["gain"][i]),
                "rank_mi": int(ranks["mi_adjusted"][i]),
            }
            for i in idx
        ]


def rank_features(
    data: LetorData,
    *,
    n_bins: int = 32,
    n_permutations: int = 3,
    seed: int = 0,
    gain: bool = True,
    model_params: Mapping[str, Any] | None = None,
) -> FeatureRanking:
    """Score every feature of ``data`` by LambdaMART gain and by mutual information.

    Parameters
    ----------
    data:
        A LETOR set (features and labels).
    n_bins:
        Maximum number of bins per feature for the MI histograms.
    n_permutations:
        Label permutations averaged for the chance correction (``mi_adjusted``).
    seed:
        Seed of the permutations and of the LambdaMART fit.
    gain:
        Fit a quick LambdaMART (100 rounds by default) for gain and split counts; with
        ``False`` those are 0.
    model_params:
        Parameters of that LambdaMART (default ``n_estimators=100, learning_rate=0.1``).
    """
    if len(data) == 0:
        raise DataError("rank_features: the data has no rows")
    if n_permutations < 1:
        raise DataError(f"n_permutations must be >= 1, found {n_permutations}")
    names = tuple(data.run.feature_names)
    codes, counts = discretise(data.features, n_bins)
    n_codes = int(counts.max()) if len(counts) else 1
    mi = mutual_information(codes, n_codes, data.labels)
    rng = np.random.default_rng(seed)
    background = np.mean(
        [
            mutual_information(codes, n_codes, rng.permutation(data.labels))
            for _ in range(n_permutations)
        ],
        axis=0,
    )
    with np.errstate(divide="ignore", invalid="ignore"):
        normalised = np.where(counts > 1, mi / np.log(np.maximum(counts, 2)), 0.0)
    gains = np.zeros(len(names))
    splits = np.zeros(len(names))
    if gain:
        from rankstack.ltr.gbdt import LambdaMART

        params: dict[str, Any] = {"n_estimators": 100, "learning_rate": 0.1, "seed": seed}
        params.update(dict(model_params or {}))
        model = LambdaMART(**params).fit(data)
        by_gain = model.feature_importance("gain")
        by_split = model.feature_importance("split")
        gains = np.array([by_gain[n] for n in names], dtype=np.float64)
        splits = np.array([by_split[n] for n in names], dtype=np.float64)
        total = gains.sum()
        if total > 0:
            gains = gains / total
    return FeatureRanking(
        names=names,
        gain=gains,
        split=splits,
        mi=mi,
        mi_adjusted=mi - background,
        mi_normalised=normalised,
        n_bins=counts,
    )
