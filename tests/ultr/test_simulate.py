"""Click models and the click simulator: statistics, invariants, reproducibility, files."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays

from rankstack.data import ClickLog
from rankstack.exceptions import DataError
from rankstack.io.clicks import content_checksum, read_clicks
from rankstack.io.letor import LetorData
from rankstack.ultr import (
    DCM,
    PBM,
    UBM,
    Cascade,
    ClickSimulator,
    ProductionRanker,
    click_probability_of_label,
    impression_rows,
    make_click_model,
    position_propensities,
    simulate_clicks,
    simulate_clicks_to_file,
)

MODELS = ["pbm", "cascade", "dcm", "ubm"]


def ctr_by_position(log: ClickLog, k: int) -> tuple[np.ndarray, np.ndarray]:
    shown = np.bincount(log.positions, minlength=k).astype(np.float64)
    clicks = np.bincount(log.positions, weights=log.clicks, minlength=k)
    return clicks / shown, shown


# ---------------------------------------------------------------------- mapping, propensities
def test_relevance_to_click_mapping() -> None:
    p = click_probability_of_label(np.array([0, 1, 2]), eps_pos=1.0, eps_neg=0.1, max_label=2)
    assert np.allclose(p, [0.1, 0.1 + 0.9 / 3, 1.0])
    binary = click_probability_of_label(np.array([0, 1]), eps_pos=0.9, eps_neg=0.2, max_label=1)
    assert np.allclose(binary, [0.2, 0.9])  # Joachims et al. 2017's eps- / eps+
    with pytest.raises(DataError, match="max_label=2"):
        click_probability_of_label(np.array([3]), max_label=2)
    with pytest.raises(DataError, match="eps"):
        click_probability_of_label(np.array([0]), eps_pos=1.5, max_label=1)


def test_position_propensities() -> None:
    assert np.allclose(position_propensities(4, 1.0), [1, 1 / 2, 1 / 3, 1 / 4])
    assert np.allclose(position_propensities(3, 2.0), [1, 1 / 4, 1 / 9])
    assert np.allclose(position_propensities(3, 0.0), 1.0)


# ---------------------------------------------------------------------- exact marginals
def _batch(seed: int = 0, n: int = 50, k: int = 8) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    attract = rng.random((n, k))
    mask = np.arange(k)[None, :] < rng.integers(1, k + 1, n)[:, None]
    return attract, mask


def test_dcm_limits_are_pbm_without_bias_and_cascade() -> None:
    a, m = _batch()
    assert np.allclose(DCM(lambdas=1.0).click_probabilities(a, m), a * m)
    assert np.allclose(
        DCM(lambdas=0.0).click_probabilities(a, m), Cascade().click_probabilities(a, m) * m
    )


def test_ubm_with_rank_only_gamma_is_pbm() -> None:
    a, m = _batch()
    theta = position_propensities(8, 1.3)
    gamma = np.tile(theta[:, None], (1, 8))  # gamma[r, d] = theta_r for every distance
    ubm = UBM(gamma=gamma.tolist()).click_probabilities(a, m)
    assert np.allclose(ubm, PBM(eta=1.3).click_probabilities(a, m))


@settings(max_examples=40, deadline=None)
@given(
    attract=arrays(np.float64, (6, 5), elements=st.floats(0, 1)),
    sizes=arrays(np.int64, 6, elements=st.integers(0, 5)),
    name=st.sampled_from(MODELS),
    seed=st.integers(0, 2**16),
)
def test_marginals_and_samples_respect_the_mask(
    attract: np.ndarray, sizes: np.ndarray, name: str, seed: int
) -> None:
    mask = np.arange(5)[None, :] < sizes[:, None]
    model = make_click_model(name, eta=1.0)
    p = model.click_probabilities(attract, mask)
    assert ((p >= -1e-12) & (p <= 1 + 1e-12)).all() and (p[~mask] == 0).all()
    clicks = model.sample(attract, mask, np.random.default_rng(seed))
    assert clicks.dtype == np.uint8 and (clicks[~mask] == 0).all()
    if name == "cascade":
        assert (clicks.sum(axis=1) <= 1).all()
        assert p.sum(axis=1).max() <= 1 + 1e-12


def test_make_click_model() -> None:
    assert isinstance(make_click_model("PBM", eta=2), PBM)
    assert isinstance(make_click_model("cascade", eta=2), Cascade)  # eta ignored
    assert make_click_model("dcm", lambdas=[0.5] * 10).params() == {"lambdas": [0.5] * 10}
    with pytest.raises(DataError, match="unknown click model"):
        make_click_model("bogus")
    with pytest.raises(DataError, match="no parameter"):
        make_click_model("pbm", lambdas=0.3)
    with pytest.raises(DataError, match="gamma"):
        UBM(gamma=[[2.0]])


# ---------------------------------------------------------------------- simulator statistics
@pytest.mark.parametrize("name", MODELS)
def test_empirical_ctr_matches_the_model(letor: LetorData, name: str) -> None:
    sim = ClickSimulator(letor, make_click_model(name, eta=1.0), k=10, seed=3)
    log = sim.simulate(100_000)
    ctr, shown = ctr_by_position(log, 10)
    want = sim.expected_ctr_by_position()
    se = np.sqrt(want * (1 - want) / shown)
    assert np.all(np.abs(ctr - want) < 4.5 * se + 1e-9), (ctr, want)
    if name == "cascade":
        per_session = np.add.reduceat(log.clicks, log.offsets[:-1])
        assert per_session.max() <= 1


def test_pbm_ctr_follows_the_propensities(letor: LetorData) -> None:
    # with a production ranker that ignores relevance the click-relevance is the same at every
    # rank in expectation, so CTR by position is proportional to (1/r)^eta
    rng = np.random.default_rng(0)
    scores = rng.random(len(letor))
    sim = ClickSimulator(letor, PBM(eta=1.0), production=scores, seed=0)
    a = (sim.attract * sim.mask).sum(0) / sim.mask.sum(0)
    assert np.allclose(sim.expected_ctr_by_position(), position_propensities(10, 1.0) * a)


def test_sessions_are_reproducible_and_chunk_independent(letor: LetorData) -> None:
    sim = ClickSimulator(letor, "ubm", seed=11)
    whole = sim.simulate(70_000)
    again = ClickSimulator(letor, "ubm", seed=11).simulate(70_000)
    assert content_checksum(whole) == content_checksum(again)
    chunked = ClickLog.concat(list(sim.iter_sessions(70_000, chunk_sessions=9_999)))
    assert content_checksum(chunked) == content_checksum(whole)
    prefix = sim.simulate(1_000)
    assert content_checksum(prefix) == content_checksum(whole.slice_sessions(0, 1_000))
    other = ClickSimulator(letor, "ubm", seed=12).simulate(1_000)
    assert content_checksum(other) != content_checksum(prefix)


def test_displayed_lists_are_the_production_top_k(letor: LetorData) -> None:
    log = simulate_clicks(letor, sessions=2_000, k=5, seed=1)
    assert log.sizes.max() == 5 and log.sizes.min() >= 4
    rows = impression_rows(log, letor.run)
    assert (rows >= 0).all()
    prod = ProductionRanker().fit(letor)
    scores = prod.predict(letor.run)
    # positions are in decreasing production score
    s = scores[rows]
    same_session = np.diff(log.session_index) == 0
    assert (np.diff(s)[same_session] <= 0).all()


def test_metadata_records_model_propensities_and_production(letor: LetorData) -> None:
    log = simulate_clicks(letor, "pbm", eta=2.0, sessions=10, seed=4, dataset="synthetic")
    meta = log.metadata
    assert meta["click_model"] == "pbm" and meta["click_model_params"]["eta"] == 2.0
    assert np.allclose(meta["propensities"], position_propensities(10, 2.0))
    assert meta["k"] == 10 and meta["seed"] == 4 and meta["dataset"] == "synthetic"
    prod = meta["production"]
    assert prod["model"] == "linear" and prod["n_train_queries"] == 1  # 1% of 40 queries
    assert simulate_clicks(letor, "cascade", sessions=1).metadata["propensities"] is None


def test_production_ranker(letor: LetorData) -> None:
    a = ProductionRanker(fraction=0.25, seed=2).fit(letor)
    b = ProductionRanker(fraction=0.25, seed=2).fit(letor)
    assert a.identity_ == b.identity_ and len(a.train_qids_) == 10
    scores = a.predict(letor.run)
    # the informative features get positive weight: relevant documents score higher
    assert scores[letor.labels == 2].mean() > scores[letor.labels == 0].mean()
    with pytest.raises(DataError, match="fraction"):
        ProductionRanker(fraction=0).fit(letor)


def test_query_weights(letor: LetorData) -> None:
    w = np.zeros(letor.run.n_queries)
    w[[3, 7]] = [1, 3]
    log = simulate_clicks(letor, sessions=4_000, query_weights=w, seed=0)
    qids = letor.run.qid_list()
    counts = {q: c for q, c in zip(*np.unique(log.session_qids.to_pylist(), return_counts=True))}
    assert set(counts) == {qids[3], qids[7]}
    assert abs(counts[qids[7]] / 4_000 - 0.75) < 0.03


def test_bad_simulation_input(letor: LetorData) -> None:
    with pytest.raises(DataError, match="k must be"):
        simulate_clicks(letor, k=0, sessions=1)
    with pytest.raises(DataError, match="sessions"):
        simulate_clicks(letor, sessions=-1)
    with pytest.raises(DataError, match="production scores"):
        simulate_clicks(letor, production=np.zeros(3), sessions=1)
    with pytest.raises(DataError, match="query_weights"):
        simulate_clicks(letor, query_weights=[1.0], sessions=1)


@pytest.mark.parametrize("name", ["clicks.parquet", "clicks.jsonl.gz"])
def test_streaming_to_file_equals_in_memory(letor: LetorData, tmp_path: Path, name: str) -> None:
    seen: list[int] = []
    path = simulate_clicks_to_file(
        letor, tmp_path / name, "dcm", sessions=25_000, seed=5, chunk_sessions=7_000,
        progress=lambda done, total: seen.append(done),
    )  # fmt: skip
    assert seen == [7_000, 14_000, 21_000, 25_000]
    back = read_clicks(path)
    assert content_checksum(back) == content_checksum(
        simulate_clicks(letor, "dcm", sessions=25_000, seed=5)
    )
    assert back.metadata["click_model"] == "dcm" and back.metadata["sessions"] == 25_000


@pytest.mark.realdata
def test_mq2008_pbm_ctr(datasets_dir: Path) -> None:
    from rankstack import datasets

    data = datasets.load("letor/mq2008/fold1").letor("train")
    sim = ClickSimulator(data, PBM(eta=1.0), seed=0, dataset="letor/mq2008/fold1/train")
    log = sim.simulate(100_000)
    ctr, shown = ctr_by_position(log, 10)
    want = sim.expected_ctr_by_position()
    assert np.all(np.abs(ctr - want) < 4.5 * np.sqrt(want * (1 - want) / shown))
    assert sim.production_identity["n_train_queries"] == 5  # 1% of 471 queries
