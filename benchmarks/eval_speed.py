"""Evaluation speed: rankstack.evaluate vs ranx vs pytrec_eval (and trec_eval's binary).

    .venv/bin/python benchmarks/eval_speed.py [--quick] [--json] [--trec-eval PATH]

Data: a synthetic run of 10,000 queries x 1,000 documents (``--quick``: 1,000 x 100) with
graded qrels (30 judged documents per query, grades 0-3, 80% of them retrieved). Scores are
distinct within a query and multiples of 1/4, so every tool sees the same ranking (pytrec_eval
stores scores as float32, ranx breaks ties its own way). Measures: nDCG@10, AP, RR, P@10, R@100.

Timed separately, in one process, on the same data:

- evaluation: from each tool's in-memory objects to per-query values and means (rankstack
  ``evaluate`` on ``Run``/``Qrels``; ``ranx.evaluate`` on ``ranx.Run``/``ranx.Qrels``, after a
  warm-up call on tiny data so numba's JIT compilation is excluded; pytrec_eval's
  ``RelevanceEvaluator.evaluate`` on its dicts, plus the per-query means);
- loading: from the TREC files to those objects (``read_run``/``read_qrels``;
  ``ranx.Run.from_file``/``Qrels.from_file``; ``pytrec_eval.parse_run``/``parse_qrel``);
- optionally trec_eval's own binary (``--trec-eval``), whose time includes reading the files.

Checks: per-query values against pytrec_eval (count of bit-equal values, max abs diff) and
against ranx (max abs diff), and the means.
"""

from __future__ import annotations

import argparse
import gc
import json
import os
import platform
import shutil
import subprocess
import tempfile
import time
from importlib import metadata
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from rankstack.data import Qrels, Run
from rankstack.evaluate import evaluate, evaluate_per_query
from rankstack.io import read_qrels, read_run, write_qrels, write_run

OURS = ["nDCG@10", "AP", "RR", "P@10", "R@100"]
RANX = ["ndcg@10", "map", "mrr", "precision@10", "recall@100"]
TREC = ["ndcg_cut_10", "map", "recip_rank", "P_10", "recall_100"]
JUDGED, RETRIEVED_JUDGED = 30, 24


def _ids(prefix: str, numbers: np.ndarray, width: int) -> pa.Array:
    s = pc.utf8_lpad(pa.array(numbers).cast(pa.string()), width=width, padding="0")
    return pc.binary_join_element_wise(pa.scalar(prefix), s, "")


def synthetic(n_q: int, depth: int, seed: int = 0) -> tuple[Run, Qrels]:
    """Distinct doc ids per query: ``(a_q + k * b_q) mod 2**21`` with odd ``b_q`` is one-to-one."""
    rng = np.random.default_rng(seed)
    universe = 1 << 21
    a = rng.integers(0, universe, size=(n_q, 1))
    b = 2 * rng.integers(0, universe // 2, size=(n_q, 1)) + 1
    k = np.arange(JUDGED + depth - RETRIEVED_JUDGED)
    docs = (a + k * b) % universe  # (n_q, 30 + depth - 24): first 30 judged
    grades = rng.choice(4, size=(n_q, JUDGED), p=[0.5, 0.3, 0.15, 0.05])
    retrieved = np.concatenate([docs[:, :RETRIEVED_JUDGED], docs[:, JUDGED:]], axis=1)
    label = np.zeros(retrieved.shape)
    label[:, :RETRIEVED_JUDGED] = grades[:, :RETRIEVED_JUDGED]
    latent = label + rng.normal(0.0, 1.5, size=label.shape)
    rank = np.argsort(np.argsort(-latent, axis=1), axis=1)
    scores = (depth - rank) * 0.25  # distinct, exact in float32
    qnum = np.repeat(np.arange(n_q), depth)
    run = Run.from_arrays(
        _ids("q", qnum, 5), _ids("D", retrieved.ravel(), 7), scores.ravel(), allow_duplicates=True
    )
    qrels = Qrels.from_arrays(
        _ids("q", np.repeat(np.arange(n_q), JUDGED), 5),
        _ids("D", docs[:, :JUDGED].ravel(), 7),
        grades.ravel(),
    )
    return run, qrels


def _timed(fn: Any, repeat: int = 1) -> tuple[Any, float, float]:
    """Result, first-call time and best time over ``repeat`` calls."""
    times = []
    out = None
    for _ in range(repeat):
        gc.collect()
        t = time.perf_counter()
        out = fn()
        times.append(time.perf_counter() - t)
    _TIMES.append(times)
    return out, times[0], min(times)


_TIMES: list[list[float]] = []  # every timing, for the medians


def _median() -> float:
    return float(np.median(_TIMES[-1]))


def _version(name: str) -> str:
    try:
        return metadata.version(name)
    except metadata.PackageNotFoundError:
        return "absent"


def bench(n_q: int, depth: int, trec_eval: str | None, repeat: int) -> dict[str, Any]:
    import pytrec_eval
    import ranx

    out: dict[str, Any] = {"queries": n_q, "depth": depth, "rows": n_q * depth}
    out["load_average_before"] = os.getloadavg()
    t = time.perf_counter()
    run, qrels = synthetic(n_q, depth)
    out["generate_s"] = time.perf_counter() - t
    tmp = Path(tempfile.mkdtemp(prefix="eval_speed_"))
    run_path, qrels_path = tmp / "run.txt", tmp / "qrels.txt"
    write_run(run, run_path, tag="syn")
    write_qrels(qrels, qrels_path)
    evaluation: dict[str, Any] = {}
    loading: dict[str, Any] = {}

    # rankstack
    ours_loaded, _, loading["rankstack"] = _timed(
        lambda: (read_run(run_path), read_qrels(qrels_path))
    )
    ours_run, ours_qrels = ours_loaded
    assert ours_run.equals(run)
    ours_mean, first, best = _timed(lambda: evaluate(ours_run, ours_qrels, OURS), repeat)
    evaluation["rankstack"] = {"first_s": first, "best_s": best, "median_s": _median()}
    pq = evaluate_per_query(ours_run, ours_qrels, OURS)

    # ranx (numba JIT compiled on tiny data first: compilation time excluded)
    warm_q = ranx.Qrels({"q": {"d": 1}})
    warm_r = ranx.Run({"q": {"d": 1.0, "e": 0.5}})
    t = time.perf_counter()
    ranx.evaluate(warm_q, warm_r, RANX)
    out["ranx_jit_warmup_s"] = time.perf_counter() - t
    rx_loaded, _, loading["ranx"] = _timed(
        lambda: (
            ranx.Run.from_file(str(run_path), kind="trec"),
            ranx.Qrels.from_file(str(qrels_path), kind="trec"),
        )
    )
    rx_run, rx_qrels = rx_loaded

    rx_mean, first, best = _timed(lambda: ranx.evaluate(rx_qrels, rx_run, RANX), repeat)
    evaluation["ranx"] = {"first_s": first, "best_s": best, "median_s": _median()}
    rx_per_query = {m: dict(rx_run.scores[m]) for m in RANX}
    rx_loaded = rx_run = rx_qrels = None  # free the memory before pytrec_eval

    # pytrec_eval
    def load_pytrec() -> tuple[dict, dict]:
        with open(run_path) as fr, open(qrels_path) as fq:
            return pytrec_eval.parse_run(fr), pytrec_eval.parse_qrel(fq)

    pt_loaded, _, loading["pytrec_eval"] = _timed(load_pytrec)
    pt_run, pt_qrels = pt_loaded

    def pytrec_eval_all() -> tuple[dict, dict]:
        per_query = pytrec_eval.RelevanceEvaluator(pt_qrels, set(TREC)).evaluate(pt_run)
        means = {m: float(np.mean([v[m] for v in per_query.values()])) for m in TREC}
        return per_query, means

    (pt_per_query, pt_mean), first, _ = _timed(pytrec_eval_all)
    evaluation["pytrec_eval"] = {"first_s": first, "best_s": first, "median_s": first}
    pt_loaded = pt_run = pt_qrels = None

    # trec_eval's binary: reads the files itself
    if trec_eval:
        cmd = [
            trec_eval,
            *[
                a
                for m in TREC
                for a in (
                    "-m",
                    m.replace("_cut_", "_cut.").replace("P_", "P.").replace("recall_", "recall."),
                )
            ],
            str(qrels_path),
            str(run_path),
        ]
        t = time.perf_counter()
        res = subprocess.run(cmd, capture_output=True, text=True, check=True)
        out["trec_eval_binary_s"] = time.perf_counter() - t
        te = {line.split()[0]: float(line.split()[2]) for line in res.stdout.splitlines()}
        out["trec_eval_binary_means"] = te

    # checks
    checks: dict[str, Any] = {}
    for ours_m, rx_m, te_m in zip(OURS, RANX, TREC):
        mine = pq.values[ours_m]
        theirs = np.array([pt_per_query[q][te_m] for q in pq.qids])
        rx = np.array([rx_per_query[rx_m][q] for q in pq.qids])
        checks[ours_m] = {
            "pytrec_eval_bit_equal": f"{int((mine == theirs).sum())}/{len(mine)}",
            "pytrec_eval_max_abs_diff": float(np.abs(mine - theirs).max()),
            "ranx_max_abs_diff": float(np.abs(mine - rx).max()),
            "mean": ours_mean[ours_m],
            "mean_diff_pytrec_eval": abs(ours_mean[ours_m] - pt_mean[te_m]),
            "mean_diff_ranx": abs(ours_mean[ours_m] - float(rx_mean[rx_m])),
        }
    out["load_average_after"] = os.getloadavg()
    out["evaluation"] = evaluation
    out["loading_s"] = loading
    out["checks"] = checks
    shutil.rmtree(tmp, ignore_errors=True)
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    ap.add_argument("--quick", action="store_true", help="1,000 queries x 100 documents")
    ap.add_argument("--json", action="store_true", help="print JSON instead of tables")
    ap.add_argument("--trec-eval", default=None, help="path of a trec_eval binary to time too")
    ap.add_argument("--repeat", type=int, default=5, help="timed calls of rankstack and ranx")
    args = ap.parse_args()
    n_q, depth = (1_000, 100) if args.quick else (10_000, 1_000)
    result = bench(n_q, depth, args.trec_eval, args.repeat)
    result["versions"] = {
        "python": platform.python_version(),
        **{
            p: _version(p)
            for p in ("rankstack", "ranx", "numba", "pytrec-eval-terrier", "numpy", "pyarrow")
        },
    }
    if args.json:
        print(json.dumps(result, indent=2))
        return
    print(f"{n_q:,} queries x {depth:,} docs = {n_q * depth:,} rows; measures {', '.join(OURS)}")
    print(f"evaluation (s): first call / best / median of {args.repeat} (pytrec_eval: 1 call)")
    for tool, t in result["evaluation"].items():
        print(f"  {tool:12s} {t['first_s']:8.3f} / {t['best_s']:8.3f} / {t['median_s']:8.3f}")
    print(f"  (ranx JIT warm-up, excluded: {result['ranx_jit_warmup_s']:.1f} s)")
    print("loading from TREC files (s):")
    for tool, t in result["loading_s"].items():
        print(f"  {tool:12s} {t:8.3f}")
    print(
        f"load average before/after: {result['load_average_before']} / "
        f"{result['load_average_after']}"
    )
    if "trec_eval_binary_s" in result:
        print(f"trec_eval binary (reads files + evaluates): {result['trec_eval_binary_s']:.3f} s")
    print("checks:")
    for m, c in result["checks"].items():
        print(
            f"  {m:8s} mean {c['mean']:.6f}  bit-equal to pytrec_eval {c['pytrec_eval_bit_equal']}"
            f" (max diff {c['pytrec_eval_max_abs_diff']:.1e}); ranx max diff "
            f"{c['ranx_max_abs_diff']:.1e}"
        )


if __name__ == "__main__":
    main()
