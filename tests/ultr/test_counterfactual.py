"""Counterfactual IPS / SNIPS estimates: hand-computed values, interval coverage, variance."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from rankstack.data import ClickLog, Run
from rankstack.exceptions import DataError
from rankstack.io.letor import LetorData
from rankstack.ultr import PBM, ClickSimulator
from rankstack.ultr.counterfactual import (
    counterfactual_estimate,
    rank_weights,
    session_values,
    true_metric,
)


@pytest.fixture
def tiny() -> tuple[ClickLog, Run]:
    # q1 shows a, b; q2 shows c, d, e. Clicks: session 0 on b (position 2), session 1 none,
    # session 2 on c (position 1) and e (position 3)
    log = ClickLog.from_arrays(
        ["q1", "q1", "q2"],
        [2, 2, 3],
        ["a", "b", "a", "b", "c", "d", "e"],
        [0, 1, 0, 0, 1, 0, 1],
        metadata={"propensities": [1.0, 0.5, 0.25]},
    )
    # the new ranking puts b first for q1; for q2 it ranks e, c and lacks d
    run = Run.from_arrays(["q1", "q1", "q2", "q2"], ["a", "b", "e", "c"], [1.0, 2.0, 2.0, 1.0])
    return log, run


def test_session_values_by_hand(tiny: tuple[ClickLog, Run]) -> None:
    log, run = tiny
    x = session_values(log, run, metric="hits", cutoff=10)
    # b clicked at logged position 2 (p=0.5): 1/0.5; c at 1 (p=1): 1; e at 3 (p=0.25): 4
    assert np.allclose(x, [2.0, 0.0, 5.0])
    dcg = session_values(log, run, metric="dcg", cutoff=10)
    # b -> new rank 1 (1/log2 2 = 1); c -> new rank 2 (1/log2 3); e -> new rank 1
    assert np.allclose(dcg, [2.0, 0.0, 1 / np.log2(3) + 4.0])
    cut = session_values(log, run, metric="hits", cutoff=1)  # only new rank 1 counts
    assert np.allclose(cut, [2.0, 0.0, 4.0])
    clipped = session_values(log, run, metric="hits", cutoff=10, clip=0.5)
    assert np.allclose(clipped, [2.0, 0.0, 1.0 + 2.0])


def test_ips_and_snips_by_hand(tiny: tuple[ClickLog, Run]) -> None:
    log, run = tiny
    res = counterfactual_estimate(
        log, run, metric="hits", bootstrap=0, query_distribution={"q1": 0.5, "q2": 0.5}
    )
    assert res["ips"].value == pytest.approx(7.0 / 3)
    # per query: q1 mean (2 + 0) / 2 = 1, q2 mean 5; weights 1/2 each
    assert res["snips"].value == pytest.approx(3.0)
    assert np.isnan(res["ips"].ci_low) and res["ips"].replicates == 0
    plain = counterfactual_estimate(log, run, metric="hits", bootstrap=50)
    assert plain["snips"].value == plain["ips"].value and "unknown" in plain["snips"].note


def test_ctr_metric_uses_the_propensities() -> None:
    assert np.allclose(rank_weights("ctr", 2, [1.0, 0.4, 0.1]), [1.0, 0.4])
    assert np.allclose(rank_weights("dcg", 3), 1 / np.log2([2, 3, 4]))
    with pytest.raises(DataError, match="propensities"):
        rank_weights("ctr", 5, [1.0])
    with pytest.raises(DataError, match="unknown metric"):
        rank_weights("ndcg", 5)


def test_bad_input(tiny: tuple[ClickLog, Run]) -> None:
    log, run = tiny
    no_meta = ClickLog.from_arrays(["q1"], [1], ["a"], [1])
    with pytest.raises(DataError, match="propensities are needed"):
        counterfactual_estimate(no_meta, run)
    with pytest.raises(DataError, match="position 3 but propensities for 2"):
        counterfactual_estimate(log, run, propensities=[1.0, 0.5])
    with pytest.raises(DataError, match="probabilities"):
        counterfactual_estimate(log, run, propensities=[1.0, 0.0, 0.2])
    with pytest.raises(DataError, match="unknown estimator"):
        counterfactual_estimate(log, run, estimators=["dr"])
    with pytest.raises(DataError, match="no sessions"):
        counterfactual_estimate([], run)


def test_streamed_chunks_give_the_same_estimate(letor: LetorData) -> None:
    sim = ClickSimulator(letor, PBM(eta=1.0), seed=1)
    new = letor.run.with_scores(letor.features[:, 0].astype(np.float64))
    whole = counterfactual_estimate(sim.simulate(30_000), new, bootstrap=100, seed=3)
    streamed = counterfactual_estimate(sim.iter_sessions(30_000, 7_000), new, bootstrap=100, seed=3)
    for e in whole:
        assert whole[e].value == pytest.approx(streamed[e].value)
        assert whole[e].ci_low == pytest.approx(streamed[e].ci_low)


@pytest.mark.parametrize("metric", ["dcg", "ctr"])
def test_intervals_cover_the_truth_and_snips_has_lower_variance(
    letor: LetorData, metric: str
) -> None:
    new = letor.run.with_scores(
        letor.features[:, 0].astype(np.float64) + 0.5 * letor.features[:, 1]
    )
    covered = {"ips": 0, "snips": 0}
    values: dict[str, list[float]] = {"ips": [], "snips": []}
    errors: dict[str, list[float]] = {"ips": [], "snips": []}
    seeds = range(20)
    for seed in seeds:
        sim = ClickSimulator(letor, PBM(eta=1.0), seed=seed)
        truth = true_metric(sim, new, metric=metric)
        res = counterfactual_estimate(
            sim.simulate(20_000), new, metric=metric, bootstrap=300, seed=seed
        )
        for e, est in res.items():
            covered[e] += est.covers(truth)
            values[e].append(est.value)
            errors[e].append(est.std_error)
    assert covered["ips"] >= 17 and covered["snips"] >= 17, covered  # 95% intervals
    assert np.var(values["snips"]) < np.var(values["ips"])
    assert np.mean(errors["snips"]) < np.mean(errors["ips"])
    # both unbiased: the mean over seeds is within 3 standard errors of the truth
    for e in values:
        assert abs(np.mean(values[e]) - truth) < 3 * np.std(values[e]) / np.sqrt(len(seeds))


def test_true_metric_of_the_logging_ranking_matches_expected_clicks(letor: LetorData) -> None:
    # with lambda = propensity and the production ranking itself, M is the expected clicks
    sim = ClickSimulator(letor, PBM(eta=1.0), seed=0)
    logging_run = letor.run.with_scores(sim.production_scores)
    m = true_metric(sim, logging_run, metric="ctr", cutoff=10)
    expected_clicks = float(
        (sim.query_distribution() * sim.expected_click_probabilities().sum(axis=1)).sum()
    )
    assert m == pytest.approx(expected_clicks)


@pytest.mark.realdata
def test_mq2008_interval_covers_the_truth(datasets_dir: Path) -> None:
    from rankstack import datasets

    data = datasets.load("letor/mq2008/fold1").letor("train")
    sim = ClickSimulator(data, PBM(eta=1.0), seed=7)
    new = data.run.with_scores(data.features[:, 39].astype(np.float64))
    truth = true_metric(sim, new)
    res = counterfactual_estimate(sim.simulate(50_000), new, bootstrap=300, seed=7)
    assert res["ips"].covers(truth) and res["snips"].covers(truth)
