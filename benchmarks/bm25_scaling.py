"""How BM25 cost grows with corpus size: synthetic Zipfian corpora of 10k, 100k and 1M
documents (``_synthetic.py``, seed 0), rankstack next to bm25s, Pyserini and rank_bm25.

    .venv/bin/python benchmarks/bm25_scaling.py [--quick] [--json] [--sizes 10000,100000,1000000]

Per engine and size, in its own subprocess: index time (tokenisation included; rankstack also
precomputes its BM25 impacts), index size on disk, per-query latency p50/p99 over queries
answered one at a time (k=1000, after a warm-up), and peak RSS of the process. ``--quick``
runs 10k and 100k. rank_bm25 scores every document in Python per query term: it runs at 10k
and 100k only (100 queries), and is skipped at 1M. One-time process set-up (imports,
rankstack's Unicode token pattern) is not counted; Pyserini's indexing time includes the JVM
start.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import shutil
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))

import bm25_common as common
from bm25_speed import _load

K = 1000


def _rss() -> float:
    return common.peak_rss_mb()


def _size(path: Path) -> int:
    return sum(p.stat().st_size for p in Path(path).rglob("*") if p.is_file())


def _latencies(search: Any, texts: list[str], n: int) -> list[float]:
    for t in texts[:10]:
        search(t)  # warm-up
    out = []
    for t in texts[:n]:
        s = time.perf_counter()
        search(t)
        out.append(time.perf_counter() - s)
    return out


def worker_rankstack(args: argparse.Namespace, work: Path) -> dict[str, Any]:
    import scipy.sparse  # noqa: F401  (import time is not indexing time)

    from rankstack.index import Tokenizer, build_index
    from rankstack.retrieve import BM25

    Tokenizer().analyze("warm up")  # one-time set-up: builds the Unicode token pattern
    corpus, _, texts = _load(args.corpus, args.queries)
    t0 = time.perf_counter()
    idx = build_index(corpus, work / "idx", progress=False)
    bm25 = BM25(idx, k=K)
    bm25.impact_matrix()
    index_s = time.perf_counter() - t0
    del corpus
    lat = _latencies(bm25.search, texts, args.n_queries)
    return {"index_seconds": index_s, "index_bytes": _size(work / "idx"), "latencies": lat,
            "peak_rss_mb": _rss()}  # fmt: skip


def worker_bm25s(args: argparse.Namespace, work: Path) -> dict[str, Any]:
    os.environ["DISABLE_TQDM"] = "1"
    import bm25s
    import Stemmer

    corpus, _, texts = _load(args.corpus, args.queries)
    docs = corpus.contents().to_pylist()
    del corpus
    stemmer = Stemmer.Stemmer("porter")
    t0 = time.perf_counter()
    tokens = bm25s.tokenize(docs, stopwords="en", stemmer=stemmer, show_progress=False)
    retriever = bm25s.BM25(method="lucene", k1=0.9, b=0.4)
    retriever.index(tokens, show_progress=False)
    index_s = time.perf_counter() - t0
    n_docs = len(docs)
    del docs, tokens
    retriever.save(str(work / "bm25s"))
    k = min(K, n_docs)

    def search(text: str) -> Any:
        qt = bm25s.tokenize([text], stopwords="en", stemmer=stemmer, show_progress=False)
        return retriever.retrieve(qt, k=k, show_progress=False)

    lat = _latencies(search, texts, args.n_queries)
    return {"index_seconds": index_s, "index_bytes": _size(work / "bm25s"), "latencies": lat,
            "peak_rss_mb": _rss()}  # fmt: skip


def worker_rank_bm25(args: argparse.Namespace, work: Path) -> dict[str, Any]:
    import rank_bm25

    corpus, _, texts = _load(args.corpus, args.queries)
    docs = corpus.contents().to_pylist()
    del corpus
    word = re.compile(r"\w+")
    t0 = time.perf_counter()
    model = rank_bm25.BM25Okapi([word.findall(d.lower()) for d in docs], k1=0.9, b=0.4)
    index_s = time.perf_counter() - t0

    def search(text: str) -> Any:
        scores = model.get_scores(word.findall(text.lower()))
        top = np.argpartition(-scores, min(K, len(scores) - 1))[:K]
        return top[np.argsort(-scores[top])]

    lat = _latencies(search, texts, min(args.n_queries, 100))
    return {"index_seconds": index_s, "index_bytes": None, "latencies": lat,
            "peak_rss_mb": _rss()}  # fmt: skip


WORKERS = {"rankstack": worker_rankstack, "bm25s": worker_bm25s, "rank_bm25": worker_rank_bm25}


def run_engine(engine: str, corpus: Path, queries: Path, n_queries: int, work: Path) -> dict:
    if engine == "pyserini":
        index = work / "pyserini-index"
        built = common.pyserini(["index", "--corpus", str(corpus), "--index", str(index),
                                 "--plain"])  # fmt: skip
        sub = work / "q.tsv"
        with open(queries, encoding="utf-8") as src:
            sub.write_text("".join(line for _, line in zip(range(n_queries + 20), src)))
        found = common.pyserini(["search", "--index", str(index), "--queries", str(sub),
                                 "--run", str(work / "p.run"), "--one-by-one",
                                 "--k", str(K)])  # fmt: skip
        out = {"index_seconds": built["index_seconds"], "index_bytes": built["index_bytes"],
               "latencies": found["latencies"][20:] or found["latencies"],
               "peak_rss_mb": max(built["peak_rss_mb"], found["peak_rss_mb"])}  # fmt: skip
        shutil.rmtree(index, ignore_errors=True)
        return out
    cmd = [sys.executable, __file__, "--worker", engine, "--corpus", str(corpus),
           "--queries", str(queries), "--n-queries", str(n_queries),
           "--work", str(work)]  # fmt: skip
    return common.run_json(cmd)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    ap.add_argument("--quick", action="store_true", help="10k and 100k documents only")
    ap.add_argument("--json", action="store_true", help="print JSON instead of a table")
    ap.add_argument("--sizes", default=None, help="comma-separated corpus sizes")
    ap.add_argument("--engines", default="rankstack,bm25s,pyserini,rank_bm25")
    ap.add_argument("--n-queries", type=int, default=1000)
    ap.add_argument("--worker", help=argparse.SUPPRESS)
    ap.add_argument("--corpus", help=argparse.SUPPRESS)
    ap.add_argument("--queries", help=argparse.SUPPRESS)
    ap.add_argument("--work", help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.worker:
        print(json.dumps(WORKERS[args.worker](args, Path(args.work))))
        return
    from _synthetic import write

    sizes = [int(s) for s in (args.sizes or ("10000,100000" if args.quick else
                                             "10000,100000,1000000")).split(",")]  # fmt: skip
    n_queries = 200 if args.quick else args.n_queries
    engines = [e for e in args.engines.split(",") if e]
    if "pyserini" in engines and common.pyserini_python() is None:
        common.log("Pyserini venv not found: skipping Pyserini (set PYSERINI_PYTHON)")
        engines.remove("pyserini")
    info = common.machine()
    rows = []
    with tempfile.TemporaryDirectory(prefix="bm25-scaling-") as tmp:
        for n in sizes:
            folder = Path(tmp) / f"syn{n}"
            t0 = time.perf_counter()
            corpus, queries = write(n, folder, n_queries=n_queries + 20)
            common.log(f"{n} docs: corpus written in {time.perf_counter() - t0:.0f} s")
            for engine in engines:
                if engine == "rank_bm25" and n > 100_000:
                    rows.append({"docs": n, "engine": engine, "note": "skipped: too slow"})
                    continue
                common.log(f"{n} docs: {engine}")
                work = folder / engine
                work.mkdir()
                try:
                    r = run_engine(engine, corpus, queries, n_queries, work)
                except Exception as exc:  # report and go on: one engine failing is a result
                    rows.append({"docs": n, "engine": engine, "note": f"failed: {exc}"[:200]})
                    continue
                finally:
                    shutil.rmtree(work, ignore_errors=True)
                lat = np.asarray(r["latencies"]) * 1000.0
                rows.append({
                    "docs": n, "engine": engine, "index_s": r["index_seconds"],
                    "docs_per_s": n / r["index_seconds"],
                    "index_mb": None if r["index_bytes"] is None else r["index_bytes"] / 2**20,
                    "p50_ms": float(np.percentile(lat, 50)),
                    "p99_ms": float(np.percentile(lat, 99)),
                    "n_queries": len(lat), "peak_rss_mb": r["peak_rss_mb"],
                })  # fmt: skip
                common.log(json.dumps(rows[-1]))
            shutil.rmtree(folder, ignore_errors=True)
    if args.json:
        print(json.dumps({"machine": info, "rows": rows}, indent=1))
        return
    print(f"machine: {info}\n")
    cols = ["docs", "engine", "index_s", "docs_per_s", "index_mb", "p50_ms", "p99_ms",
            "n_queries", "peak_rss_mb", "note"]  # fmt: skip
    print(common.table(rows, cols))


if __name__ == "__main__":
    main()
