"""Pyserini worker for the BM25 benchmarks: runs *inside the Pyserini venv*, never imported.

The other BM25 benchmarks start it with the benchmark venv's Python (``PYSERINI_PYTHON``, default
``/work/.bench-venv/bin/python``), pass a corpus JSONL and a queries TSV, and read one JSON
object from stdout: timings, peak memory and the path of the TREC run it wrote.

    python bm25_pyserini_peer.py index --corpus C.jsonl --index DIR [--multifield] [--threads N]
        [--plain]
    python bm25_pyserini_peer.py search --index DIR --queries Q.tsv --run OUT [--rm3]
        [--multifield] [--threads N] [--k 1000] [--k1 0.9] [--b 0.4] [--one-by-one]
    python bm25_pyserini_peer.py analyze --texts T.jsonl --out O.jsonl   # Lucene tokens

Pyserini is a benchmark peer only (Apache-2.0, Lucene via Anserini); it is never a rankstack
dependency and nothing of it is committed.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import shutil
import subprocess
import sys
import tempfile
import time


def _maxrss_mb(who: int) -> float:
    """Peak RSS: of this process from /proc (``VmHWM``; ``ru_maxrss`` would include the
    parent's peak, which survives exec), of waited-for children from ``ru_maxrss``."""
    if who == resource.RUSAGE_SELF:
        with open("/proc/self/status", encoding="ascii") as fh:
            for line in fh:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1]) / 1024.0
    return resource.getrusage(who).ru_maxrss / 1024.0


def cmd_index(args: argparse.Namespace) -> dict:
    """Convert the BEIR corpus to Pyserini's JsonCollection and index it with Anserini."""
    tmp = tempfile.mkdtemp(prefix="pyserini-docs-")
    try:
        with (
            open(args.corpus, encoding="utf-8") as src,
            open(os.path.join(tmp, "docs.jsonl"), "w", encoding="utf-8") as dst,
        ):
            for line in src:
                d = json.loads(line)
                title, text = d.get("title") or "", d.get("text") or ""
                if args.multifield:  # Pyserini's BEIR "multifield": contents = text, title apart
                    doc = {"id": d["_id"], "contents": text, "title": title}
                else:  # "flat": title and text in one field
                    doc = {"id": d["_id"], "contents": (title + " " + text).strip()}
                dst.write(json.dumps(doc) + "\n")
        cmd = [
            sys.executable, "-m", "pyserini.index.lucene",
            "--collection", "JsonCollection",
            "--input", tmp,
            "--index", args.index,
            "--generator", "DefaultLuceneDocumentGenerator",
            "--threads", str(args.threads),
        ]  # fmt: skip
        if not args.plain:  # what RM3 and the BEIR regressions use
            cmd += ["--storePositions", "--storeDocvectors", "--storeRaw"]
        if args.multifield:
            cmd += ["--fields", "title"]
        if os.path.exists(args.index):
            shutil.rmtree(args.index)
        t0 = time.perf_counter()
        subprocess.run(cmd, check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        seconds = time.perf_counter() - t0
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    size = sum(os.path.getsize(os.path.join(r, f)) for r, _, fs in os.walk(args.index) for f in fs)
    return {
        "index_seconds": seconds,
        "index_bytes": size,
        "peak_rss_mb": _maxrss_mb(resource.RUSAGE_CHILDREN),
    }


def _read_queries(path: str) -> tuple[list[str], list[str]]:
    qids, texts = [], []
    with open(path, encoding="utf-8") as fh:
        for line in fh:
            q, _, t = line.rstrip("\n").partition("\t")
            qids.append(q)
            texts.append(t)
    return qids, texts


def cmd_search(args: argparse.Namespace) -> dict:
    from pyserini.search.lucene import LuceneSearcher

    t_open = time.perf_counter()
    searcher = LuceneSearcher(args.index)
    searcher.set_bm25(args.k1, args.b)
    if args.rm3:
        searcher.set_rm3(fb_terms=10, fb_docs=10, original_query_weight=0.5)
    open_seconds = time.perf_counter() - t_open
    qids, texts = _read_queries(args.queries)
    fields = {"contents": 1.0, "title": 1.0} if args.multifield else None
    kwargs = {"fields": fields} if fields else {}
    # warm up the JVM's JIT on a few queries so that timing measures steady-state search
    for t in texts[: min(20, len(texts))]:
        searcher.search(t, k=args.k, **kwargs)
    latencies = []
    t0 = time.perf_counter()
    if args.one_by_one:
        results = {}
        for q, t in zip(qids, texts):
            s = time.perf_counter()
            results[q] = searcher.search(t, k=args.k, **kwargs)
            latencies.append(time.perf_counter() - s)
    else:
        results = searcher.batch_search(texts, qids, k=args.k, threads=args.threads, **kwargs)
    seconds = time.perf_counter() - t0
    with open(args.run, "w", encoding="utf-8") as fh:
        for q in qids:
            for rank, hit in enumerate(results.get(q, []), start=1):
                fh.write(f"{q} Q0 {hit.docid} {rank} {hit.score:.6f} pyserini\n")
    return {
        "search_seconds": seconds,
        "open_seconds": open_seconds,
        "n_queries": len(qids),
        "latencies": latencies,
        "peak_rss_mb": _maxrss_mb(resource.RUSAGE_SELF),
        "run": args.run,
    }


def cmd_analyze(args: argparse.Namespace) -> dict:
    """Lucene's EnglishAnalyzer (as Pyserini uses it) on each text of a JSONL list."""
    from pyserini.analysis import Analyzer, get_lucene_analyzer

    analyzer = Analyzer(get_lucene_analyzer())
    n = 0
    with open(args.texts, encoding="utf-8") as src, open(args.out, "w", encoding="utf-8") as dst:
        for line in src:
            dst.write(json.dumps(analyzer.analyze(json.loads(line)), ensure_ascii=False) + "\n")
            n += 1
    return {"n_texts": n}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    sub = ap.add_subparsers(dest="cmd", required=True)
    p = sub.add_parser("index")
    p.add_argument("--corpus", required=True)
    p.add_argument("--index", required=True)
    p.add_argument("--multifield", action="store_true")
    p.add_argument("--threads", type=int, default=1)
    p.add_argument("--plain", action="store_true", help="no positions, doc vectors or raw text")
    p = sub.add_parser("search")
    p.add_argument("--index", required=True)
    p.add_argument("--queries", required=True)
    p.add_argument("--run", required=True)
    p.add_argument("--rm3", action="store_true")
    p.add_argument("--multifield", action="store_true")
    p.add_argument("--threads", type=int, default=1)
    p.add_argument("--k", type=int, default=1000)
    p.add_argument("--k1", type=float, default=0.9)
    p.add_argument("--b", type=float, default=0.4)
    p.add_argument("--one-by-one", action="store_true")
    p = sub.add_parser("analyze")
    p.add_argument("--texts", required=True)
    p.add_argument("--out", required=True)
    args = ap.parse_args()
    out = {"index": cmd_index, "search": cmd_search, "analyze": cmd_analyze}[args.cmd](args)
    from importlib.metadata import version

    out["pyserini"] = version("pyserini")
    print(json.dumps(out))


if __name__ == "__main__":
    main()
