"""Grouped primitives: exact ordered sums and counts, checked against plain Python loops."""

from __future__ import annotations

import math

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st

from rankstack.evaluate import _segments as seg


@st.composite
def grouped(draw: st.DrawFn) -> tuple[np.ndarray, np.ndarray, int]:
    n_groups = draw(st.integers(1, 6))
    sizes = draw(st.lists(st.integers(0, 7), min_size=n_groups, max_size=n_groups))
    groups = np.repeat(np.arange(n_groups), sizes)
    values = draw(
        st.lists(
            st.floats(-1e6, 1e6, allow_nan=False, allow_subnormal=False),
            min_size=len(groups),
            max_size=len(groups),
        )
    )
    return np.asarray(values, dtype=np.float64), groups.astype(np.int64), n_groups


@settings(max_examples=150, deadline=None)
@given(data=grouped())
def test_ordered_sum_is_a_left_to_right_loop(data: tuple[np.ndarray, np.ndarray, int]) -> None:
    values, groups, n = data
    want = [0.0] * n
    for v, g in zip(values.tolist(), groups.tolist()):
        want[g] += v  # the C loop's order
    assert seg.ordered_sum(values, groups, n).tolist() == want  # bit equality


@settings(max_examples=100, deadline=None)
@given(data=grouped())
def test_positions_counts_and_maxima(data: tuple[np.ndarray, np.ndarray, int]) -> None:
    values, groups, n = data
    pos, seen = [], {}
    for g in groups.tolist():
        pos.append(seen.get(g, 0))
        seen[g] = seen.get(g, 0) + 1
    assert seg.position_in_group(groups).tolist() == pos
    assert seg.count(groups, n).tolist() == [seen.get(g, 0) for g in range(n)]
    maxima = seg.group_max(values, groups, n, fill=-1.0).tolist()
    firsts = seg.first(values, groups, n, fill=-1.0).tolist()
    for g in range(n):
        mine = values[groups == g]
        assert maxima[g] == (mine.max() if len(mine) else -1.0)
        assert firsts[g] == (mine[0] if len(mine) else -1.0)
    flags = values > 0
    before = seg.exclusive_cumsum(flags, groups).tolist()
    running: dict[int, int] = {}
    for i, g in enumerate(groups.tolist()):
        assert before[i] == running.get(g, 0)
        running[g] = running.get(g, 0) + int(flags[i])


def test_log2_discount_is_libm() -> None:
    table = seg.log2_discount(5000)
    assert all(table[i] == math.log2(i + 2) for i in range(5000))
    assert len(seg.log2_discount(3)) == 3


def test_empty_inputs() -> None:
    empty = np.zeros(0, dtype=np.int64)
    assert seg.ordered_sum(np.zeros(0), empty, 2).tolist() == [0.0, 0.0]
    assert seg.position_in_group(empty).tolist() == []
    assert seg.group_max(np.zeros(0), empty, 1, fill=0.0).tolist() == [0.0]
    assert seg.exclusive_cumsum(np.zeros(0, dtype=bool), empty).tolist() == []
