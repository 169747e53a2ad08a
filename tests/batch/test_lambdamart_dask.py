"""LambdaMART on LightGBM's Dask ranker: same model folder, same rule for the best iteration."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pytest

from rankstack.batch import group_bounds
from rankstack.data import Run
from rankstack.exceptions import DataError
from rankstack.io.letor import LetorData
from rankstack.ltr import LambdaMART, Ranker
from rankstack.ltr.gbdt_dask import _label_gain, fit_dask, fit_on_scheduler, lightgbm_ndcg

pytest.importorskip("lightgbm.dask")


def synthetic_letor(n_queries: int, seed: int = 0, prefix: str = "q") -> LetorData:
    """Queries of 5-30 documents whose grade (0-2) grows with features 0 and 1."""
    rng = np.random.default_rng(seed)
    sizes = rng.integers(5, 31, size=n_queries)
    n = int(sizes.sum())
    x = rng.normal(size=(n, 6)).astype(np.float32)
    labels = np.digitize(1.5 * x[:, 0] + x[:, 1] + 0.5 * rng.normal(size=n), [-0.5, 1.0])
    run = Run.from_arrays(
        np.repeat([f"{prefix}{i}" for i in range(n_queries)], sizes),
        [f"d{i:05d}" for i in range(n)],
        np.zeros(n),
        x,
        [f"f{j}" for j in range(6)],
    )
    order = np.array([int(d[1:]) for d in run.docids.to_pylist()])
    return LetorData(run, labels[order].astype(np.int32))


@pytest.fixture(scope="module")
def sets() -> dict[str, LetorData]:
    return {
        "train": synthetic_letor(120, 1),
        "valid": synthetic_letor(40, 2, "v"),
        "test": synthetic_letor(40, 3, "t"),
    }


PARAMS: dict[str, Any] = {
    "n_estimators": 60,
    "num_leaves": 7,
    "min_data_in_leaf": 10,
    "feature_fraction": 0.8,
    "bagging": 0.8,
    "early_stopping_rounds": 10,
    "seed": 42,
}


def test_validation_ndcg_is_lightgbm_s_own(sets: dict[str, LetorData]) -> None:
    """The client-side nDCG@k equals what LightGBM records while training, every round."""
    model = LambdaMART(**{**PARAMS, "early_stopping_rounds": None, "eval_at": [1, 5, 10]})
    model.fit(sets["train"], sets["valid"])
    valid = sets["valid"]
    x = model.normalizer_.transform_matrix(valid.features, valid.run.offsets)  # type: ignore[union-attr]
    scores = np.zeros(len(x))
    for it in range(model.booster_.current_iteration()):
        scores += model.booster_.predict(x, start_iteration=it, num_iteration=1, raw_score=True)
        got = lightgbm_ndcg(scores, valid.labels, valid.run.offsets, [1, 5, 10], _label_gain(model))
        for name, value in got.items():
            assert value == pytest.approx(model.evals_result_["valid"][name][it], abs=1e-12)


def test_ndcg_conventions() -> None:
    offsets = np.array([0, 3, 5, 5])  # the third query is empty and is not counted
    labels = np.array([0, 2, 1, 0, 0])
    gain = np.array([0.0, 1.0, 3.0])
    best = lightgbm_ndcg(np.array([0.0, 2.0, 1.0, 5.0, 1.0]), labels, offsets, [3], gain)
    assert best["ndcg@3"] == pytest.approx(1.0)  # perfect first query; second has no relevant
    tied = lightgbm_ndcg(np.zeros(5), labels, offsets, [1], gain)  # ties: row order
    assert tied["ndcg@1"] == pytest.approx((0.0 + 1.0) / 2)


def test_one_partition_trains_the_single_process_model(
    sets: dict[str, LetorData], client: Any
) -> None:
    """On one machine LightGBM's distributed learner is its serial one: identical trees."""
    single = LambdaMART(**PARAMS).fit(sets["train"], sets["valid"])
    dask = fit_dask(LambdaMART(**PARAMS), sets["train"], sets["valid"], client=client, partitions=1)
    assert dask.best_iteration_ == single.best_iteration_
    trees = single.booster_.model_to_string().split("parameters:")[0]
    assert (
        dask.booster_.model_to_string(num_iteration=dask.best_iteration_).split("parameters:")[0]
        == trees
    )
    np.testing.assert_array_equal(dask.predict(sets["test"].run), single.predict(sets["test"].run))
    rounds = len(single.evals_result_["valid"]["ndcg@10"])
    np.testing.assert_allclose(
        dask.evals_result_["valid"]["ndcg@10"][:rounds],
        single.evals_result_["valid"]["ndcg@10"],
        atol=1e-12,
    )


def test_two_workers_save_and_load_bit_identically(
    sets: dict[str, LetorData], client: Any, tmp_path: Path
) -> None:
    model = fit_dask(LambdaMART(**PARAMS), sets["train"], sets["valid"], client=client)
    assert 1 <= model.best_iteration_ <= PARAMS["n_estimators"]
    model.save(tmp_path / "m")
    loaded = Ranker.load(tmp_path / "m")
    assert isinstance(loaded, LambdaMART)
    test = sets["test"].run
    assert loaded.predict(test).tobytes() == model.predict(test).tobytes()
    single = LambdaMART(**PARAMS).fit(sets["train"], sets["valid"])
    # data-parallel training bins features per machine: close to, not equal to, serial
    corr = np.corrcoef(model.predict(test), single.predict(test))[0, 1]
    assert corr > 0.9


def test_no_validation_keeps_every_tree(sets: dict[str, LetorData], client: Any) -> None:
    model = fit_dask(LambdaMART(**{**PARAMS, "n_estimators": 12}), sets["train"], client=client)
    assert model.best_iteration_ == 12 and model.evals_result_ == {}


def test_partitions_hold_whole_queries(sets: dict[str, LetorData]) -> None:
    run = sets["train"].run
    bounds = group_bounds(run.offsets, 2)
    assert bounds[0] == 0 and bounds[-1] == run.n_queries and len(bounds) == 3
    rows = run.offsets[bounds]
    assert abs((rows[1] - rows[0]) - (rows[2] - rows[1])) <= run.sizes.max()


@pytest.mark.parametrize(
    ("params", "match"),
    [({"backend": "xgboost"}, "backend 'lightgbm'"), ({"n_estimators": 0}, "n_estimators")],
)
def test_bad_models_are_refused(
    sets: dict[str, LetorData], client: Any, params: dict[str, Any], match: str
) -> None:
    with pytest.raises(DataError, match=match):
        fit_dask(LambdaMART(**params), sets["train"], client=client)


def test_bad_labels_are_refused_before_the_cluster_is_used(
    sets: dict[str, LetorData], client: Any
) -> None:
    train = sets["train"]
    bad = LetorData(train.run, np.where(np.arange(len(train)) == 3, -1, train.labels))
    with pytest.raises(DataError, match="negative"):
        fit_dask(LambdaMART(), bad, client=client)


def test_only_lambdamart_trains_on_a_cluster(sets: dict[str, LetorData], client: Any) -> None:
    address = client.scheduler.address
    with pytest.raises(DataError, match="LambdaMART"):
        fit_on_scheduler(object(), sets["train"], scheduler=address)
    model = fit_on_scheduler(LambdaMART(n_estimators=5), sets["train"], scheduler="none")
    assert model.best_iteration_ == 5
