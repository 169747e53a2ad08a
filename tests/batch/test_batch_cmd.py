"""``rankstack batch`` and ``rankstack train --scheduler`` from the command line."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from rankstack.batch import ClusterError, dask_client
from rankstack.cli import main
from rankstack.io.letor import write_letor
from rankstack.ltr import Ranker

from .test_lambdamart_dask import synthetic_letor


@pytest.fixture
def queries_file(batch_data: dict[str, Any], tmp_path: Path) -> Path:
    qs = batch_data["queries"].slice(0, 500)
    path = tmp_path / "queries.tsv"
    path.write_text("".join(f"{q}\t{t}\n" for q, t in zip(qs.qid_list(), qs.text_list())))
    return path


@pytest.fixture
def single_run(batch_data: dict[str, Any], queries_file: Path, tmp_path: Path) -> bytes:
    out = tmp_path / "single.run"
    assert (
        main(["pipeline", "run", str(batch_data["bm25"]), str(queries_file), "-o", str(out)]) == 0
    )
    return out.read_bytes()


def test_local_cluster_run_is_byte_identical(
    batch_data: dict[str, Any], queries_file: Path, single_run: bytes, tmp_path: Path
) -> None:
    out = tmp_path / "batch.run"
    args = ["batch", str(batch_data["bm25"]), str(queries_file), "-o", str(out)]
    code = main([*args, "--scheduler", "local", "--workers", "2", "--no-dashboard", "-q"])
    assert code == 0
    assert out.read_bytes() == single_run


@pytest.mark.parametrize("partitions", ["1", "7"])
def test_scheduler_address_and_none(
    batch_data: dict[str, Any],
    queries_file: Path,
    single_run: bytes,
    client: Any,
    tmp_path: Path,
    partitions: str,
    capsys: pytest.CaptureFixture[str],
) -> None:
    out = tmp_path / "batch.run"
    base = ["batch", str(batch_data["bm25"]), str(queries_file), "-o", str(out)]
    assert main([*base, "--scheduler", client.scheduler.address, "--partitions", partitions]) == 0
    assert out.read_bytes() == single_run
    assert "ran 500 queries" in capsys.readouterr().out
    out.unlink()
    assert main([*base, "--scheduler", "none", "--partitions", partitions, "-q"]) == 0
    assert out.read_bytes() == single_run


def test_bad_input_is_one_line(
    batch_data: dict[str, Any],
    queries_file: Path,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    args = ["batch", str(tmp_path / "missing"), str(queries_file), "-o", str(tmp_path / "x.run")]
    assert main([*args, "--scheduler", "none"]) == 2
    err = capsys.readouterr().err
    assert err.startswith("error:") and "not a saved pipeline" in err and "Traceback" not in err
    args = ["batch", str(batch_data["bm25"]), str(queries_file), "-o", str(tmp_path / "x.run")]
    assert main([*args, "--scheduler", "none", "--partitions", "0"]) == 2
    assert "partitions must be >= 1" in capsys.readouterr().err


def test_unreachable_scheduler_is_a_clear_error() -> None:
    with (
        pytest.raises(ClusterError, match="cannot connect"),
        dask_client("tcp://127.0.0.1:9", timeout=1),
    ):
        pass


def test_train_on_a_cluster_saves_a_loadable_model(
    client: Any, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    write_letor(synthetic_letor(80, 1), tmp_path / "train.txt")
    write_letor(synthetic_letor(30, 2, "v"), tmp_path / "vali.txt")
    write_letor(synthetic_letor(30, 3, "t"), tmp_path / "test.txt")
    (tmp_path / "train.toml").write_text(
        """
[data]
train = "train.txt"
valid = "vali.txt"
test = "test.txt"

[model]
kind = "lambdamart"
n_estimators = 40
num_leaves = 7
min_data_in_leaf = 10
early_stopping_rounds = 10

[output]
path = "model"
""",
        encoding="utf-8",
    )
    config = str(tmp_path / "train.toml")
    assert main(["train", config, "--scheduler", client.scheduler.address, "--json"]) == 0
    summary = json.loads(capsys.readouterr().out)  # stdout holds only the JSON
    assert summary["kind"] == "lambdamart" and 1 <= summary["best_iteration"] <= 40
    assert 0 < summary["test"]["nDCG@10"] <= 1
    model = Ranker.load(tmp_path / "model")
    from rankstack.io.letor import read_letor

    test = read_letor(tmp_path / "test.txt")
    scores = model.predict(test.run)
    again = Ranker.load(tmp_path / "model").predict(test.run)
    assert np.array_equal(scores, again)


def test_train_scheduler_refuses_a_neural_model(tmp_path: Path, client: Any) -> None:
    pytest.importorskip("torch")
    write_letor(synthetic_letor(20, 1), tmp_path / "train.txt")
    (tmp_path / "n.toml").write_text(
        '[data]\ntrain = "train.txt"\n[model]\nkind = "neural"\nepochs = 1\n[output]\npath = "m"\n',
        encoding="utf-8",
    )
    code = main(["train", str(tmp_path / "n.toml"), "--scheduler", client.scheduler.address, "-q"])
    assert code == 2
