"""MQ2008, five folds: LambdaMART (and any neural loss) under LETOR's protocol, both NDCG
definitions, next to the published LETOR 4.0 baselines.

Protocol (LETOR's: Qin and Liu, arXiv:1306.2597; the test folds are never looked at before
the final evaluation):

- for each fold, every configuration of a small grid is trained on ``train`` with early
  stopping on ``vali`` (LightGBM's validation nDCG@10, patience 100 rounds, at most 2,000);
- the configuration with the best mean of nDCG@1, 3, 5, 10 and AP on ``vali`` (trec_eval
  definitions) is kept, and only its predictions on ``test`` are evaluated;
- the table reports the mean over the five folds of the kept models' test values, in
  trec_eval's definitions (``nDCG@k``, ``AP``) and in LETOR 4.0's (``LETOR:NDCG@k``,
  ``LETOR:MAP``; :mod:`rankstack.ltr.letor_eval`), the latter comparable to the published
  baselines.

LambdaMART grid: ``num_leaves`` in {7, 15, 31} x ``min_data_in_leaf`` in {20, 50, 100}, with
``learning_rate`` 0.05, ``feature_fraction`` 0.8, ``bagging`` 0.8, seed 0 (``--quick``: fold 1
and ``num_leaves`` in {7, 31} with ``min_data_in_leaf`` 50); ``lambdamart-xgboost`` uses
XGBoost's ``rank:ndcg`` with the same grid over ``num_leaves`` only (XGBoost has no
``min_data_in_leaf``). Neural models (``neural:LOSS``)
run with the NeuralRanker's defaults and that loss, without a grid (the neural benchmark,
``benchmarks/ltr_neural_letor.py``, does the neural model selection).

Usage: ``python benchmarks/ltr_letor.py [--quick] [--json] [--models lambdamart,neural:listnet]
[--folds 1-5] [--threads T]``.
"""

from __future__ import annotations

import argparse
import itertools
import json
import os
import platform
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np

from rankstack.ltr.base import make_ranker
from rankstack.ltr.cv import FoldSource, evaluate_scores, parse_folds
from rankstack.ltr.letor_eval import LETOR_MEASURES

REPO = Path(__file__).resolve().parents[1]
TREC = ["nDCG@1", "nDCG@3", "nDCG@5", "nDCG@10", "AP"]
LETOR = [f"LETOR:{m}" for m in LETOR_MEASURES]

#: Published LETOR 4.0 baselines on MQ2008 (Microsoft Research's LETOR 4.0 baselines page; T.-Y.
#: Liu, "Learning to Rank for Information Retrieval", Springer 2011). Left empty on purpose: the
#: page could not be retrieved from the offline build machine, and figures quoted from memory
#: are not evidence. Fill it from the source (name -> {"NDCG@1": ..., "MAP": ...}, LETOR's
#: definitions) to print the comparison rows.
PUBLISHED: dict[str, dict[str, float]] = {}


def lambdamart_grid(quick: bool, threads: int) -> list[dict[str, Any]]:
    leaves, min_data = ([7, 31], [50]) if quick else ([7, 15, 31], [20, 50, 100])
    return [
        {
            "n_estimators": 2000,
            "learning_rate": 0.05,
            "num_leaves": nl,
            "min_data_in_leaf": md,
            "feature_fraction": 0.8,
            "bagging": 0.8,
            "early_stopping_rounds": 100,
            "seed": 0,
            "n_jobs": threads,
        }
        for nl, md in itertools.product(leaves, min_data)
    ]


def configs(model: str, quick: bool, threads: int) -> tuple[str, list[dict[str, Any]]]:
    """Registry kind and the parameter sets to select from, for a ``--models`` entry."""
    if model == "lambdamart":
        return "lambdamart", lambdamart_grid(quick, threads)
    if model == "lambdamart-xgboost":  # XGBoost has no min_data_in_leaf: grid over leaves only
        grid = [g for g in lambdamart_grid(quick, threads) if g["min_data_in_leaf"] == 50]
        return "lambdamart", [{**g, "backend": "xgboost"} for g in grid]
    if model.startswith("neural:"):
        return "neural", [{"loss": model.split(":", 1)[1], "progress": False}]
    raise SystemExit(f"unknown model {model!r}: use lambdamart, lambdamart-xgboost or neural:LOSS")


def run_model(
    model: str, source: FoldSource, folds: list[int], quick: bool, threads: int
) -> dict[str, Any]:
    kind, grid = configs(model, quick, threads)
    rows = []
    start = time.perf_counter()
    for k in folds:
        train, valid, test = (source.load(k, s) for s in ("train", "vali", "test"))
        best: tuple[float, dict[str, Any], Any] | None = None
        for params in grid:
            ranker = make_ranker(kind, **params).fit(train, valid)  # type: ignore[attr-defined]
            vali = evaluate_scores(valid, ranker.predict(valid.run), TREC)
            score = float(np.mean([vali[m] for m in TREC]))
            if best is None or score > best[0]:
                best = (score, params, ranker)
        assert best is not None
        _, params, ranker = best
        values = evaluate_scores(test, ranker.predict(test.run), TREC, letor_eval=True)
        chosen = {p: v for p, v in params.items() if p not in ("n_jobs", "progress")}
        rows.append(
            {
                "fold": k,
                **values,
                "chosen": chosen,
                "best_iteration": getattr(ranker, "best_iteration_", None),
            }
        )
        print(f"  {model} fold {k}: {_short(values)}  {chosen}", file=sys.stderr, flush=True)
    names = TREC + LETOR
    return {
        "model": model,
        "folds": rows,
        "mean": {m: float(np.mean([r[m] for r in rows])) for m in names},
        "std": {
            m: float(np.std([r[m] for r in rows], ddof=1)) if len(rows) > 1 else 0.0 for m in names
        },
        "configs_per_fold": len(grid),
        "seconds": round(time.perf_counter() - start, 1),
    }


def _short(values: dict[str, float]) -> str:
    return " ".join(f"{m}={values[m]:.4f}" for m in ("nDCG@10", "AP", "LETOR:NDCG@10"))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="fold 1 and a 2-config grid")
    parser.add_argument("--json", action="store_true")
    parser.add_argument("--models", default="lambdamart")
    parser.add_argument("--folds", default=None, help="e.g. 1-5 (default; --quick: 1)")
    parser.add_argument("--threads", type=int, default=1)
    args = parser.parse_args()
    if "RANKSTACK_DATA" not in os.environ:
        os.environ["RANKSTACK_DATA"] = str((REPO.parent / "shared" / "datasets").resolve())
    source = FoldSource("letor/mq2008")
    folds = parse_folds(args.folds or ("1" if args.quick else None), source.folds)
    models = [m.strip() for m in args.models.split(",") if m.strip()]
    results = [run_model(m, source, folds, args.quick, args.threads) for m in models]
    import lightgbm

    meta = {
        "python": platform.python_version(),
        "lightgbm": lightgbm.__version__,
        "numpy": np.__version__,
        "folds": folds,
        "threads": args.threads,
    }
    if args.json:
        print(json.dumps({"meta": meta, "results": results, "published": PUBLISHED}, indent=2))
        return
    head = ["NDCG@1", "NDCG@3", "NDCG@5", "NDCG@10", "MAP"]
    print(f"LETOR definitions (Eval-Score-4.0.pl), mean over folds {folds}")
    print(f"{'system':28}" + "".join(f"{h:>9}" for h in head))
    for r in results:
        print(f"{r['model'] + ' (ours)':28}" + "".join(f"{r['mean'][m]:>9.4f}" for m in LETOR))
    for name, vals in PUBLISHED.items():
        print(f"{name + ' (published)':28}" + "".join(f"{vals[h]:>9.4f}" for h in head))
    print(f"\ntrec_eval definitions, mean over folds {folds}")
    print(f"{'system':28}" + "".join(f"{m:>9}" for m in TREC))
    for r in results:
        print(f"{r['model']:28}" + "".join(f"{r['mean'][m]:>9.4f}" for m in TREC))
    print(meta)


if __name__ == "__main__":
    main()
