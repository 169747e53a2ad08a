"""Peak memory of LambdaMART training on an MSLR-WEB30K-shaped set (30,000 queries x 120 docs
x 136 features = 3.6 M rows, 1.96 GB of float32 features).

Each configuration runs in a fresh subprocess (``--child``), which builds the synthetic set
(:mod:`_ltr_synthetic`), trains ``LambdaMART`` for a few boosting rounds with LightGBM, scores
the training rows once, and reports its own peak resident set size
(``resource.getrusage(RUSAGE_SELF).ru_maxrss``) after each phase; the parent also reads the
child's peak from ``RUSAGE_CHILDREN``. The target is a peak below 8 GiB.

Usage: ``python benchmarks/ltr_memory.py [--quick] [--json] [--rounds R] [--threads T]``
(``--quick``: 3,000 queries). ``--configs`` picks among ``lambdamart`` (LightGBM) and
``lambdamart-xgboost``.
"""

from __future__ import annotations

import argparse
import json
import platform
import resource
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

GIB = 1024**3
CONFIGS = ("lambdamart", "lambdamart-xgboost")


def peak_bytes() -> int:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024  # KiB on Linux


def child(config: str, queries: int, docs: int, features: int, rounds: int, threads: int) -> None:
    sys.path.insert(0, str(Path(__file__).resolve().parent))
    from _ltr_synthetic import letor_shaped
    from rankstack.ltr.gbdt import LambdaMART

    out: dict[str, Any] = {"config": config, "baseline_peak_gib": peak_bytes() / GIB}
    start = time.perf_counter()
    data = letor_shaped(queries, docs, features, seed=0)
    out["rows"] = len(data)
    out["features_gib"] = data.features.nbytes / GIB
    out["build_s"] = time.perf_counter() - start
    out["after_build_peak_gib"] = peak_bytes() / GIB
    backend = "xgboost" if config.endswith("xgboost") else "lightgbm"
    model = LambdaMART(
        n_estimators=rounds,
        learning_rate=0.1,
        n_jobs=threads,
        backend=backend,
        early_stopping_rounds=None,
    )
    start = time.perf_counter()
    model.fit(data)
    out["fit_s"] = time.perf_counter() - start
    out["after_fit_peak_gib"] = peak_bytes() / GIB
    start = time.perf_counter()
    scores = model.predict(data.run)
    out["predict_s"] = time.perf_counter() - start
    out["rounds"] = rounds
    out["trees"] = model.best_iteration_
    out["finite_scores"] = bool((scores == scores).all())
    out["peak_gib"] = peak_bytes() / GIB
    print(json.dumps(out))


def run_child(config: str, args: argparse.Namespace, queries: int) -> dict[str, Any]:
    cmd = [
        sys.executable,
        __file__,
        "--child",
        config,
        "--queries",
        str(queries),
        "--rounds",
        str(args.rounds),
        "--threads",
        str(args.threads),
    ]
    start = time.perf_counter()
    proc = subprocess.run(cmd, capture_output=True, text=True, check=False)
    wall = time.perf_counter() - start
    children = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss * 1024 / GIB
    if proc.returncode != 0:
        return {"config": config, "error": proc.stderr.strip().splitlines()[-1:], "wall_s": wall}
    result: dict[str, Any] = json.loads(proc.stdout.strip().splitlines()[-1])
    result["wall_s"] = wall
    result["children_peak_gib"] = children
    result["under_8_gib"] = result["peak_gib"] < 8.0
    return {k: round(v, 3) if isinstance(v, float) else v for k, v in result.items()}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--json", action="store_true")
    parser.add_argument("--rounds", type=int, default=10)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--configs", default="lambdamart")
    parser.add_argument("--child", default=None, help=argparse.SUPPRESS)
    parser.add_argument("--queries", type=int, default=None)
    args = parser.parse_args()
    queries = args.queries or (3_000 if args.quick else 30_000)
    if args.child:
        child(args.child, queries, 120, 136, args.rounds, args.threads)
        return
    configs = [c.strip() for c in args.configs.split(",") if c.strip()]
    unknown = [c for c in configs if c not in CONFIGS]
    if unknown:
        parser.error(f"unknown config(s) {unknown}; choose from {list(CONFIGS)}")
    results = [run_child(c, args, queries) for c in configs]
    meta = {"python": platform.python_version(), "queries": queries, "docs": 120, "features": 136}
    if args.json:
        print(json.dumps({"meta": meta, "results": results}, indent=2))
        return
    for r in results:
        print(json.dumps(r))
    print(meta)


if __name__ == "__main__":
    main()
