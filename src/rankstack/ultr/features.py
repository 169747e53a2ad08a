"""Training data from clicks: join a :class:`~rankstack.data.ClickLog` to LETOR feature vectors.

Every impression of a log (a document shown at a position in a session) is matched to the row
of a :class:`~rankstack.io.letor.LetorData` set with the same query id and doc id, giving per
impression its feature vector (by row index), its 0-based position and its click. The join is
vectorised: query and doc ids are factorised with Arrow (``pyarrow.compute.index_in``), each
(query, doc) pair becomes one int64 key, and the keys are looked up with ``np.searchsorted``;
there is no loop over sessions or impressions.

Two aggregations serve the learners (:mod:`rankstack.ultr.learners`):

- :meth:`Impressions.by_list`: one entry per *distinct displayed list* (the same documents in
  the same order), with the number of sessions that showed it and the number of clicks at each
  of its positions. Under a deterministic production ranker every session of a query shows
  the same list, so 10^6 sessions become a few hundred lists. Every listwise loss that is
  linear in the clicks (the IPW- and DLA-weighted softmax losses of Ai et al. 2018, the naive
  softmax loss) takes the same value on the sum of a list's clicks as on its sessions one by
  one, so the aggregation is exact for them (only the mini-batch composition differs).
- :meth:`Impressions.by_position`: one entry per (query, doc, position) with the times shown
  and clicked there: the sufficient statistics of the position-based model, used by
  regression-EM (Wang et al. 2018), by the inverse-propensity-weighted labels of LambdaMART
  and by intervention harvesting (Agarwal et al. 2019).
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from rankstack.data import ClickLog
from rankstack.data._columns import group_codes, offsets_from_sizes, row_group_index, take_str
from rankstack.exceptions import DataError
from rankstack.io.letor import LetorData

logger = logging.getLogger(__name__)

#: how many unknown ids an error message names
_SHOWN = 5


class UnknownClickDataError(DataError):
    """A click log names queries or (query, doc) pairs that the feature set lacks."""


@dataclass(frozen=True, eq=False)
class Impressions:
    """A click log joined to a LETOR set: one entry per impression, grouped by session.

    Attributes
    ----------
    letor : the feature source; ``rows`` index its run
    rows : int64, the LETOR row of each impression
    positions : int64, 0-based display position of each impression
    clicks : uint8, 1 when the impression was clicked
    offsets : int64 session offsets (``offsets[i]:offsets[i+1]`` are session ``i``'s impressions)
    n_positions : the longest displayed list (the ``k`` of the log)
    metadata : the click log's metadata (simulator settings, true propensities...)
    """

    letor: LetorData
    rows: np.ndarray
    positions: np.ndarray
    clicks: np.ndarray
    offsets: np.ndarray
    n_positions: int
    metadata: Mapping[str, Any] = field(default_factory=dict)

    def __len__(self) -> int:
        """Number of sessions."""
        return len(self.offsets) - 1

    @property
    def n_impressions(self) -> int:
        return len(self.rows)

    def __repr__(self) -> str:
        return (
            f"Impressions({len(self)} sessions, {self.n_impressions} impressions, "
            f"{int(self.clicks.sum())} clicks, k={self.n_positions})"
        )

    def features(self) -> np.ndarray:
        """The ``[impressions, features]`` matrix (a copy; prefer ``rows`` on large logs)."""
        return self.letor.features[self.rows]

    def padded_rows(self) -> np.ndarray:
        """``[sessions, k]`` LETOR rows in display order, ``-1`` past a session's list."""
        out = np.full((len(self), self.n_positions), -1, dtype=np.int64)
        out[row_group_index(self.offsets), self.positions] = self.rows
        return out

    def ctr_by_position(self) -> np.ndarray:
        """Click-through rate at each position (impressions shown there that were clicked)."""
        shown = np.bincount(self.positions, minlength=self.n_positions)
        clicked = np.bincount(self.positions, weights=self.clicks, minlength=self.n_positions)
        return clicked / np.maximum(shown, 1)

    def by_list(self) -> DisplayLists:
        """Aggregate sessions that showed the same list (see the module docstring)."""
        padded = self.padded_rows()
        n, k = padded.shape
        if n == 0:
            return DisplayLists(
                self.letor,
                np.zeros((0, k), np.int64),
                np.zeros((0, k), np.float64),
                np.zeros(0, np.int64),
                self.metadata,
            )
        # sessions that showed nothing carry no signal (and have no impressions)
        nonempty = np.flatnonzero(padded[:, 0] >= 0)
        if len(nonempty) < n:
            logger.info("%d sessions with an empty list left out", n - len(nonempty))
        padded = padded[nonempty]
        inverse = np.full(n, -1, dtype=np.int64)
        inverse[nonempty], first = _unique_rows(padded)
        n_lists = len(first)
        sessions = np.bincount(inverse[nonempty], minlength=n_lists)
        slot = inverse[row_group_index(self.offsets)] * k + self.positions
        clicks = np.bincount(slot, weights=self.clicks, minlength=n_lists * k).reshape(n_lists, k)
        return DisplayLists(
            self.letor, padded[first], clicks, sessions.astype(np.int64), self.metadata
        )

    def by_position(self) -> PositionCounts:
        """Times each (LETOR row, position) pair was shown and clicked."""
        return self.by_list().by_position()


@dataclass(frozen=True, eq=False)
class DisplayLists:
    """Distinct displayed lists with their session and click counts.

    Attributes
    ----------
    letor : the feature source
    rows : int64 ``[lists, k]``, LETOR rows in display order, ``-1`` at unused positions
    clicks : float64 ``[lists, k]``, clicks at each position summed over the list's sessions
    sessions : int64 ``[lists]``, sessions that showed the list
    metadata : the click log's metadata
    """

    letor: LetorData
    rows: np.ndarray
    clicks: np.ndarray
    sessions: np.ndarray
    metadata: Mapping[str, Any] = field(default_factory=dict)

    @staticmethod
    def merge(parts: Sequence[DisplayLists]) -> DisplayLists:
        """Lists of several parts (chunks of one log) over the same LETOR set, re-aggregated."""
        if not parts:
            raise DataError("DisplayLists.merge needs at least one part")
        letor = parts[0].letor
        if any(p.letor is not letor for p in parts[1:]):
            raise DataError("DisplayLists.merge: the parts join different feature sets")
        k = max(p.n_positions for p in parts)
        rows = np.concatenate([_widen(p.rows, k, -1) for p in parts])
        clicks = np.concatenate([_widen(p.clicks, k, 0.0) for p in parts])
        sessions = np.concatenate([p.sessions for p in parts])
        if len(rows) == 0:
            return DisplayLists(letor, rows, clicks, sessions, parts[0].metadata)
        inverse, first = _unique_rows(rows)
        n = len(first)
        merged = np.zeros((n, k))
        np.add.at(merged, inverse, clicks)
        return DisplayLists(
            letor,
            rows[first],
            merged,
            np.bincount(inverse, weights=sessions, minlength=n).astype(np.int64),
            parts[0].metadata,
        )

    def __len__(self) -> int:
        return len(self.sessions)

    @property
    def mask(self) -> np.ndarray:
        """``[lists, k]`` True at shown positions."""
        return self.rows >= 0

    @property
    def n_positions(self) -> int:
        return int(self.rows.shape[1])

    def by_position(self) -> PositionCounts:
        """Sum the lists' counts per (LETOR row, position)."""
        m = self.mask
        pos = np.broadcast_to(np.arange(self.n_positions, dtype=np.int64), self.rows.shape)[m]
        rows = self.rows[m]
        shown = np.broadcast_to(self.sessions[:, None], self.rows.shape)[m]
        clicks = self.clicks[m]
        key = rows * self.n_positions + pos
        uniq, inverse = np.unique(key, return_inverse=True)
        entry_rows = uniq // self.n_positions
        return PositionCounts(
            self.letor,
            rows=entry_rows,
            positions=uniq % self.n_positions,
            shown=np.bincount(inverse, weights=shown, minlength=len(uniq)),
            clicks=np.bincount(inverse, weights=clicks, minlength=len(uniq)),
            query_sessions=self.query_sessions()[self.letor.run.query_index[entry_rows]],
            n_positions=self.n_positions,
        )

    @property
    def query_index(self) -> np.ndarray:
        """The LETOR query (index into ``letor.run.qids``) of each list."""
        return self.letor.run.query_index[self.rows[:, 0]]

    def query_sessions(self) -> np.ndarray:
        """Sessions of each LETOR query (float64, ``[letor.run.n_queries]``)."""
        return np.bincount(
            self.query_index, weights=self.sessions, minlength=self.letor.run.n_queries
        )


@dataclass(frozen=True, eq=False)
class PositionCounts:
    """Times each (LETOR row, position) pair was shown and clicked, sorted by row then position.

    Attributes
    ----------
    letor : the feature source
    rows, positions : int64, the LETOR row and the 0-based position of each entry
    shown, clicks : float64 counts
    query_sessions : float64, for each entry the sessions of its query (whether or not they
        showed this document), the denominator of per-query click rates
    n_positions : the ``k`` of the log
    """

    letor: LetorData
    rows: np.ndarray
    positions: np.ndarray
    shown: np.ndarray
    clicks: np.ndarray
    query_sessions: np.ndarray
    n_positions: int

    def __len__(self) -> int:
        return len(self.rows)


def _widen(a: np.ndarray, k: int, fill: float) -> np.ndarray:
    if a.shape[1] == k:
        return a
    out = np.full((a.shape[0], k), fill, dtype=a.dtype)
    out[:, : a.shape[1]] = a
    return out


def aggregate_lists(
    chunks: Iterable[ClickLog],
    letor: LetorData,
    *,
    on_unknown: Literal["error", "drop"] = "error",
    metadata: Mapping[str, Any] | None = None,
) -> DisplayLists:
    """Display lists of a log read chunk by chunk (:func:`rankstack.io.clicks.iter_click_chunks`),
    so that only one chunk of sessions and the distinct lists are ever in memory."""
    parts = []
    meta = metadata
    for chunk in chunks:
        if meta is None:
            meta = dict(chunk.metadata)
        parts.append(join_clicks(chunk, letor, on_unknown=on_unknown).by_list())
        if len(parts) >= 16:  # keep the partial aggregates few
            parts = [DisplayLists.merge(parts)]
    if not parts:
        raise DataError("the click log has no sessions")
    merged = DisplayLists.merge(parts)
    return DisplayLists(merged.letor, merged.rows, merged.clicks, merged.sessions, dict(meta or {}))


def join_clicks(
    clicks: ClickLog,
    letor: LetorData,
    *,
    on_unknown: Literal["error", "drop"] = "error",
) -> Impressions:
    """Match every impression of ``clicks`` to its row of ``letor`` (vectorised; see module doc).

    Parameters
    ----------
    clicks:
        The click log.
    letor:
        Feature vectors of every (query, doc) the log shows.
    on_unknown:
        ``"error"`` (default) raises :class:`UnknownClickDataError` when a session's query or
        a shown document has no feature vector, with counts and examples; ``"drop"`` leaves
        those sessions out and logs how many.

    Raises
    ------
    UnknownClickDataError
        Unknown query ids or (query, doc) pairs, with ``on_unknown="error"``.
    """
    if not isinstance(clicks, ClickLog):
        raise DataError(f"join_clicks: expected a ClickLog, found {type(clicks).__name__}")
    if not isinstance(letor, LetorData):
        raise DataError(f"join_clicks: expected LetorData, found {type(letor).__name__}")
    if on_unknown not in ("error", "drop"):
        raise DataError(f"on_unknown must be 'error' or 'drop', found {on_unknown!r}")
    run = letor.run
    session = clicks.session_index
    qidx = _index_in(clicks.session_qids, run.qids)  # -1 for unknown queries
    doc_values, doc_codes = group_codes(run.docids)
    didx = _index_in(clicks.docids, doc_values)
    n_docs = max(len(doc_values), 1)
    letor_keys = run.query_index * n_docs + doc_codes
    order = np.argsort(letor_keys, kind="stable")
    sorted_keys = letor_keys[order]
    imp_q = qidx[session]
    keys = imp_q * n_docs + didx
    at = np.searchsorted(sorted_keys, keys)
    at_clip = np.minimum(at, max(len(sorted_keys) - 1, 0))
    found = (imp_q >= 0) & (didx >= 0) & (at < len(sorted_keys))
    if len(sorted_keys):
        found &= sorted_keys[at_clip] == keys
    else:
        found[:] = False
    bad_query = qidx < 0
    bad_imp = ~found & ~bad_query[session]
    if bad_query.any() or bad_imp.any():
        message = _unknown_message(clicks, bad_query, bad_imp, session)
        if on_unknown == "error":
            raise UnknownClickDataError(
                message + "; pass on_unknown='drop' to leave those sessions out"
            )
        bad_session = bad_query.copy()
        bad_session[session[bad_imp]] = True
        logger.warning("%s: %d sessions dropped", message, int(bad_session.sum()))
        keep = np.flatnonzero(~bad_session)
        return join_clicks(clicks.take_sessions(keep), letor, on_unknown="error")
    rows = order[at_clip] if len(sorted_keys) else np.zeros(0, dtype=np.int64)
    sizes = clicks.sizes
    return Impressions(
        letor=letor,
        rows=rows.astype(np.int64, copy=False),
        positions=clicks.positions,
        clicks=clicks.clicks.astype(np.uint8, copy=False),
        offsets=offsets_from_sizes(sizes),
        n_positions=int(sizes.max()) if len(sizes) else 0,
        metadata=dict(clicks.metadata),
    )


def _index_in(values: pa.Array, value_set: pa.Array) -> np.ndarray:
    """Position of each value in ``value_set`` (int64; -1 when absent)."""
    if len(values) == 0:
        return np.zeros(0, dtype=np.int64)
    if value_set.type != values.type:
        value_set = value_set.cast(values.type)
    idx = pc.index_in(values, value_set=value_set)
    return idx.fill_null(-1).to_numpy(zero_copy_only=False).astype(np.int64, copy=False)


def _unknown_message(
    clicks: ClickLog, bad_query: np.ndarray, bad_imp: np.ndarray, session: np.ndarray
) -> str:
    parts = []
    if bad_query.any():
        names = pc.unique(clicks.session_qids.filter(pa.array(bad_query))).to_pylist()
        parts.append(
            f"{len(names)} query id(s) in {int(bad_query.sum())} session(s) have no feature "
            f"vectors (e.g. {names[:_SHOWN]})"
        )
    if bad_imp.any():
        rows = np.flatnonzero(bad_imp)
        qids = take_str(clicks.session_qids, session[rows]).to_pylist()
        docs = take_str(clicks.docids, rows).to_pylist()
        pairs = sorted(set(zip(qids, docs)))
        shown = [f"{q}/{d}" for q, d in pairs[:_SHOWN]]
        n_sessions = len(np.unique(session[rows]))
        parts.append(
            f"{len(rows)} impression(s) in {n_sessions} session(s) show {len(pairs)} "
            f"(query, doc) pair(s) absent from the feature set (e.g. {shown})"
        )
    return "the click log does not match the features: " + "; ".join(parts)


def _unique_rows(padded: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Group identical rows of an int64 matrix: ``(inverse, first index of each group)``.

    Rows are hashed to one uint64 each (a multiply-xorshift mix), grouped by ``np.unique``
    on the hashes, and the grouping is verified row by row; on a hash collision (never seen)
    it falls back to ``np.unique(axis=0)``.
    """
    h = np.full(len(padded), 0x9E3779B97F4A7C15, dtype=np.uint64)
    with np.errstate(over="ignore"):
        for j in range(padded.shape[1]):  # k columns, not sessions
            v = padded[:, j].astype(np.uint64) + np.uint64(0x632BE59BD9B4E019)
            h ^= v
            h *= np.uint64(0xBF58476D1CE4E5B9)
            h ^= h >> np.uint64(31)
    _, first, inverse = np.unique(h, return_index=True, return_inverse=True)
    inverse = inverse.reshape(-1)
    if np.array_equal(padded, padded[first][inverse]):
        return inverse.astype(np.int64), first.astype(np.int64)
    logger.debug("row hash collision: grouping with np.unique(axis=0)")
    _, first, inverse = np.unique(padded, axis=0, return_index=True, return_inverse=True)
    return inverse.reshape(-1).astype(np.int64), first.astype(np.int64)


__all__ = [
    "DisplayLists",
    "Impressions",
    "PositionCounts",
    "UnknownClickDataError",
    "aggregate_lists",
    "join_clicks",
]
