"""LambdaMART.fit against calling ``lightgbm.train`` directly with identical parameters and data.

Both sides get the same float32 matrix, labels and query sizes and the exact parameter dict
(:meth:`LambdaMART.lightgbm_params`), train the same number of rounds and return the same
booster (the test checks bit-identical predictions). What our side adds: parameter and label
checks, the finiteness check, the normaliser's non-zero-column scan, building the
``lightgbm.Dataset`` from the ``LetorData``, and (with validation data) our monitoring
callback instead of ``lightgbm.record_evaluation``.

Cases: MQ2008 Fold1 train (9,630 rows x 46 features; 300 rounds) with and without the vali
set, and a synthetic LETOR-shaped set (1,000 queries x 120 docs x 136 features, 100 rounds;
``--quick``: 300 queries). Wall times are medians of ``--repeat`` runs, the two sides
alternating so that machine load hits both alike; the overhead of the minima is also given
(less sensitive to other jobs on a shared machine).

Usage: ``python benchmarks/ltr_overhead.py [--quick] [--json] [--repeat N] [--threads T]``.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import sys
import time
from pathlib import Path
from typing import Any

import lightgbm as lgb
import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _ltr_synthetic import letor_shaped
from rankstack.io.letor import LetorData
from rankstack.ltr.gbdt import LambdaMART

REPO = Path(__file__).resolve().parents[1]


def data_dir() -> Path:
    env = os.environ.get("RANKSTACK_DATA")
    return Path(env) if env else (REPO.parent / "shared" / "datasets").resolve()


def direct(model: LambdaMART, train: LetorData, valid: LetorData | None) -> lgb.Booster:
    """What a user would write with LightGBM alone, with the same parameters."""
    params = model.lightgbm_params()
    dtrain = lgb.Dataset(train.features, label=train.labels, group=train.run.sizes)
    valid_sets, callbacks, record = [], [], {}
    if valid is not None:
        valid_sets = [
            lgb.Dataset(valid.features, label=valid.labels, group=valid.run.sizes, reference=dtrain)
        ]
        callbacks = [lgb.record_evaluation(record)]
    return lgb.train(
        params,
        dtrain,
        num_boost_round=model.n_estimators,
        valid_sets=valid_sets,
        valid_names=["valid"] if valid_sets else None,
        callbacks=callbacks,
    )


def measure(
    name: str,
    train: LetorData,
    valid: LetorData | None,
    rounds: int,
    repeat: int,
    threads: int,
) -> dict[str, Any]:
    model = LambdaMART(
        n_estimators=rounds, learning_rate=0.05, early_stopping_rounds=None, n_jobs=threads
    )
    ours_t, direct_t = [], []
    booster_direct = None
    for i in range(repeat + 1):  # the first pair warms caches and is not counted
        for side in ("ours", "direct") if i % 2 == 0 else ("direct", "ours"):
            start = time.perf_counter()
            if side == "ours":
                model.fit(train, valid)
            else:
                booster_direct = direct(model, train, valid)
            elapsed = time.perf_counter() - start
            if i > 0:
                (ours_t if side == "ours" else direct_t).append(elapsed)
    assert booster_direct is not None
    same = np.array_equal(
        model.predict(train.run),
        booster_direct.predict(train.features, num_threads=threads),
    )
    o, d = statistics.median(ours_t), statistics.median(direct_t)
    return {
        "case": name,
        "rows": len(train),
        "features": train.n_features,
        "rounds": rounds,
        "valid": valid is not None,
        "ours_s": round(o, 4),
        "direct_s": round(d, 4),
        "overhead_pct": round(100 * (o - d) / d, 2),
        "overhead_pct_of_minima": round(100 * (min(ours_t) - min(direct_t)) / min(direct_t), 2),
        "ours_all": [round(t, 4) for t in ours_t],
        "direct_all": [round(t, 4) for t in direct_t],
        "identical_predictions": bool(same),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--json", action="store_true")
    parser.add_argument("--repeat", type=int, default=None)
    parser.add_argument("--threads", type=int, default=1)
    args = parser.parse_args()
    repeat = args.repeat or (3 if args.quick else 7)
    os.environ.setdefault("RANKSTACK_DATA", str(data_dir()))
    from rankstack import datasets

    ds = datasets.load("letor/mq2008/fold1")
    train, valid = ds.letor("train"), ds.letor("vali")
    results = [
        measure("mq2008-fold1", train, None, 300, repeat, args.threads),
        measure("mq2008-fold1+vali", train, valid, 300, repeat, args.threads),
    ]
    queries = 300 if args.quick else 1000
    syn = letor_shaped(queries, 120, 136, seed=1)
    results.append(measure(f"synthetic-{queries}x120x136", syn, None, 100, repeat, args.threads))
    meta = {
        "python": platform.python_version(),
        "lightgbm": lgb.__version__,
        "numpy": np.__version__,
        "threads": args.threads,
        "repeat": repeat,
    }
    if args.json:
        print(json.dumps({"meta": meta, "results": results}, indent=2))
        return
    print(
        f"{'case':32} {'rows':>8} {'rounds':>6} {'ours s':>9} {'direct s':>9} {'overhead':>9}"
        f" {'(minima)':>9}"
    )
    for r in results:
        print(
            f"{r['case']:32} {r['rows']:>8} {r['rounds']:>6} {r['ours_s']:>9.3f} "
            f"{r['direct_s']:>9.3f} {r['overhead_pct']:>8.1f}% {r['overhead_pct_of_minima']:>8.1f}%"
            + ("" if r["identical_predictions"] else "  (predictions differ!)")
        )
    print(meta)


if __name__ == "__main__":
    main()
