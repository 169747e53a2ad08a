from __future__ import annotations

import numpy as np
import pytest

from rankstack.data import ClickLog
from rankstack.exceptions import DataError


@pytest.fixture
def log() -> ClickLog:
    return ClickLog.from_arrays(
        ["q1", "q2", "q1"], [3, 2, 1], ["a", "b", "c", "d", "e", "a"], [1, 0, 1, 0, 0, 1]
    )


def test_shape_positions_and_sessions(log: ClickLog) -> None:
    assert len(log) == 3 and log.n_impressions == 6
    assert log.positions.tolist() == [0, 1, 2, 0, 1, 0]
    assert log.session_index.tolist() == [0, 0, 0, 1, 1, 2]
    assert "3 sessions" in repr(log)


def test_slice_take_concat_round_trip(log: ClickLog) -> None:
    back = ClickLog.concat([log.slice_sessions(0, 1), log.slice_sessions(1, 3)])
    assert back.docids.equals(log.docids) and np.array_equal(back.clicks, log.clicks)
    rev = log.take_sessions(np.array([2, 0]))
    assert rev.docids.to_pylist() == ["a", "a", "b", "c"]
    assert rev.session_qids.to_pylist() == ["q1", "q1"]


def test_bad_input() -> None:
    with pytest.raises(DataError, match="0 or 1"):
        ClickLog.from_arrays(["q"], [1], ["a"], [2])
    with pytest.raises(DataError, match="offsets"):
        ClickLog.from_arrays(["q"], [2], ["a"], [1])
    with pytest.raises(DataError, match="one non-negative list length"):
        ClickLog.from_arrays(["q"], [-1], [], [])
