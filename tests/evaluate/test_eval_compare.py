"""``compare``: shared query set, paired tests, Holm correction, markers and renderers."""

from __future__ import annotations

import json
import logging
from pathlib import Path

import numpy as np
import pytest
from _eval_oracle import make_qrels, make_run

from rankstack.evaluate import compare, evaluate_per_query, holm, paired_t_test
from rankstack.evaluate.significance import randomisation_pvalues
from rankstack.exceptions import DataError, MeasureError


def _systems(n_q: int = 40, seed: int = 0) -> tuple[dict, dict]:
    rng = np.random.default_rng(seed)
    qrels = {f"q{i:02d}": {f"d{j}": int(rng.integers(0, 3)) for j in range(10)} for i in range(n_q)}
    runs = {}
    for name, skill in (("base", 0.5), ("good", 2.0), ("same", 0.5), ("bad", -1.0)):
        run = {}
        for q, docs in qrels.items():
            run[q] = {
                d: float(np.round((g * skill + rng.normal(0, 1)) * 64) / 64)
                for d, g in docs.items()
            }
            run[q]["junk"] = float(rng.normal(0, 1))
        runs[name] = run
    return qrels, runs


def test_compare_means_pvalues_and_markers() -> None:
    qrels, runs = _systems()
    runs_obj = {k: make_run(v) for k, v in runs.items()}
    measures = ["nDCG@5", "AP", "P@3"]
    cmp = compare(runs_obj, make_qrels(qrels), measures, baseline="base", n_permutations=2000)
    assert cmp.systems == ["base", "good", "same", "bad"]
    assert cmp.measures == measures and len(cmp.qids) == 40
    for s in cmp.systems:
        pq = evaluate_per_query(runs_obj[s], make_qrels(qrels), measures)
        assert cmp.means[s] == pq.mean()
    base = cmp.per_query["base"].values["AP"]
    others = ["good", "same", "bad"]
    raw_t = [paired_t_test(cmp.per_query[s].values["AP"], base) for s in others]
    assert [cmp.pvalues["t"][s]["AP"] for s in others] == raw_t
    assert [cmp.corrected["t"][s]["AP"] for s in others] == holm(np.array(raw_t)).tolist()
    diffs = np.stack([cmp.per_query[s].values["AP"] - base for s in others], axis=1)
    raw_r = randomisation_pvalues(diffs, n=2000, seed=0).tolist()
    assert [cmp.pvalues["randomisation"][s]["AP"] for s in others] == raw_r
    assert np.isnan(cmp.pvalues["t"]["base"]["AP"])
    assert cmp.marker("good", "AP") == "+tr"
    assert cmp.marker("bad", "AP") == "-tr"
    assert cmp.marker("base", "AP") == ""


def test_missing_queries_count_as_zero(caplog: pytest.LogCaptureFixture) -> None:
    qrels = {"a": {"x": 1}, "b": {"y": 1}, "c": {"z": 1}}
    full = make_run({"a": {"x": 1.0}, "b": {"y": 1.0}})
    partial = make_run({"a": {"x": 1.0}})
    with caplog.at_level(logging.WARNING, logger="rankstack.evaluate"):
        cmp = compare({"full": full, "partial": partial}, make_qrels(qrels), ["AP"], "full")
    # "c" is answered by no run: left out; "b" is missing from "partial": scored 0
    assert cmp.qids == ["a", "b"]
    assert cmp.per_query["partial"].values["AP"].tolist() == [1.0, 0.0]
    assert cmp.means["partial"]["AP"] == 0.5 and cmp.means["full"]["AP"] == 1.0
    assert cmp.missing == {"full": 0, "partial": 1}
    assert "lacks 1 of the 2 evaluated queries" in caplog.text


def test_renderers(tmp_path: Path) -> None:
    qrels, runs = _systems(n_q=15, seed=1)
    cmp = compare(
        {k: make_run(v) for k, v in runs.items()},
        make_qrels(qrels),
        ["nDCG@5", "RR"],
        baseline="base",
        n_permutations=500,
        seed=4,
    )
    doc = json.loads(cmp.to_json())
    assert doc["baseline"] == "base" and doc["n_queries"] == 15
    assert doc["pvalues"]["t"]["base"]["RR"] is None  # NaN becomes null
    assert doc["means"]["good"]["RR"] == cmp.means["good"]["RR"]
    assert doc["markers"]["good"]["nDCG@5"] == cmp.marker("good", "nDCG@5")
    cmp.to_csv(tmp_path / "cmp.csv")
    lines = (tmp_path / "cmp.csv").read_text().splitlines()
    assert lines[0].startswith("system,baseline,nDCG@5,nDCG@5 p(t),nDCG@5 p(t) holm")
    assert len(lines) == 5
    df = cmp.to_pandas()
    assert list(df["system"]) == ["base", "good", "same", "bad"]
    assert df.loc[1, "RR p(rand) holm"] == cmp.corrected["randomisation"]["good"]["RR"]
    from rich.console import Console

    console = Console(width=200, record=True)
    console.print(cmp.to_rich_table())
    text = console.export_text()
    assert "base (baseline)" in text and "holm-corrected" in text.lower()
    p_good = cmp.corrected["randomisation"]["good"]["RR"]
    assert f"r {p_good:.4f}" in text  # each cell shows the corrected p-values under the mean


def test_options_and_errors() -> None:
    qrels, runs = _systems(n_q=10, seed=2)
    r = {k: make_run(v) for k, v in runs.items()}
    q = make_qrels(qrels)
    only_t = compare(r, q, "AP", "base", tests="t", correction="none")
    assert only_t.tests == ("t",)
    for s in ("good", "same", "bad"):
        assert only_t.corrected["t"][s] == only_t.pvalues["t"][s]
    bonf = compare(r, q, "AP", "base", tests=["ttest"], correction="bonferroni")
    assert bonf.corrected["t"]["good"]["AP"] == min(1.0, 3 * bonf.pvalues["t"]["good"]["AP"])
    solo = compare({"base": r["base"]}, q, "AP", "base")
    assert solo.systems == ["base"] and solo.marker("base", "AP") == ""
    with pytest.raises(DataError, match="baseline 'nope' is not one of the runs"):
        compare(r, q, "AP", "nope")
    with pytest.raises(DataError, match="unknown test 'wilcoxon'"):
        compare(r, q, "AP", "base", tests="wilcoxon")
    with pytest.raises(DataError, match="unknown correction"):
        compare(r, q, "AP", "base", correction="fdr")
    with pytest.raises(DataError, match="alpha must be in"):
        compare(r, q, "AP", "base", alpha=2.0)
    with pytest.raises(MeasureError):
        compare(r, q, "APP", "base")
    with pytest.raises(DataError, match="expected a Run"):
        compare({"base": r["base"], "x": "run.txt"}, q, "AP", "base")  # type: ignore[dict-item]
