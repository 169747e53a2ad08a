"""Feature normalisation for learning to rank, saved with the model and applied at predict time.

:class:`FeatureNormalizer` rescales feature columns globally (statistics learned on the
training set) or per query (statistics of each query's own candidates, as LETOR's
"QueryLevelNorm" files do; Qin and Liu, "Introducing LETOR 4.0 Datasets", arXiv:1306.2597).

Methods:

- ``zscore``: ``(x - mean) / std`` (a constant column becomes 0);
- ``minmax``: ``(x - min) / (max - min)`` (a constant column becomes 0);
- ``log1p``: ``sign(x) * log(1 + |x|)``, for heavy-tailed counts (BM25 sums, PageRank...);
  it needs no statistics;
- ``none``: the features as they are.

Per-query normalisation needs no fitted state at all: the statistics come from the query
being transformed, so training and prediction apply exactly the same function. Global
normalisation stores per-column statistics, written as JSON into the model folder.

The normaliser also remembers which columns had a non-zero value in training. The LETOR
reader fills sparse indices that a file never mentions with zeros, so a feature missing from
a file looks like an all-zero column: :meth:`FeatureNormalizer.check` warns
(:class:`AbsentFeatureWarning`) when such a column was informative in training.

All statistics are segment reductions over query offsets (``np.add.reduceat`` and friends on
the non-empty queries); there is no Python loop over queries or rows.
"""

from __future__ import annotations

import itertools
import logging
import warnings
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

from rankstack.data import Run
from rankstack.exceptions import DataError, NotFittedError
from rankstack.io.letor import LetorData
from rankstack.ltr.base import align_features

logger = logging.getLogger(__name__)

METHODS = ("none", "zscore", "minmax", "log1p")
STATE_VERSION = 1

NormalizeSpec = str | Mapping[str, Any] | None


class AbsentFeatureWarning(UserWarning):
    """A feature informative in training is entirely zero in the data being scored."""


def _matrix_and_offsets(
    data: LetorData | Run | np.ndarray, offsets: np.ndarray | None
) -> tuple[np.ndarray, np.ndarray, tuple[str, ...] | None]:
    """The float32 feature matrix, the query offsets and the feature names of ``data``."""
    if isinstance(data, LetorData):
        data = data.run
    if isinstance(data, Run):
        if data.features is None:
            raise DataError("FeatureNormalizer: the run carries no feature matrix")
        return data.features, data.offsets, tuple(data.feature_names)
    matrix = np.asarray(data)
    if matrix.ndim != 2:
        raise DataError(f"FeatureNormalizer: expected a 2-D feature matrix, found {matrix.shape}")
    if offsets is None:
        offsets = np.array([0, matrix.shape[0]], dtype=np.int64)
    offsets = np.asarray(offsets, dtype=np.int64)
    if offsets.ndim != 1 or len(offsets) < 1 or offsets[0] != 0 or offsets[-1] != len(matrix):
        raise DataError(
            f"FeatureNormalizer: query offsets must start at 0 and end at {len(matrix)}"
        )
    if (np.diff(offsets) < 0).any():
        raise DataError("FeatureNormalizer: query offsets must not decrease")
    return matrix, offsets, None


def segment_reduce(ufunc: np.ufunc, x: np.ndarray, offsets: np.ndarray) -> np.ndarray:
    """``ufunc.reduce`` of the rows of each query; rows of empty queries are 0.

    ``np.add.reduceat`` returns ``x[i]`` for an empty segment instead of the identity, so the
    reduction runs over the non-empty queries only and empty ones are filled with zeros.
    """
    sizes = np.diff(offsets)
    out = np.zeros((len(sizes), *x.shape[1:]), dtype=np.result_type(x.dtype, np.float64))
    nonempty = sizes > 0
    if nonempty.any():
        out[nonempty] = ufunc.reduceat(x, offsets[:-1][nonempty], axis=0)
    return out


def parse_spec(spec: NormalizeSpec) -> tuple[str, bool, tuple[str, ...] | None]:
    """``(method, per_query, columns)`` from a spec.

    A spec is ``None``, a method name (``"zscore"``), a method with ``"/query"`` for per-query
    normalisation (``"minmax/query"``), or a mapping ``{"method": ..., "per_query": ...,
    "columns": [...]}`` (the form a TOML table gives).
    """
    if spec is None:
        return "none", False, None
    if isinstance(spec, str):
        method, _, scope = spec.strip().lower().partition("/")
        if scope not in ("", "query", "global"):
            raise DataError(
                f"normalize: unknown scope {scope!r} in {spec!r}; write e.g. 'zscore' or "
                "'zscore/query'"
            )
        per_query, columns = scope == "query", None
    elif isinstance(spec, Mapping):
        unknown = sorted(set(spec) - {"method", "per_query", "columns"})
        if unknown:
            raise DataError(
                f"normalize: unknown key(s) {unknown}; valid: ['columns', 'method', 'per_query']"
            )
        method = str(spec.get("method", "none")).lower()
        per_query = bool(spec.get("per_query", False))
        cols = spec.get("columns")
        columns = None if cols is None else tuple(str(c) for c in cols)
    else:
        raise DataError(f"normalize: expected a method name or a table, found {spec!r}")
    if method not in METHODS:
        raise DataError(f"normalize: unknown method {method!r}; choose from {list(METHODS)}")
    return method, per_query, columns


class FeatureNormalizer:
    """Normalise feature columns globally or per query; state round-trips through JSON.

    Parameters
    ----------
    method:
        ``"zscore"``, ``"minmax"``, ``"log1p"`` or ``"none"`` (see the module docstring).
    per_query:
        Use each query's own statistics (no fitted state) instead of the training set's.
    columns:
        Names of the columns to transform (default: all); the others pass through unchanged.

    Examples
    --------
    >>> norm = FeatureNormalizer("zscore").fit(train)          # doctest: +SKIP
    >>> run = norm.transform(test.run)                          # doctest: +SKIP
    """

    def __init__(
        self, method: str = "zscore", per_query: bool = False, columns: Sequence[str] | None = None
    ) -> None:
        self.method = method
        self.per_query = per_query
        self.columns = columns

    @classmethod
    def from_spec(cls, spec: NormalizeSpec) -> FeatureNormalizer:
        """A normaliser from a spec string or mapping (see :func:`parse_spec`)."""
        method, per_query, columns = parse_spec(spec)
        return cls(method, per_query, columns)

    def __repr__(self) -> str:
        return (
            f"FeatureNormalizer(method={self.method!r}, per_query={self.per_query}, "
            f"columns={self.columns!r})"
        )

    # ------------------------------------------------------------------ fitting
    feature_names_: tuple[str, ...] | None = None
    nonzero_: np.ndarray | None = None
    shift_: np.ndarray | None = None
    scale_: np.ndarray | None = None

    def _check_params(self) -> None:
        if self.method not in METHODS:
            raise DataError(
                f"FeatureNormalizer: unknown method {self.method!r}; choose from {list(METHODS)}"
            )

    def fit(
        self, data: LetorData | Run | np.ndarray, offsets: np.ndarray | None = None
    ) -> FeatureNormalizer:
        """Learn the statistics of a training set (global methods) and its non-zero columns.

        ``data`` is a :class:`LetorData`, a run with features, or a matrix with query
        ``offsets``; a bare matrix gets names ``"0"``, ``"1"``...
        """
        self._check_params()
        matrix, offsets, names = _matrix_and_offsets(data, offsets)
        names = names if names is not None else tuple(str(i) for i in range(matrix.shape[1]))
        self.feature_names_ = names
        self.nonzero_ = nonzero_columns(matrix)
        mask = self._mask(names)
        width = matrix.shape[1]
        shift = np.zeros(width, dtype=np.float64)
        scale = np.ones(width, dtype=np.float64)
        if not self.per_query and self.method in ("zscore", "minmax") and len(matrix):
            if self.method == "zscore":
                mean, std = _column_mean_std(matrix)
                shift[mask], scale[mask] = mean[mask], _safe(std)[mask]
            else:  # min and max of float32 are exact: no float64 copy needed
                lo = matrix.min(axis=0).astype(np.float64)
                hi = matrix.max(axis=0).astype(np.float64)
                shift[mask], scale[mask] = lo[mask], _safe(hi - lo)[mask]
        self.shift_, self.scale_ = shift, scale
        logger.debug("fitted %r on %d rows", self, len(matrix))
        return self

    def _mask(self, names: Sequence[str]) -> np.ndarray:
        if self.columns is None:
            return np.ones(len(names), dtype=bool)
        unknown = [c for c in self.columns if c not in names]
        if unknown:
            raise DataError(
                f"FeatureNormalizer: column(s) {unknown} are not features of the data "
                f"(it has {list(names)[:10]}{'...' if len(names) > 10 else ''})"
            )
        return np.isin(np.asarray(names, dtype=object), np.asarray(self.columns, dtype=object))

    @property
    def is_fitted(self) -> bool:
        return self.feature_names_ is not None

    # ------------------------------------------------------------------ applying
    def transform_matrix(self, matrix: np.ndarray, offsets: np.ndarray) -> np.ndarray:
        """The normalised float32 copy of ``matrix`` (columns in the fitted order)."""
        if self.feature_names_ is None or self.shift_ is None or self.scale_ is None:
            raise NotFittedError("this FeatureNormalizer is not fitted yet: call fit(train)")
        if matrix.shape[1] != len(self.feature_names_):
            raise DataError(
                f"FeatureNormalizer: expected {len(self.feature_names_)} feature columns, "
                f"found {matrix.shape[1]}"
            )
        if self.method == "none":
            return matrix
        mask = self._mask(self.feature_names_)
        out = np.array(matrix, dtype=np.float32, copy=True)
        if not mask.any() or len(matrix) == 0:
            return out
        # all columns: a slice (views); a subset: fancy indexing on one block at a time
        cols: slice | np.ndarray = slice(None) if mask.all() else np.flatnonzero(mask)
        shift, scale = self.shift_[cols], self.scale_[cols]
        # row blocks that hold whole queries: float64 temporaries stay block-sized
        for q_lo, q_hi in _query_blocks(offsets, BLOCK_ROWS):
            lo, hi = int(offsets[q_lo]), int(offsets[q_hi])
            x = out[lo:hi, cols].astype(np.float64)
            if self.method == "log1p":
                y = np.sign(x) * np.log1p(np.abs(x))
            elif not self.per_query:
                y = (x - shift) / scale
            else:
                y = self._per_query(x, offsets[q_lo : q_hi + 1] - lo)
            out[lo:hi, cols] = y
        return out

    def _per_query(self, x: np.ndarray, offsets: np.ndarray) -> np.ndarray:
        sizes = np.diff(offsets)
        rep = np.repeat(np.arange(len(sizes)), sizes)
        if self.method == "zscore":
            n = np.maximum(sizes, 1)[:, None].astype(np.float64)
            mean = segment_reduce(np.add, x, offsets) / n
            centred = x - mean[rep]
            var = segment_reduce(np.add, centred * centred, offsets) / n
            return centred / _safe(np.sqrt(var))[rep]
        lo = segment_reduce(np.minimum, x, offsets)
        hi = segment_reduce(np.maximum, x, offsets)
        return (x - lo[rep]) / _safe(hi - lo)[rep]

    def transform(self, data: LetorData | Run) -> Any:
        """The same run (or LETOR set) with normalised features, matched by name."""
        run = data.run if isinstance(data, LetorData) else data
        if run.features is None:
            raise DataError("FeatureNormalizer: the run carries no feature matrix")
        names = self.feature_names_ or ()
        matrix = align_features(run, names)
        new = run.with_features(self.transform_matrix(matrix, run.offsets), names)
        return LetorData(new, data.labels) if isinstance(data, LetorData) else new

    def fit_transform(self, data: LetorData | Run) -> Any:
        return self.fit(data).transform(data)

    def check(self, matrix: np.ndarray, *, source: str = "the data") -> list[str]:
        """Warn about features non-zero in training but entirely zero in ``matrix``.

        Returns the names of such features (and warns once with
        :class:`AbsentFeatureWarning` when there are any). A file that omits a sparse
        index gets zeros from the LETOR reader, so this usually means the feature is missing.
        """
        if self.nonzero_ is None or self.feature_names_ is None or len(matrix) == 0:
            return []
        present = nonzero_columns(matrix)
        absent = np.flatnonzero(self.nonzero_ & ~present)
        names = [self.feature_names_[i] for i in absent]
        if names:
            shown = ", ".join(names[:10]) + (" ..." if len(names) > 10 else "")
            warnings.warn(
                f"{len(names)} feature(s) with values in training are all zero in {source} "
                f"(missing from the file?): {shown}",
                AbsentFeatureWarning,
                stacklevel=2,
            )
        return names

    # ------------------------------------------------------------------ persistence
    def to_dict(self) -> dict[str, Any]:
        """The fitted state as plain JSON types (floats written exactly by ``repr``)."""
        if self.feature_names_ is None or self.shift_ is None or self.scale_ is None:
            raise NotFittedError("this FeatureNormalizer is not fitted yet: call fit(train)")
        return {
            "version": STATE_VERSION,
            "method": self.method,
            "per_query": bool(self.per_query),
            "columns": None if self.columns is None else list(self.columns),
            "feature_names": list(self.feature_names_),
            "nonzero": [bool(v) for v in (self.nonzero_ if self.nonzero_ is not None else [])],
            "shift": [float(v) for v in self.shift_],
            "scale": [float(v) for v in self.scale_],
        }

    @classmethod
    def from_dict(cls, state: Mapping[str, Any]) -> FeatureNormalizer:
        """Rebuild a fitted normaliser from :meth:`to_dict`; raises on a malformed state."""
        if not isinstance(state, Mapping) or state.get("version") != STATE_VERSION:
            version = state.get("version") if isinstance(state, Mapping) else None
            raise DataError(
                f"normaliser state version {version!r}, this rankstack reads {STATE_VERSION}"
            )
        try:
            cols = state["columns"]
            norm = cls(str(state["method"]), bool(state["per_query"]), cols)
            norm._check_params()
            names = tuple(str(n) for n in state["feature_names"])
            shift = np.asarray(state["shift"], dtype=np.float64)
            scale = np.asarray(state["scale"], dtype=np.float64)
            nonzero = np.asarray(state["nonzero"], dtype=bool)
        except (KeyError, TypeError, ValueError) as exc:
            raise DataError(f"normaliser state is malformed ({exc})") from exc
        if not (len(shift) == len(scale) == len(nonzero) == len(names)):
            raise DataError("normaliser state is malformed (column counts differ)")
        norm.feature_names_, norm.shift_, norm.scale_, norm.nonzero_ = names, shift, scale, nonzero
        return norm


#: rows per block when normalising (float64 temporaries are this many rows, not the matrix)
BLOCK_ROWS = 1 << 16


def _query_blocks(offsets: np.ndarray, rows: int) -> list[tuple[int, int]]:
    """Ranges ``[q_lo, q_hi)`` of whole queries holding about ``rows`` rows each.

    A query larger than ``rows`` gets a block of its own; empty trailing queries are kept so
    the blocks cover every query.
    """
    n_q = len(offsets) - 1
    if n_q <= 0:
        return []
    total = int(offsets[-1])
    targets = np.arange(rows, total, rows, dtype=np.int64)
    cuts = np.unique(np.clip(np.searchsorted(offsets, targets, side="right") - 1, 1, n_q))
    bounds = np.concatenate([[0], cuts[cuts < n_q], [n_q]])
    return [(int(a), int(b)) for a, b in itertools.pairwise(bounds) if b > a]


def _column_mean_std(matrix: np.ndarray, rows: int = BLOCK_ROWS) -> tuple[np.ndarray, np.ndarray]:
    """Column means and (population) standard deviations in float64, one row block at a time.

    Blocks are merged with Chan, Golub and LeVeque's pairwise update ("Updating formulae and
    a pairwise algorithm for computing sample variances", 1979), which is as stable as the
    two-pass formula on the whole matrix.
    """
    count = 0
    mean = np.zeros(matrix.shape[1], dtype=np.float64)
    m2 = np.zeros(matrix.shape[1], dtype=np.float64)
    for lo in range(0, len(matrix), rows):
        x = matrix[lo : lo + rows].astype(np.float64)
        n_b = len(x)
        mean_b = x.mean(axis=0)
        m2_b = np.square(x - mean_b).sum(axis=0)
        total = count + n_b
        delta = mean_b - mean
        mean = mean + delta * (n_b / total)
        m2 = m2 + m2_b + delta * delta * (count * n_b / total)
        count = total
    return mean, np.sqrt(m2 / max(count, 1))


def nonzero_columns(matrix: np.ndarray) -> np.ndarray:
    """Which columns hold a non-zero value (two reductions, no temporary matrix)."""
    if matrix.shape[0] == 0:
        return np.zeros(matrix.shape[1], dtype=bool)
    return (np.maximum.reduce(matrix, axis=0) != 0) | (np.minimum.reduce(matrix, axis=0) != 0)


def _safe(values: np.ndarray) -> np.ndarray:
    """Denominators: zero (a constant column or query) becomes 1, so the result is 0."""
    out = np.asarray(values, dtype=np.float64).copy()
    out[~(out > 0)] = 1.0
    return out
