"""``NeuralRanker``: determinism, save/load, resume, bad input and a real MQ2008 fit."""

from __future__ import annotations

import json
import logging

import numpy as np
import pytest

torch = pytest.importorskip("torch")

from rankstack.data import Run  # noqa: E402
from rankstack.evaluate import evaluate  # noqa: E402
from rankstack.exceptions import DataError, MissingFeaturesError  # noqa: E402
from rankstack.io.letor import LetorData  # noqa: E402
from rankstack.ltr.base import ModelFormatError, Ranker, make_ranker  # noqa: E402
from rankstack.ltr.losses import LOSSES, UnknownLossError  # noqa: E402
from rankstack.ltr.neural import NeuralRanker  # noqa: E402
from rankstack.ltr.training import CheckpointError  # noqa: E402

FAST = {"epochs": 3, "batch_size": 4, "progress": False, "n_threads": 1}
CONTEXT = {"model": "context", "d_model": 8, "n_heads": 2, "n_layers": 1, "dim_feedforward": 16}


def synthetic_letor(n_queries: int = 24, n_features: int = 5, seed: int = 0) -> LetorData:
    """Queries of 2..20 documents whose labels grow with a linear score plus noise."""
    rng = np.random.default_rng(seed)
    sizes = rng.integers(2, 21, size=n_queries)
    n = int(sizes.sum())
    feats = rng.normal(size=(n, n_features)).astype(np.float32) * 3 + 1
    signal = feats @ rng.normal(size=n_features) + rng.normal(scale=0.5, size=n)
    labels = np.digitize(signal, np.quantile(signal, [0.6, 0.85])).astype(np.int32)
    qids = np.repeat([f"q{i}" for i in range(n_queries)], sizes)
    docids = [f"d{i}" for i in range(n)]
    run = Run.from_arrays(qids, docids, np.zeros(n), feats, [f"f{j}" for j in range(n_features)])
    # Run.from_arrays orders the rows of a query by doc id; take the labels along
    source_row = np.array([int(d[1:]) for d in run.docids.to_pylist()])
    return LetorData(run, labels[source_row])


def subset(data: LetorData, stop: int) -> LetorData:
    run = data.run.slice_queries(0, stop)
    return LetorData(run, data.labels[: len(run)])


@pytest.fixture(scope="module")
def train() -> LetorData:
    return synthetic_letor(24, seed=0)


@pytest.fixture(scope="module")
def valid() -> LetorData:
    return synthetic_letor(10, seed=1)


def weights(ranker: NeuralRanker) -> dict[str, torch.Tensor]:
    assert ranker.model_ is not None
    return {k: v.clone() for k, v in ranker.model_.state_dict().items()}


def assert_same_weights(a: NeuralRanker, b: NeuralRanker) -> None:
    wa, wb = weights(a), weights(b)
    assert wa.keys() == wb.keys()
    for k in wa:
        assert torch.equal(wa[k], wb[k]), k


# ---------------------------------------------------------------------------------- basics
def test_exported_lazily_from_the_package():
    import rankstack.ltr as ltr

    assert ltr.NeuralRanker is NeuralRanker and "NeuralRanker" in ltr.__all__
    with pytest.raises(AttributeError):
        _ = ltr.NoSuchRanker


def test_registered_and_made_by_name(train):
    ranker = make_ranker("neural", loss="lambdaloss", **FAST)
    assert isinstance(ranker, NeuralRanker) and ranker.loss == "lambdaloss"
    assert ranker.get_params()["hidden"] == (64, 32)
    assert ranker.clone().get_params() == ranker.get_params()


@pytest.mark.parametrize("params", [{}, CONTEXT], ids=["mlp", "context"])
def test_fit_predict_transform(train, valid, params):
    ranker = NeuralRanker(**params, **FAST).fit(train, valid)
    scores = ranker.predict(valid.run)
    assert scores.shape == (len(valid),) and scores.dtype == np.float64
    assert np.isfinite(scores).all()
    out = ranker.transform(None, valid.run)
    assert len(out) == len(valid) and out.n_queries == valid.run.n_queries
    assert [h["epoch"] for h in ranker.history_] == [1, 2, 3]
    assert all("nDCG@10" in h for h in ranker.history_)


@pytest.mark.parametrize("loss", sorted(LOSSES))
def test_every_loss_trains(train, loss):
    ranker = NeuralRanker(loss=loss, **{**FAST, "epochs": 1}).fit(train)
    assert np.isfinite(ranker.predict(train.run)).all()
    assert np.isfinite(ranker.history_[0]["loss"])


def test_the_best_epoch_is_restored(train, valid):
    ranker = NeuralRanker(**{**FAST, "epochs": 8}, lr=0.05, early_stopping=None).fit(train, valid)
    best = max(range(8), key=lambda i: ranker.history_[i]["nDCG@10"])
    assert ranker.best_epoch_ == best + 1
    got = evaluate(ranker.transform(None, valid.run), valid.qrels, ["nDCG@10"])["nDCG@10"]
    assert got == ranker.best_score_ == ranker.history_[best]["nDCG@10"]


def test_early_stopping_stops(train, valid):
    ranker = NeuralRanker(**{**FAST, "epochs": 50}, lr=0.05, early_stopping=2).fit(train, valid)
    assert len(ranker.history_) < 50
    assert len(ranker.history_) - ranker.best_epoch_ == 2


def test_progress_bar_and_thread_count_are_restored(train, valid, capsys):
    before = torch.get_num_threads()
    NeuralRanker(**{**FAST, "progress": True}).fit(train, valid)
    assert torch.get_num_threads() == before
    assert "epoch" in capsys.readouterr().err


def test_fit_leaves_the_global_torch_rng_alone(train):
    torch.manual_seed(123)
    expected = torch.rand(3)
    torch.manual_seed(123)
    NeuralRanker(**FAST).fit(train)
    assert torch.equal(torch.rand(3), expected)


# ---------------------------------------------------------------------------------- determinism
@pytest.mark.parametrize(
    "params",
    [{"dropout": 0.3}, {**CONTEXT, "dropout": 0.2}, {"loss": "listmle"}, {"loss": "pg_rank"}],
    ids=["mlp-dropout", "context-dropout", "listmle-sampled-ties", "pg_rank-sampling"],
)
def test_same_seed_gives_bit_identical_weights_and_predictions(train, valid, params):
    a = NeuralRanker(**params, **FAST, max_list_len=8).fit(train, valid)
    b = NeuralRanker(**params, **FAST, max_list_len=8).fit(train, valid)
    assert_same_weights(a, b)
    assert np.array_equal(a.predict(valid.run), b.predict(valid.run))
    c = NeuralRanker(**params, **FAST, max_list_len=8, seed=1).fit(train, valid)
    assert not np.array_equal(a.predict(valid.run), c.predict(valid.run))


def test_padding_does_not_change_a_querys_predictions(train):
    ranker = NeuralRanker(**CONTEXT, **FAST).fit(train)
    run = train.run
    whole = ranker.predict(run)
    for q in (0, 5, 11):
        alone = ranker.predict(run.slice_queries(q, q + 1))
        lo, hi = run.offsets[q], run.offsets[q + 1]
        np.testing.assert_allclose(alone, whole[lo:hi], rtol=1e-6, atol=1e-6)


# ---------------------------------------------------------------------------------- save / load
@pytest.mark.parametrize("params", [{}, CONTEXT], ids=["mlp", "context"])
def test_save_load_is_bit_identical(train, valid, tmp_path, params):
    ranker = NeuralRanker(**params, **FAST, normalize="minmax/query").fit(train, valid)
    path = ranker.save(tmp_path / "model")
    config = json.loads((path / "model.json").read_text())
    assert config["kind"] == "neural" and config["architecture"]["model"] == ranker.model
    assert config["feature_names"] == list(train.run.feature_names)
    assert not list(path.glob("*.pkl")) and (path / "weights.safetensors").is_file()
    assert json.loads((path / "preprocessing.json").read_text())["method"] == "minmax"
    for loader in (NeuralRanker.load, Ranker.load):
        loaded = loader(path)
        assert isinstance(loaded, NeuralRanker)
        assert loaded.get_params() == ranker.get_params()
        assert np.array_equal(loaded.predict(valid.run), ranker.predict(valid.run))
        assert loaded.history_ == ranker.history_


def test_predict_matches_features_by_name(train, valid):
    ranker = NeuralRanker(**FAST).fit(train)
    names = list(valid.run.feature_names)
    shuffled = valid.run.with_features(valid.features[:, ::-1], names[::-1])
    assert np.array_equal(ranker.predict(shuffled), ranker.predict(valid.run))


@pytest.fixture
def saved(train, tmp_path):
    return NeuralRanker(**FAST).fit(train).save(tmp_path / "m")


def _edit_config(path, **changes):
    cfg = json.loads((path / "model.json").read_text())
    cfg.update(changes)
    (path / "model.json").write_text(json.dumps(cfg))


def test_model_of_another_version_is_refused(saved):
    _edit_config(saved, version=2)
    with pytest.raises(ModelFormatError, match="version 2"):
        NeuralRanker.load(saved)


def test_truncated_weights_are_refused(saved):
    w = saved / "weights.safetensors"
    w.write_bytes(w.read_bytes()[:-50])
    with pytest.raises(ModelFormatError, match="cannot read the weights"):
        NeuralRanker.load(saved)


def test_missing_weights_and_truncated_json_are_refused(saved):
    text = (saved / "model.json").read_text()
    (saved / "model.json").write_text(text[: len(text) // 2])
    with pytest.raises(ModelFormatError, match="not valid JSON"):
        NeuralRanker.load(saved)
    (saved / "model.json").write_text(text)
    (saved / "weights.safetensors").unlink()
    with pytest.raises(ModelFormatError, match="cannot read the weights"):
        NeuralRanker.load(saved)


def test_missing_or_corrupt_normaliser_state_is_refused(saved):
    pre = saved / "preprocessing.json"
    pre.write_text('{"version": 1')
    with pytest.raises(ModelFormatError, match="normaliser"):
        NeuralRanker.load(saved)
    pre.unlink()
    with pytest.raises(ModelFormatError, match="normaliser"):
        NeuralRanker.load(saved)


def test_weights_of_another_architecture_are_refused(saved):
    cfg = json.loads((saved / "model.json").read_text())
    _edit_config(saved, architecture={**cfg["architecture"], "hidden": [16]})
    with pytest.raises(ModelFormatError, match=r"do not match|shape"):
        NeuralRanker.load(saved)


# ---------------------------------------------------------------------------------- bad input
def test_unknown_loss_names_the_valid_ones(train):
    with pytest.raises(UnknownLossError, match="listnet"):
        NeuralRanker(loss="softmax_ce", **FAST).fit(train)


def test_unknown_loss_parameter_names_the_valid_ones(train):
    with pytest.raises(DataError, match="sigma"):
        NeuralRanker(loss="ranknet", loss_params={"temperature": 2}, **FAST).fit(train)
    ranker = NeuralRanker(loss="ranknet", loss_params={"sigma": 2.0}, **FAST).fit(train)
    assert ranker.is_fitted


@pytest.mark.parametrize(
    ("param", "value", "match"),
    [
        ("model", "rnn", "unknown model"),
        ("optimizer", "lbfgs", "unknown optimizer"),
        ("epochs", 0, "epochs"),
        ("batch_size", 0, "batch_size"),
        ("lr", 0.0, "lr"),
        ("normalize", "robust", "unknown method"),
        ("dropout", 1.0, "dropout"),
    ],
)
def test_bad_parameters_are_errors(train, param, value, match):
    with pytest.raises(DataError, match=match):
        NeuralRanker(**{**FAST, param: value}).fit(train)


def test_empty_training_or_validation_data(train):
    empty = subset(train, 0)
    with pytest.raises(DataError, match="training set has no documents"):
        NeuralRanker(**FAST).fit(empty)
    with pytest.raises(DataError, match="validation set has no documents"):
        NeuralRanker(**FAST).fit(train, empty)
    with pytest.raises(DataError, match="LetorData"):
        NeuralRanker(**FAST).fit(train.run)


def test_missing_features_at_predict(train, valid):
    ranker = NeuralRanker(**FAST).fit(train)
    fewer = valid.run.with_features(valid.features[:, :3], list(valid.run.feature_names)[:3])
    with pytest.raises(MissingFeaturesError, match="f3"):
        ranker.predict(fewer)
    with pytest.raises(MissingFeaturesError):
        ranker.predict(valid.run.with_features(None))


def test_predict_before_fit_and_nan_features(train):
    from rankstack.exceptions import NotFittedError

    with pytest.raises(NotFittedError):
        NeuralRanker().predict(train.run)
    ranker = NeuralRanker(**FAST).fit(train)
    feats = train.features.copy()
    feats[3, 1] = np.nan
    with pytest.raises(DataError, match="NaN or infinite"):
        ranker.predict(train.run.with_features(feats, train.run.feature_names))


def test_all_zero_column_at_predict_warns(train):
    from rankstack.ltr.preprocessing import AbsentFeatureWarning

    ranker = NeuralRanker(**FAST).fit(train)
    feats = train.features.copy()
    feats[:, 2] = 0
    with pytest.warns(AbsentFeatureWarning, match="f2"):
        ranker.predict(train.run.with_features(feats, train.run.feature_names))


# ---------------------------------------------------------------------------------- resume
@pytest.mark.parametrize(
    "params",
    [{"dropout": 0.3, "loss": "listmle"}, {**CONTEXT, "dropout": 0.1}],
    ids=["mlp", "context"],
)
def test_resume_continues_bit_identically(train, valid, tmp_path, params):
    base = {**FAST, **params, "early_stopping": None, "max_list_len": 10}
    straight = NeuralRanker(**{**base, "epochs": 4}).fit(train, valid)
    first = NeuralRanker(**{**base, "epochs": 2}, checkpoint_dir=tmp_path / "ck").fit(train, valid)
    assert len(first.history_) == 2
    resumed = NeuralRanker(**{**base, "epochs": 4}, checkpoint_dir=tmp_path / "ck")
    resumed.fit(train, valid, resume=True)
    assert_same_weights(straight, resumed)
    strip = [{k: v for k, v in h.items() if "seconds" not in k} for h in straight.history_]
    assert strip == [{k: v for k, v in h.items() if "seconds" not in k} for h in resumed.history_]
    assert resumed.best_epoch_ == straight.best_epoch_
    # the classmethod, from the checkpoint alone
    again = NeuralRanker.resume(tmp_path / "ck", train, valid, epochs=4)
    assert_same_weights(straight, again)


def test_resume_refuses_other_parameters_or_data(train, valid, tmp_path):
    ck = tmp_path / "ck"
    NeuralRanker(**FAST, checkpoint_dir=ck).fit(train, valid)
    with pytest.raises(CheckpointError, match="lr"):
        NeuralRanker(**FAST, checkpoint_dir=ck, lr=0.5).fit(train, valid, resume=True)
    with pytest.raises(CheckpointError, match="other training data"):
        NeuralRanker(**FAST, checkpoint_dir=ck).fit(subset(train, 20), valid, resume=True)
    with pytest.raises(DataError, match="cannot change"):
        NeuralRanker.resume(ck, train, valid, lr=0.5)
    with pytest.raises(DataError, match="checkpoint_dir"):
        NeuralRanker(**FAST).fit(train, resume=True)


def test_resume_without_a_checkpoint_starts_afresh(train, tmp_path, caplog):
    with caplog.at_level(logging.INFO, logger="rankstack.ltr.neural"):
        ranker = NeuralRanker(**FAST, checkpoint_dir=tmp_path / "new").fit(train, resume=True)
    assert "training from the start" in caplog.text
    assert len(ranker.history_) == 3 and (tmp_path / "new" / "checkpoint.json").is_file()


def test_resume_of_a_finished_run_changes_nothing(train, valid, tmp_path):
    ck = tmp_path / "ck"
    done = NeuralRanker(**FAST, checkpoint_dir=ck).fit(train, valid)
    again = NeuralRanker(**FAST, checkpoint_dir=ck).fit(train, valid, resume=True)
    assert_same_weights(done, again)


# ---------------------------------------------------------------------------------- real data
@pytest.mark.realdata
def test_mq2008_subset_beats_random_order(datasets_dir):
    from rankstack import datasets

    fold = datasets.load("letor/mq2008/fold1")
    train, vali = subset(fold.letor("train"), 200), fold.letor("vali")
    ranker = NeuralRanker(epochs=15, batch_size=16, progress=False, n_threads=1, lr=3e-3)
    ranker.fit(train, vali)
    rng = np.random.default_rng(0)
    measure = ["nDCG@10"]
    random_scores = [
        evaluate(vali.run.with_scores(rng.random(len(vali))), vali.qrels, measure)["nDCG@10"]
        for _ in range(5)
    ]
    ours = evaluate(ranker.transform(None, vali.run), vali.qrels, measure)["nDCG@10"]
    assert ours > max(random_scores) + 0.05, (ours, random_scores)


@pytest.mark.realdata
@pytest.mark.slow
def test_mq2008_fold1_defaults_reach_lambdamart_territory(datasets_dir):
    """Defaults on a whole fold: test nDCG@10 near LambdaMART's 0.49 (benchmarks.md)."""
    from rankstack import datasets

    fold = datasets.load("letor/mq2008/fold1")
    ranker = NeuralRanker(loss="listmle", progress=False).fit(
        fold.letor("train"), fold.letor("vali")
    )
    test = fold.letor("test")
    ours = evaluate(ranker.transform(None, test.run), test.qrels, ["nDCG@10"])["nDCG@10"]
    assert ours > 0.48


# ---------------------------------------------------------------------------------- CLI
def test_cli_train_predict_and_cv_with_a_neural_model(train, valid, tmp_path, capsys):
    from rankstack.cli import main
    from rankstack.io import read_run
    from rankstack.io.letor import write_letor

    write_letor(train, tmp_path / "train.txt")
    write_letor(valid, tmp_path / "vali.txt")
    (tmp_path / "train.toml").write_text(
        '[data]\ntrain = "train.txt"\nvalid = "vali.txt"\n\n'
        '[model]\nkind = "neural"\nloss = "lambdaloss"\nmodel = "context"\nd_model = 8\n'
        "n_heads = 2\nn_layers = 1\ndim_feedforward = 16\nepochs = 3\nprogress = false\n"
        "loss_params = { mu = 5.0 }\n\n"
        f'[output]\npath = "{tmp_path / "model"}"\n'
    )
    assert main(["train", str(tmp_path / "train.toml"), "-q"]) == 0
    loaded = NeuralRanker.load(tmp_path / "model")
    assert loaded.model == "context" and loaded.loss_params == {"mu": 5.0}
    out = tmp_path / "run.trec"
    assert (
        main(["predict", str(tmp_path / "model"), str(tmp_path / "vali.txt"), "-o", str(out)]) == 0
    )
    run = read_run(out)
    assert run.n_queries == valid.run.n_queries and len(run) == len(valid)

    folder = tmp_path / "folds" / "Fold1"
    for split, data in (("train", train), ("vali", valid), ("test", valid)):
        write_letor(data, folder / f"{split}.txt")
    capsys.readouterr()
    args = ["cv", str(tmp_path / "folds"), "--model", "neural", "--loss", "listmle"]
    assert main([*args, "--param", "epochs=2", "--param", "progress=false", "--json"]) == 0
    result = json.loads(capsys.readouterr().out)
    assert result["model"] == "neural" and 0 <= result["mean"]["nDCG@10"] <= 1

    assert main([*args, "--param", "loss_params={}", "--param", "epochs=0"]) == 2
    assert "epochs" in capsys.readouterr().err
