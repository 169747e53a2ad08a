"""``rankstack clicks simulate|stats|convert|evaluate`` end to end; bad input is one line."""

from __future__ import annotations

import gzip
import json
from pathlib import Path

import numpy as np
import pytest

from rankstack.cli import main
from rankstack.data import Run
from rankstack.io.clicks import read_clicks
from rankstack.io.letor import LetorData, write_letor


def toy_letor(n_queries: int = 30, seed: int = 0) -> LetorData:
    rng = np.random.default_rng(seed)
    sizes = rng.integers(5, 20, size=n_queries)
    n = int(sizes.sum())
    x = rng.normal(size=(n, 5)).astype(np.float32)
    labels = np.digitize(1.5 * x[:, 0] + 0.5 * rng.normal(size=n), [0.0, 1.2])
    run = Run.from_arrays(
        np.repeat([f"q{i}" for i in range(n_queries)], sizes),
        [f"d{i:05d}" for i in range(n)],
        np.zeros(n),
        x,
        [str(j + 1) for j in range(5)],
    )
    order = np.array([int(d[1:]) for d in run.docids.to_pylist()])
    return LetorData(run, labels[order].astype(np.int32))


@pytest.fixture
def letor_file(tmp_path: Path) -> Path:
    path = tmp_path / "train.txt"
    write_letor(toy_letor(), path)
    return path


@pytest.fixture(autouse=True)
def _wide(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("COLUMNS", "200")


def test_simulate_stats_convert_end_to_end(
    letor_file: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    log = tmp_path / "clicks.parquet"
    args = ["clicks", "simulate", str(letor_file), "-o", str(log), "--sessions", "25000"]
    assert main([*args, "--model", "pbm", "--eta", "1", "--chunk-sessions", "6000", "-q"]) == 0
    assert "wrote 25,000 sessions" in capsys.readouterr().out
    back = read_clicks(log)
    assert len(back) == 25_000 and back.metadata["propensities"][1] == 0.5
    assert back.metadata["production"]["n_train_queries"] == 1

    assert main(["clicks", "stats", str(log), "--json"]) == 0
    stats = json.loads(capsys.readouterr().out)
    assert stats["sessions"] == 25_000 and stats["queries"] == 30
    assert stats["ctr_by_position"][0] > stats["ctr_by_position"][4]

    png = tmp_path / "ctr.png"
    assert main(["clicks", "stats", str(log), "--plot", str(png)]) == 0
    out = capsys.readouterr().out
    assert "sessions without clicks" in out and "true propensity" in out
    assert png.read_bytes()[:4] == b"\x89PNG"

    jsonl = tmp_path / "clicks.jsonl.gz"
    assert main(["clicks", "convert", str(log), str(jsonl), "--max-sessions", "100"]) == 0
    small = read_clicks(jsonl)
    assert len(small) == 100 and small.metadata["click_model"] == "pbm"


@pytest.mark.parametrize("model", ["cascade", "dcm", "ubm"])
def test_simulate_other_models(letor_file: Path, tmp_path: Path, model: str) -> None:
    log = tmp_path / "c.jsonl"
    assert main(["clicks", "simulate", str(letor_file), "-o", str(log), "-n", "500",
                 "--model", model, "--json"]) == 0  # fmt: skip
    back = read_clicks(log)
    assert back.metadata["click_model"] == model and back.metadata["propensities"] is None


def test_evaluate_with_truth(
    letor_file: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    from rankstack.io.letor import read_letor
    from rankstack.ltr import LambdaMART

    model_dir = tmp_path / "model"
    LambdaMART(n_estimators=20, min_data_in_leaf=5, seed=0).fit(read_letor(letor_file)).save(
        model_dir
    )
    log = tmp_path / "clicks.parquet"
    assert main(["clicks", "simulate", str(letor_file), "-o", str(log), "-n", "30000", "-q"]) == 0
    capsys.readouterr()
    args = ["clicks", "evaluate", str(log), "--model", str(model_dir), "--data", str(letor_file)]
    assert main([*args, "--truth", "--bootstrap", "200", "--json"]) == 0
    res = json.loads(capsys.readouterr().out)
    for e in ("ips", "snips"):
        assert res[e]["ci_low"] <= res["true"] <= res[e]["ci_high"]
    assert main([*args, "--bootstrap", "50"]) == 0
    assert "snips" in capsys.readouterr().out


def test_stats_of_a_baidu_file(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    doc = "\t".join(["1", "u1", "t", "a", "0", "1", *["0"] * 26])
    path = tmp_path / "part-00001.gz"
    path.write_bytes(gzip.compress(f"7\t1\x012\t\n{doc}\n".encode()))
    assert main(["clicks", "stats", str(path), "--baidu", "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["clicks"] == 1


def test_bad_input_is_one_line(
    letor_file: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    log = tmp_path / "clicks.jsonl"
    assert main(["clicks", "simulate", str(letor_file), "-o", str(log), "-n", "100", "-q"]) == 0
    lines = log.read_text().splitlines()
    log.write_text("\n".join(lines[:-1]) + "\n")  # a crash before the end marker
    capsys.readouterr()
    assert main(["clicks", "stats", str(log)]) == 2
    err = capsys.readouterr().err
    assert "no end marker" in err and "Traceback" not in err
    assert main(["clicks", "stats", str(log), "--allow-incomplete", "--json"]) == 0
    assert main(["clicks", "simulate", str(letor_file), "-o", str(tmp_path / "x.txt")]) == 2
    assert main(["clicks", "simulate", str(letor_file), "-o", str(log), "--model", "nope"]) == 2
    assert "unknown click model" in capsys.readouterr().err
    assert not (tmp_path / "x.txt").exists()


def test_intervention_log_and_propensities(
    letor_file: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    log = tmp_path / "swap.parquet"
    args = ["clicks", "simulate", str(letor_file), "-o", str(log), "--sessions", "60000", "-q"]
    assert main([*args, "--intervention", "swap", "--chunk-sessions", "25000"]) == 0
    capsys.readouterr()
    back = read_clicks(log)
    assert back.metadata["intervention"] == "swap" and "logged_position" in back.display
    out_json, out_csv, png = tmp_path / "p.json", tmp_path / "p.csv", tmp_path / "p.png"
    assert main(["clicks", "propensities", str(log), "-o", str(out_json), "--json"]) == 0
    printed = json.loads(capsys.readouterr().out)
    saved = json.loads(out_json.read_text())
    assert printed == saved and saved["method"] == "swap" and saved["positions"][-1] == 10
    assert max(saved["relative_error"]) < 0.25, saved
    assert main(["clicks", "propensities", str(log), "-o", str(out_csv), "--plot", str(png)]) == 0
    text = capsys.readouterr().out
    assert "relative error" in text and png.stat().st_size > 0
    assert out_csv.read_text().startswith("position,propensity,true,relative_error")


def test_propensities_bad_input_is_one_line(
    letor_file: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    log = tmp_path / "plain.jsonl"
    args = ["clicks", "simulate", str(letor_file), "-o", str(log), "--sessions", "500", "-q"]
    assert main(args) == 0
    assert main([*args, "--intervention", "sideways"]) == 2
    assert "--intervention must be one of" in capsys.readouterr().err
    # displays that never vary carry no information about the propensities
    assert main(["clicks", "propensities", str(log)]) == 2
    err = capsys.readouterr().err
    assert "no interventions" in err and "Traceback" not in err
