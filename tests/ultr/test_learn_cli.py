"""``rankstack train`` on a click log (``[data] clicks``, ``--clicks``, ``--debias``)."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

pytest.importorskip("torch")

from rankstack.cli import main
from rankstack.data import ClickLog, Run
from rankstack.io import read_run
from rankstack.io.clicks import write_clicks
from rankstack.io.letor import LetorData, write_letor


def letor_set(n_queries: int, seed: int, prefix: str) -> LetorData:
    rng = np.random.default_rng(seed)
    n = n_queries * 12
    x = rng.normal(size=(n, 4)).astype(np.float32)
    labels = np.digitize(1.5 * x[:, 0] + x[:, 1] + 0.5 * rng.normal(size=n), [1.0, 2.5])
    qids = np.repeat([f"{prefix}{i}" for i in range(n_queries)], 12)
    docids = [f"{prefix}d{i}" for i in range(n)]
    run = Run.from_arrays(qids, docids, np.zeros(n), x, ["1", "2", "3", "4"])
    where = {d: i for i, d in enumerate(docids)}
    return LetorData(run, labels[[where[d] for d in run.docids.to_pylist()]])


def clicks_for(data: LetorData, sessions: int, seed: int) -> ClickLog:
    """PBM clicks (eta 1) on the top 5 of each query by feature 3 (irrelevant)."""
    rng = np.random.default_rng(seed)
    run = data.run
    top = np.stack(
        [
            lo + np.argsort(-data.features[lo:hi, 2], kind="stable")[:5]
            for lo, hi in zip(run.offsets[:-1], run.offsets[1:])
        ]
    )
    q = rng.integers(0, run.n_queries, sessions)
    rows = top[q]
    prop = 1.0 / np.arange(1, 6)
    click = rng.random(rows.shape) < prop * (0.1 + 0.3 * data.labels[rows])
    return ClickLog.from_arrays(
        run.qids.take(q),
        np.full(sessions, 5),
        run.docids.take(rows.reshape(-1)),
        click.reshape(-1),
        metadata={"propensities": prop.tolist(), "k": 5},
    )


@pytest.fixture
def files(tmp_path: Path) -> Path:
    train = letor_set(30, 1, "q")
    write_letor(train, tmp_path / "train.txt")
    write_letor(letor_set(10, 2, "v"), tmp_path / "vali.txt")
    write_letor(letor_set(10, 3, "t"), tmp_path / "test.txt")
    write_clicks(clicks_for(train, 3000, 0), tmp_path / "clicks.jsonl")
    (tmp_path / "train.toml").write_text(
        """
seed = 3
[data]
train = "train.txt"
clicks = "clicks.jsonl"
valid = "vali.txt"
test = "test.txt"

[model]
kind = "neural"
hidden = [16]
epochs = 15
lr = 0.01

[debias]
method = "dla"

[output]
path = "model"
""",
        encoding="utf-8",
    )
    return tmp_path


def one_error_line(capsys: pytest.CaptureFixture[str]) -> str:
    err = capsys.readouterr().err.strip()
    lines = [line for line in err.splitlines() if line.startswith("error:")]
    assert len(lines) == 1 and "Traceback" not in err, err
    return lines[0]


def test_train_from_clicks_json(files: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["train", str(files / "train.toml"), "--json"]) == 0
    summary = json.loads(capsys.readouterr().out)
    assert summary["kind"] == "unbiased" and summary["method"] == "dla"
    assert summary["sessions"] == 3000 and summary["lists"] == 30
    props = summary["propensities"]
    assert props["method"] == "dla" and len(props["propensities"]) == 5
    assert props["true"] == pytest.approx([1, 1 / 2, 1 / 3, 1 / 4, 1 / 5])
    saved = json.loads((files / "model" / "propensities.json").read_text())
    assert saved["propensities"] == props["propensities"]
    assert "nDCG@10" in summary["test"]
    # the saved model scores like any other
    out = files / "t.run"
    assert main(["predict", str(files / "model"), str(files / "test.txt"), "-o", str(out)]) == 0
    assert read_run(out).n_queries == 10


def test_debias_flag_and_tables(files: Path, capsys: pytest.CaptureFixture[str]) -> None:
    toml = files / "train.toml"
    toml.write_text(toml.read_text().replace('method = "dla"', 'propensities = "log"'))
    assert main(["train", str(toml), "--debias", "ipw", "-o", str(files / "ipw"), "-q"]) == 0
    out = capsys.readouterr().out
    assert "propensities p_k / p_1 (true)" in out and "rel. error" in out
    assert "evaluation" in out and "nDCG@10" in out
    config = json.loads((files / "ipw" / "model.json").read_text())
    assert config["params"]["method"] == "ipw" and config["params"]["base"] == "neural"
    assert config["params"]["seed"] == 3


def test_clicks_option_with_lambdamart(files: Path, capsys: pytest.CaptureFixture[str]) -> None:
    toml = files / "lm.toml"
    toml.write_text(
        '[data]\ntrain = "train.txt"\n[model]\nkind = "lambdamart"\nn_estimators = 20\n'
        '[output]\npath = "lm"\n',
        encoding="utf-8",
    )
    args = ["train", str(toml), "--clicks", str(files / "clicks.jsonl"), "--json"]
    assert main([*args, "--debias", "lgbm_position"]) == 0
    summary = json.loads(capsys.readouterr().out)
    assert summary["method"] == "lgbm_position" and summary["propensities"] is None
    assert (files / "lm" / "ranker" / "booster.txt").is_file()
    assert main([*args, "--debias", "dla"]) == 0
    summary = json.loads(capsys.readouterr().out)
    assert summary["method"] == "dla" and len(summary["propensities"]["propensities"]) == 5


def test_bad_input_is_one_line(files: Path, capsys: pytest.CaptureFixture[str]) -> None:
    toml = files / "train.toml"
    text = toml.read_text()
    plain = files / "plain.toml"
    plain.write_text(text.replace('clicks = "clicks.jsonl"\n', "").replace('method = "dla"', ""))
    assert main(["train", str(plain), "--debias", "dla"]) == 2
    assert "--debias needs a click log" in one_error_line(capsys)
    nomethod = files / "nomethod.toml"
    nomethod.write_text(text.replace('method = "dla"', ""))
    assert main(["train", str(nomethod)]) == 2
    assert "needs a debiasing method" in one_error_line(capsys)
    typo = files / "typo.toml"
    typo.write_text(text.replace('method = "dla"', 'method = "dla"\nmax_wieght = 10'))
    assert main(["train", str(typo)]) == 2
    assert "[debias]" in one_error_line(capsys)
    neural_position = files / "neural_position.toml"
    neural_position.write_text(text.replace('method = "dla"', 'method = "lgbm_position"'))
    assert main(["train", str(neural_position)]) == 2
    assert "needs base 'lambdamart'" in one_error_line(capsys)
    # a log whose queries the features do not have
    write_clicks(
        ClickLog.from_arrays(["zz", "q1"], [1, 1], ["a", "q1d12"], [1, 0]), files / "bad.jsonl"
    )
    assert main(["train", str(toml), "--clicks", str(files / "bad.jsonl")]) == 2
    assert "1 query id(s) in 1 session(s) have no feature vectors" in one_error_line(capsys)
