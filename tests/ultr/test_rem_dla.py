"""Regression-EM and DLA against known propensities on data where the relevance model is well
specified: the click probability of an examined document is a deterministic function of a
feature, and the production ranker mixes that feature with an irrelevant one, so documents of
equal relevance are shown at many positions.

On such data the estimators must find the truth; on MQ2008, where relevance is a function of
the label and not of the features, they need not (docs/ultr.md, "Propensities").
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest

pytest.importorskip("torch")

from torch import Tensor, nn

from rankstack.data import ClickLog, Run
from rankstack.io.letor import LetorData
from rankstack.ltr import LambdaMART, Ranker
from rankstack.ultr._rem_gbdt import em_converged
from rankstack.ultr._training import ListData, RegressionEMObjective
from rankstack.ultr.features import DisplayLists, join_clicks
from rankstack.ultr.learners import UnbiasedRanker

NEURAL = {"progress": False}
K = 10


def make_letor(n_queries: int, seed: int, prefix: str, docs: int = 20) -> tuple[LetorData, Any]:
    """``(data, (production scores, true click-relevance γ))``; γ = sigmoid(2 x_0 − 1)."""
    rng = np.random.default_rng(seed)
    n = n_queries * docs
    x = rng.normal(size=(n, 4)).astype(np.float32)
    gamma = 1.0 / (1.0 + np.exp(-(2.0 * x[:, 0] - 1.0)))
    labels = np.digitize(gamma, [0.3, 0.7]).astype(np.int32)
    production = 0.5 * x[:, 0] + x[:, 2] + 0.3 * rng.normal(size=n)
    qids = np.repeat([f"{prefix}{i:03d}" for i in range(n_queries)], docs)
    docids = np.array([f"{prefix}d{i:05d}" for i in range(n)])
    run = Run.from_arrays(qids, docids, production, features=x, feature_names=list("abcd"))
    where = {d: i for i, d in enumerate(docids.tolist())}
    order = np.array([where[d] for d in run.docids.to_pylist()])
    data = LetorData(run.with_scores(np.zeros(n), resort=False), labels[order])
    return data, (production[order], gamma[order])


def pbm_clicks(data: LetorData, truth: Any, *, eta: float, sessions: int, seed: int) -> ClickLog:
    """PBM clicks over the production top 10: ``P(click) = (1/rank)^eta γ``."""
    production, gamma = truth
    rng = np.random.default_rng(seed)
    run = data.run
    idx = np.arange(len(run))
    top = np.stack(
        [
            idx[lo:hi][np.argsort(-production[lo:hi], kind="stable")[:K]]
            for lo, hi in zip(run.offsets[:-1], run.offsets[1:])
        ]
    )
    q = rng.integers(0, run.n_queries, sessions)
    rows = top[q]
    prop = (1.0 / np.arange(1, K + 1)) ** eta
    clicks = rng.random(rows.shape) < prop * gamma[rows]
    return ClickLog.from_arrays(
        run.qids.take(q),
        np.full(sessions, K),
        run.docids.take(rows.reshape(-1)),
        clicks.reshape(-1),
        metadata={"propensities": prop.tolist(), "k": K},
    )


@pytest.fixture(scope="module")
def sets() -> dict[str, Any]:
    train, truth = make_letor(300, 1, "a")
    log = pbm_clicks(train, truth, eta=1.0, sessions=200_000, seed=0)
    return {
        "train": train,
        "truth": truth,
        "lists": join_clicks(log, train).by_list(),
        "valid": make_letor(40, 2, "v")[0],
        "test": make_letor(60, 3, "t")[0],
    }


class OracleScorer(nn.Module):
    """Scores = logit of the true γ, held in feature 0 (the relevance model is the truth)."""

    def forward(self, x: Tensor, mask: Tensor) -> Tensor:
        return x[..., 0]


def test_em_steps_find_the_truth_with_the_true_relevance(sets: dict[str, Any]) -> None:
    """The E-step and the M-step for θ alone (Wang et al. 2018): with γ fixed at the truth,
    iterating them must converge to the true propensities (up to click noise)."""
    lists: DisplayLists = sets["lists"]
    gamma = sets["truth"][1]
    logit = np.log(gamma / (1 - gamma))[:, None].astype(np.float32)
    data = ListData.build(logit, lists.rows, lists.clicks, lists.sessions)
    em = RegressionEMObjective(K, tol=1e-6)
    scorer = OracleScorer()
    for _ in range(500):
        em.end_epoch(scorer, data)
        if em.converged():
            break
    truth = (1.0 / np.arange(1, K + 1)) ** 1.0
    err = np.abs(em.propensities() / truth - 1)
    assert err.max() < 0.03, np.round(em.propensities(), 3)
    # the log-likelihood never falls: EM's monotonicity with a fixed relevance model
    assert np.all(np.diff(em.log_likelihoods) > -1e-6 * abs(em.log_likelihoods[0]))


def test_em_convergence_rule() -> None:
    flat = [np.full(3, 0.5)] * 7
    assert em_converged(flat, 1e-3, 5)
    assert not em_converged(flat, None, 5)
    assert not em_converged(flat[:5], 1e-3, 5)
    moving = [np.full(3, 0.5 * 0.99**i) for i in range(7)]
    assert not em_converged(moving, 1e-3, 5)


def test_neural_rem_converges_to_the_true_propensities(sets: dict[str, Any]) -> None:
    model = UnbiasedRanker(base="neural", method="rem", params=NEURAL, rem_ranker="regression")
    model.fit(sets["lists"], sets["train"])
    props = model.propensities_
    assert props is not None and props.truth is not None
    assert props.relative_error().max() < 0.05, np.round(props.values, 3)
    em = [r for r in model.history_ or [] if r["phase"] == "em"]
    assert len(em) < model.em_iterations  # stopped by the convergence rule


def test_neural_rem_needs_more_than_30_iterations_under_strong_bias(
    sets: dict[str, Any],
) -> None:
    train = sets["train"]
    log = pbm_clicks(train, sets["truth"], eta=2.0, sessions=200_000, seed=1)
    lists = join_clicks(log, train).by_list()
    kw: dict[str, Any] = {"base": "neural", "method": "rem", "params": NEURAL}
    converged = UnbiasedRanker(**kw, rem_ranker="regression").fit(lists, train)
    short = UnbiasedRanker(**kw, rem_ranker="regression", em_iterations=30).fit(lists, train)
    assert converged.propensities_ is not None and short.propensities_ is not None
    err = converged.propensities_.relative_error().max()
    assert err < 0.10, np.round(converged.propensities_.values, 3)
    # 30 iterations (the former fixed count) left EM short of it
    assert short.propensities_.relative_error().max() > 1.5 * err


def test_gbdt_rem_converges_near_the_true_propensities(sets: dict[str, Any]) -> None:
    model = UnbiasedRanker(base="lambdamart", method="rem", rem_ranker="regression")
    model.fit(sets["lists"], sets["train"])
    props = model.propensities_
    assert props is not None
    # a regression forest approximates γ = sigmoid(2 x_0 − 1) by steps: near, not on
    assert props.relative_error().max() < 0.25, np.round(props.values, 3)
    assert len(model.history_ or []) < model.em_iterations


def test_dla_on_lambdamart_estimates_propensities_and_ranks(sets: dict[str, Any]) -> None:
    from rankstack.evaluate import evaluate

    def ndcg(model: Ranker) -> float:
        test: LetorData = sets["test"]
        run = test.run.with_scores(model.predict(test.run))
        return float(evaluate(run, test.qrels, ["nDCG@10"])["nDCG@10"])

    dla = UnbiasedRanker(base="lambdamart", method="dla").fit(
        sets["lists"], sets["train"], sets["valid"]
    )
    naive = UnbiasedRanker(base="lambdamart", method="naive").fit(
        sets["lists"], sets["train"], sets["valid"]
    )
    assert isinstance(dla.ranker_, LambdaMART)
    props = dla.propensities_
    assert props is not None and props.method == "dla"
    assert props.relative_error().max() < 0.10, np.round(props.values, 3)
    assert ndcg(dla) > ndcg(naive) + 0.05
    last = (dla.history_ or [])[-1]
    assert last["propensities_converged_at"] is not None
    assert dla.ranker_.best_iteration_ >= last["propensities_converged_at"]


def test_dla_on_lambdamart_is_deterministic_and_saves(sets: dict[str, Any], tmp_path: Any) -> None:
    a = UnbiasedRanker(base="lambdamart", method="dla", seed=3).fit(
        sets["lists"], sets["train"], sets["valid"]
    )
    b = UnbiasedRanker(base="lambdamart", method="dla", seed=3).fit(
        sets["lists"], sets["train"], sets["valid"]
    )
    run = sets["test"].run
    np.testing.assert_array_equal(a.predict(run), b.predict(run))
    loaded = Ranker.load(a.save(tmp_path / "m"))
    assert isinstance(loaded, UnbiasedRanker) and loaded.propensities_ is not None
    np.testing.assert_array_equal(a.predict(run), loaded.predict(run))
    assert a.propensities_ is not None
    np.testing.assert_array_equal(a.propensities_.values, loaded.propensities_.values)


def test_dla_on_lambdamart_without_validation_runs_all_rounds(sets: dict[str, Any]) -> None:
    model = UnbiasedRanker(base="lambdamart", method="dla", params={"n_estimators": 40})
    model.fit(sets["lists"], sets["train"])
    assert isinstance(model.ranker_, LambdaMART) and model.ranker_.best_iteration_ == 40
    assert model.propensities_ is not None
    assert np.all(np.isfinite(model.propensities_.values))


def test_dla_on_lambdamart_that_never_converges_is_still_validated(
    sets: dict[str, Any], caplog: pytest.LogCaptureFixture
) -> None:
    # 12 rounds cannot satisfy the 10-round convergence window from logits at 0
    model = UnbiasedRanker(base="lambdamart", method="dla", params={"n_estimators": 12})
    model.fit(sets["lists"], sets["train"], sets["valid"])
    assert "did not converge" in caplog.text
    assert isinstance(model.ranker_, LambdaMART)
    scores = model.ranker_.evals_result_["valid"]["ndcg@10"]
    assert model.ranker_.best_iteration_ == int(np.argmax(scores)) + 1
