"""``Run``: ranked candidate lists for a set of queries, held columnar with query offsets."""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from itertools import pairwise
from typing import TYPE_CHECKING, Any

import numpy as np
import pyarrow as pa

from rankstack.data._columns import (
    as_str_array,
    check_unique_pairs,
    concat_str,
    group_codes,
    offsets_from_sizes,
    rank_desc_within_ties,
    row_group_index,
    take_str,
    to_str_list,
)
from rankstack.exceptions import DataError, MissingFeaturesError

if TYPE_CHECKING:
    import pandas as pd


@dataclass(frozen=True, eq=False)
class Run:
    """Per query, a ranked list of doc ids with scores, and optionally a feature matrix.

    Rows are grouped by query (queries keep the order in which they first appeared) and,
    within a query, sorted by descending score with ties broken by descending doc id, which is
    the order trec_eval evaluates in. ``offsets[i]:offsets[i+1]`` are the rows of query
    ``qids[i]`` (query sizes as in LightGBM's ``group``). Build one with :meth:`from_arrays`,
    :meth:`from_pandas` or a reader in :mod:`rankstack.io`; the constructor trusts its input.

    Attributes
    ----------
    qids : pyarrow string array, one entry per query
    offsets : int64 array of length ``len(qids) + 1``
    docids : pyarrow string array, one entry per row
    scores : float64 array, one entry per row
    features : float32 array of shape (rows, features), or None
    feature_names : one name per feature column
    metadata : free-form provenance (run tag, stage settings...)
    """

    qids: pa.Array
    offsets: np.ndarray
    docids: pa.Array
    scores: np.ndarray
    features: np.ndarray | None = None
    feature_names: tuple[str, ...] = ()
    metadata: Mapping[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        n = len(self.docids)
        if len(self.offsets) != len(self.qids) + 1:
            raise DataError(
                f"Run: offsets must have len(qids)+1={len(self.qids) + 1} entries, "
                f"found {len(self.offsets)}"
            )
        if self.offsets[0] != 0 or self.offsets[-1] != n or len(self.scores) != n:
            raise DataError(
                f"Run: offsets must run from 0 to the row count {n} and scores must have "
                f"{n} entries (offsets end at {int(self.offsets[-1])}, {len(self.scores)} scores)"
            )
        if self.features is not None:
            if self.features.ndim != 2 or self.features.shape[0] != n:
                raise DataError(
                    f"Run: features must be a 2-D array with {n} rows, "
                    f"found shape {self.features.shape}"
                )
            if len(self.feature_names) != self.features.shape[1]:
                raise DataError(
                    f"Run: {self.features.shape[1]} feature columns but "
                    f"{len(self.feature_names)} feature names"
                )

    # ------------------------------------------------------------------ construction
    @classmethod
    def from_arrays(
        cls,
        qid: Any,
        docid: Any,
        score: Any,
        features: np.ndarray | None = None,
        feature_names: Sequence[str] | None = None,
        metadata: Mapping[str, Any] | None = None,
        *,
        allow_duplicates: bool = False,
    ) -> Run:
        """Build a run from one entry per row, grouping by query and sorting by score.

        Raises :class:`DataError` on length mismatches, NaN scores, or a doc id that appears
        twice for the same query (unless ``allow_duplicates``).
        """
        qid_arr = as_str_array(qid, "qid")
        docid_arr = as_str_array(docid, "docid")
        scores = np.asarray(score, dtype=np.float64)
        n = len(docid_arr)
        if len(qid_arr) != n or scores.shape != (n,):
            raise DataError(
                f"Run: qid, docid and score must have the same length, found "
                f"{len(qid_arr)}, {n} and {scores.shape[0] if scores.ndim else 'a scalar'}"
            )
        if np.isnan(scores).any():
            raise DataError(f"Run: {int(np.isnan(scores).sum())} scores are NaN")
        qids, codes = group_codes(qid_arr)
        if not allow_duplicates:
            dups = check_unique_pairs(codes, docid_arr, "run")
            if dups is not None:
                r = int(dups[0])
                raise DataError(
                    f"Run: doc id {docid_arr[r].as_py()!r} appears more than once for query "
                    f"{qid_arr[r].as_py()!r} (row {r}); a ranking lists each document once"
                )
        order = rank_desc_within_ties(docid_arr, codes, scores)
        sizes = np.bincount(codes, minlength=len(qids))
        feats = None
        names: tuple[str, ...] = ()
        if features is not None:
            feats = np.asarray(features, dtype=np.float32)
            if feats.ndim != 2 or feats.shape[0] != n:
                raise DataError(f"Run: features must have shape ({n}, F), found {feats.shape}")
            feats = feats[order]
            names = (
                tuple(feature_names)
                if feature_names is not None
                else tuple(f"f{i}" for i in range(feats.shape[1]))
            )
        return cls(
            qids=qids,
            offsets=offsets_from_sizes(sizes),
            docids=take_str(docid_arr, order),
            scores=scores[order],
            features=feats,
            feature_names=names,
            metadata=dict(metadata or {}),
        )

    @classmethod
    def empty(cls, qids: Any = ()) -> Run:
        """A run with the given queries and no candidates."""
        q = as_str_array(list(qids) if not isinstance(qids, pa.Array) else qids, "qid")
        return cls(
            qids=q,
            offsets=np.zeros(len(q) + 1, dtype=np.int64),
            docids=pa.array([], type=pa.string()),
            scores=np.zeros(0, dtype=np.float64),
        )

    @classmethod
    def from_pandas(cls, df: pd.DataFrame, *, score_column: str = "score") -> Run:
        """From a frame with PyTerrier's columns ``qid``, ``docno``, ``score`` (``rank`` ignored).

        A ``features`` column of equal-length arrays (PyTerrier's layout) becomes the feature
        matrix.
        """
        missing = [c for c in ("qid", "docno", score_column) if c not in df.columns]
        if missing:
            raise MissingFeaturesError(
                f"Run.from_pandas: the frame lacks column(s) {missing}; it has {list(df.columns)}"
            )
        feats = None
        if "features" in df.columns and len(df):
            feats = np.stack([np.asarray(v, dtype=np.float32) for v in df["features"].to_numpy()])
        return cls.from_arrays(
            df["qid"].astype(str).to_numpy(),
            df["docno"].astype(str).to_numpy(),
            df[score_column].to_numpy(dtype=np.float64),
            features=feats,
        )

    # ------------------------------------------------------------------ basic properties
    def __len__(self) -> int:
        return len(self.docids)

    @property
    def n_queries(self) -> int:
        return len(self.qids)

    @property
    def sizes(self) -> np.ndarray:
        """Number of candidates of each query (LightGBM's ``group``)."""
        return np.diff(self.offsets)

    @property
    def query_index(self) -> np.ndarray:
        """For each row, the index of its query in ``qids``."""
        return row_group_index(self.offsets)

    @property
    def ranks(self) -> np.ndarray:
        """0-based rank of each row within its query."""
        out: np.ndarray = np.arange(len(self), dtype=np.int64)
        return out - np.repeat(self.offsets[:-1], self.sizes)

    def qid_column(self) -> pa.Array:
        """The query id of every row."""
        return take_str(self.qids, self.query_index)

    def qid_list(self) -> list[str]:
        return to_str_list(self.qids)

    def __repr__(self) -> str:
        f = f", {len(self.feature_names)} features" if self.features is not None else ""
        return f"Run({self.n_queries} queries, {len(self)} rows{f})"

    def query(self, qid: str) -> tuple[list[str], np.ndarray]:
        """Doc ids and scores of one query (for inspection; not a hot path)."""
        idx = self.qid_list().index(qid) if qid in self.qid_list() else -1
        if idx < 0:
            raise KeyError(f"query {qid!r} is not in this run")
        lo, hi = int(self.offsets[idx]), int(self.offsets[idx + 1])
        return to_str_list(self.docids.slice(lo, hi - lo)), self.scores[lo:hi]

    # ------------------------------------------------------------------ derived runs
    def _replace(self, **changes: Any) -> Run:
        values = {
            "qids": self.qids,
            "offsets": self.offsets,
            "docids": self.docids,
            "scores": self.scores,
            "features": self.features,
            "feature_names": self.feature_names,
            "metadata": self.metadata,
        }
        values.update(changes)
        return Run(**values)

    def take_rows(self, rows: np.ndarray, sizes: np.ndarray, qids: pa.Array | None = None) -> Run:
        """Rows ``rows`` (already in query-then-rank order) with the given per-query sizes."""
        return self._replace(
            qids=self.qids if qids is None else qids,
            offsets=offsets_from_sizes(sizes),
            docids=take_str(self.docids, rows),
            scores=self.scores[rows],
            features=None if self.features is None else self.features[rows],
        )

    def cut(self, k: int) -> Run:
        """The top ``k`` candidates of each query."""
        if k < 0:
            raise DataError(f"cut-off k must be >= 0, found {k}")
        sizes = self.sizes
        if (sizes <= k).all():
            return self
        keep = self.ranks < k
        return self.take_rows(np.flatnonzero(keep), np.minimum(sizes, k))

    def slice_queries(self, start: int, stop: int) -> Run:
        """Queries ``start:stop`` as a zero-copy view."""
        start, stop, _ = slice(start, stop).indices(self.n_queries)
        stop = max(stop, start)
        lo, hi = int(self.offsets[start]), int(self.offsets[stop])
        return self._replace(
            qids=self.qids.slice(start, stop - start),
            offsets=self.offsets[start : stop + 1] - lo,
            docids=self.docids.slice(lo, hi - lo),
            scores=self.scores[lo:hi],
            features=None if self.features is None else self.features[lo:hi],
        )

    def split(self, n_parts: int) -> list[Run]:
        """Split into ``n_parts`` runs of consecutive queries with balanced row counts."""
        if n_parts < 1:
            raise DataError(f"n_parts must be >= 1, found {n_parts}")
        if self.n_queries == 0:
            return [self]
        targets = np.linspace(0, len(self), n_parts + 1)[1:-1]
        cuts = np.searchsorted(self.offsets, targets)
        bounds = np.unique(
            np.concatenate([[0], np.clip(cuts, 0, self.n_queries), [self.n_queries]])
        )
        return [self.slice_queries(int(a), int(b)) for a, b in pairwise(bounds)]

    def select(self, qids: Sequence[str] | pa.Array, *, missing: str = "empty") -> Run:
        """The given queries in the given order.

        ``missing="empty"`` gives queries absent from the run an empty list; ``"drop"`` leaves
        them out; ``"raise"`` raises :class:`DataError`.
        """
        want = as_str_array(qids if isinstance(qids, pa.Array) else list(qids), "qid")
        import pyarrow.compute as pc

        pos = pc.fill_null(pc.index_in(want, value_set=self.qids), -1).to_numpy().astype(np.int64)
        present = pos >= 0
        if not present.all():
            if missing == "raise":
                absent = to_str_list(want.filter(pa.array(~present)))[:5]
                raise DataError(f"queries not in the run: {absent}")
            if missing == "drop":
                want = want.filter(pa.array(present))
                pos = pos[present]
                present = present[present]
        sizes = np.where(present, self.sizes[np.maximum(pos, 0)], 0) if len(pos) else pos
        starts = np.where(present, self.offsets[np.maximum(pos, 0)], 0) if len(pos) else pos
        rows = _ranges(starts, sizes)
        return self.take_rows(rows, sizes, qids=want)

    def with_scores(self, scores: np.ndarray, *, resort: bool = True) -> Run:
        """Same candidates with new scores, re-sorted within each query."""
        scores = np.asarray(scores, dtype=np.float64)
        if scores.shape != (len(self),):
            raise DataError(f"expected {len(self)} scores, found shape {scores.shape}")
        if np.isnan(scores).any():
            raise DataError(f"{int(np.isnan(scores).sum())} new scores are NaN")
        if not resort:
            return self._replace(scores=scores)
        order = rank_desc_within_ties(self.docids, self.query_index, scores)
        return self._replace(
            docids=take_str(self.docids, order),
            scores=scores[order],
            features=None if self.features is None else self.features[order],
        )

    def with_features(self, features: np.ndarray | None, names: Sequence[str] = ()) -> Run:
        """Same rows with this feature matrix (replacing any previous one)."""
        if features is None:
            return self._replace(features=None, feature_names=())
        feats = np.asarray(features, dtype=np.float32)
        return self._replace(features=feats, feature_names=tuple(names))

    def with_metadata(self, **meta: Any) -> Run:
        return self._replace(metadata={**self.metadata, **meta})

    def feature(self, name: str) -> np.ndarray:
        """One feature column by name."""
        if self.features is None or name not in self.feature_names:
            raise MissingFeaturesError(
                f"the run has no feature {name!r}; it carries {list(self.feature_names)}"
            )
        return self.features[:, self.feature_names.index(name)]

    # ------------------------------------------------------------------ combination
    @staticmethod
    def concat(runs: Sequence[Run]) -> Run:
        """Concatenate runs over disjoint query sets, in the given order."""
        runs = [r for r in runs]
        if not runs:
            return Run.empty()
        names = runs[0].feature_names
        has_f = runs[0].features is not None
        for r in runs[1:]:
            if (r.features is not None) != has_f or r.feature_names != names:
                raise DataError("Run.concat: all runs must carry the same features")
        qids = concat_str([r.qids for r in runs])
        import pyarrow.compute as pc

        if len(pc.unique(qids)) != len(qids):
            raise DataError("Run.concat: the runs share queries; concat needs disjoint queries")
        return Run(
            qids=qids,
            offsets=offsets_from_sizes(np.concatenate([r.sizes for r in runs])),
            docids=concat_str([r.docids for r in runs]),
            scores=np.concatenate([r.scores for r in runs]),
            features=np.concatenate([r.features for r in runs if r.features is not None])
            if has_f
            else None,
            feature_names=names,
            metadata=dict(runs[0].metadata),
        )

    def __iter__(self) -> Iterator[tuple[str, pa.Array, np.ndarray]]:
        """Iterate over ``(qid, docids, scores)`` per query (for small runs and inspection)."""
        for i, q in enumerate(self.qid_list()):
            lo, hi = int(self.offsets[i]), int(self.offsets[i + 1])
            yield q, self.docids.slice(lo, hi - lo), self.scores[lo:hi]

    # ------------------------------------------------------------------ conversion
    def to_arrow(self) -> pa.Table:
        """A table with columns ``qid``, ``docno``, ``score``, ``rank`` (0-based) and features."""
        cols: dict[str, Any] = {
            "qid": self.qid_column(),
            "docno": self.docids,
            "score": pa.array(self.scores),
            "rank": pa.array(self.ranks),
        }
        if self.features is not None:
            for j, name in enumerate(self.feature_names):
                cols[name] = pa.array(self.features[:, j])
        return pa.table(cols)

    def to_pandas(self, *, features: str = "column") -> pd.DataFrame:
        """A frame with PyTerrier's columns ``qid``, ``docno``, ``score``, ``rank``.

        ``features="column"`` adds a ``features`` column of per-row arrays (PyTerrier's layout),
        ``"wide"`` one column per feature name.
        """
        from rankstack._compat import require

        require("pandas")
        df = pa.table(
            {
                "qid": self.qid_column(),
                "docno": self.docids,
                "score": pa.array(self.scores),
                "rank": pa.array(self.ranks),
            }
        ).to_pandas()
        if self.features is not None:
            if features == "wide":
                for j, name in enumerate(self.feature_names):
                    df[name] = self.features[:, j]
            else:
                df["features"] = list(self.features)
        return df

    def equals(self, other: Run) -> bool:
        """Same queries, candidates, scores and features, in the same order."""
        if not isinstance(other, Run):
            return False
        same = (
            self.qids.equals(other.qids)
            and np.array_equal(self.offsets, other.offsets)
            and self.docids.cast(pa.string()).equals(other.docids.cast(pa.string()))
            and np.array_equal(self.scores, other.scores)
            and self.feature_names == other.feature_names
        )
        if not same:
            return False
        if self.features is None or other.features is None:
            return self.features is None and other.features is None
        return bool(np.array_equal(self.features, other.features))


def _ranges(starts: np.ndarray, sizes: np.ndarray) -> np.ndarray:
    """Concatenation of ``arange(s, s + n)`` for each (s, n), vectorised."""
    sizes = np.asarray(sizes, dtype=np.int64)
    total = int(sizes.sum())
    if total == 0:
        return np.zeros(0, dtype=np.int64)
    group_start = np.repeat(
        np.asarray(starts, dtype=np.int64) - offsets_from_sizes(sizes)[:-1], sizes
    )
    return group_start + np.arange(total, dtype=np.int64)
