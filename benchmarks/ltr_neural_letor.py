"""Every neural loss on MQ2008's five folds, next to LambdaMART, with model selection on vali only.

Protocol (LETOR's; Qin and Liu, arXiv:1306.2597): for each fold, train on ``train``,
early-stop on ``vali`` (nDCG@10, trec_eval's definition), evaluate on ``test``. With
``--grid``, each loss tries a few settings (learning rate x dropout) and keeps the one with
the best *validation* nDCG@10 averaged over the five folds; the test folds never influence a
choice. Without ``--grid`` every loss runs with NeuralRanker's defaults (MLP 64-32, dropout
0.1, Adam 1e-3, batch 32 queries, z-score features, patience 10, at most 100 epochs, seed 0).

Measures: trec_eval's nDCG@1,3,5,10 and AP (``rankstack.evaluate``) and LETOR 4.0's
NDCG@10 and MAP (``rankstack.ltr.letor_eval``, the definition of LETOR's published tables).

    python benchmarks/ltr_neural_letor.py [--quick] [--json] [--grid] [--losses a,b]
        [--models mlp,context] [--folds 1-5] [--threads 1]

:func:`neural_loss_sweep` is the importable entry point (``benchmarks/ltr_letor.py`` may call
it to add the neural rows to its table).
"""

from __future__ import annotations

import argparse
import itertools
import json
import os
import statistics
import sys
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

REPO = Path(__file__).resolve().parents[1]
TEST_MEASURES = ["nDCG@1", "nDCG@3", "nDCG@5", "nDCG@10", "AP"]
GRID = {"lr": [1e-3, 3e-3], "dropout": [0.1, 0.3]}


def _ensure_data_env() -> bool:
    if "RANKSTACK_DATA" not in os.environ:
        guess = REPO.parent / "shared" / "datasets"
        if guess.is_dir():
            os.environ["RANKSTACK_DATA"] = str(guess)
    root = os.environ.get("RANKSTACK_DATA")
    return bool(root) and (Path(root) / "letor" / "mq2008").is_dir()


def evaluate_test(data: Any, scores: np.ndarray) -> dict[str, float]:
    """trec_eval measures and, when available, LETOR 4.0's NDCG@10 and MAP."""
    from rankstack.evaluate import evaluate

    out = evaluate(data.run.with_scores(scores), data.qrels, TEST_MEASURES)
    try:
        from rankstack.ltr.letor_eval import letor_evaluate
    except ImportError:  # pragma: no cover - the other half of issue B not installed
        return out
    letor = letor_evaluate(scores, data.labels, data.run.offsets, ["NDCG@10", "MAP"])
    out.update({f"LETOR:{k}": v for k, v in letor.items()})
    return out


def _fold_data(folds: Sequence[int]) -> dict[int, tuple[Any, Any, Any]]:
    from rankstack import datasets

    out = {}
    for k in folds:
        ds = datasets.load(f"letor/mq2008/fold{k}")
        out[k] = (ds.letor("train"), ds.letor("vali"), ds.letor("test"))
    return out


def run_config(
    kind: str, params: dict[str, Any], data: dict[int, tuple[Any, Any, Any]]
) -> dict[str, Any]:
    """Fit ``kind`` with ``params`` on every fold; vali and test means and per-fold rows."""
    from rankstack.evaluate import evaluate
    from rankstack.ltr.base import make_ranker

    rows = []
    for k, (train, vali, test) in data.items():
        ranker: Any = make_ranker(kind, **params)
        started = time.perf_counter()
        ranker.fit(train, vali)
        seconds = time.perf_counter() - started
        vali_ndcg = evaluate(
            vali.run.with_scores(ranker.predict(vali.run)), vali.qrels, ["nDCG@10"]
        )["nDCG@10"]
        row = {"fold": k, "vali_nDCG@10": vali_ndcg, "seconds": seconds}
        row.update(evaluate_test(test, ranker.predict(test.run)))
        history = getattr(ranker, "history_", None)
        if history is not None:
            row["epochs"] = len(history)
            row["best_epoch"] = ranker.best_epoch_
        rows.append(row)
    keys = [k for k in rows[0] if k != "fold"]
    mean = {k: statistics.fmean(float(r[k]) for r in rows) for k in keys}
    return {"kind": kind, "params": params, "folds": rows, "mean": mean}


def neural_loss_sweep(
    losses: Sequence[str] | None = None,
    *,
    folds: Sequence[int] = (1, 2, 3, 4, 5),
    models: Sequence[str] = ("mlp",),
    grid: bool = False,
    threads: int = 1,
    lambdamart: bool = True,
    log: Any = None,
) -> list[dict[str, Any]]:
    """One selected result per (model, loss), plus LambdaMART's; see the module docstring."""
    from rankstack.ltr.losses import LOSSES

    data = _fold_data(folds)
    names = list(losses) if losses else sorted(LOSSES)
    results = []
    if lambdamart:
        try:
            res = run_config("lambdamart", {}, data)
        except Exception as exc:  # LambdaMART lives in the other half of issue B
            print(f"LambdaMART unavailable: {exc}", file=sys.stderr)
        else:
            results.append({"model": "lambdamart", "loss": "-", **res, "tried": 1})
    base = {"progress": False, "n_threads": threads}
    settings = [dict(zip(GRID, v)) for v in itertools.product(*GRID.values())] if grid else [{}]
    for model, loss in itertools.product(models, names):
        tried = []
        for extra in settings:
            params = {**base, "model": model, "loss": loss, **extra}
            res = run_config("neural", params, data)
            tried.append(res)
            if log:
                log(model, loss, extra, res["mean"])
        best = max(tried, key=lambda r: r["mean"]["vali_nDCG@10"])
        results.append({"model": model, "loss": loss, **best, "tried": len(tried)})
    return results


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--quick", action="store_true", help="fold 1, listnet and lambdaloss")
    ap.add_argument("--json", action="store_true")
    ap.add_argument("--grid", action="store_true", help="select lr x dropout on vali")
    ap.add_argument("--losses", default="")
    ap.add_argument("--models", default="mlp")
    ap.add_argument("--folds", default="1-5")
    ap.add_argument("--threads", type=int, default=1)
    args = ap.parse_args()
    if not _ensure_data_env():
        print("MQ2008 not found (set RANKSTACK_DATA); skipping", file=sys.stderr)
        return
    lo, _, hi = args.folds.partition("-")
    folds = list(range(int(lo), int(hi or lo) + 1))
    losses = [x for x in args.losses.split(",") if x] or None
    if args.quick:
        folds, losses = [1], losses or ["listnet", "lambdaloss"]

    def log(model: str, loss: str, extra: dict[str, Any], mean: dict[str, float]) -> None:
        print(
            f"  {model} {loss} {extra or 'defaults'}: vali nDCG@10 {mean['vali_nDCG@10']:.4f} "
            f"test nDCG@10 {mean['nDCG@10']:.4f} ({mean['seconds']:.1f} s/fold)",
            file=sys.stderr,
        )

    started = time.perf_counter()
    results = neural_loss_sweep(
        losses,
        folds=folds,
        models=args.models.split(","),
        grid=args.grid,
        threads=args.threads,
        log=log,
    )
    total = time.perf_counter() - started
    if args.json:
        print(json.dumps({"folds": folds, "grid": args.grid, "results": results}, indent=1))
        return
    cols = [
        "vali_nDCG@10",
        *TEST_MEASURES,
        "LETOR:NDCG@10",
        "LETOR:MAP",
        "seconds",
    ]
    print(f"MQ2008 folds {folds}, means over folds (test unless marked vali); {total:.0f} s")
    print(f"{'model':10} {'loss':12} {'setting':22} " + " ".join(f"{c:>13}" for c in cols))
    for r in results:
        setting = {k: v for k, v in r["params"].items() if k in GRID}
        cells = " ".join(f"{r['mean'][c]:13.4f}" if c in r["mean"] else f"{'-':>13}" for c in cols)
        print(f"{r['model']:10} {r['loss']:12} {setting or '-'!s:22} {cells}")


if __name__ == "__main__":
    main()
