"""Feature extraction throughput: query-document pairs per second for the default feature set.

    RANKSTACK_DATA=/work/shared/datasets \\
        .venv/bin/python benchmarks/features_speed.py [--quick] [--json] [--synthetic-docs N]

Side by side in one run, on one core:

- ``rankstack``: :class:`rankstack.rerank.Features` with ``features="default"`` (29 features
  on a 3-field index: BM25, TF-IDF, two LM scores, coverage and length per field, IDF
  statistics, query length, phrase, bigram, two spans, first-stage score and rank);
- ``per-pair Python``: the same features from the straightforward per-pair implementation
  the tests use as their oracle (``tests/rerank/_features_reference.py``), on the first
  ``--reference-pairs`` pairs of each run (all of them without ``--quick``); the benchmark
  also reports the largest relative difference between the two;
- ``PyTerrier``: Terrier's ``FeaturesRetriever`` (BM25, TF-IDF, DirichletLM, Hiemstra LM and
  DFR proximity) in its own virtual environment (``PYTERRIER_PYTHON``, default
  ``/work/.pyterrier-venv/bin/python``), reported as not run, with the failing step, when it
  cannot start.

Data: BEIR SciFact (5,183 abstracts), BM25 (Lucene, k1=0.9, b=0.4, field ``contents``) top
100 for the 300 test queries and for the 809 train queries; and a synthetic Zipfian corpus
(``_synthetic.py``, 1,000,000 documents unless ``--synthetic-docs``; 20,000 with
``--quick``) with 1,000 queries, top 100.
Indexes are built with positions and three fields (contents, title, text) for SciFact. Each
timing is the best of ``--repeat`` runs (3; 1 with ``--quick``) after a warm-up call on 3
queries (``first_call_s``: it computes the lazy per-field statistics, df and cf, once per
index), and excludes retrieval and index building, which are reported separately.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
sys.path.insert(0, str(HERE.parent / "tests" / "rerank"))

import numpy as np  # noqa: E402

import bm25_common as common  # noqa: E402

PEER = HERE / "_features_pyterrier_peer.py"
DEFAULT_PYTERRIER = "/work/.pyterrier-venv/bin/python"
K = 100


def _best(fn: Any, repeat: int) -> tuple[float, Any]:
    best, out = float("inf"), None
    for _ in range(repeat):
        t0 = time.perf_counter()
        out = fn()
        best = min(best, time.perf_counter() - t0)
    return best, out


def _max_rel_diff(out: Any, ref: dict[str, np.ndarray]) -> float:
    worst = 0.0
    for name, want in ref.items():
        got = out.feature(name)[: len(want)].astype(np.float64)
        scale = np.maximum(np.abs(want), 1.0)
        worst = max(worst, float(np.max(np.abs(got - want) / scale, initial=0.0)))
    return worst


def measure(
    name: str, index: Any, queries: Any, repeat: int, ref_pairs: int | None, **kw: Any
) -> dict[str, Any]:
    from _features_reference import reference_features

    from rankstack.rerank import Features
    from rankstack.retrieve import BM25

    bm25 = BM25(index, k=K, fields={index.field().name: 1.0})
    t0 = time.perf_counter()
    run = bm25.transform(queries)
    retrieve_s = time.perf_counter() - t0
    stage = Features(index, **kw)
    t0 = time.perf_counter()
    stage.transform(queries, run.slice_queries(0, 3))  # warm-up: lazy per-field df, cf
    first_s = time.perf_counter() - t0
    secs, out = _best(lambda: stage.transform(queries, run), repeat)
    row: dict[str, Any] = {
        "data": name,
        "queries": len(queries),
        "pairs": len(run),
        "features": len(stage.feature_names),
        "retrieve_s": retrieve_s,
        "first_call_s": first_s,
        "rankstack_s": secs,
        "rankstack_pairs_per_s": len(run) / secs,
    }
    n = len(run) if ref_pairs is None else min(ref_pairs, len(run))
    if n:
        common.log(f"  per-pair reference on {n} pairs of {name}...")
        main = stage._main_field()
        t0 = time.perf_counter()
        ref = reference_features(index, queries, run, main=main, limit=n)
        ref_s = time.perf_counter() - t0
        row.update(
            reference_pairs=n,
            reference_s=ref_s,
            reference_pairs_per_s=n / ref_s,
            speedup=(len(run) / secs) / (n / ref_s),
            max_rel_diff=_max_rel_diff(out, ref),
        )
    return row


def pyterrier_peer(corpus: Any, queries: Any) -> dict[str, Any]:
    py = os.environ.get("PYTERRIER_PYTHON", DEFAULT_PYTERRIER)
    if not Path(py).exists():
        return {"error": f"no PyTerrier environment at {py}", "step": "find interpreter"}
    with tempfile.TemporaryDirectory(prefix="pt-bench-") as tmp:
        c = common.write_corpus_jsonl(corpus, Path(tmp) / "corpus.jsonl")
        q = common.write_queries_tsv(queries, Path(tmp) / "queries.tsv")
        try:
            proc = subprocess.run(
                [py, str(PEER), str(c), str(q)], capture_output=True, text=True, timeout=1800
            )
        except subprocess.TimeoutExpired:
            return {"error": "timed out after 1800 s", "step": "run"}
    try:
        out: dict[str, Any] = json.loads(proc.stdout.strip().splitlines()[-1])
    except (IndexError, json.JSONDecodeError):
        return {"error": (proc.stderr or proc.stdout)[-500:], "step": "start"}
    if "seconds" in out:
        out["pairs_per_s"] = out["pairs"] / out["seconds"]
    return out


def scifact(args: argparse.Namespace) -> tuple[list[dict[str, Any]], dict[str, Any]]:
    from rankstack.index import build_index
    from rankstack.io import BeirFolder

    folder = BeirFolder.open(common.data_dir() / "beir" / "scifact")
    corpus = folder.corpus()
    fields = {"contents": ["title", "text"], "title": ["title"], "text": ["text"]}
    t0 = time.perf_counter()
    index = build_index(corpus, fields=fields, positions=True, progress=False)
    common.log(f"SciFact index with positions: {time.perf_counter() - t0:.2f}s")
    rows = []
    for split in ("test", "train"):
        queries = folder.queries(split)
        common.log(f"SciFact {split}: {len(queries)} queries")
        rows.append(measure(f"SciFact {split}", index, queries, args.repeat, args.reference_pairs))
        if split == "test":
            plain = build_index(corpus, fields=fields, positions=False, progress=False)
            row = measure(
                "SciFact test, positions from text", plain, queries, args.repeat, 0, corpus=corpus
            )
            rows.append(row)
            rows.append(
                measure(
                    "SciFact test, no_positions set",
                    index,
                    queries,
                    args.repeat,
                    0,
                    features="no_positions",
                )
            )
    peer = pyterrier_peer(corpus, folder.queries("test")) if not args.no_pyterrier else {}
    return rows, peer


def synthetic(args: argparse.Namespace) -> dict[str, Any]:
    import _synthetic
    from rankstack.data import Corpus, Queries
    from rankstack.index import build_index

    n = args.synthetic_docs
    words = _synthetic.word_list(500_000)
    ids, texts = _synthetic.synthetic_texts(n, vocab_size=500_000, words=words)
    corpus = Corpus.from_arrays(ids, texts)
    qids, qtexts = _synthetic.synthetic_queries(1000, vocab_size=500_000, words=words)
    del texts
    t0 = time.perf_counter()
    index = build_index(corpus, positions=True, progress=False)
    index_s = time.perf_counter() - t0
    del corpus
    common.log(f"synthetic {n:,} docs, index with positions: {index_s:.1f}s")
    row = measure(
        f"synthetic {n:,} docs",
        index,
        Queries.from_arrays(qids, qtexts),
        args.repeat,
        args.reference_pairs if args.reference_pairs is not None else 5000,
    )
    row["index_s"] = index_s
    row["peak_rss_mb"] = common.peak_rss_mb()
    return row


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    ap.add_argument("--quick", action="store_true", help="1 repeat, 2,000 reference pairs")
    ap.add_argument("--json", action="store_true", help="print the results as JSON")
    ap.add_argument("--repeat", type=int, default=None)
    ap.add_argument("--reference-pairs", type=int, default=None, help="default: all (quick 2000)")
    ap.add_argument("--synthetic-docs", type=int, default=1_000_000, help="0 skips it")
    ap.add_argument("--no-pyterrier", action="store_true")
    args = ap.parse_args()
    if args.repeat is None:
        args.repeat = 1 if args.quick else 3
    if args.quick and args.reference_pairs is None:
        args.reference_pairs = 2000
    if args.quick and args.synthetic_docs == 1_000_000:
        args.synthetic_docs = 20_000
    info = common.machine()
    rows, peer = scifact(args)
    if args.synthetic_docs:
        rows.append(synthetic(args))
    result = {"machine": info, "rows": rows, "pyterrier": peer, "command": " ".join(sys.argv)}
    if args.json:
        print(json.dumps(result, indent=1, default=float))
        return
    cols = [
        "data", "queries", "pairs", "features", "rankstack_s", "rankstack_pairs_per_s",
        "reference_pairs", "reference_pairs_per_s", "speedup", "max_rel_diff", "retrieve_s",
    ]  # fmt: skip
    print(common.table(rows, cols))
    print()
    print("PyTerrier:", json.dumps(peer))
    print("machine:", json.dumps(info))


if __name__ == "__main__":
    main()
