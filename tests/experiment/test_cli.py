from __future__ import annotations

import json
from pathlib import Path

import pytest

from rankstack.cli import main
from rankstack.io import read_run

from .conftest import LEARNED


def experiment_file(folder: Path, corpus: Path, extra: str = "") -> Path:
    text = f"""
name = "synthetic"
dataset = "{corpus}"
split = "test"
dev_fraction = 0.25
measures = ["nDCG@10", "AP", "RR@10", "R@100"]
baseline = "BM25"
{extra}

[[systems]]
name = "BM25"
pipeline = "bm25()"

[[systems]]
name = "LTR"
pipeline = "{LEARNED}"
"""
    path = folder / "exp.toml"
    path.write_text(text)
    return path


def test_experiment_fits_reports_and_caches(
    world_corpus_dir: Path,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    monkeypatch.chdir(tmp_path)
    file = experiment_file(tmp_path, world_corpus_dir)
    cache = ["--cache", str(tmp_path / "cache")]
    assert main(["experiment", str(file), *cache, "--save-models", "models"]) == 0
    out = capsys.readouterr().out
    assert "fitted and ran LTR" in out and "fit on 30 train queries, 10 dev" in out
    assert (tmp_path / "runs" / "synthetic.html").is_file()  # the default report
    assert (tmp_path / "models" / "LTR" / "pipeline.json").is_file()
    # a second run: everything from the cache, JSON and report next to it
    assert main(["experiment", str(file), *cache, "--json", "r.json"]) == 0
    out = capsys.readouterr().out
    assert "0 computed" in out and "(cached)" in out
    doc = json.loads((tmp_path / "r.json").read_text())
    assert [s["name"] for s in doc["systems"]] == ["BM25", "LTR"]
    assert doc["systems"][1]["cached"] is True
    assert "data:image/png;base64," in (tmp_path / "r.html").read_text()
    # cross-validation over the report queries of the same file
    cv = experiment_file(tmp_path, world_corpus_dir, 'protocol = "cv"\nfolds = 3')
    assert main(["experiment", str(cv), *cache, "--no-report", "-q"]) == 0
    assert "3-fold cross-validation" in capsys.readouterr().out


def test_pipeline_fit_run_describe(
    world_corpus_dir: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    spec = tmp_path / "pipe.toml"
    spec.write_text(
        f'dataset = "{world_corpus_dir}"\ndev_fraction = 0.25\npipeline = "{LEARNED}"\n'
    )
    cache = ["--cache", str(tmp_path / "cache")]
    assert main(["pipeline", "fit", str(spec), "-o", str(tmp_path / "p"), *cache]) == 0
    assert "on 30 train, 10 dev queries" in capsys.readouterr().out
    assert main(["pipeline", "describe", str(tmp_path / "p")]) == 0
    shown = capsys.readouterr().out
    assert "lambdamart(saved='stages/0')" in shown and "400 docs" in shown
    queries = world_corpus_dir / "queries.jsonl"
    assert main(["pipeline", "run", str(tmp_path / "p"), str(queries), "-o", "x.run", "-q"]) == 0
    run_path = Path("x.run")
    try:
        run = read_run(run_path)
        assert run.n_queries == 60 and max(run.sizes) == 30
    finally:
        run_path.unlink()
    # an experiment file works too when it names the system
    exp = experiment_file(tmp_path, world_corpus_dir)
    args = ["pipeline", "fit", str(exp), "-o", str(tmp_path / "q"), *cache, "-q"]
    assert main(args) == 2
    assert "declares 2 systems; name one of ['BM25', 'LTR']" in capsys.readouterr().err
    assert main([*args, "--system", "LTR"]) == 0


def test_pipeline_on_another_index_is_one_line_exit_2(
    world_corpus_dir: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    from rankstack.index import build_index

    from .conftest import make_world

    spec = tmp_path / "pipe.toml"
    spec.write_text(f'dataset = "{world_corpus_dir}"\npipeline = "{LEARNED}"\n')
    cache = ["--cache", str(tmp_path / "cache")]
    assert main(["pipeline", "fit", str(spec), "-o", str(tmp_path / "p"), *cache, "-q"]) == 0
    other = build_index(make_world(n_docs=50, seed=2).corpus, tmp_path / "other", progress=False)
    queries = str(world_corpus_dir / "queries.jsonl")
    args = ["pipeline", "run", str(tmp_path / "p"), queries, "-o", str(tmp_path / "x.run")]
    assert main([*args, "--index", str(other.path)]) == 2
    err = capsys.readouterr().err
    assert "fitted on another index" in err and "Traceback" not in err
    assert "--allow-index-mismatch" in err
