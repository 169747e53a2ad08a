"""Contiguous, balanced partitions of queries (batch jobs) and of query groups (training).

A partition is a range ``[start, stop)`` of consecutive queries, so concatenating the partial
results in partition order gives the queries in their original order, and a query (with all
its rows) is never split across partitions: LightGBM's ranking objective needs whole query
groups on each machine.
"""

from __future__ import annotations

import numpy as np

from rankstack.exceptions import DataError


def even_bounds(n_items: int, n_parts: int) -> np.ndarray:
    """Bounds of ``min(n_parts, n_items)`` contiguous ranges whose sizes differ by at most one.

    Returns an int64 array ``b`` with ``b[0] == 0`` and ``b[-1] == n_items``; range ``i`` is
    ``b[i]:b[i+1]``. Zero items give the single empty range ``[0, 0]``.
    """
    if n_parts < 1:
        raise DataError(f"the number of partitions must be >= 1, found {n_parts}")
    if n_items < 0:
        raise DataError(f"the number of items must be >= 0, found {n_items}")
    parts = max(1, min(n_parts, n_items))
    return (np.arange(parts + 1, dtype=np.int64) * n_items) // parts


def group_bounds(offsets: np.ndarray, n_parts: int) -> np.ndarray:
    """Query bounds of at most ``n_parts`` contiguous ranges of whole queries, balanced by rows.

    ``offsets`` are query offsets (``Run.offsets``: length queries + 1). Each cut is placed at
    the query boundary nearest to an equal share of the rows, as :meth:`Run.split` does; empty
    ranges are dropped, so fewer parts come back when queries are few or very unequal.
    """
    if n_parts < 1:
        raise DataError(f"the number of partitions must be >= 1, found {n_parts}")
    offsets = np.asarray(offsets, dtype=np.int64)
    n_queries = len(offsets) - 1
    if n_queries <= 0:
        return np.zeros(2, dtype=np.int64) if n_queries == 0 else np.zeros(1, dtype=np.int64)
    targets = np.linspace(0, int(offsets[-1]), n_parts + 1)[1:-1]
    cuts = np.searchsorted(offsets, targets)
    return np.unique(np.concatenate([[0], np.clip(cuts, 0, n_queries), [n_queries]])).astype(
        np.int64
    )
