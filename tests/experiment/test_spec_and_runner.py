from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

from rankstack import Qrels, Queries, Run
from rankstack.cli import main
from rankstack.experiment import Experiment, ExperimentError, ExperimentSpec
from rankstack.pipeline import Precomputed

SMALL = """
name = "scifact small"
dataset = "beir/scifact"
split = "test"
measures = ["nDCG@10", "R@100"]
baseline = "BM25"

[[systems]]
name = "BM25"
pipeline = "bm25()"

[[systems]]
name = "BM25 multifield"
pipeline = "bm25(fields={'title': 1.0, 'text': 1.0})"

[[systems]]
name = "RRF"
pipeline = "fuse(bm25(), bm25(k1=1.2, b=0.75), method='rrf')"
"""


def write(tmp_path: Path, text: str) -> Path:
    p = tmp_path / "exp.toml"
    p.write_text(text)
    return p


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ('dataset = "x"\nsystem = []', "unknown key 'system' (did you mean 'systems'?)"),
        ('dataset = "x"\nsystems = [{name = "a", pipline = "bm25()"}]', "unknown key 'pipline'"),
        ('dataset = "x"\nsystems = [{name = "a"}]', "the key 'pipeline' is required"),
        ('systems = [{name = "a", pipeline = "bm25()"}]', "the key 'dataset' is required"),
        (
            'dataset = "x"\nbaseline = "b"\nsystems = [{name = "a", pipeline = "bm25()"}]',
            "baseline 'b' is not a system",
        ),
        (
            'dataset = "x"\nsystems = [{name = "a", pipeline = "x"}, {name = "a", pipeline = "y"}]',
            "system names must be unique",
        ),
        ("dataset = 3\nsystems = []", "key 'dataset' must be a str"),
        ("dataset = ", "not valid TOML"),
    ],
)
def test_bad_experiment_files_name_the_key(tmp_path: Path, text: str, message: str) -> None:
    with pytest.raises(ExperimentError, match=re.escape(message)):
        ExperimentSpec.from_toml(write(tmp_path, text))


def test_unknown_stage_fails_before_any_data_is_loaded(tmp_path: Path) -> None:
    text = 'dataset = "no/such/dataset"\nsystems = [{name = "a", pipeline = "bm52()"}]'
    with pytest.raises(ExperimentError, match="unknown stage 'bm52' \\(did you mean 'bm25'"):
        Experiment.from_toml(write(tmp_path, text))


def test_python_api_compares_precomputed_runs() -> None:
    qrels = Qrels.from_arrays(["1", "1", "2"], ["a", "b", "c"], [1, 0, 1])
    queries = Queries.from_arrays(["1", "2"], ["x", "y"])
    good = Run.from_arrays(["1", "1", "2"], ["a", "b", "c"], [2.0, 1.0, 1.0])
    bad = Run.from_arrays(["1", "1", "2"], ["a", "b", "c"], [1.0, 2.0, 1.0])
    res = Experiment(
        {"good": Precomputed(good), "bad": Precomputed(bad)}, queries, qrels, ["RR"], "good"
    ).run()
    assert res.comparison.means["good"]["RR"] == 1.0
    assert res.comparison.means["bad"]["RR"] == 0.75
    assert [s["name"] for s in res.to_dict()["systems"]] == ["good", "bad"]


@pytest.mark.usefixtures("datasets_dir")
def test_cli_runs_scifact_experiment_and_writes_json(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "res.json"
    code = main(
        [
            "experiment",
            str(write(tmp_path, SMALL)),
            "--json",
            str(out),
            "--cache",
            str(tmp_path / "c"),
            "--runs",
            str(tmp_path / "runs"),
            "-q",
        ]
    )
    assert code == 0
    shown = capsys.readouterr().out
    assert "BM25 multifield" in shown and "nDCG@10" in shown
    doc = json.loads(out.read_text())
    assert doc["baseline"] == "BM25"
    systems = {s["name"]: s for s in doc["systems"]}
    # Pyserini's published BEIR figures (flat / multifield), which we match exactly
    assert systems["BM25"]["measures"]["nDCG@10"] == pytest.approx(0.6789, abs=5e-4)
    assert systems["BM25 multifield"]["measures"]["nDCG@10"] == pytest.approx(0.6647, abs=5e-4)
    assert systems["BM25"]["p_values"]["nDCG@10"] is None
    assert 0.0 <= systems["RRF"]["p_values"]["nDCG@10"] <= 1.0
    assert sorted(p.name for p in (tmp_path / "runs").iterdir()) == [
        "BM25.trec",
        "BM25_multifield.trec",
        "RRF.trec",
    ]
    # a second run reuses the cached index
    assert (out.with_suffix(".html")).is_file()  # the report goes next to the JSON
    again = ["experiment", str(write(tmp_path, SMALL)), "--cache", str(tmp_path / "c")]
    assert main([*again, "--no-report"]) == 0
    assert "3 hits, 0 computed" in capsys.readouterr().out


def test_cli_bad_experiment_is_one_line_exit_2(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    code = main(["experiment", str(write(tmp_path, 'dataset = "x"\nsystemz = 1'))])
    assert code == 2
    err = capsys.readouterr().err
    assert "unknown key 'systemz'" in err and "Traceback" not in err


@pytest.mark.parametrize(
    ("text", "message"),
    [
        (
            'dataset = "x"\nmeasures = ["nDGC@10"]\nsystems = [{name = "a", pipeline = "bm25()"}]',
            "measures[0]: unknown measure 'nDGC@10'; valid measures: nDCG[@k], AP[@k]",
        ),
        (
            'dataset = "x"\nprotocol = "kfold"\nsystems = [{name = "a", pipeline = "bm25()"}]',
            "protocol 'kfold' is unknown; valid names: auto, cv, split",
        ),
        (
            'dataset = "x"\nfolds = 1\nsystems = [{name = "a", pipeline = "bm25()"}]',
            "folds must be >= 2",
        ),
        (
            'dataset = "x"\ndev_fraction = 1.5\nsystems = [{name = "a", pipeline = "bm25()"}]',
            "dev_fraction must be in [0, 1)",
        ),
        (
            'dataset = "x"\n[index]\npositons = true\n[[systems]]\nname = "a"\npipeline = "bm25()"',
            "unknown key 'positons' (did you mean 'positions'?)",
        ),
    ],
)
def test_bad_settings_name_the_key(tmp_path: Path, text: str, message: str) -> None:
    with pytest.raises(ExperimentError, match=re.escape(message)):
        ExperimentSpec.from_toml(write(tmp_path, text))


@pytest.mark.parametrize(
    ("pipeline", "message"),
    [
        (
            "bm25(k=100) >> lambdamart(n_estimator=5)",
            "stage 'lambdamart' has no parameter 'n_estimator' (did you mean 'n_estimators'?)",
        ),
        ("bm25(k=100) >> neural(los='x')", "stage 'neural' has no parameter 'los'"),
        ("bm25(k=100) >> featurez()", "unknown stage 'featurez' (did you mean 'features'?)"),
        ("bm25(k=100) >> features(feature=['x'])", "stage 'features' has no parameter 'feature'"),
    ],
)
def test_unknown_learned_or_feature_parameters_list_the_valid_ones(
    tmp_path: Path, pipeline: str, message: str
) -> None:
    text = f'dataset = "no/such"\nsystems = [{{name = "a", pipeline = "{pipeline}"}}]'
    with pytest.raises(ExperimentError, match=re.escape(message)) as info:
        Experiment.from_toml(write(tmp_path, text))
    assert "valid names:" in str(info.value)
