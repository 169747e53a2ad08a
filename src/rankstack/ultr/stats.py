"""Summary statistics of a click log, computed chunk by chunk (a log need not fit in memory).

Counts: sessions, distinct queries, impressions, clicks, sessions without clicks (valid
sessions, kept and counted), click-through rate (CTR) by display position, the distribution of
clicks per session and of displayed-list lengths, and, given the known queries, the sessions
whose query id is unknown. :func:`plot_click_stats` draws CTR by position and clicks per
session (matplotlib, the ``report`` extra).
"""

from __future__ import annotations

import logging
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from rankstack._compat import require
from rankstack.data import ClickLog
from rankstack.data._columns import concat_str
from rankstack.io._files import PathLike

logger = logging.getLogger(__name__)

__all__ = ["ClickStats", "click_stats", "plot_click_stats"]


def _add(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    n = max(len(a), len(b))
    out = np.zeros(n, dtype=np.int64)
    out[: len(a)] += a
    out[: len(b)] += b
    return out


@dataclass
class ClickStats:
    """Counts of a click log; :meth:`update` adds a chunk.

    ``impressions_by_position[r]`` and ``clicks_by_position[r]`` count the 0-based display
    position ``r``; ``clicks_per_session[c]`` is the number of sessions with ``c`` clicks and
    ``list_lengths[n]`` the number of sessions showing ``n`` documents.
    """

    sessions: int = 0
    impressions: int = 0
    clicks: int = 0
    sessions_without_clicks: int = 0
    impressions_by_position: np.ndarray = field(default_factory=lambda: np.zeros(0, np.int64))
    clicks_by_position: np.ndarray = field(default_factory=lambda: np.zeros(0, np.int64))
    clicks_per_session: np.ndarray = field(default_factory=lambda: np.zeros(0, np.int64))
    list_lengths: np.ndarray = field(default_factory=lambda: np.zeros(0, np.int64))
    unknown_query_sessions: int | None = None
    metadata: dict[str, Any] = field(default_factory=dict)
    _qids: list[pa.Array] = field(default_factory=list, repr=False)
    _known: pa.Array | None = field(default=None, repr=False)

    def update(self, log: ClickLog) -> ClickStats:
        if not self.metadata and log.metadata:
            self.metadata = dict(log.metadata)
        self.sessions += len(log)
        self.impressions += log.n_impressions
        self.clicks += int(log.clicks.sum())
        pos = log.positions
        self.impressions_by_position = _add(self.impressions_by_position, np.bincount(pos))
        self.clicks_by_position = _add(
            self.clicks_by_position, np.bincount(pos, weights=log.clicks).astype(np.int64)
        )
        per_session = np.bincount(log.session_index, weights=log.clicks, minlength=len(log))
        per_session = per_session.astype(np.int64)
        self.sessions_without_clicks += int((per_session == 0).sum())
        self.clicks_per_session = _add(self.clicks_per_session, np.bincount(per_session))
        self.list_lengths = _add(self.list_lengths, np.bincount(log.sizes))
        if len(log):
            uniq = pc.unique(log.session_qids)
            self._qids = [pc.unique(concat_str([*self._qids, uniq]))]
            if self._known is not None:
                inside = pc.is_in(log.session_qids, value_set=self._known)
                missing = len(log) - int(pc.sum(inside).as_py() or 0)
                self.unknown_query_sessions = (self.unknown_query_sessions or 0) + missing
        return self

    @property
    def queries(self) -> int:
        """Distinct query ids."""
        return len(self._qids[0]) if self._qids else 0

    @property
    def ctr_by_position(self) -> np.ndarray:
        """Clicks over impressions at each 0-based position (NaN where nothing was shown)."""
        shown = self.impressions_by_position.astype(np.float64)
        with np.errstate(invalid="ignore", divide="ignore"):
            out: np.ndarray = np.where(shown > 0, self.clicks_by_position / shown, np.nan)
        return out

    @property
    def ctr(self) -> float:
        return self.clicks / self.impressions if self.impressions else float("nan")

    def to_dict(self) -> dict[str, Any]:
        """Plain JSON: counts, ``ctr_by_position`` (position 1 first) and the distributions."""
        return {
            "sessions": self.sessions,
            "queries": self.queries,
            "impressions": self.impressions,
            "clicks": self.clicks,
            "sessions_without_clicks": self.sessions_without_clicks,
            "unknown_query_sessions": self.unknown_query_sessions,
            "ctr": None if not self.impressions else self.ctr,
            "clicks_per_session_mean": self.clicks / self.sessions if self.sessions else None,
            "ctr_by_position": [None if np.isnan(x) else float(x) for x in self.ctr_by_position],
            "impressions_by_position": self.impressions_by_position.tolist(),
            "clicks_by_position": self.clicks_by_position.tolist(),
            "clicks_per_session": self.clicks_per_session.tolist(),
            "list_lengths": self.list_lengths.tolist(),
            "propensities": self.metadata.get("propensities"),
            "click_model": self.metadata.get("click_model"),
        }


def click_stats(logs: ClickLog | Iterable[ClickLog], *, queries: Any = None) -> ClickStats:
    """Statistics of a log or of a stream of its chunks (``iter_click_chunks``).

    ``queries`` (ids, :class:`~rankstack.data.Queries`, a run or a LETOR set): count the
    sessions whose query id is not among them instead of failing.
    """
    stats = ClickStats()
    if queries is not None:
        from rankstack.io.clicks import _known_qids

        stats._known = _known_qids(queries)
        stats.unknown_query_sessions = 0
    chunks = [logs] if isinstance(logs, ClickLog) else logs
    for chunk in chunks:
        stats.update(chunk)
    return stats


def plot_click_stats(stats: ClickStats, path: PathLike, *, title: str | None = None) -> Path:
    """CTR by position (bars; the true PBM propensities scaled to CTR@1 when the log records
    them) and the distribution of clicks per session, as an image (``.png``, ``.pdf``...)."""
    require("matplotlib")
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from rankstack.io._files import atomic_write

    ctr = stats.ctr_by_position
    fig, (ax1, ax2) = plt.subplots(1, 2, figsize=(10, 4))
    ranks = np.arange(1, len(ctr) + 1)
    ax1.bar(ranks, np.nan_to_num(ctr), color="#4c72b0", label="CTR")
    props = stats.metadata.get("propensities")
    if props and len(ctr) and not np.isnan(ctr[0]):
        p = np.asarray(props[: len(ctr)], dtype=np.float64)
        ax1.plot(
            ranks[: len(p)], p * ctr[0], "o-", color="#dd8452",
            label="true propensity x CTR@1",
        )  # fmt: skip
        ax1.legend()
    ax1.set_xlabel("position")
    ax1.set_ylabel("click-through rate")
    ax1.set_xticks(ranks)
    ax1.set_title("CTR by position")
    counts = stats.clicks_per_session
    ax2.bar(np.arange(len(counts)), counts, color="#55a868")
    ax2.set_xlabel("clicks in the session")
    ax2.set_ylabel("sessions")
    ax2.set_title("clicks per session")
    fig.suptitle(
        title or f"{stats.sessions:,} sessions, {stats.queries:,} queries, CTR {stats.ctr:.3f}"
    )
    fig.tight_layout()
    target = Path(path)
    fmt = target.suffix.lstrip(".") or "png"
    with atomic_write(target, "wb") as fh:
        fig.savefig(fh, format=fmt, dpi=120)
    plt.close(fig)
    return target
