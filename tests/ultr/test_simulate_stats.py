"""Click-log statistics: counts by hand, chunked equals whole, unknown queries, the plot."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from rankstack.data import ClickLog
from rankstack.ultr import click_stats, plot_click_stats, simulate_clicks


@pytest.fixture
def log() -> ClickLog:
    return ClickLog.from_arrays(
        ["q1", "q2", "q1", "q3"],
        [3, 2, 1, 2],
        ["a", "b", "c", "d", "e", "a", "f", "g"],
        [1, 0, 1, 0, 0, 0, 0, 1],
        metadata={"propensities": [1.0, 0.5, 0.3], "click_model": "pbm"},
    )


def test_counts_by_hand(log: ClickLog) -> None:
    s = click_stats(log)
    assert (s.sessions, s.queries, s.impressions, s.clicks) == (4, 3, 8, 3)
    assert s.sessions_without_clicks == 2
    assert s.impressions_by_position.tolist() == [4, 3, 1]
    assert s.clicks_by_position.tolist() == [1, 1, 1]
    assert np.allclose(s.ctr_by_position, [0.25, 1 / 3, 1.0])
    assert s.clicks_per_session.tolist() == [2, 1, 1]  # sessions with 0, 1, 2 clicks
    assert s.list_lengths.tolist() == [0, 1, 2, 1]
    d = s.to_dict()
    assert d["propensities"] == [1.0, 0.5, 0.3] and d["unknown_query_sessions"] is None


def test_chunks_and_unknown_queries(log: ClickLog) -> None:
    whole = click_stats(log, queries=["q1", "q2"])
    parts = click_stats([log.slice_sessions(0, 1), log.slice_sessions(1, 4)], queries=["q1", "q2"])
    assert whole.to_dict() == parts.to_dict()
    assert whole.unknown_query_sessions == 1


def test_empty_log() -> None:
    s = click_stats(ClickLog.from_arrays([], [], [], np.zeros(0, np.uint8)))
    assert s.sessions == 0 and s.queries == 0 and s.to_dict()["ctr"] is None


def test_plot(log: ClickLog, tmp_path: Path, letor: object) -> None:
    out = plot_click_stats(click_stats(log), tmp_path / "ctr.png")
    assert out.read_bytes()[:4] == b"\x89PNG"
    sim = click_stats(simulate_clicks(letor, sessions=2000))  # type: ignore[arg-type]
    plot_click_stats(sim, tmp_path / "sim.pdf")
    assert (tmp_path / "sim.pdf").read_bytes()[:4] == b"%PDF"
