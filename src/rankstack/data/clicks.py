"""``ClickLog``: search sessions (a query, the documents shown in order, which were clicked).

Columnar like :class:`~rankstack.data.Run`: one row per *impression* (a document shown in a
session), grouped by session with ``offsets``; ``offsets[i]:offsets[i+1]`` are the impressions of
session ``i`` in display order. Nothing here is a dict of dicts, so 10^6 sessions x 10 positions
stay a few arrays.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pyarrow as pa

from rankstack.data._columns import (
    as_str_array,
    concat_str,
    offsets_from_sizes,
    row_group_index,
    take_str,
)
from rankstack.exceptions import DataError


@dataclass(frozen=True, eq=False)
class ClickLog:
    """Sessions with their displayed documents and clicks.

    Attributes
    ----------
    session_qids : pyarrow string array, the query id of each session
    offsets : int64 array of length ``n_sessions + 1``
    docids : pyarrow string array, one per impression, in display order within a session
    clicks : uint8 array (0/1), one per impression
    dwell : float32 array of dwell times in seconds (NaN when unknown), or None
    display : extra per-impression display features (e.g. ``height`` as in Baidu-ULTR),
        each a numpy array aligned with ``docids``
    metadata : provenance (simulator settings, source file, declared k...)
    """

    session_qids: pa.Array
    offsets: np.ndarray
    docids: pa.Array
    clicks: np.ndarray
    dwell: np.ndarray | None = None
    display: Mapping[str, np.ndarray] = field(default_factory=dict)
    metadata: Mapping[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        n = len(self.docids)
        if len(self.offsets) != len(self.session_qids) + 1 or int(self.offsets[-1]) != n:
            raise DataError(
                f"ClickLog: offsets must have n_sessions+1 entries ending at the {n} impressions"
            )
        if len(self.clicks) != n:
            raise DataError(f"ClickLog: {len(self.clicks)} click flags for {n} impressions")
        if self.dwell is not None and len(self.dwell) != n:
            raise DataError(f"ClickLog: {len(self.dwell)} dwell times for {n} impressions")
        for name, col in self.display.items():
            if len(col) != n:
                raise DataError(
                    f"ClickLog: display feature {name!r} has {len(col)} values, not {n}"
                )

    @classmethod
    def from_arrays(
        cls,
        session_qid: Any,
        sizes: Any,
        docid: Any,
        click: Any,
        *,
        dwell: Any = None,
        display: Mapping[str, Any] | None = None,
        metadata: Mapping[str, Any] | None = None,
    ) -> ClickLog:
        """Build from one query id per session, the list length of each session, and one
        doc id and click flag (0/1) per impression in display order."""
        qids = as_str_array(session_qid, "session qid")
        sizes_arr = np.asarray(sizes, dtype=np.int64)
        if sizes_arr.shape != (len(qids),) or (sizes_arr < 0).any():
            raise DataError("ClickLog: give one non-negative list length per session")
        docs = as_str_array(docid, "docid")
        clicks = np.asarray(click)
        if clicks.dtype == bool:
            clicks = clicks.astype(np.uint8)
        if clicks.size and not np.isin(clicks, (0, 1)).all():
            raise DataError("ClickLog: click flags must be 0 or 1")
        return cls(
            session_qids=qids,
            offsets=offsets_from_sizes(sizes_arr),
            docids=docs,
            clicks=clicks.astype(np.uint8, copy=False),
            dwell=None if dwell is None else np.asarray(dwell, dtype=np.float32),
            display={k: np.asarray(v) for k, v in (display or {}).items()},
            metadata=dict(metadata or {}),
        )

    # ------------------------------------------------------------------ shape
    def __len__(self) -> int:
        """Number of sessions."""
        return len(self.session_qids)

    @property
    def n_impressions(self) -> int:
        return len(self.docids)

    @property
    def sizes(self) -> np.ndarray:
        """Number of documents shown in each session."""
        return np.diff(self.offsets)

    @property
    def session_index(self) -> np.ndarray:
        """For each impression, the index of its session."""
        return row_group_index(self.offsets)

    @property
    def positions(self) -> np.ndarray:
        """0-based display position of each impression."""
        return np.arange(self.n_impressions, dtype=np.int64) - np.repeat(
            self.offsets[:-1], self.sizes
        )

    def __repr__(self) -> str:
        return (
            f"ClickLog({len(self)} sessions, {self.n_impressions} impressions, "
            f"{int(self.clicks.sum())} clicks)"
        )

    # ------------------------------------------------------------------ slicing
    def slice_sessions(self, start: int, stop: int) -> ClickLog:
        start, stop, _ = slice(start, stop).indices(len(self))
        stop = max(stop, start)
        lo, hi = int(self.offsets[start]), int(self.offsets[stop])
        return ClickLog(
            session_qids=self.session_qids.slice(start, stop - start),
            offsets=self.offsets[start : stop + 1] - lo,
            docids=self.docids.slice(lo, hi - lo),
            clicks=self.clicks[lo:hi],
            dwell=None if self.dwell is None else self.dwell[lo:hi],
            display={k: v[lo:hi] for k, v in self.display.items()},
            metadata=self.metadata,
        )

    def take_sessions(self, idx: np.ndarray) -> ClickLog:
        """The given sessions, in the given order."""
        idx = np.asarray(idx, dtype=np.int64)
        sizes = self.sizes[idx]
        total = int(sizes.sum())
        starts = self.offsets[:-1][idx]
        rows = (
            np.repeat(starts - offsets_from_sizes(sizes)[:-1], sizes)
            + np.arange(total, dtype=np.int64)
            if total
            else np.zeros(0, dtype=np.int64)
        )
        return ClickLog(
            session_qids=take_str(self.session_qids, idx),
            offsets=offsets_from_sizes(sizes),
            docids=take_str(self.docids, rows),
            clicks=self.clicks[rows],
            dwell=None if self.dwell is None else self.dwell[rows],
            display={k: v[rows] for k, v in self.display.items()},
            metadata=self.metadata,
        )

    @staticmethod
    def concat(logs: Sequence[ClickLog]) -> ClickLog:
        """Sessions of several logs, one after another (e.g. streamed chunks)."""
        if not logs:
            raise DataError("ClickLog.concat needs at least one log")
        keys = set(logs[0].display)
        has_dwell = logs[0].dwell is not None
        for log in logs[1:]:
            if set(log.display) != keys or (log.dwell is not None) != has_dwell:
                raise DataError("ClickLog.concat: the logs carry different columns")
        return ClickLog(
            session_qids=concat_str([log.session_qids for log in logs]),
            offsets=offsets_from_sizes(np.concatenate([log.sizes for log in logs])),
            docids=concat_str([log.docids for log in logs]),
            clicks=np.concatenate([log.clicks for log in logs]),
            dwell=np.concatenate([log.dwell for log in logs if log.dwell is not None])
            if has_dwell
            else None,
            display={k: np.concatenate([log.display[k] for log in logs]) for k in keys},
            metadata=dict(logs[0].metadata),
        )

    def to_arrow(self) -> pa.Table:
        """One row per impression: ``session``, ``qid``, ``position``, ``docno``, ``click``..."""
        cols: dict[str, Any] = {
            "session": pa.array(self.session_index),
            "qid": take_str(self.session_qids, self.session_index),
            "position": pa.array(self.positions),
            "docno": self.docids,
            "click": pa.array(self.clicks),
        }
        if self.dwell is not None:
            cols["dwell"] = pa.array(self.dwell)
        for k, v in self.display.items():
            cols[k] = pa.array(v)
        return pa.table(cols)
