"""Click simulation and counterfactual evaluation on MQ2008 fold 1 (train split).

    python benchmarks/ultr_simulate.py [--quick] [--json] [--ultra PATH/click_models.py]

Measures, on 471 queries / 9,630 documents, k = 10:

1. simulation throughput (sessions/s) of each click model, sessions built as ``ClickLog``
   chunks in memory (best of 3);
2. the same for the ULTRA toolkit's click models (``ultra/utils/click_models.py`` of
   ULTR-Community/ULTRA, pure Python, one call per session), side by side, with ULTRA's
   examination set to ours so that CTR by position can be compared (parity);
3. ``rankstack clicks simulate ... --sessions N -o LOG`` end to end (LETOR load, production
   ranker, simulation, Parquet / JSONL.gz writing): wall time and peak RSS for growing N
   (streaming: memory must not grow with N), and ``rankstack clicks stats LOG``;
4. counterfactual evaluation: coverage of the 95% bootstrap intervals of IPS and SNIPS
   over seeds against the true metric, their spread, and the time of one estimate.

ULTRA is not on PyPI: pass the path of its ``click_models.py`` (``git show
HEAD:ultra/utils/click_models.py`` in a clone) with ``--ultra`` or ``ULTRA_CLICK_MODELS``;
without it that section is skipped. Needs ``RANKSTACK_DATA`` (or ``../shared/datasets``).
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import os
import platform
import random
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np

REPO = Path(__file__).resolve().parents[1]
DATASET = "letor/mq2008/fold1/train"
MODELS = ("pbm", "cascade", "dcm", "ubm")


def _data_env() -> None:
    if "RANKSTACK_DATA" not in os.environ:
        shared = REPO.parent / "shared" / "datasets"
        if shared.is_dir():
            os.environ["RANKSTACK_DATA"] = str(shared)


def _load() -> Any:
    from rankstack import datasets

    return datasets.load(DATASET).letor()


def ours_throughput(data: Any, sessions: int, repeats: int) -> dict[str, Any]:
    from rankstack.ultr import ClickSimulator, make_click_model

    out: dict[str, Any] = {}
    for name in MODELS:
        sim = ClickSimulator(data, make_click_model(name, eta=1.0), seed=0)
        best = float("inf")
        for _ in range(repeats):
            t = time.perf_counter()
            n = sum(len(c) for c in sim.iter_sessions(sessions, 100_000))
            best = min(best, time.perf_counter() - t)
        log = sim.simulate(min(sessions, 200_000))
        shown = np.bincount(log.positions, minlength=10)
        ctr = np.bincount(log.positions, weights=log.clicks, minlength=10) / shown
        out[name] = {
            "sessions": n,
            "seconds": round(best, 4),
            "sessions_per_s": round(n / best),
            "ctr_by_position": [round(float(x), 5) for x in ctr],
            "expected_ctr_by_position": [
                round(float(x), 5) for x in sim.expected_ctr_by_position()
            ],
        }
    return out


def _ultra_module(path: str) -> Any:
    spec = importlib.util.spec_from_file_location("ultra_click_models", path)
    if spec is None or spec.loader is None:
        raise RuntimeError(f"cannot load {path}")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def ultra_throughput(data: Any, sessions: int, path: str, repeats: int) -> dict[str, Any]:
    """ULTRA's click models on the same displayed lists, one Python call per session."""
    from rankstack.ultr import ClickSimulator, make_click_model

    mod = _ultra_module(path)
    sim = ClickSimulator(data, make_click_model("pbm", eta=1.0), seed=0)
    lists = [sim.labels[q, : sim.sizes[q]].tolist() for q in range(sim.n_queries)]
    eta = 1.0
    k = sim.k
    classes = {
        "pbm": mod.PositionBiasedModel,
        "cascade": mod.CascadeModel,
        "ubm": mod.UserBrowsingModel,
    }
    out: dict[str, Any] = {}
    for name, cls in classes.items():
        model = cls(0.1, 1.0, sim.max_label, eta)  # neg, pos, relevance grades, eta
        if name == "pbm":  # our examination, so CTR by position is comparable
            model.exam_prob = [(1.0 / r) ** eta for r in range(1, k + 1)]
        elif name == "ubm":  # our default gamma[r, d] = (1/d)^eta
            model.exam_prob = [[(1.0 / d) ** eta for d in range(1, r + 1)] for r in range(1, k + 1)]
        best = float("inf")
        clicks = np.zeros(k)
        shown = np.zeros(k)
        for rep in range(repeats):
            random.seed(rep)
            t = time.perf_counter()
            n_q = len(lists)
            sampled = []
            for _ in range(sessions):
                labels = lists[random.randrange(n_q)]
                sampled.append(model.sampleClicksForOneList(labels)[0])
            best = min(best, time.perf_counter() - t)
            if rep == 0:
                for c in sampled:
                    shown[: len(c)] += 1
                    clicks[: len(c)] += c
        out[name] = {
            "sessions": sessions,
            "seconds": round(best, 4),
            "sessions_per_s": round(sessions / best),
            "ctr_by_position": [round(float(x), 5) for x in clicks / shown],
            "expected_ctr_by_position (ours)": [
                round(float(x), 5)
                for x in ClickSimulator(
                    data, make_click_model(name, eta=eta), seed=0
                ).expected_ctr_by_position()
            ],
        }
    return out


def _run_measured(cmd: list[str]) -> dict[str, Any]:
    """Wall time and peak RSS (MiB) of a command, measured in a fresh Python parent."""
    wrapper = (
        "import resource, subprocess, sys, time; t = time.perf_counter(); "
        "r = subprocess.run(sys.argv[1:], stdout=subprocess.DEVNULL); "
        "print(r.returncode, time.perf_counter() - t, "
        "resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss)"
    )
    res = subprocess.run(
        [sys.executable, "-c", wrapper, *cmd], capture_output=True, text=True, check=True
    )
    code, secs, rss_kib = res.stdout.split()
    if int(code) != 0:
        raise RuntimeError(f"{cmd} failed with {code}")
    return {"seconds": round(float(secs), 2), "peak_rss_mib": round(int(rss_kib) / 1024, 1)}


def cli_end_to_end(sizes: list[int], formats: list[str]) -> list[dict[str, Any]]:
    exe = str(Path(sys.executable).with_name("rankstack"))
    rows: list[dict[str, Any]] = []
    with tempfile.TemporaryDirectory() as tmp:
        for fmt in formats:
            for n in sizes:
                log = Path(tmp) / f"clicks.{fmt}"
                cmd = [
                    exe,
                    "clicks",
                    "simulate",
                    DATASET,
                    "--sessions",
                    str(n),
                    "-o",
                    str(log),
                    "-q",
                ]
                sim = _run_measured(cmd)
                size = log.stat().st_size
                stats = _run_measured([exe, "clicks", "stats", str(log), "--json"])
                rows.append(
                    {
                        "format": fmt,
                        "sessions": n,
                        "simulate": sim,
                        "sessions_per_s_end_to_end": round(n / sim["seconds"]),
                        "file_mib": round(size / 2**20, 1),
                        "stats": stats,
                    }
                )
    return rows


def counterfactual(data: Any, seeds: int, sessions: int, bootstrap: int) -> dict[str, Any]:
    from rankstack.ultr import PBM, ClickSimulator, ProductionRanker
    from rankstack.ultr.counterfactual import counterfactual_estimate, true_metric

    # the "new ranker": the same linear model trained on all training labels
    new_scores = ProductionRanker(fraction=1.0, seed=0).fit(data).predict(data.run)
    new = data.run.with_scores(new_scores)
    out: dict[str, Any] = {"seeds": seeds, "sessions": sessions, "bootstrap": bootstrap}
    for metric in ("dcg", "ctr"):
        rows: dict[str, list[Any]] = {"ips": [], "snips": []}
        truth = 0.0
        for seed in range(seeds):
            sim = ClickSimulator(data, PBM(eta=1.0), seed=seed)
            truth = true_metric(sim, new, metric=metric)
            res = counterfactual_estimate(
                sim.simulate(sessions), new, metric=metric, bootstrap=bootstrap, seed=seed
            )
            for e, r in res.items():
                rows[e].append((r.value, r.ci_low, r.ci_high, r.std_error, r.covers(truth)))
        summary: dict[str, Any] = {"true": truth}
        for e, vals in rows.items():
            arr = np.array([v[:4] for v in vals])
            summary[e] = {
                "coverage": float(np.mean([v[4] for v in vals])),
                "mean_estimate": float(arr[:, 0].mean()),
                "std_across_seeds": float(arr[:, 0].std(ddof=1)),
                "mean_bootstrap_std_error": float(arr[:, 3].mean()),
                "mean_interval_width": float((arr[:, 2] - arr[:, 1]).mean()),
            }
        out[metric] = summary
    return out


def estimate_time(data: Any, sessions: int, bootstrap: int) -> dict[str, Any]:
    from rankstack.ultr import PBM, ClickSimulator, ProductionRanker
    from rankstack.ultr.counterfactual import counterfactual_estimate

    new = data.run.with_scores(ProductionRanker(fraction=1.0).fit(data).predict(data.run))
    log = ClickSimulator(data, PBM(eta=1.0), seed=0).simulate(sessions)
    t = time.perf_counter()
    counterfactual_estimate(log, new, bootstrap=bootstrap)
    return {
        "sessions": sessions,
        "bootstrap": bootstrap,
        "seconds": round(time.perf_counter() - t, 2),
    }


def _versions(ultra: str | None) -> dict[str, Any]:
    import pyarrow

    from rankstack import __version__

    cpu = ""
    try:
        out = subprocess.run(["lscpu"], capture_output=True, text=True).stdout
        cpu = next(
            (ln.split(":", 1)[1].strip() for ln in out.splitlines() if "Model name" in ln), ""
        )
    except OSError:
        pass
    info: dict[str, Any] = {
        "rankstack": __version__,
        "python": platform.python_version(),
        "numpy": np.__version__,
        "pyarrow": pyarrow.__version__,
        "cpu": cpu,
        "cores": os.cpu_count(),
        "date": time.strftime("%Y-%m-%d"),
    }
    if ultra:
        info["ultra_click_models"] = ultra
    return info


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="smaller sizes (about 2 minutes)")
    parser.add_argument("--json", action="store_true", help="print one JSON object")
    parser.add_argument("--ultra", default=os.environ.get("ULTRA_CLICK_MODELS"),
                        help="path of ULTRA's ultra/utils/click_models.py (peer)")  # fmt: skip
    args = parser.parse_args()
    _data_env()
    data = _load()
    q = args.quick
    result: dict[str, Any] = {"dataset": DATASET, "quick": q, "versions": _versions(args.ultra)}
    result["throughput"] = ours_throughput(data, 200_000 if q else 1_000_000, 3)
    if args.ultra and Path(args.ultra).is_file():
        result["ultra_throughput"] = ultra_throughput(data, 20_000 if q else 100_000, args.ultra, 3)
    else:
        result["ultra_throughput"] = "skipped: pass --ultra PATH/click_models.py"
    result["cli"] = cli_end_to_end(
        [100_000, 300_000] if q else [100_000, 1_000_000, 3_000_000],
        ["parquet"] if q else ["parquet", "jsonl.gz"],
    )
    result["counterfactual"] = counterfactual(
        data, 10 if q else 50, 20_000 if q else 100_000, 300 if q else 1000
    )
    result["estimate_time"] = estimate_time(data, 100_000 if q else 1_000_000, 1000)
    if args.json:
        print(json.dumps(result, indent=2))
        return
    print(f"MQ2008 fold 1 train, k=10 ({'quick' if q else 'full'}); {result['versions']}")
    print("\nsimulation throughput (in memory, best of 3):")
    for name, r in result["throughput"].items():
        print(f"  rankstack {name:8s} {r['sessions_per_s']:>12,} sessions/s")
    if isinstance(result["ultra_throughput"], dict):
        for name, r in result["ultra_throughput"].items():
            diff = np.max(
                np.abs(np.array(r["ctr_by_position"]) - r["expected_ctr_by_position (ours)"])
            )
            print(f"  ULTRA     {name:8s} {r['sessions_per_s']:>12,} sessions/s "
                  f"(max |CTR - our expected CTR| {diff:.4f})")  # fmt: skip
    print("\nrankstack clicks simulate (end to end) / stats:")
    for r in result["cli"]:
        sim, st = r["simulate"], r["stats"]
        print(f"  {r['format']:9s} {r['sessions']:>10,} sessions: {sim['seconds']:7.2f} s, "
              f"peak RSS {sim['peak_rss_mib']:7.1f} MiB, file {r['file_mib']} MiB; "
              f"stats {st['seconds']:.2f} s, {st['peak_rss_mib']} MiB")  # fmt: skip
    cf = result["counterfactual"]
    print(f"\ncounterfactual ({cf['seeds']} seeds x {cf['sessions']:,} sessions, "
          f"{cf['bootstrap']} bootstrap replicates):")  # fmt: skip
    for metric in ("dcg", "ctr"):
        m = cf[metric]
        for e in ("ips", "snips"):
            s = m[e]
            print(f"  {metric}@10 {e:5s} coverage {s['coverage']:.2f}  "
                  f"mean {s['mean_estimate']:.4f} "
                  f"(true {m['true']:.4f})  sd {s['std_across_seeds']:.4f}  "
                  f"boot se {s['mean_bootstrap_std_error']:.4f}")  # fmt: skip
    et = result["estimate_time"]
    print(f"  one estimate on {et['sessions']:,} sessions, {et['bootstrap']} replicates: "
          f"{et['seconds']} s")  # fmt: skip


if __name__ == "__main__":
    main()
