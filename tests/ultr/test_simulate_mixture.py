"""MixtureSimulator: a click log spanning several production rankers."""

from __future__ import annotations

import numpy as np
import pytest

from rankstack.data import ClickLog
from rankstack.exceptions import DataError
from rankstack.io.clicks import content_checksum
from rankstack.io.letor import LetorData
from rankstack.ultr import (
    PBM,
    ClickSimulator,
    MixtureSimulator,
    ProductionRanker,
    estimate_from_interventions,
    impression_rows,
    join_clicks,
    position_propensities,
    simulate_clicks,
    simulator_from_metadata,
)


def _simulators(letor: LetorData, n: int = 3, eta: float = 1.0) -> list[ClickSimulator]:
    # production rankers trained like the standard protocol's, each on its own query sample
    return [
        ClickSimulator(
            letor, PBM(eta=eta), production=ProductionRanker(fraction=0.25, seed=s), seed=7
        )
        for s in range(1, n + 1)
    ]


def _positions_per_pair(log: ClickLog, letor: LetorData) -> np.ndarray:
    rows = impression_rows(log, letor.run)
    pairs = np.unique(rows * 100 + log.positions)  # k < 100
    _, per_row = np.unique(pairs // 100, return_counts=True)
    return per_row


def test_sessions_are_served_by_each_ranker_and_pairs_move(letor: LetorData) -> None:
    sims = _simulators(letor)
    log = MixtureSimulator(sims).simulate(30_000)
    padded = join_clicks(log, letor).padded_rows()
    where = {qid: i for i, qid in enumerate(sims[0].qids.to_pylist())}
    q = np.array([where[qid] for qid in log.session_qids.to_pylist()])
    served = np.stack([np.all(padded == np.where(s.mask, s.rows, -1)[q], axis=1) for s in sims])
    assert served.any(axis=0).all()  # every session shows one of the rankers' lists
    only = served & (served.sum(axis=0) == 1)  # sessions whose list tells the ranker apart
    share = only.sum(axis=1) / only.sum()
    assert np.allclose(share, 1 / 3, atol=0.03), share
    # a deterministic ranker shows each (query, doc) at one position; the mixture does not
    assert (_positions_per_pair(sims[0].simulate(30_000), letor) == 1).all()
    assert (_positions_per_pair(log, letor) >= 2).mean() > 0.3


def test_ctr_matches_the_mixture_of_the_simulators(letor: LetorData) -> None:
    sims = _simulators(letor)
    weights = np.array([0.5, 0.3, 0.2])
    log = MixtureSimulator(sims, weights=weights).simulate(100_000)
    shown = np.bincount(log.positions, minlength=10).astype(np.float64)
    ctr = np.bincount(log.positions, weights=log.clicks, minlength=10) / shown
    w = np.asarray([s.query_distribution()[:, None] for s in sims])
    w = weights[:, None, None] * w * np.asarray([s.mask for s in sims])
    clicks = np.asarray([s.expected_click_probabilities() for s in sims])
    want = (w * clicks).sum(axis=(0, 1)) / w.sum(axis=(0, 1))
    assert np.all(np.abs(ctr - want) < 4.5 * np.sqrt(want * (1 - want) / shown)), (ctr, want)


def test_harvesting_finds_the_propensities_only_over_several_rankers(letor: LetorData) -> None:
    sims = _simulators(letor, n=5)
    with pytest.raises(DataError, match="two different positions"):
        estimate_from_interventions(sims[0].simulate(50_000), n_positions=5)
    log = MixtureSimulator(sims).simulate(400_000)
    est = estimate_from_interventions(log, n_positions=5, method="harvest")
    assert np.allclose(est.values, position_propensities(5, 1.0), rtol=0.1), est.values


def test_reproducible_chunk_independent_and_one_simulator_is_itself(letor: LetorData) -> None:
    mix = MixtureSimulator(_simulators(letor, n=2))
    whole = mix.simulate(70_000)  # over a block boundary
    again = MixtureSimulator(_simulators(letor, n=2)).simulate(70_000)
    assert content_checksum(whole) == content_checksum(again)
    chunked = ClickLog.concat(list(mix.iter_sessions(70_000, chunk_sessions=9_999)))
    assert content_checksum(chunked) == content_checksum(whole)
    assert content_checksum(mix.simulate(1_000)) == content_checksum(whole.slice_sessions(0, 1_000))
    single = _simulators(letor, n=1)[0]
    alone = MixtureSimulator([single]).simulate(5_000)
    assert content_checksum(alone) == content_checksum(single.simulate(5_000))


def test_metadata_lists_the_rankers(letor: LetorData) -> None:
    sims = _simulators(letor, n=2)
    meta = MixtureSimulator(sims, weights=[3, 1]).simulate(10).metadata
    prod = meta["production"]
    assert prod["model"] == "mixture" and prod["weights"] == [0.75, 0.25]
    assert [r["seed"] for r in prod["rankers"]] == [1, 2]
    assert meta["seed"] == 7 and np.allclose(meta["propensities"], position_propensities(10, 1))
    with pytest.raises(DataError, match="production ranker"):
        simulator_from_metadata(letor, meta)


def test_bad_mixtures(letor: LetorData) -> None:
    sims = _simulators(letor, n=2)
    with pytest.raises(DataError, match="at least one"):
        MixtureSimulator([])
    with pytest.raises(DataError, match="simulator 1 differs"):
        MixtureSimulator([sims[0], ClickSimulator(letor, PBM(eta=2.0), seed=7)])
    with pytest.raises(DataError, match="simulator 1 differs"):
        MixtureSimulator([sims[0], ClickSimulator(letor, PBM(eta=1.0), seed=8)])
    with pytest.raises(DataError, match="weights"):
        MixtureSimulator(sims, weights=[1.0])
    with pytest.raises(DataError, match="weights"):
        MixtureSimulator(sims, weights=[0.0, 0.0])
    with pytest.raises(DataError, match="sessions"):
        MixtureSimulator(sims).simulate(-1)
    assert len(simulate_clicks(letor, sessions=3)) == 3  # the single-ranker path is unchanged
