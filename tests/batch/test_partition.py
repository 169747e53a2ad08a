"""Partitions are contiguous, cover everything once, are balanced and keep queries whole."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from rankstack.batch import even_bounds, group_bounds
from rankstack.exceptions import DataError


@given(st.integers(0, 5000), st.integers(1, 300))
def test_even_bounds_cover_all_items_in_balanced_ranges(n_items: int, n_parts: int) -> None:
    b = even_bounds(n_items, n_parts)
    assert b[0] == 0 and b[-1] == n_items
    sizes = np.diff(b)
    assert len(sizes) == max(1, min(n_parts, n_items))
    assert (sizes >= 0).all() and sizes.max() - sizes.min() <= 1
    if n_items:
        assert (sizes > 0).all()


@given(st.lists(st.integers(0, 60), min_size=0, max_size=200), st.integers(1, 20))
def test_group_bounds_cut_only_between_queries(sizes: list[int], n_parts: int) -> None:
    offsets = np.concatenate([[0], np.cumsum(sizes)]).astype(np.int64)
    b = group_bounds(offsets, n_parts)
    n_queries = len(sizes)
    assert b[0] == 0 and b[-1] == n_queries
    assert (np.diff(b) > 0).all() or n_queries == 0
    assert len(b) - 1 <= max(1, n_parts)
    rows = offsets[b]
    if n_queries and offsets[-1]:
        # each part is within one query's rows of an equal share
        share = offsets[-1] / (len(b) - 1)
        assert np.abs(np.diff(rows) - share).max() <= max(sizes) + share


@pytest.mark.parametrize("fn", [even_bounds, lambda n, k: group_bounds(np.arange(n + 1), k)])
def test_zero_partitions_are_refused(fn: object) -> None:
    with pytest.raises(DataError, match="partitions"):
        fn(10, 0)  # type: ignore[operator]
