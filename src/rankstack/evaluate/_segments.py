"""Vectorised operations over groups of consecutive rows (one group per query).

Every function takes ``seg``, the group index of each row, non-decreasing, so the rows of a
group are contiguous and in rank order. Sums that trec_eval accumulates in a C loop are
accumulated here in the same order (:func:`ordered_sum`), so the floating-point result is
identical, not merely close.
"""

from __future__ import annotations

import math

import numpy as np

_LOG2: np.ndarray = np.zeros(0, dtype=np.float64)


def log2_discount(n: int) -> np.ndarray:
    """``log2(i + 2)`` for ranks ``i = 0 .. n-1``, from the C library as trec_eval computes it.

    numpy's vectorised ``log2`` may differ from libm's in the last bit; ``math.log2`` calls
    libm, so the table is built once with it and grown by doubling (no per-row work).
    """
    global _LOG2
    if len(_LOG2) < n:
        size = max(n, 2 * len(_LOG2), 1024)
        _LOG2 = np.fromiter((math.log2(i + 2) for i in range(size)), np.float64, size)
    return _LOG2[:n]


def group_starts(seg: np.ndarray) -> np.ndarray:
    """Indices of the first row of each non-empty group."""
    if len(seg) == 0:
        return np.zeros(0, dtype=np.int64)
    return np.flatnonzero(np.r_[True, seg[1:] != seg[:-1]])


def position_in_group(seg: np.ndarray) -> np.ndarray:
    """0-based position of each row within its group (a per-group running count)."""
    n = len(seg)
    if n == 0:
        return np.zeros(0, dtype=np.int64)
    starts = group_starts(seg)
    sizes = np.diff(np.r_[starts, n])
    return np.arange(n, dtype=np.int64) - np.repeat(starts, sizes)


def count(seg: np.ndarray, n_groups: int) -> np.ndarray:
    """Rows per group, as int64."""
    return np.bincount(seg, minlength=n_groups).astype(np.int64, copy=False)


def ordered_sum(values: np.ndarray, seg: np.ndarray, n_groups: int) -> np.ndarray:
    """Per-group sum accumulated left to right, exactly as ``sum += v`` in a C loop.

    ``np.add.reduceat`` and ``np.bincount`` sum pairwise or in another order, which can change
    the last bit. Here the loop runs over positions within a group (at most the largest group
    size, not the number of rows): step ``p`` adds the ``p``-th value of every group at once.
    """
    out = np.zeros(n_groups, dtype=np.float64)
    if len(values) == 0:
        return out
    pos = position_in_group(seg)
    order = np.argsort(pos, kind="stable")
    bounds = np.r_[0, np.cumsum(np.bincount(pos))]
    seg_sorted = seg[order]
    val_sorted = values[order]
    for lo, hi in zip(bounds[:-1].tolist(), bounds[1:].tolist()):
        idx = seg_sorted[lo:hi]  # each group at most once per position: no repeated index
        out[idx] += val_sorted[lo:hi]
    return out


def first(values: np.ndarray, seg: np.ndarray, n_groups: int, fill: float) -> np.ndarray:
    """The first value of each group, ``fill`` for empty groups."""
    out = np.full(n_groups, fill, dtype=np.float64)
    starts = group_starts(seg)
    out[seg[starts]] = values[starts]
    return out


def group_max(values: np.ndarray, seg: np.ndarray, n_groups: int, fill: float) -> np.ndarray:
    """The largest value of each group (exact: a maximum involves no rounding)."""
    out = np.full(n_groups, fill, dtype=np.float64)
    if len(values) == 0:
        return out
    starts = group_starts(seg)
    out[seg[starts]] = np.maximum.reduceat(values, starts)
    return out


def exclusive_cumsum(flags: np.ndarray, seg: np.ndarray) -> np.ndarray:
    """For each row, how many earlier rows of its group have ``flags`` set (integers, exact)."""
    n = len(flags)
    if n == 0:
        return np.zeros(0, dtype=np.int64)
    c = np.cumsum(flags, dtype=np.int64)
    before = c - flags.astype(np.int64)
    starts = group_starts(seg)
    sizes = np.diff(np.r_[starts, n])
    return before - np.repeat(before[starts], sizes)
