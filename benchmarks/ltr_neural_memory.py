"""Peak memory of one NeuralRanker epoch on a synthetic MSLR-WEB30K-shaped set.

30,000 queries x 120 documents x 136 float32 features (3.6 M rows, 1.96 GB of features),
labels 0..4 from a noisy linear function of the features. Each configuration runs in a fresh
subprocess that builds the data (in blocks, without large temporaries), records its
resident memory, resets the kernel's high-water mark (``/proc/self/clear_refs``), trains one
epoch and reports the peak resident set size during the fit (``VmHWM``) and over the whole
process (``ru_maxrss``), so one run's memory never hides in another's. The issue's budget is
8 GiB for the whole process.

    python benchmarks/ltr_neural_memory.py [--quick] [--json] [--queries 30000]
        [--configs mlp,context,mlp-none] [--threads 1]

``--quick`` uses 3,000 queries. Configurations: ``mlp`` and ``context`` (defaults: global
z-score normalisation, batch 32 queries), ``mlp-none`` (no normalisation, to separate the
normaliser's share) and ``mlp-zscore-query`` (per-query z-score, which has no fitted
statistics).
"""

from __future__ import annotations

import argparse
import json
import resource
import subprocess
import sys
import time
from typing import Any

import numpy as np

CONFIGS: dict[str, dict[str, Any]] = {
    "mlp": {"model": "mlp"},
    "context": {"model": "context"},
    "mlp-none": {"model": "mlp", "normalize": "none"},
    "mlp-zscore-query": {"model": "mlp", "normalize": "zscore/query"},
}


def rss_mib() -> float:
    with open("/proc/self/status") as fh:
        for line in fh:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    return float("nan")


def peak_mib() -> float:
    """Peak resident memory of this process so far (``ru_maxrss``, KiB on Linux)."""
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def hwm_mib() -> float:
    """``VmHWM``: peak resident memory since the last :func:`reset_hwm` (Linux)."""
    with open("/proc/self/status") as fh:
        for line in fh:
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024
    return float("nan")


def reset_hwm() -> bool:
    """Reset ``VmHWM`` to the current RSS (``/proc/self/clear_refs``, Linux >= 4.0)."""
    try:
        with open("/proc/self/clear_refs", "w") as fh:
            fh.write("5")
    except OSError:
        return False
    return True


def synthetic(n_queries: int, n_docs: int = 120, n_features: int = 136, seed: int = 0) -> Any:
    """A LetorData of ``n_queries`` x ``n_docs`` rows, built without per-row Python objects."""
    import pyarrow as pa

    from rankstack.data import Run
    from rankstack.io.letor import LetorData

    rng = np.random.default_rng(seed)
    n = n_queries * n_docs
    w = rng.standard_normal(n_features).astype(np.float32) / np.sqrt(n_features)
    feats = np.empty((n, n_features), dtype=np.float32)
    labels = np.empty(n, dtype=np.int32)
    step = 1 << 16  # rows at a time, so building the data needs no large temporaries
    for lo in range(0, n, step):
        block = feats[lo : lo + step]
        rng.standard_normal(block.shape, dtype=np.float32, out=block)
        signal = block @ w + rng.standard_normal(len(block), dtype=np.float32)
        labels[lo : lo + step] = np.digitize(signal, [0.5, 1.2, 1.8, 2.4])
    run = Run(
        qids=pa.array(np.arange(n_queries)).cast(pa.string()),
        offsets=np.arange(0, n + 1, n_docs, dtype=np.int64),
        docids=pa.array(np.arange(n)).cast(pa.string()),
        scores=np.zeros(n),
        features=feats,
        feature_names=tuple(str(j + 1) for j in range(n_features)),
    )
    return LetorData(run, labels)


def child(config: str, n_queries: int, threads: int) -> dict[str, Any]:
    from rankstack.ltr.neural import NeuralRanker

    started = time.perf_counter()
    data = synthetic(n_queries)
    built = time.perf_counter() - started
    data_rss = rss_mib()
    data_peak = peak_mib()
    ranker = NeuralRanker(**CONFIGS[config], epochs=1, progress=False, n_threads=threads)
    was_reset = reset_hwm()
    started = time.perf_counter()
    ranker.fit(data)
    fit_s = time.perf_counter() - started
    fit_peak = hwm_mib() if was_reset else None
    hist = (ranker.history_ or [{}])[0]
    return {
        "config": config,
        "queries": n_queries,
        "rows": len(data),
        "features_gib": data.features.nbytes / 2**30,
        "build_s": built,
        "data_rss_mib": data_rss,
        "data_peak_mib": data_peak,
        "fit_s": fit_s,
        "fit_peak_rss_mib": fit_peak,
        "epoch_s": hist.get("train_seconds"),
        "peak_rss_mib": peak_mib(),
    }


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--quick", action="store_true")
    ap.add_argument("--json", action="store_true")
    ap.add_argument("--queries", type=int, default=30_000)
    ap.add_argument("--configs", default="mlp,context,mlp-none")
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--child", help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.quick:
        args.queries = 3_000
    if args.child:
        print(json.dumps(child(args.child, args.queries, args.threads)))
        return
    rows = []
    for config in args.configs.split(","):
        cmd = [sys.executable, __file__, "--child", config, "--queries", str(args.queries)]
        cmd += ["--threads", str(args.threads)]
        proc = subprocess.run(cmd, capture_output=True, text=True)
        if proc.returncode != 0:
            rows.append({"config": config, "error": proc.stderr.strip().splitlines()[-1:]})
            continue
        rows.append(json.loads(proc.stdout.strip().splitlines()[-1]))
    if args.json:
        print(json.dumps(rows, indent=1))
        return
    print(
        f"{'config':10} {'rows':>10} {'data RSS MiB':>12} {'fit peak MiB':>12} "
        f"{'process peak MiB':>16} {'epoch s':>8} {'fit s':>8}"
    )
    for r in rows:
        if "error" in r:
            print(f"{r['config']:10} failed: {r['error']}")
            continue
        fit_peak = r["fit_peak_rss_mib"]
        print(
            f"{r['config']:10} {r['rows']:>10} {r['data_rss_mib']:12.0f} "
            f"{fit_peak if fit_peak is not None else float('nan'):12.0f} "
            f"{r['peak_rss_mib']:16.0f} {r['epoch_s']:8.1f} {r['fit_s']:8.1f}"
        )


if __name__ == "__main__":
    main()
