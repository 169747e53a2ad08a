"""LambdaMART: training, determinism, early stopping, persistence and bad input, on both
backends; the real MQ2008 fold as a smoke test of ranking quality."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from rankstack.data import Queries, Run
from rankstack.evaluate import evaluate
from rankstack.exceptions import DataError, MissingFeaturesError, NotFittedError
from rankstack.io.letor import LetorData
from rankstack.ltr.base import ModelFormatError, Ranker, make_ranker
from rankstack.ltr.gbdt import LambdaMART
from rankstack.ltr.preprocessing import AbsentFeatureWarning

FAST = {"n_estimators": 30, "learning_rate": 0.2, "min_data_in_leaf": 5}
BACKENDS = ["lightgbm", "xgboost"]


@pytest.fixture(params=BACKENDS)
def backend(request: pytest.FixtureRequest) -> str:
    return str(request.param)


def _ndcg(model: Ranker, data: LetorData) -> float:
    return evaluate(data.run.with_scores(model.predict(data.run)), data.qrels, ["nDCG@10"])[
        "nDCG@10"
    ]


def test_learns_the_signal(backend: str, letor_small: LetorData, letor_test: LetorData) -> None:
    model = LambdaMART(backend=backend, **FAST).fit(letor_small)
    scores = model.predict(letor_test.run)
    assert scores.shape == (len(letor_test),) and scores.dtype == np.float64
    random = evaluate(letor_test.run, letor_test.qrels, ["nDCG@10"])["nDCG@10"]
    assert _ndcg(model, letor_test) > random + 0.15
    imp = model.feature_importance("gain")
    assert set(imp) == set(letor_small.run.feature_names)
    assert max(imp, key=imp.__getitem__) in ("1", "2")  # the informative features
    assert sum(model.feature_importance("split").values()) > 0


def test_deterministic_for_a_seed(backend: str, letor_small: LetorData) -> None:
    params = {**FAST, "bagging": 0.7, "feature_fraction": 0.6, "backend": backend}
    a = LambdaMART(seed=3, **params).fit(letor_small).predict(letor_small.run)
    b = LambdaMART(seed=3, **params).fit(letor_small).predict(letor_small.run)
    c = LambdaMART(seed=4, **params).fit(letor_small).predict(letor_small.run)
    assert np.array_equal(a, b)
    assert not np.array_equal(a, c)


def test_early_stopping_keeps_the_best_iteration(
    backend: str, letor_small: LetorData, letor_valid: LetorData
) -> None:
    seen: list[int] = []
    model = LambdaMART(
        backend=backend,
        n_estimators=400,
        learning_rate=0.3,
        early_stopping_rounds=5,
        eval_at=[5, 3],
    ).fit(letor_small, letor_valid, progress=lambda i, v: seen.append(i))
    curve = model.evals_result_["valid"]["ndcg@5"]
    assert 1 <= model.best_iteration_ < 400
    assert len(curve) < 400  # it stopped
    assert int(np.argmax(curve)) + 1 == model.best_iteration_
    assert "ndcg@3" in model.evals_result_["valid"]
    assert seen[:3] == [1, 2, 3]


def test_cv_rounds_choose_the_trees_by_query_folds(
    letor_small: LetorData, letor_valid: LetorData, tmp_path: Path
) -> None:
    params = {"n_estimators": 300, "learning_rate": 0.3, "early_stopping_rounds": 5}
    model = LambdaMART(cv_rounds=3, **params).fit(letor_small)
    curve = model.evals_result_["cv"]["ndcg@10-mean"]
    assert 1 <= model.best_iteration_ < 300 and len(curve) < 300  # the mean curve stopped
    assert int(np.argmax(curve)) + 1 == model.best_iteration_
    assert model.booster_.current_iteration() == model.best_iteration_  # refit on all
    again = LambdaMART(cv_rounds=3, **params).fit(letor_small)
    assert np.array_equal(model.predict(letor_small.run), again.predict(letor_small.run))
    # a valid set joins the training queries: the same as fitting on their union
    joined = LambdaMART(cv_rounds=3, **params).fit(letor_small, letor_valid)
    union = LetorData(
        Run.concat([letor_small.run, letor_valid.run]),
        np.concatenate([letor_small.labels, letor_valid.labels]),
    )
    alone = LambdaMART(cv_rounds=3, **params).fit(union)
    assert np.array_equal(joined.predict(letor_valid.run), alone.predict(letor_valid.run))
    joined.save(tmp_path / "m")
    loaded = Ranker.load(tmp_path / "m")
    assert np.array_equal(loaded.predict(letor_valid.run), joined.predict(letor_valid.run))
    with pytest.raises(DataError, match="at least 400 training queries"):
        LambdaMART(cv_rounds=400, **params).fit(letor_small)


def test_save_load_is_bit_identical(
    backend: str,
    tmp_path: Path,
    letor_small: LetorData,
    letor_valid: LetorData,
    letor_test: LetorData,
) -> None:
    model = LambdaMART(backend=backend, normalize="zscore/query", **FAST).fit(
        letor_small, letor_valid
    )
    folder = model.save(tmp_path / "m")
    loaded = Ranker.load(folder)
    assert isinstance(loaded, LambdaMART)
    assert loaded.get_params() == model.get_params()
    assert loaded.best_iteration_ == model.best_iteration_
    assert np.array_equal(loaded.predict(letor_test.run), model.predict(letor_test.run))
    assert loaded.feature_importance() == model.feature_importance()
    config = json.loads((folder / "model.json").read_text())
    assert config["kind"] == "lambdamart" and config["backend"] == backend
    assert (folder / "preprocessing.json").is_file()


def test_transform_is_a_reranking_stage(letor_small: LetorData) -> None:
    model = LambdaMART(**FAST).fit(letor_small)
    out = model.transform(Queries.from_arrays([], []), letor_small.run)
    np.testing.assert_array_equal(np.sort(out.scores), np.sort(model.predict(letor_small.run)))
    assert (np.diff(out.scores)[np.diff(out.query_index) == 0] <= 0).all()


def test_features_are_matched_by_name(letor_small: LetorData, letor_test: LetorData) -> None:
    model = LambdaMART(**FAST).fit(letor_small)
    run = letor_test.run
    assert run.features is not None
    names = list(run.feature_names)
    reordered = run.with_features(run.features[:, ::-1], names[::-1])
    assert np.array_equal(model.predict(reordered), model.predict(run))
    with pytest.raises(MissingFeaturesError, match="lacks feature"):
        model.predict(run.with_features(run.features[:, 1:], names[1:]))


def test_absent_feature_warns_at_prediction(letor_small: LetorData) -> None:
    model = LambdaMART(**FAST).fit(letor_small)
    run = letor_small.run
    assert run.features is not None
    feats = run.features.copy()
    feats[:, 0] = 0
    with pytest.warns(AbsentFeatureWarning, match="1 feature"):
        model.predict(run.with_features(feats, run.feature_names))


# ----------------------------------------------------------------------------- bad input
def _with_label(data: LetorData, row: int, label: int) -> LetorData:
    labels = data.labels.copy()
    labels[row] = label
    return LetorData(data.run, labels)


@pytest.mark.parametrize(
    ("label", "params", "message"),
    [
        (-1, {}, "label -1 is negative"),
        (31, {}, "label 31 has no gain"),
        (3, {"max_label": 2}, "label 3 is above max_label=2"),
    ],
)
def test_bad_labels_name_the_label(
    letor_small: LetorData, label: int, params: dict[str, int], message: str
) -> None:
    bad = _with_label(letor_small, 7, label)
    with pytest.raises(DataError, match=message) as info:
        LambdaMART(**FAST, **params).fit(bad)
    assert "training data, query" in str(info.value)


def test_label_gain_extends_the_grade_range(letor_small: LetorData) -> None:
    data = _with_label(letor_small, 7, 40)
    gains = [2.0**i - 1 for i in range(41)]
    LambdaMART(**FAST, label_gain=gains).fit(data)
    with pytest.raises(DataError, match=r"2\^label"):
        LambdaMART(**FAST, backend="xgboost", label_gain=[0, 1, 2]).fit(letor_small)


def test_bad_validation_labels(letor_small: LetorData, letor_valid: LetorData) -> None:
    with pytest.raises(DataError, match="validation data"):
        LambdaMART(**FAST).fit(letor_small, _with_label(letor_valid, 0, 99))


@pytest.mark.parametrize("value", [np.nan, np.inf])
def test_non_finite_features(letor_small: LetorData, value: float) -> None:
    run = letor_small.run
    assert run.features is not None
    feats = run.features.copy()
    feats[5, 2] = value
    bad = LetorData(run.with_features(feats, run.feature_names), letor_small.labels)
    with pytest.raises(DataError, match=r"feature '3' of document .* is (nan|inf)"):
        LambdaMART(**FAST).fit(bad)
    model = LambdaMART(**FAST).fit(letor_small)
    with pytest.raises(DataError, match="finite"):
        model.predict(bad.run)


@pytest.mark.parametrize(
    ("params", "message"),
    [
        ({"backend": "catboost"}, "backend"),
        ({"n_estimators": 0}, "n_estimators"),
        ({"learning_rate": -1}, "learning_rate"),
        ({"bagging": 1.5}, "bagging"),
        ({"eval_at": [0]}, "eval_at"),
        ({"early_stopping_rounds": 0}, "early_stopping_rounds"),
        ({"cv_rounds": 1}, "cv_rounds"),
        ({"cv_rounds": 3, "backend": "xgboost"}, "cv_rounds needs backend"),
    ],
)
def test_bad_parameters(letor_small: LetorData, params: dict[str, object], message: str) -> None:
    with pytest.raises(DataError, match=message):
        LambdaMART(**params).fit(letor_small)  # type: ignore[arg-type]


def test_estimator_protocol(letor_small: LetorData) -> None:
    model = make_ranker("lambdamart", n_estimators=5)
    assert isinstance(model, LambdaMART)
    assert model.clone().get_params() == model.get_params()
    with pytest.raises(NotFittedError):
        model.predict(letor_small.run)
    with pytest.raises(DataError, match="no parameter"):
        make_ranker("lambdamart", n_trees=5)
    with pytest.raises(DataError, match="LetorData"):
        model.fit(letor_small.run)  # type: ignore[arg-type]


def test_lightgbm_params_are_what_the_booster_got(letor_small: LetorData) -> None:
    model = LambdaMART(**FAST, booster_params={"max_bin": 31}).fit(letor_small)
    params = model.lightgbm_params()
    assert params["deterministic"] is True and params["num_threads"] == 1
    assert params["max_bin"] == 31
    assert model.booster_.params["max_bin"] == 31


# ------------------------------------------------------------------------ model files
@pytest.fixture
def saved(tmp_path: Path, letor_small: LetorData) -> Path:
    return LambdaMART(**FAST).fit(letor_small).save(tmp_path / "model")


def test_another_format_version(saved: Path) -> None:
    cfg = json.loads((saved / "model.json").read_text())
    cfg["version"] = 99
    (saved / "model.json").write_text(json.dumps(cfg))
    with pytest.raises(ModelFormatError, match="version 99"):
        Ranker.load(saved)


def test_truncated_booster(saved: Path) -> None:
    data = (saved / "booster.txt").read_bytes()
    (saved / "booster.txt").write_bytes(data[: len(data) // 2])
    with pytest.raises(ModelFormatError, match="truncated"):
        Ranker.load(saved)


def test_foreign_booster(saved: Path) -> None:
    import hashlib

    junk = b"this is not a LightGBM model\n"
    (saved / "booster.txt").write_bytes(junk)
    cfg = json.loads((saved / "model.json").read_text())
    cfg["booster_sha256"] = hashlib.sha256(junk).hexdigest()
    (saved / "model.json").write_text(json.dumps(cfg))
    with pytest.raises(ModelFormatError, match="not a readable lightgbm model"):
        Ranker.load(saved)


@pytest.mark.parametrize("name", ["booster.txt", "preprocessing.json", "model.json"])
def test_missing_files(saved: Path, name: str) -> None:
    (saved / name).unlink()
    with pytest.raises(ModelFormatError, match="missing"):
        Ranker.load(saved)


def test_corrupt_model_json(saved: Path) -> None:
    (saved / "model.json").write_text("{not json")
    with pytest.raises(ModelFormatError, match="JSON"):
        Ranker.load(saved)


# ---------------------------------------------------------------------------- real data
@pytest.mark.realdata
def test_mq2008_fold1(mq2008_fold1: dict[str, LetorData]) -> None:
    model = LambdaMART(n_estimators=100, learning_rate=0.05, num_leaves=15).fit(
        mq2008_fold1["train"], mq2008_fold1["vali"]
    )
    values = evaluate(
        mq2008_fold1["test"].run.with_scores(model.predict(mq2008_fold1["test"].run)),
        mq2008_fold1["test"].qrels,
        ["nDCG@10", "AP"],
    )
    assert values["nDCG@10"] > 0.45 and values["AP"] > 0.42
