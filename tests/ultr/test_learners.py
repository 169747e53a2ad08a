"""Unbiased learners: each beats naive under strong bias, IPW's unbiasedness, DLA's propensity
estimates, determinism, save/load and bad input.

The clicks come from a tiny position-based-model sampler written here (a stand-in that needs
nothing but numpy): a production ranker that mostly follows an *irrelevant* feature shows the
top 10 of each query, and clicks follow ``P(click) = (1/rank)^eta * P(rel | label)``. A naive
learner then learns the production ranker's irrelevant feature from the position effect.
"""

from __future__ import annotations

import itertools
import json
from pathlib import Path
from typing import Any

import numpy as np
import pytest

pytest.importorskip("torch")

import torch

from rankstack.data import ClickLog, Run
from rankstack.evaluate import evaluate
from rankstack.exceptions import DataError, NotFittedError
from rankstack.io.letor import LetorData
from rankstack.ltr import LambdaMART, NeuralRanker, Ranker
from rankstack.ltr.base import ModelFormatError, make_ranker
from rankstack.ultr._training import SoftmaxObjective, weighted_softmax_loss
from rankstack.ultr.features import UnknownClickDataError, aggregate_lists, join_clicks
from rankstack.ultr.learners import (
    UnbiasedRanker,
    click_rates,
    fit_full_information,
    log_propensities,
)
from rankstack.ultr.propensity import Propensities

NEURAL = {"progress": False, "epochs": 60, "hidden": [32], "lr": 0.005}
LAMBDAMART = {"n_estimators": 100}


# ---------------------------------------------------------------------------------- data
def make_letor(n_queries: int, seed: int, prefix: str, docs: int = 20) -> tuple[LetorData, Any]:
    """Labels 0..2 from features 1-2; production scores mostly from the irrelevant feature 3."""
    rng = np.random.default_rng(seed)
    n = n_queries * docs
    x = rng.normal(size=(n, 6)).astype(np.float32)
    signal = 1.5 * x[:, 0] + x[:, 1] + 0.5 * rng.normal(size=n)
    labels = np.digitize(signal, [1.0, 2.5]).astype(np.int32)
    production = 0.4 * signal + 1.5 * x[:, 2] + 0.3 * rng.normal(size=n)
    qids = np.repeat([f"{prefix}{i:03d}" for i in range(n_queries)], docs)
    docids = np.array([f"{prefix}d{i:05d}" for i in range(n)])
    run = Run.from_arrays(qids, docids, production, features=x, feature_names=list("abcdef"))
    where = {d: i for i, d in enumerate(docids.tolist())}
    order = np.array([where[d] for d in run.docids.to_pylist()])
    return LetorData(run.with_scores(np.zeros(n), resort=False), labels[order]), production[order]


def pbm_clicks(
    data: LetorData, production: Any, *, eta: float, sessions: int, seed: int, k: int = 10
) -> ClickLog:
    """Stand-in PBM sampler: the production top-k of a uniformly drawn query per session."""
    rng = np.random.default_rng(seed)
    run = data.run
    idx = np.arange(len(run))
    top = np.stack(
        [
            idx[lo:hi][np.argsort(-production[lo:hi], kind="stable")[:k]]
            for lo, hi in zip(run.offsets[:-1], run.offsets[1:])
        ]
    )
    q = rng.integers(0, run.n_queries, sessions)
    rows = top[q]
    prop = (1.0 / np.arange(1, k + 1)) ** eta
    rel = 0.1 + 0.9 * (2.0 ** data.labels[rows] - 1) / 3.0
    clicks = rng.random(rows.shape) < prop * rel
    return ClickLog.from_arrays(
        run.qids.take(q),
        np.full(sessions, k),
        run.docids.take(rows.reshape(-1)),
        clicks.reshape(-1),
        metadata={"propensities": prop.tolist(), "k": k},
    )


@pytest.fixture(scope="module")
def sets() -> dict[str, Any]:
    train, production = make_letor(80, 1, "a")
    return {
        "train": train,
        "production": production,
        "valid": make_letor(40, 2, "v")[0],
        "test": make_letor(60, 3, "t")[0],
    }


@pytest.fixture(scope="module")
def log2(sets: dict[str, Any]) -> ClickLog:
    return pbm_clicks(sets["train"], sets["production"], eta=2.0, sessions=20_000, seed=0)


def ndcg(model: Ranker, data: LetorData) -> float:
    run = data.run.with_scores(model.predict(data.run))
    return float(evaluate(run, data.qrels, ["nDCG@10"])["nDCG@10"])


def params_of(base: str) -> dict[str, Any]:
    return dict(NEURAL if base == "neural" else LAMBDAMART)


@pytest.fixture(scope="module")
def reference(sets: dict[str, Any], log2: ClickLog) -> dict[str, dict[str, float]]:
    """Test nDCG@10 of naive and of full information, per base."""
    out = {}
    for base in ("neural", "lambdamart"):
        naive = UnbiasedRanker(base=base, method="naive", params=params_of(base))
        naive.fit(log2, sets["train"], sets["valid"])
        full = fit_full_information(sets["train"], sets["valid"], base=base, params=params_of(base))
        out[base] = {"naive": ndcg(naive, sets["test"]), "full": ndcg(full, sets["test"])}
    return out


# ---------------------------------------------------------------------------------- quality
@pytest.mark.parametrize(
    ("base", "method", "recovered"),
    [
        ("neural", "ipw", 0.75),
        ("neural", "rem", 0.75),
        ("neural", "dla", 0.75),
        ("lambdamart", "ipw", 0.75),
        ("lambdamart", "rem", 0.4),
        ("lambdamart", "lgbm_position", 0.4),
        ("lambdamart", "dla", 0.4),
    ],
)
def test_learner_beats_naive_under_strong_bias(
    sets: dict[str, Any],
    log2: ClickLog,
    reference: dict[str, dict[str, float]],
    base: str,
    method: str,
    recovered: float,
) -> None:
    ref = reference[base]
    assert ref["full"] - ref["naive"] > 0.05  # the bias hurts the naive learner
    model = UnbiasedRanker(
        base=base,
        method=method,
        params=params_of(base),
        propensities="log" if method == "ipw" else None,
    ).fit(log2, sets["train"], sets["valid"])
    got = ndcg(model, sets["test"])
    share = (got - ref["naive"]) / (ref["full"] - ref["naive"])
    assert got > ref["naive"] + 0.03
    assert share >= recovered, f"{base}/{method}: {got:.4f} recovers {share:.0%} of the gap"


def test_dla_propensities_converge_near_the_truth() -> None:
    train, production = make_letor(300, 11, "p")
    valid = make_letor(40, 12, "w")[0]
    log = pbm_clicks(train, production, eta=1.0, sessions=100_000, seed=3)
    model = UnbiasedRanker(base="neural", method="dla", params=NEURAL).fit(log, train, valid)
    props = model.propensities_
    assert props is not None and props.method == "dla" and props.truth is not None
    err = props.relative_error()
    shown = f"DLA estimates {np.round(props.values, 3)}, errors {np.round(err, 2)}"
    # DLA identifies propensities only through the ranker's generalisation across documents
    # (each document is always shown at one position), so its estimates are near, not on,
    # the truth: docs/ultr.md
    assert err.max() < 0.35 and err.mean() < 0.2, shown
    # the naive click-rate ratio is far more wrong: relevance falls with the position too
    ctr = join_clicks(log, train).ctr_by_position()
    assert np.abs(ctr / ctr[0] / props.truth - 1).mean() > 2 * err.mean()


def test_rem_estimates_propensities_with_a_neural_relevance_model(
    sets: dict[str, Any], log2: ClickLog
) -> None:
    model = UnbiasedRanker(base="neural", method="rem", params=NEURAL).fit(
        log2, sets["train"], sets["valid"]
    )
    props = model.propensities_
    assert props is not None and props.method == "rem"
    assert props.relative_error()[:5].max() < 0.3
    phases = {r["phase"] for r in model.history_ or []}
    assert phases == {"em", "rank"}


# ---------------------------------------------------------------------------------- IPW
def brute_force_log() -> tuple[LetorData, ClickLog, np.ndarray, np.ndarray]:
    """One query, three documents always shown in one order; 64 sessions holding every click
    outcome exactly as often as the position-based model makes it (dyadic probabilities)."""
    p = np.array([1.0, 0.5, 0.25])
    rho = np.array([0.5, 0.5, 1.0])
    run = Run.from_arrays(
        ["q"] * 3, ["x", "y", "z"], [3.0, 2.0, 1.0], features=np.eye(3), feature_names=list("abc")
    )
    letor = LetorData(run, np.array([1, 1, 2]))
    click_p = p * rho
    docs, clicks, n = [], [], 0
    for outcome in itertools.product([0, 1], repeat=3):
        prob = np.prod(np.where(np.array(outcome) == 1, click_p, 1 - click_p))
        times = round(float(prob) * 64)
        assert times == prob * 64
        docs += ["x", "y", "z"] * times
        clicks += list(outcome) * times
        n += times
    assert n == 64
    log = ClickLog.from_arrays(["q"] * n, [3] * n, docs, clicks)
    return letor, log, p, rho


def test_ipw_is_unbiased_on_a_brute_force_example() -> None:
    letor, log, p, rho = brute_force_log()
    lists = join_clicks(log, letor).by_list()
    counts = lists.by_position()
    # the order of rows in the LETOR set is by doc id descending: z, y, x
    docs = letor.run.docids.to_pylist()
    truth = np.array([rho["xyz".index(d)] for d in docs])
    rows, ipw = click_rates(counts, 1.0 / p)
    np.testing.assert_array_equal(ipw, truth[rows])  # exactly the relevance
    rows, naive = click_rates(counts, np.ones(3))
    assert not np.allclose(naive, truth[rows])  # clicks alone are biased by position
    # the neural IPW loss on the aggregated clicks is the full-information loss on rho
    scores = torch.tensor([[0.3, -1.2, 0.8]], dtype=torch.float64)
    mask = torch.ones_like(scores, dtype=torch.bool)
    clicks = torch.tensor(lists.clicks, dtype=torch.float64)
    ipw_loss = SoftmaxObjective(1.0 / p).double().loss(scores, clicks, torch.tensor([64.0]), mask)
    full = weighted_softmax_loss(scores, torch.from_numpy(rho[None, :]), mask)
    torch.testing.assert_close(ipw_loss, full)


# ---------------------------------------------------------------------------------- API
def test_same_seed_same_model_and_streamed_input(sets: dict[str, Any], log2: ClickLog) -> None:
    kw: dict[str, Any] = {"base": "neural", "method": "dla", "params": NEURAL, "seed": 5}
    a = UnbiasedRanker(**kw).fit(log2, sets["train"], sets["valid"])
    chunks = [log2.slice_sessions(i, i + 3000) for i in range(0, len(log2), 3000)]
    lists = aggregate_lists(chunks, sets["train"])
    b = UnbiasedRanker(**kw).fit(lists, sets["train"], sets["valid"])
    np.testing.assert_array_equal(a.predict(sets["test"].run), b.predict(sets["test"].run))
    assert a.propensities_ is not None and b.propensities_ is not None
    np.testing.assert_array_equal(a.propensities_.values, b.propensities_.values)
    assert a.n_sessions_ == len(log2) and a.n_lists_ == 80


@pytest.mark.parametrize(
    ("base", "method"), [("neural", "dla"), ("neural", "naive"), ("lambdamart", "ipw")]
)
def test_save_load_is_bit_identical(
    tmp_path: Path, sets: dict[str, Any], log2: ClickLog, base: str, method: str
) -> None:
    model = UnbiasedRanker(
        base=base,
        method=method,
        params=params_of(base),
        propensities=[1.0 / r**2 for r in range(1, 11)] if method == "ipw" else None,
    ).fit(log2, sets["train"], sets["valid"])
    folder = model.save(tmp_path / "m")
    loaded = Ranker.load(folder)
    assert isinstance(loaded, UnbiasedRanker)
    assert isinstance(loaded.ranker_, NeuralRanker if base == "neural" else LambdaMART)
    test = sets["test"].run
    np.testing.assert_array_equal(model.predict(test), loaded.predict(test))
    config = json.loads((folder / "model.json").read_text())
    assert config["kind"] == "unbiased" and config["params"]["method"] == method
    if method == "naive":
        assert model.propensities_ is None and loaded.propensities_ is None
        return
    assert model.propensities_ is not None and loaded.propensities_ is not None
    np.testing.assert_array_equal(model.propensities_.values, loaded.propensities_.values)
    np.testing.assert_array_equal(model.propensities_.truth, loaded.propensities_.truth)
    saved = json.loads((folder / "propensities.json").read_text())
    assert saved["method"] == ("dla" if method == "dla" else "given")
    # a modified propensities file is detected
    saved["propensities"][1] = 0.9
    (folder / "propensities.json").write_text(json.dumps(saved))
    with pytest.raises(ModelFormatError, match="checksum"):
        Ranker.load(folder)


def test_dla_checkpoints_resume_exactly(
    tmp_path: Path, sets: dict[str, Any], log2: ClickLog
) -> None:
    common = {**NEURAL, "early_stopping": None}
    straight = UnbiasedRanker(method="dla", params={**common, "epochs": 6})
    straight.fit(log2, sets["train"], sets["valid"])
    ckpt = tmp_path / "ckpt"
    first = UnbiasedRanker(
        method="dla", params={**common, "epochs": 3, "checkpoint_dir": str(ckpt)}
    )
    first.fit(log2, sets["train"], sets["valid"])
    assert (ckpt / "rank" / "checkpoint.json").is_file()
    assert list((ckpt / "rank").glob("*.safetensors"))
    resumed = UnbiasedRanker(
        method="dla", params={**common, "epochs": 6, "checkpoint_dir": str(ckpt)}
    ).fit(log2, sets["train"], sets["valid"], resume=True)
    test = sets["test"].run
    np.testing.assert_array_equal(straight.predict(test), resumed.predict(test))


def test_make_ranker_knows_the_unbiased_kind() -> None:
    model = make_ranker("unbiased", base="lambdamart", method="naive")
    assert isinstance(model, UnbiasedRanker)
    assert model.clone().get_params() == model.get_params()


# ---------------------------------------------------------------------------------- errors
@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"base": "svm"}, "base must be one of"),
        ({"method": "magic"}, "method must be one of"),
        ({"base": "neural", "method": "lgbm_position"}, "needs base 'lambdamart'"),
        ({"method": "ipw"}, "needs propensities"),
        ({"method": "naive", "max_weight": 0.5}, "max_weight"),
        ({"method": "rem", "em_iterations": 0}, "em_iterations"),
        ({"method": "rem", "em_tol": 0}, "em_tol"),
        ({"method": "rem", "rem_ranker": "both"}, "rem_ranker"),
        ({"method": "naive", "params": {"hiden": [3]}}, "no parameter 'hiden'"),
    ],
)
def test_bad_parameters(
    sets: dict[str, Any], log2: ClickLog, kwargs: dict[str, Any], message: str
) -> None:
    with pytest.raises(DataError, match=message):
        UnbiasedRanker(**kwargs).fit(log2, sets["train"])


def test_bad_input(sets: dict[str, Any], log2: ClickLog) -> None:
    train = sets["train"]
    with pytest.raises(DataError, match="6 propensities were given"):
        UnbiasedRanker(method="ipw", propensities=[1, 0.5, 0.3, 0.2, 0.1, 0.05]).fit(log2, train)
    with pytest.raises(DataError, match="finite number > 0"):
        UnbiasedRanker(method="ipw", propensities=[1.0] + [-1.0] * 9).fit(log2, train)
    bare = ClickLog.from_arrays(["a000"], [1], ["ad00000"], [1])
    with pytest.raises(DataError, match="holds no true propensities"):
        UnbiasedRanker(method="ipw", propensities="log", params=NEURAL).fit(bare, train)
    with pytest.raises(DataError, match="no sessions"):
        UnbiasedRanker(method="naive").fit(ClickLog.from_arrays([], [], [], []), train)
    with pytest.raises(DataError, match="expected a ClickLog"):
        UnbiasedRanker(method="naive").fit("clicks.jsonl", train)  # type: ignore[arg-type]
    foreign = ClickLog.from_arrays(["zzz", "a000"], [1, 2], ["x", "ad00000", "nope"], [0, 1, 0])
    with pytest.raises(UnknownClickDataError, match="1 query id"):
        UnbiasedRanker(method="naive", params=NEURAL).fit(foreign, train)
    with pytest.raises(NotFittedError, match="not fitted"):
        UnbiasedRanker().predict(train.run)


def test_propensities_from_a_file_and_the_log(tmp_path: Path, log2: ClickLog) -> None:
    truth = log_propensities(log2)
    assert truth is not None and truth.method == "true"
    path = Propensities.pbm(2.0, 10).save(tmp_path / "p.csv")
    model = UnbiasedRanker(method="ipw", propensities=str(path))
    got = model.given_propensities()
    assert got is not None
    np.testing.assert_allclose(got.values, truth.values)
    assert log_propensities({"propensities": None}) is None
