"""``rankstack batch`` on 2 local Dask workers against the single-process run, and a fault run.

The corpus is issue A's synthetic Zipfian corpus (``_synthetic.py``, seed 0: 1,000,000
documents, about 90 words each) and its queries (seed 1, 2-6 topical words). The script builds
the index and saves the pipeline ``bm25(k=K)`` in a work folder (kept between runs with
``--work``), then times three runs of the same queries:

1. ``rankstack batch PIPE QUERIES -o single.trec --scheduler none`` (one process);
2. ``rankstack batch ... --scheduler local --workers 2`` (a LocalCluster of 2 worker
   processes, one thread each, started and stopped by the command);
3. the fault run: :func:`rankstack.batch.run_batch` on a LocalCluster of 2 workers where one
   worker process is killed (SIGKILL) when the first partition finishes; Dask runs its
   partitions again on the other worker (and the nanny starts a new process).

Runs 1 and 2 are whole commands in subprocesses: the wall time counts the interpreter start,
loading the pipeline (and, for run 2, starting the cluster), the queries and writing the TREC
file; the command's own "ran N queries in X s" (queries to run, cluster start excluded) is
reported next to it. The three TREC files are compared by sha256 and must be byte-identical.
Each worker's resident memory (RSS and PSS from ``/proc``; the index pages are mapped and
shared) is read at the end of the fault run.

    python benchmarks/batch_scale.py [--docs 1000000] [--queries 10000] [--k 100]
                                     [--work DIR] [--quick] [--json]
    python benchmarks/batch_scale.py --lambdamart 1-5 [--json]

``--quick``: 100,000 documents and 2,000 queries. ``--lambdamart FOLDS`` instead trains
LambdaMART (rankstack's defaults) on MQ2008 folds in one process and on 2 Dask workers and
reports both test nDCG@10 / MAP and the correlation of their scores.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import platform
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

from _synthetic import synthetic_queries, synthetic_texts, word_list

VOCAB = 500_000


def _sha256(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as fh:
        while chunk := fh.read(1 << 20):
            h.update(chunk)
    return h.hexdigest()


def prepare(work: Path, n_docs: int, n_queries: int, k: int) -> dict[str, Any]:
    """Index, saved pipeline and queries file in ``work`` (reused when already built)."""
    stamp = {"docs": n_docs, "queries": n_queries, "k": k, "vocab": VOCAB, "seed": 0}
    marker = work / "built.json"
    if marker.is_file() and json.loads(marker.read_text()).get("stamp") == stamp:
        return dict(json.loads(marker.read_text()))
    from rankstack.data import Corpus
    from rankstack.index import build_index
    from rankstack.pipeline_io import save_pipeline
    from rankstack.retrieve import BM25

    for name in ("index", "pipeline", "queries.tsv", "built.json"):
        p = work / name
        if p.is_dir():
            shutil.rmtree(p)
        elif p.exists():
            p.unlink()
    work.mkdir(parents=True, exist_ok=True)
    words = word_list(VOCAB)
    t0 = time.perf_counter()
    ids, texts = synthetic_texts(n_docs, vocab_size=VOCAB, seed=0, words=words)
    corpus = Corpus.from_arrays(ids, texts)
    gen_s = time.perf_counter() - t0
    t0 = time.perf_counter()
    index = build_index(corpus, work / "index", progress=False)
    index_s = time.perf_counter() - t0
    del corpus, ids, texts
    save_pipeline(BM25(index, k=k), work / "pipeline", info={"corpus": f"synthetic {n_docs}"})
    qids, qtexts = synthetic_queries(n_queries, vocab_size=VOCAB, seed=1, words=words)
    with open(work / "queries.tsv", "w", encoding="utf-8") as fh:
        fh.writelines(f"{q}\t{t}\n" for q, t in zip(qids, qtexts))
    built = {
        "stamp": stamp,
        "generate_seconds": round(gen_s, 1),
        "index_seconds": round(index_s, 1),
        "index_bytes": sum(p.stat().st_size for p in (work / "index").rglob("*") if p.is_file()),
    }
    marker.write_text(json.dumps(built))
    return built


def run_command(work: Path, out: Path, scheduler: str, workers: int) -> dict[str, Any]:
    """``rankstack batch`` in a subprocess: wall time and the command's own query time."""
    cmd = [
        sys.executable,
        "-m",
        "rankstack.cli",
        "batch",
        str(work / "pipeline"),
        str(work / "queries.tsv"),
        "-o",
        str(out),
        "--scheduler",
        scheduler,
        "--workers",
        str(workers),
        "--no-dashboard",
    ]
    load = os.getloadavg()[0]
    t0 = time.perf_counter()
    done = subprocess.run(cmd, capture_output=True, text=True, check=False)
    wall = time.perf_counter() - t0
    if done.returncode != 0:
        raise RuntimeError(f"{' '.join(cmd)} failed:\n{done.stdout}\n{done.stderr[-3000:]}")
    m = re.search(r"in ([0-9.]+) s on", done.stdout)
    return {
        "command": "rankstack batch PIPE QUERIES -o RUN --no-dashboard --scheduler "
        f"{scheduler}" + (f" --workers {workers}" if scheduler == "local" else ""),
        "wall_seconds": round(wall, 2),
        "query_seconds": float(m.group(1)) if m else None,
        "load_1m_before": round(load, 2),
        "sha256": _sha256(out),
        "bytes": out.stat().st_size,
    }


def _memory() -> dict[str, float]:
    """This process's RSS and PSS in MB (Linux ``/proc``)."""
    out: dict[str, float] = {}
    try:
        with open("/proc/self/smaps_rollup", encoding="ascii") as fh:
            for line in fh:
                key, _, rest = line.partition(":")
                if key in ("Rss", "Pss", "Shared_Clean", "Private_Dirty"):
                    out[key.lower() + "_mb"] = round(int(rest.split()[0]) / 1024, 1)
    except OSError:
        pass
    return out


def fault_run(work: Path, out: Path, workers: int) -> dict[str, Any]:
    """``run_batch`` on a LocalCluster; one worker is SIGKILLed when a partition finishes."""
    from rankstack.batch import dask_client, run_batch
    from rankstack.datasets import load_queries
    from rankstack.io import write_run

    queries = load_queries(work / "queries.tsv")
    killed: dict[str, Any] = {}
    load = os.getloadavg()[0]
    t0 = time.perf_counter()
    with dask_client("local", workers=workers, dashboard=False) as client:
        pids = client.run(os.getpid)
        ready = time.perf_counter() - t0

        def kill_one(done: int, total: int) -> None:
            if killed:
                return
            busy = [w for w, keys in client.processing().items() if keys]
            if not busy:
                return
            victim = busy[0]
            killed.update(
                pid=pids[victim],
                partitions_assigned=len(client.processing()[victim]),
                queries_done=done,
                queries_total=total,
                at_seconds=round(time.perf_counter() - t0, 2),
            )
            os.kill(pids[victim], signal.SIGKILL)

        run = run_batch(work / "pipeline", queries, client=client, progress=kill_one)
        job = time.perf_counter() - t0
        memory = client.run(_memory)
        after = client.run(os.getpid)
    write_run(run, out)
    return {
        "api": "run_batch(PIPE, queries, client=<LocalCluster 2 workers>, progress=kill_one)",
        "wall_seconds": round(time.perf_counter() - t0, 2),
        "cluster_start_seconds": round(ready, 2),
        "job_seconds": round(job - ready, 2),
        "load_1m_before": round(load, 2),
        "killed": killed,
        "killed_process_gone": bool(killed) and killed["pid"] not in after.values(),
        "worker_memory": list(memory.values()),
        "sha256": _sha256(out),
    }


def lambdamart_difference(folds: str, workers: int) -> list[dict[str, Any]]:
    """MQ2008: LambdaMART trained in one process vs on a LocalCluster (LightGBM's Dask ranker),
    same parameters (rankstack's defaults); test nDCG@10 of both and how their scores differ."""
    import numpy as np

    from rankstack.batch import dask_client
    from rankstack.ltr import LambdaMART
    from rankstack.ltr.cv import FoldSource, evaluate_scores, parse_folds
    from rankstack.ltr.gbdt_dask import fit_dask

    source = FoldSource("letor/mq2008")
    out = []
    with dask_client("local", workers=workers, dashboard=False) as client:
        for fold in parse_folds(folds, source.folds):
            train, valid, test = (source.load(fold, s) for s in ("train", "vali", "test"))
            t0 = time.perf_counter()
            single = LambdaMART().fit(train, valid)
            t1 = time.perf_counter()
            dask = fit_dask(LambdaMART(), train, valid, client=client)
            t2 = time.perf_counter()
            a, b = single.predict(test.run), dask.predict(test.run)
            measures = ["ndcg_cut_10", "map"]
            ea = evaluate_scores(test, a, measures)
            eb = evaluate_scores(test, b, measures)
            out.append(
                {
                    "fold": fold,
                    "single": {k: round(v, 4) for k, v in ea.items()},
                    "dask": {k: round(v, 4) for k, v in eb.items()},
                    "best_iteration": [single.best_iteration_, dask.best_iteration_],
                    "train_seconds": [round(t1 - t0, 2), round(t2 - t1, 2)],
                    "score_correlation": round(float(np.corrcoef(a, b)[0, 1]), 4),
                    "identical_scores": bool(np.array_equal(a, b)),
                }
            )
    return out


def _versions() -> dict[str, str]:
    import dask
    import distributed

    import rankstack

    return {
        "rankstack": rankstack.__version__,
        "dask": dask.__version__,
        "distributed": distributed.__version__,
        "python": platform.python_version(),
    }


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--docs", type=int, default=1_000_000)
    ap.add_argument("--queries", type=int, default=10_000)
    ap.add_argument("--k", type=int, default=100, help="results per query")
    ap.add_argument("--workers", type=int, default=2)
    ap.add_argument("--work", type=Path, help="work folder, kept (default: a temporary one)")
    ap.add_argument("--no-fault", action="store_true", help="skip the fault run")
    ap.add_argument(
        "--lambdamart",
        metavar="FOLDS",
        help="only compare LambdaMART trained in one process and on Dask on these MQ2008 "
        "folds (e.g. 1-5), then exit",
    )
    ap.add_argument("--quick", action="store_true", help="100,000 documents, 2,000 queries")
    ap.add_argument("--json", action="store_true", help="print the results as JSON")
    args = ap.parse_args()
    if args.quick:
        args.docs, args.queries = 100_000, 2_000
    if args.lambdamart:
        os.environ.setdefault(
            "RANKSTACK_DATA", str(Path(__file__).resolve().parents[2] / "shared" / "datasets")
        )
        rows = lambdamart_difference(args.lambdamart, args.workers)
        if args.json:
            print(json.dumps({"lambdamart_mq2008": rows, "versions": _versions()}, indent=2))
        else:
            for r in rows:
                print(r)
        return
    tmp = None
    if args.work is None:
        tmp = tempfile.TemporaryDirectory(prefix="batch-scale-")
        args.work = Path(tmp.name)
    work = args.work.resolve()
    try:
        built = prepare(work, args.docs, args.queries, args.k)
        single = run_command(work, work / "single.trec", "none", 1)
        dask_run = run_command(work, work / "dask.trec", "local", args.workers)
        fault = None if args.no_fault else fault_run(work, work / "fault.trec", args.workers)
    finally:
        if tmp is not None:
            tmp.cleanup()
    identical = single["sha256"] == dask_run["sha256"] and (
        fault is None or fault["sha256"] == single["sha256"]
    )
    result = {
        "corpus": f"synthetic Zipfian (benchmarks/_synthetic.py, seed 0), {args.docs:,} docs",
        "queries": args.queries,
        "pipeline": f"bm25(k={args.k}) (k1=0.9, b=0.4)",
        "workers": args.workers,
        "date": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()),
        "cpus": os.cpu_count(),
        "versions": _versions(),
        "build": built,
        "single_process": single,
        "dask_local": dask_run,
        "speedup_wall": round(single["wall_seconds"] / dask_run["wall_seconds"], 2),
        "fault": fault,
        "byte_identical": identical,
        "load_1m_after": round(os.getloadavg()[0], 2),
    }
    if args.json:
        print(json.dumps(result, indent=2))
        return
    print(f"{result['corpus']}; {args.queries:,} queries; {result['pipeline']}")
    print(f"index built in {built['index_seconds']} s ({built['index_bytes'] / 1e6:.0f} MB)")
    for name, r in (("single process", single), (f"{args.workers} Dask workers", dask_run)):
        print(
            f"{name:>16}: wall {r['wall_seconds']:7.2f} s  (queries {r['query_seconds']} s)  "
            f"load {r['load_1m_before']}  sha256 {r['sha256'][:16]}"
        )
    if fault is not None:
        print(
            f"{'fault run':>16}: wall {fault['wall_seconds']:7.2f} s  killed pid "
            f"{fault['killed'].get('pid')} after {fault['killed'].get('queries_done')} "
            f"queries; sha256 {fault['sha256'][:16]}"
        )
        for i, m in enumerate(fault["worker_memory"]):
            print(f"{'worker ' + str(i):>16}: {m}")
    print(f"byte-identical: {identical}; wall-time speed-up {result['speedup_wall']}x")


if __name__ == "__main__":
    main()
