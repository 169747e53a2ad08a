"""The training file: key checking, paths, model parameters, and loading LETOR data specs."""

from __future__ import annotations

from pathlib import Path

import pytest

from rankstack.exceptions import DatasetNotFoundError, FormatError
from rankstack.io.letor import LetorData, write_letor
from rankstack.ltr.config import TrainConfig, load_letor, load_scoring_data
from rankstack.ltr.gbdt import LambdaMART

GOOD = """
seed = 7
[data]
train = "train.txt"
valid = "vali.txt"
letor_eval = true
[model]
kind = "lambdamart"
n_estimators = 20
normalize = "zscore/query"
[output]
path = "out/model"
"""


def _write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "train.toml"
    path.write_text(text, encoding="utf-8")
    return path


def test_good_file(tmp_path: Path, letor_small: LetorData) -> None:
    write_letor(letor_small, tmp_path / "train.txt")
    cfg = TrainConfig.from_toml(_write(tmp_path, GOOD))
    assert cfg.kind == "lambdamart" and cfg.letor_eval and cfg.test is None
    model = cfg.make_model()
    assert isinstance(model, LambdaMART)
    assert model.seed == 7 and model.n_estimators == 20 and model.normalize == "zscore/query"
    assert cfg.output_path() == tmp_path.resolve() / "out" / "model"
    assert cfg.output_path(tmp_path / "x") == tmp_path / "x"
    train = cfg.load("train")
    assert train is not None and len(train) == len(letor_small)
    assert cfg.load("test") is None


@pytest.mark.parametrize(
    ("text", "message"),
    [
        (
            "[data]\ntrain='t'\n[model]\nkind='lambdamart'\n[outptu]\n",
            r"unknown key 'outptu'.*output",
        ),
        ("[data]\ntrain='t'\nvalidation='v'\n[model]\nkind='lambdamart'\n", r"'validation'.*valid"),
        ("[data]\ntrain='t'\n[model]\nkind='lambdamart'\n[output]\ndir='x'\n", "valid keys: path"),
        ("[data]\ntrain='t'\n[model]\nkind='lambdamart'\nn_trees=5\n", "no parameter 'n_trees'"),
        ("[data]\ntrain='t'\n[model]\nn_estimators=5\n", "'kind' is required"),
        ("[model]\nkind='lambdamart'\n", r"\[data\] table is required"),
        ("[data]\nvalid='v'\n[model]\nkind='lambdamart'\n", "'train' is required"),
        ("[data]\ntrain=3\n[model]\nkind='lambdamart'\n", "must be of type str"),
        (
            "seed=true\n[data]\ntrain='t'\n[model]\nkind='lambdamart'\n",
            "must be of type int, found bool",
        ),
        ("[data]\ntrain='t'\n[model]\nkind='forest'\n", "unknown model 'forest'"),
        ("seed=1\n[data]\ntrain='t'\n[model]\nkind='lambdamart'\nseed=2\n", "differ"),
        ("[data\n", "not valid TOML"),
    ],
)
def test_bad_files_name_the_problem(tmp_path: Path, text: str, message: str) -> None:
    with pytest.raises(FormatError, match=message) as info:
        TrainConfig.from_toml(_write(tmp_path, text))
    assert "train.toml" in str(info.value)


def test_missing_file_and_output(tmp_path: Path) -> None:
    with pytest.raises(FormatError, match="not found"):
        TrainConfig.from_toml(tmp_path / "nope.toml")
    cfg = TrainConfig.from_toml(_write(tmp_path, "[data]\ntrain='t'\n[model]\nkind='lambdamart'\n"))
    with pytest.raises(FormatError, match="no output folder"):
        cfg.output_path()


def test_load_letor_registry_and_paths(tmp_path: Path, datasets_dir: Path) -> None:
    data = load_letor("letor/mq2008/fold1/vali")
    assert data.n_features == 46 and data.run.n_queries == 157
    with pytest.raises(DatasetNotFoundError, match="neither"):
        load_letor(str(tmp_path / "missing.txt"))
    with pytest.raises(Exception, match="LETOR"):
        load_letor("beir/scifact/test")


def test_interleaved_qids_need_the_flag(tmp_path: Path) -> None:
    path = tmp_path / "inter.txt"
    path.write_text(
        "1 qid:1 1:0.5 #docid = a\n0 qid:2 1:0.1 #docid = b\n2 qid:1 1:0.9 #docid = c\n"
    )
    with pytest.raises(FormatError, match="line 3"):
        load_letor(str(path))
    data = load_letor(str(path), allow_interleaved=True)
    assert data.run.sizes.tolist() == [2, 1]


def test_scoring_data_reads_parquet_runs(tmp_path: Path, letor_small: LetorData) -> None:
    from rankstack.io import write_run_parquet

    write_run_parquet(letor_small.run, tmp_path / "run.parquet")
    run = load_scoring_data(str(tmp_path / "run.parquet"))
    assert not isinstance(run, LetorData)
    assert run.features is not None and run.features.shape == letor_small.features.shape
