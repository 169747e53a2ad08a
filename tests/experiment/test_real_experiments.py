"""The main job and the re-ranking bar on the real data (slow: about a minute on 2 cores)."""

from __future__ import annotations

import warnings
from pathlib import Path

import pytest

from rankstack.experiment import Experiment, ExperimentSpec

ROOT = Path(__file__).resolve().parents[2]


@pytest.mark.slow
@pytest.mark.usefixtures("datasets_dir")
def test_scifact_main_job_lambdamart_beats_bm25(tmp_path: Path) -> None:
    spec = ExperimentSpec.from_toml(ROOT / "examples" / "scifact.toml")
    result = Experiment.from_spec(spec, cache_dir=tmp_path).run()
    comp = result.comparison
    assert comp.means["BM25"]["nDCG@10"] == pytest.approx(0.6789, abs=5e-4)
    delta = comp.means["BM25 >> LambdaMART"]["nDCG@10"] - comp.means["BM25"]["nDCG@10"]
    assert delta >= 0.03
    assert comp.pvalues["t"]["BM25 >> LambdaMART"]["nDCG@10"] < 0.05
    assert result.settings["train_queries"] == 647 and result.settings["dev_queries"] == 162
    html = result.to_html()
    assert html.count("data:image/png;base64,") == 3


@pytest.mark.slow
@pytest.mark.usefixtures("datasets_dir")
def test_cranfield_cross_validation_pools_all_queries(tmp_path: Path) -> None:
    spec = ExperimentSpec.from_toml(ROOT / "examples" / "cranfield.toml")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # phrase features are all zero on some folds
        result = Experiment.from_spec(spec, cache_dir=tmp_path).run()
    assert result.protocol == "cv" and result.n_queries == 225
    assert result.folds is not None and sorted(len(f) for f in result.folds) == [45] * 5
    assert result.runs["BM25 >> LambdaMART"].n_queries == 225
    assert len(result.systems["BM25 >> LambdaMART"].fit["stages_per_fold"]) == 5
