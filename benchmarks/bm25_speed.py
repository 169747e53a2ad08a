"""BM25 throughput: indexing (docs/s) and querying (queries/s, k=1000), one thread and two,
rankstack next to bm25s, rank_bm25 and Pyserini on the same corpus in the same run.

    RANKSTACK_DATA=/work/shared/datasets \
        .venv/bin/python benchmarks/bm25_speed.py [--quick] [--json]

Corpora: BEIR SciFact (5,183 docs, all 1,109 queries) and, without ``--quick``, a synthetic
Zipfian corpus of 100,000 documents with 1,000 queries (``_synthetic.py``). Each engine runs in
its own subprocess, which reports its own peak RSS (``VmHWM``). Timings exclude reading the
corpus file; indexing includes tokenisation (and, for rankstack, precomputing the BM25
impacts, as bm25s does at index time); querying includes query tokenisation and top-1000
selection. Pyserini indexes without positions, doc vectors or raw text (its fastest
setting; fetching stored fields per hit is what makes k=1000 costly), includes JVM start-up
in indexing, and is queried through ``LuceneSearcher.batch_search``. Before the timed
queries each engine answers a few queries (JIT warm-up for numba and the JVM). Each
measurement is the best of 3 runs (``--repeat``; 2 with ``--quick``), as other jobs share the
machine. One-time process set-up is not counted: imports, the JVM start for searching (but
not for indexing), and rankstack's Unicode token pattern (built once, about 0.2 s). rank_bm25
has no index or threads; it scores every document per query term in Python, so it answers
only the first 100 queries on the 100k corpus (queries/s from those).
"""

from __future__ import annotations

import argparse
import json
import os
import re
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

import bm25_common as common

K = 1000


def _rss() -> float:
    return common.peak_rss_mb()


def _load(corpus_path: str, queries_path: str) -> tuple[Any, list[str], list[str]]:
    from rankstack.io import read_corpus_jsonl

    corpus = read_corpus_jsonl(corpus_path, fields=("title", "text"))
    qids, texts = [], []
    with open(queries_path, encoding="utf-8") as fh:
        for line in fh:
            q, _, t = line.rstrip("\n").partition("\t")
            qids.append(q)
            texts.append(t)
    return corpus, qids, texts


# ------------------------------------------------------------------------------ workers
def worker_rankstack(args: argparse.Namespace) -> dict[str, Any]:
    import scipy.sparse  # noqa: F401  (import time is not indexing time)

    from rankstack.data import Queries
    from rankstack.index import Tokenizer, build_index
    from rankstack.retrieve import BM25

    Tokenizer().analyze("warm up")  # one-time set-up: builds the Unicode token pattern
    corpus, qids, texts = _load(args.corpus, args.queries)
    queries = Queries.from_arrays(qids, texts)
    index_s, query_s = [], []
    for _ in range(args.repeat):
        with tempfile.TemporaryDirectory(prefix="rs-index-") as tmp:
            t0 = time.perf_counter()
            idx = build_index(corpus, Path(tmp) / "idx", n_jobs=args.threads, progress=False)
            bm25 = BM25(idx, k=K, n_jobs=args.threads)
            bm25.impact_matrix()
            index_s.append(time.perf_counter() - t0)
            bm25.transform(queries.slice(0, 20))  # warm-up
            t0 = time.perf_counter()
            run = bm25.transform(queries)
            query_s.append(time.perf_counter() - t0)
            del idx, bm25
    return {"index_seconds": min(index_s), "query_seconds": min(query_s),
            "n_queries": len(qids), "results": len(run), "peak_rss_mb": _rss()}  # fmt: skip


def _bm25s_search(bm25s: Any, retriever: Any, stemmer: Any, qs: list[str], k: int, n: int) -> Any:
    qt = bm25s.tokenize(qs, stopwords="en", stemmer=stemmer, show_progress=False)
    return retriever.retrieve(qt, k=k, show_progress=False, n_threads=n)


def worker_bm25s(args: argparse.Namespace) -> dict[str, Any]:
    os.environ["DISABLE_TQDM"] = "1"
    import bm25s
    import Stemmer

    corpus, qids, texts = _load(args.corpus, args.queries)
    docs = corpus.contents().to_pylist()
    stemmer = Stemmer.Stemmer("porter")
    k = min(K, len(docs))
    index_s, query_s = [], []
    for _ in range(args.repeat):
        t0 = time.perf_counter()
        tokens = bm25s.tokenize(docs, stopwords="en", stemmer=stemmer, show_progress=False)
        retriever = bm25s.BM25(method="lucene", k1=0.9, b=0.4)
        retriever.index(tokens, show_progress=False)
        index_s.append(time.perf_counter() - t0)
        _bm25s_search(bm25s, retriever, stemmer, texts[:20], k, args.threads)  # numba warm-up
        t0 = time.perf_counter()
        docs_out, _ = _bm25s_search(bm25s, retriever, stemmer, texts, k, args.threads)
        query_s.append(time.perf_counter() - t0)
        del tokens, retriever
    return {"index_seconds": min(index_s), "query_seconds": min(query_s),
            "n_queries": len(qids), "results": int(docs_out.size),
            "peak_rss_mb": _rss()}  # fmt: skip


def worker_rank_bm25(args: argparse.Namespace) -> dict[str, Any]:
    import numpy as np
    import rank_bm25

    corpus, _qids, texts = _load(args.corpus, args.queries)
    docs = corpus.contents().to_pylist()
    word = re.compile(r"\w+")
    index_s = []
    for _ in range(args.repeat):
        t0 = time.perf_counter()
        model = rank_bm25.BM25Okapi([word.findall(d.lower()) for d in docs], k1=0.9, b=0.4)
        index_s.append(time.perf_counter() - t0)
    limit = args.max_queries or len(texts)
    t0 = time.perf_counter()
    n = 0
    for t in texts[:limit]:
        scores = model.get_scores(word.findall(t.lower()))
        top = np.argpartition(-scores, min(K, len(scores) - 1))[:K]
        top[np.argsort(-scores[top])]
        n += 1
    query_s = time.perf_counter() - t0
    return {"index_seconds": min(index_s), "query_seconds": query_s, "n_queries": n,
            "peak_rss_mb": _rss()}  # fmt: skip


WORKERS = {"rankstack": worker_rankstack, "bm25s": worker_bm25s, "rank_bm25": worker_rank_bm25}


# ------------------------------------------------------------------------------ driver
def run_engine(engine: str, corpus: Path, queries: Path, threads: int, work: Path,
               max_queries: int = 0, repeat: int = 3) -> dict[str, Any]:  # fmt: skip
    if engine == "pyserini":
        index = work / f"pyserini-{corpus.parent.name}-{threads}"
        builds, finds = [], []
        for _ in range(repeat):
            builds.append(common.pyserini(["index", "--corpus", str(corpus), "--index",
                                           str(index), "--threads", str(threads),
                                           "--plain"]))  # fmt: skip
            finds.append(common.pyserini(["search", "--index", str(index), "--queries",
                                          str(queries), "--run", str(work / "pyserini.run"),
                                          "--threads", str(threads), "--k", str(K)]))  # fmt: skip
        return {"index_seconds": min(b["index_seconds"] for b in builds),
                "query_seconds": min(f["search_seconds"] for f in finds),
                "n_queries": finds[0]["n_queries"],
                "peak_rss_mb": max(x["peak_rss_mb"] for x in builds + finds)}  # fmt: skip
    cmd = [sys.executable, __file__, "--worker", engine, "--corpus", str(corpus),
           "--queries", str(queries), "--threads", str(threads),
           "--max-queries", str(max_queries), "--repeat", str(repeat)]  # fmt: skip
    return common.run_json(cmd)


def corpora(quick: bool, work: Path) -> list[tuple[str, Path, Path, int]]:
    """(name, corpus.jsonl, queries.tsv, number of documents)."""
    corpus, _, _ = common.load_scifact()
    queries = common.load_scifact_all_queries()
    d = work / "scifact"
    d.mkdir()
    out = [("SciFact", common.write_corpus_jsonl(corpus, d / "corpus.jsonl"),
            common.write_queries_tsv(queries, d / "queries.tsv"), len(corpus))]  # fmt: skip
    if not quick:
        from _synthetic import write

        c, q = write(100_000, work / "synthetic-100k", n_queries=1000)
        out.append(("synthetic 100k", c, q, 100_000))
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    ap.add_argument("--quick", action="store_true", help="SciFact only")
    ap.add_argument("--json", action="store_true", help="print JSON instead of a table")
    ap.add_argument("--engines", default="rankstack,bm25s,rank_bm25,pyserini")
    ap.add_argument("--worker", help=argparse.SUPPRESS)
    ap.add_argument("--corpus", help=argparse.SUPPRESS)
    ap.add_argument("--queries", help=argparse.SUPPRESS)
    ap.add_argument("--threads", type=int, default=1, help=argparse.SUPPRESS)
    ap.add_argument("--max-queries", type=int, default=0, help=argparse.SUPPRESS)
    ap.add_argument("--repeat", type=int, default=None, help="runs per measurement (best is kept)")
    args = ap.parse_args()
    if args.worker:
        args.repeat = args.repeat or 1
        print(json.dumps(WORKERS[args.worker](args)))
        return
    repeat = args.repeat or (2 if args.quick else 3)
    engines = [e for e in args.engines.split(",") if e]
    if "pyserini" in engines and common.pyserini_python() is None:
        common.log("Pyserini venv not found: skipping Pyserini (set PYSERINI_PYTHON)")
        engines.remove("pyserini")
    info = common.machine()
    rows = []
    with tempfile.TemporaryDirectory(prefix="bm25-speed-") as tmp:
        work = Path(tmp)
        for name, corpus, queries, n_docs in corpora(args.quick, work):
            for engine in engines:
                for threads in (1, 2):
                    if engine == "rank_bm25" and threads == 2:
                        continue  # no threads in rank_bm25
                    common.log(f"{name}: {engine}, {threads} thread(s)")
                    limit = 100 if engine == "rank_bm25" and n_docs > 50_000 else 0
                    r = run_engine(engine, corpus, queries, threads, work, limit, repeat)
                    rows.append({
                        "corpus": name, "engine": engine, "threads": threads,
                        "index_s": r["index_seconds"], "docs_per_s": n_docs / r["index_seconds"],
                        "query_s": r["query_seconds"], "n_queries": r["n_queries"],
                        "queries_per_s": r["n_queries"] / r["query_seconds"],
                        "peak_rss_mb": r["peak_rss_mb"],
                    })  # fmt: skip
    if args.json:
        print(json.dumps({"machine": info, "rows": rows}, indent=1))
        return
    print(f"machine: {info}\n")
    cols = ["corpus", "engine", "threads", "index_s", "docs_per_s", "query_s", "n_queries",
            "queries_per_s", "peak_rss_mb"]  # fmt: skip
    print(common.table(rows, cols))


if __name__ == "__main__":
    main()
