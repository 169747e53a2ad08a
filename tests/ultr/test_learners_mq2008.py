"""The unbiased learners on MQ2008 fold 1 with simulated PBM clicks (the benchmark's protocol).

Slow (about a minute on 2 idle cores); ``benchmarks/ultr.py`` runs the full grid.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

pytest.importorskip("torch")

from rankstack.ltr.cv import evaluate_scores
from rankstack.ultr import (
    ProductionRanker,
    UnbiasedRanker,
    estimate_from_interventions,
    join_clicks,
    simulate_clicks,
    simulate_interventions,
)

pytestmark = [pytest.mark.slow, pytest.mark.realdata]


def test_debiased_learners_beat_naive_and_interventions_find_the_propensities(
    datasets_dir: Path,
) -> None:
    from rankstack import datasets

    fold = datasets.load("letor/mq2008/fold1")
    train, vali, test = fold.letor("train"), fold.letor("vali"), fold.letor("test")
    production = ProductionRanker("linear", fraction=0.01, seed=1).fit(train)
    log = simulate_clicks(train, "pbm", eta=1.0, sessions=100_000, seed=1, production=production)
    lists = join_clicks(log, train).by_list()
    ndcg = {}
    for method in ("naive", "ipw", "dla"):
        model = UnbiasedRanker(
            base="neural",
            method=method,
            params={"progress": False},
            propensities="log" if method == "ipw" else None,
            seed=1,
        ).fit(lists, train, vali)
        ndcg[method] = evaluate_scores(test, model.predict(test.run), ["nDCG@10"])["nDCG@10"]
        if method == "dla":
            assert model.propensities_ is not None
            assert np.all(np.diff(model.propensities_.values) < 0.05)  # decreasing, roughly
    assert ndcg["ipw"] > ndcg["naive"] + 0.005, ndcg
    assert ndcg["dla"] > ndcg["naive"] + 0.005, ndcg

    ilog = simulate_interventions(
        train, "randpair", sessions=300_000, seed=1001, eta=1.0, production=production
    )
    est = estimate_from_interventions(ilog, method="randpair", truth=ilog.metadata["propensities"])
    assert est.relative_error().max() < 0.10, np.round(est.values, 3)
