"""``rankstack train|predict|cv|features rank``: end to end, and one clear line for bad input."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from rankstack.cli import main
from rankstack.data import Run
from rankstack.io import read_run
from rankstack.io.letor import LetorData, write_letor


def synthetic_letor(
    n_queries: int, seed: int = 0, qid_prefix: str = "q", n_features: int = 6
) -> LetorData:
    """Queries of 5-25 documents whose label grows with features 1 and 2."""
    rng = np.random.default_rng(seed)
    sizes = rng.integers(5, 26, size=n_queries)
    n = int(sizes.sum())
    x = rng.normal(size=(n, n_features)).astype(np.float32)
    labels = np.digitize(1.5 * x[:, 0] + x[:, 1] + 0.5 * rng.normal(size=n), [-0.5, 1.0])
    qids = np.repeat([f"{qid_prefix}{i}" for i in range(n_queries)], sizes)
    run = Run.from_arrays(
        qids,
        [f"d{i:05d}" for i in range(n)],
        np.zeros(n),
        x,
        [str(j + 1) for j in range(n_features)],
    )
    order = np.array([int(d[1:]) for d in run.docids.to_pylist()])
    return LetorData(run, labels[order].astype(np.int32))


@pytest.fixture
def letor_folder(tmp_path: Path) -> Path:
    root = tmp_path / "toy"
    for fold in (1, 2):
        for i, split in enumerate(("train", "vali", "test")):
            data = synthetic_letor(25 if split == "train" else 10, 10 * fold + i, f"{split}{fold}-")
            write_letor(data, root / f"Fold{fold}" / f"{split}.txt")
    return root


@pytest.fixture(autouse=True)
def _wide(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("COLUMNS", "200")


@pytest.fixture
def files(tmp_path: Path) -> Path:
    write_letor(synthetic_letor(40, seed=1), tmp_path / "train.txt")
    write_letor(synthetic_letor(15, seed=2, qid_prefix="v"), tmp_path / "vali.txt")
    write_letor(synthetic_letor(15, seed=3, qid_prefix="t"), tmp_path / "test.txt")
    (tmp_path / "train.toml").write_text(
        """
[data]
train = "train.txt"
valid = "vali.txt"
test = "test.txt"
letor_eval = true
[model]
kind = "lambdamart"
n_estimators = 30
learning_rate = 0.2
min_data_in_leaf = 5
[output]
path = "model"
""",
        encoding="utf-8",
    )
    return tmp_path


def _one_error_line(capsys: pytest.CaptureFixture[str]) -> str:
    err = capsys.readouterr().err.strip()
    lines = [line for line in err.splitlines() if line.startswith("error:")]
    assert len(lines) == 1 and "Traceback" not in err, err
    return lines[0]


def test_train_predict_round_trip(files: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["train", str(files / "train.toml"), "-q"]) == 0
    out = capsys.readouterr().out
    assert "saved" in out and "LETOR:NDCG@10" in out and "test" in out
    assert (files / "model" / "model.json").is_file()
    run_path = files / "test.run"
    assert (
        main(["predict", str(files / "model"), str(files / "test.txt"), "-o", str(run_path)]) == 0
    )
    run = read_run(run_path)
    assert len(run) == len((files / "test.txt").read_text().splitlines())
    assert run.n_queries == 15


def test_train_json_and_output_override(files: Path, capsys: pytest.CaptureFixture[str]) -> None:
    target = files / "elsewhere"
    assert main(["train", str(files / "train.toml"), "-o", str(target), "--json"]) == 0
    summary = json.loads(capsys.readouterr().out)
    assert summary["model"] == str(target) and summary["best_iteration"] >= 1
    assert set(summary) >= {"valid", "test"} and "nDCG@10" in summary["test"]
    assert (target / "booster.txt").is_file() and not (files / "model").exists()


def test_predict_parquet_run_with_features(files: Path, tmp_path: Path) -> None:
    from rankstack.io import write_run_parquet

    assert main(["train", str(files / "train.toml"), "-q"]) == 0
    data = synthetic_letor(5, seed=9, qid_prefix="p")
    write_run_parquet(data.run, tmp_path / "cands.parquet")
    out = tmp_path / "p.run"
    assert (
        main(["predict", str(files / "model"), str(tmp_path / "cands.parquet"), "-o", str(out)])
        == 0
    )
    assert read_run(out).n_queries == 5


def test_cv_json(files: Path, letor_folder: Path, capsys: pytest.CaptureFixture[str]) -> None:
    args = ["cv", str(letor_folder), "--param", "n_estimators=10", "-p", "min_data_in_leaf=5"]
    assert main([*args, "--json", "--letor-eval"]) == 0
    result = json.loads(capsys.readouterr().out)
    assert [f["fold"] for f in result["folds"]] == [1, 2]
    assert set(result["mean"]) == set(result["std"]) >= {"nDCG@1", "nDCG@10", "AP", "LETOR:MAP"}
    assert result["params"] == {"n_estimators": 10, "min_data_in_leaf": 5}
    assert main([*args, "--folds", "1"]) == 0
    out = capsys.readouterr().out
    assert "mean ± std" in out and "nDCG@10" in out


def test_features_rank(files: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["features", "rank", str(files / "train.txt"), "--top", "3", "--json"]) == 0
    result = json.loads(capsys.readouterr().out)
    assert len(result["features"]) == 3
    assert result["features"][0]["feature"] in ("1", "2")
    assert main(["features", "rank", str(files / "train.txt"), "--by", "gain", "--no-gain"]) == 0
    assert "features of" in capsys.readouterr().out


# ------------------------------------------------------------------------------ bad input
def _config(tmp_path: Path, train: str, extra: str = "") -> Path:
    path = tmp_path / "bad.toml"
    path.write_text(
        f'[data]\ntrain = "{train}"\n{extra}[model]\nkind = "lambdamart"\nn_estimators = 5\n'
        '[output]\npath = "m"\n',
        encoding="utf-8",
    )
    return path


def test_unknown_key(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    cfg = _config(tmp_path, "x.txt", "trian = 'y'\n")
    assert main(["train", str(cfg)]) == 2
    assert "unknown key 'trian'" in _one_error_line(capsys)


def test_nan_feature_names_the_line(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    (tmp_path / "nan.txt").write_text("1 qid:1 1:0.5 #docid = a\n0 qid:1 1:nan #docid = b\n")
    assert main(["train", str(_config(tmp_path, "nan.txt"))]) == 2
    err = _one_error_line(capsys)
    assert "nan.txt, line 2" in err


def test_interleaved_qids(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    lines = [
        f"{i % 3} qid:{q} 1:{i / 10} 2:{i % 2} #docid = d{i}"
        for i, q in enumerate([1, 1, 2, 2, 1, 1])
    ]
    (tmp_path / "inter.txt").write_text("\n".join(lines) + "\n")
    cfg = _config(tmp_path, "inter.txt")
    assert main(["train", str(cfg)]) == 2
    assert "line 5" in _one_error_line(capsys)
    assert main(["train", str(cfg), "--allow-interleaved", "-q"]) == 0


def test_label_out_of_range(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    data = synthetic_letor(5, seed=4)
    labels = data.labels.copy()
    labels[3] = 40
    write_letor(LetorData(data.run, labels), tmp_path / "big.txt")
    assert main(["train", str(_config(tmp_path, "big.txt"))]) == 2
    assert "label 40 has no gain" in _one_error_line(capsys)
    cfg = tmp_path / "bad.toml"
    cfg.write_text(cfg.read_text().replace("n_estimators = 5", "n_estimators = 5\nmax_label = 2"))
    labels[3] = 3
    write_letor(LetorData(data.run, labels), tmp_path / "big.txt")
    assert main(["train", str(cfg)]) == 2
    assert "above max_label=2" in _one_error_line(capsys)


def test_corrupt_model(files: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["train", str(files / "train.toml"), "-q"]) == 0
    capsys.readouterr()
    booster = files / "model" / "booster.txt"
    booster.write_bytes(booster.read_bytes()[:100])
    out = files / "x.run"
    assert main(["predict", str(files / "model"), str(files / "test.txt"), "-o", str(out)]) == 2
    assert "truncated" in _one_error_line(capsys)
    assert main(["predict", str(files), str(files / "test.txt"), "-o", str(out)]) == 2
    assert "model.json is missing" in _one_error_line(capsys)


def test_cv_bad_arguments(letor_folder: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["cv", str(letor_folder), "--folds", "7"]) == 2
    assert "not available" in _one_error_line(capsys)
    assert main(["cv", str(letor_folder), "--loss", "listnet"]) == 2
    assert "no parameter 'loss'" in _one_error_line(capsys)
    assert main(["cv", str(letor_folder), "--param", "oops"]) == 2
    assert "key=value" in _one_error_line(capsys)


def test_absent_feature_is_one_warning_line(
    files: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["train", str(files / "train.toml"), "-q"]) == 0
    data = synthetic_letor(5, seed=9, qid_prefix="z")
    feats = data.features.copy()
    feats[:, 0] = 0
    run = Run.from_arrays(
        data.run.qid_column(), data.run.docids, np.zeros(len(data)), feats, data.run.feature_names
    )
    write_letor(LetorData(run, data.labels), files / "holes.txt", sparse=True)
    capsys.readouterr()
    assert (
        main(
            ["predict", str(files / "model"), str(files / "holes.txt"), "-o", str(files / "h.run")]
        )
        == 0
    )
    err = capsys.readouterr().err
    assert err.startswith("warning:") and "1 feature(s)" in err and "Traceback" not in err


def test_cv_neural_model(letor_folder: Path, capsys: pytest.CaptureFixture[str]) -> None:
    pytest.importorskip("torch")
    args = ["cv", str(letor_folder), "--model", "neural", "--loss", "listnet", "--folds", "1"]
    assert main([*args, "--param", "epochs=2", "--json"]) == 0
    captured = capsys.readouterr()
    result = json.loads(captured.out)
    assert result["model"] == "neural" and result["params"]["loss"] == "listnet"
    assert "epoch" not in captured.err  # --json silences the model's own progress bar
