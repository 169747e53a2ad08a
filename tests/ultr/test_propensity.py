"""Propensities: the type and its files, randomised interventions, the harvesting estimator."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from rankstack.data import ClickLog, Run
from rankstack.exceptions import DataError, FormatError
from rankstack.io.letor import LetorData
from rankstack.ultr.propensity import (
    INTERVENTIONS,
    Propensities,
    estimate_from_interventions,
    intervene,
    intervention_order,
    iter_interventions,
    plot_propensities,
    simulate_interventions,
)


def letor_set(n_queries: int = 60, docs: int = 15, seed: int = 0) -> LetorData:
    rng = np.random.default_rng(seed)
    n = n_queries * docs
    x = rng.normal(size=(n, 4)).astype(np.float32)
    labels = np.digitize(x[:, 0] + 0.5 * rng.normal(size=n), [0.3, 1.3])
    qids = np.repeat([f"q{i:03d}" for i in range(n_queries)], docs)
    docids = np.array([f"d{i:05d}" for i in range(n)])
    run = Run.from_arrays(qids, docids, np.zeros(n), features=x)
    where = {d: i for i, d in enumerate(docids.tolist())}
    return LetorData(run, labels[[where[d] for d in run.docids.to_pylist()]])


# ---------------------------------------------------------------------------------- the type
def test_pbm_and_normalisation() -> None:
    p = Propensities.pbm(1.0, 4)
    np.testing.assert_allclose(p.values, [1, 1 / 2, 1 / 3, 1 / 4])
    assert p.truth is not None and p.relative_error().max() == 0
    q = Propensities.from_values([0.5, 0.25, np.nan], method="x", truth=[2, 1, 0.5])
    np.testing.assert_allclose(q.values[:2], [1.0, 0.5])
    assert np.isnan(q.values[2])
    np.testing.assert_allclose(Propensities.pbm(2.0, 3).weights(), [1, 4, 9])
    np.testing.assert_allclose(Propensities.pbm(2.0, 3).weights(max_weight=5), [1, 4, 5])
    with pytest.raises(DataError, match="missing or not positive at position"):
        q.weights()
    with pytest.raises(DataError, match="known for 4"):
        p.weights(10)
    with pytest.raises(DataError, match="finite number > 0"):
        Propensities.from_values([1.0, 0.0])
    with pytest.raises(DataError, match="true propensities are unknown"):
        Propensities.from_values([1.0]).relative_error()
    with pytest.raises(DataError, match="eta"):
        Propensities.pbm(-1, 3)
    assert "0.500" in repr(p)


@pytest.mark.parametrize("suffix", [".json", ".csv"])
def test_save_load_round_trip(tmp_path: Path, suffix: str) -> None:
    p = Propensities.from_values(
        [1.0, 0.51, 0.3333333333333333], method="swap", truth=[1, 0.5, 1 / 3], support=[4, 3, 2]
    )
    path = p.save(tmp_path / f"p{suffix}")
    back = Propensities.load(path)
    np.testing.assert_array_equal(back.values, p.values)
    assert back.truth is not None and p.truth is not None
    np.testing.assert_array_equal(back.truth, p.truth)
    if suffix == ".json":
        data = json.loads(path.read_text())
        assert data["positions"] == [1, 2, 3] and data["method"] == "swap"
        assert data["relative_error"][1] == pytest.approx(0.02)
        assert back.method == "swap"
    else:
        assert path.read_text().splitlines()[0] == "position,propensity,true,relative_error,support"


def test_bad_files(tmp_path: Path) -> None:
    (tmp_path / "a.json").write_text("{oops")
    with pytest.raises(FormatError, match="not valid JSON"):
        Propensities.load(tmp_path / "a.json")
    (tmp_path / "b.json").write_text(json.dumps({"format": "other"}))
    with pytest.raises(FormatError, match="not a rankstack propensities file"):
        Propensities.load(tmp_path / "b.json")
    (tmp_path / "c.csv").write_text("position,propensity\n1,1.0\n2,abc\n")
    with pytest.raises(FormatError, match=r"c.csv, line 3: propensity: 'abc'"):
        Propensities.load(tmp_path / "c.csv")
    with pytest.raises(FormatError, match="not found"):
        Propensities.load(tmp_path / "missing.json")
    (tmp_path / "d.json").write_text("[1, 0.5]")
    np.testing.assert_allclose(Propensities.load(tmp_path / "d.json").values, [1, 0.5])


def test_plot(tmp_path: Path) -> None:
    pytest.importorskip("matplotlib")
    truth = Propensities.pbm(1.0, 5)
    est = Propensities.from_values([1, 0.55, 0.3, 0.26, 0.19], method="dla", truth=truth.values)
    fig = plot_propensities({"dla": est, "swap": truth}, tmp_path / "p.png")
    assert (tmp_path / "p.png").read_bytes()[:4] == b"\x89PNG"
    assert len(fig.axes[0].lines) == 3  # truth + two estimates
    with pytest.raises(DataError, match="nothing to plot"):
        plot_propensities({})


# ---------------------------------------------------------------------------------- interventions
@settings(max_examples=40, deadline=None)
@given(
    sizes=st.lists(st.integers(0, 8), min_size=1, max_size=30),
    kind=st.sampled_from(INTERVENTIONS),
    seed=st.integers(0, 1000),
)
def test_intervention_orders_are_permutations(sizes: list[int], kind: str, seed: int) -> None:
    s = np.array(sizes)
    order = intervention_order(s, kind, np.random.default_rng(seed), k=8)
    assert order.shape == (len(s), 8)
    np.testing.assert_array_equal(
        np.sort(order, axis=1), np.broadcast_to(np.arange(8), order.shape)
    )
    past = np.arange(8)[None, :] >= s[:, None]
    np.testing.assert_array_equal(order[past], np.broadcast_to(np.arange(8), order.shape)[past])
    moved = (order != np.arange(8)).sum(axis=1)
    if kind == "swap":
        assert (moved <= 2).all() and ((moved == 0) | (order[:, 0] != 0)).all()
    if kind == "randpair":
        assert (moved == np.where(s >= 2, 2, 0)).all()


def test_intervention_order_distribution() -> None:
    sizes = np.full(40_000, 5)
    order = intervention_order(sizes, "swap", np.random.default_rng(0))
    np.testing.assert_allclose(np.bincount(order[:, 0], minlength=5) / 40_000, 0.2, atol=0.01)
    with pytest.raises(DataError, match="intervention must be one of"):
        intervention_order(sizes, "flip", np.random.default_rng(0))


def test_intervene_reorders_displays() -> None:
    log = ClickLog.from_arrays(["a", "b"], [3, 2], ["x", "y", "z", "u", "v"], [1, 0, 0, 1, 0])
    out = intervene(log, "randpair", seed=1)
    assert out.sizes.tolist() == [3, 2] and out.clicks.sum() == 0
    assert sorted(out.docids.to_pylist()[:3]) == ["x", "y", "z"]
    assert out.docids.to_pylist()[3:] == ["v", "u"]  # a pair of two is always swapped
    assert out.display["logged_position"].tolist()[3:] == [2, 1]
    assert out.metadata["intervention"] == "randpair"


# ---------------------------------------------------------------------------------- estimation
@pytest.mark.parametrize(
    ("kind", "eta", "tolerance"),
    # at eta = 2 position 10 is examined 1% of the time: few clicks, a wider tolerance
    [("swap", 1.0, 0.1), ("randpair", 1.0, 0.1), ("shuffle", 1.0, 0.1), ("swap", 2.0, 0.2)],
)
def test_interventions_recover_the_propensities(kind: str, eta: float, tolerance: float) -> None:
    log = simulate_interventions(letor_set(), kind, sessions=200_000, seed=4, eta=eta)
    truth = log.metadata["propensities"]
    est = estimate_from_interventions(log, method=kind, truth=truth)
    assert est.method == kind and est.truth is not None
    assert est.relative_error().max() < tolerance, f"{np.round(est.values, 3)}"
    # a swap moves the top document to every position: every pair of positions is linked
    assert est.info["position_pairs"] == 45
    assert log.metadata["intervention"] == kind
    assert set(log.display) == {"logged_position"}


def test_intervention_chunks_do_not_change_the_log() -> None:
    data = letor_set(n_queries=20)
    whole = simulate_interventions(data, "randpair", sessions=70_000, seed=3, eta=1.0)
    chunks = list(
        iter_interventions(data, "randpair", sessions=70_000, seed=3, chunk_sessions=30_000)
    )
    assert [len(c) for c in chunks] == [30_000, 30_000, 10_000]
    joined = ClickLog.concat(chunks)
    assert joined.docids.equals(whole.docids) and joined.session_qids.equals(whole.session_qids)
    assert np.array_equal(joined.clicks, whole.clicks)
    assert np.array_equal(joined.display["logged_position"], whole.display["logged_position"])
    with pytest.raises(DataError, match="chunk_sessions"):
        list(iter_interventions(data, "swap", sessions=10, chunk_sessions=0))
    with pytest.raises(DataError, match="intervention must be"):
        list(iter_interventions(data, "nope", sessions=10))


def test_logs_without_interventions_are_refused() -> None:
    log = ClickLog.from_arrays(["a", "a"], [2, 2], ["x", "y", "x", "y"], [1, 0, 0, 1])
    with pytest.raises(DataError, match="no interventions"):
        estimate_from_interventions(log)
    with pytest.raises(DataError, match="at least 2 positions"):
        estimate_from_interventions(ClickLog.from_arrays(["a"], [1], ["x"], [1]))


def test_unlinked_positions_are_nan() -> None:
    # x and y swap between positions 1 and 2; position 3 always shows z
    log = ClickLog.from_arrays(
        ["a"] * 4, [3] * 4, list("xyzyxzxyzyxz"), [1, 1, 1, 1, 0, 0, 0, 1, 0, 1, 0, 0]
    )
    est = estimate_from_interventions(log)
    assert est.values[0] == 1.0 and np.isfinite(est.values[1]) and np.isnan(est.values[2])
