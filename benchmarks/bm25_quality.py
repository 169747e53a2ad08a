"""BM25 effectiveness: rankstack next to Pyserini 0.22.1 (run here, same files) and its
published BEIR figures, on BEIR SciFact (test) and Cranfield.

    RANKSTACK_DATA=/work/shared/datasets \
        .venv/bin/python benchmarks/bm25_quality.py [--quick] [--json]

Systems: rankstack BM25 (Lucene variant, k1=0.9, b=0.4) flat and multifield, with Lucene's
one-byte length quantisation on and off, RM3 (10 docs, 10 terms, weight 0.5), the other four
Kamphuis variants, and bm25s (its own tokenizer: English stopwords + Porter stemmer) for
reference; Pyserini flat, multifield and RM3 indexes built from the same corpus. ``--quick``
skips Cranfield's Pyserini runs and the variants. Measures come from pytrec_eval.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

import bm25_common as common

PUBLISHED = {  # Pyserini BEIR (v1.0.0) regressions, BM25 k1=0.9 b=0.4
    ("scifact", "flat"): (0.6789, 0.9253),
    ("scifact", "multifield"): (0.6647, 0.9076),
}


def bm25s_run(corpus: Any, queries: Any, k: int = 1000) -> Any:
    os.environ.setdefault("DISABLE_TQDM", "1")
    import bm25s
    import numpy as np
    import Stemmer

    from rankstack.data import Run

    stemmer = Stemmer.Stemmer("porter")
    texts = corpus.contents().to_pylist()
    retriever = bm25s.BM25(method="lucene", k1=0.9, b=0.4)
    retriever.index(bm25s.tokenize(texts, stopwords="en", stemmer=stemmer, show_progress=False),
                    show_progress=False)  # fmt: skip
    qtok = bm25s.tokenize(queries.text_list(), stopwords="en", stemmer=stemmer, show_progress=False)
    k = min(k, len(texts))
    docs, scores = retriever.retrieve(qtok, k=k, show_progress=False)
    ids = np.array(corpus.docid_list(), dtype=object)
    qids = np.repeat(np.array(queries.qid_list(), dtype=object), k)
    keep = scores.ravel() > 0
    return Run.from_arrays(qids[keep], ids[docs.ravel()][keep], scores.ravel()[keep])


def rankstack_rows(name: str, corpus: Any, queries: Any, qrels: Any, quick: bool) -> list[dict]:
    from rankstack.index import build_index
    from rankstack.retrieve import BM25, RM3

    rows = []
    flat = build_index(corpus)
    multi = build_index(corpus, multifield=True)
    systems: list[tuple[str, str, Any]] = [
        ("rankstack BM25", "flat", BM25(flat)),
        ("rankstack BM25, exact lengths", "flat", BM25(flat, quantize=False)),
        ("rankstack BM25", "multifield", BM25(multi)),
        ("rankstack BM25, exact lengths", "multifield", BM25(multi, quantize=False)),
        ("rankstack BM25+RM3", "flat", RM3(BM25(flat))),
    ]
    if not quick:
        for v in ("robertson", "atire", "bm25l", "bm25+"):
            systems.append((f"rankstack BM25 variant={v}", "flat", BM25(flat, variant=v)))
    for label, layout, stage in systems:
        t0 = time.perf_counter()
        run = stage.transform(queries)
        secs = time.perf_counter() - t0
        rows.append({"dataset": name, "system": label, "index": layout,
                     **common.evaluate(run, qrels), "seconds": secs})  # fmt: skip
    run = bm25s_run(corpus, queries)
    rows.append({"dataset": name, "system": "bm25s (own tokenizer, lucene)", "index": "flat",
                 **common.evaluate(run, qrels)})  # fmt: skip
    return rows


def pyserini_rows(name: str, corpus: Any, queries: Any, qrels: Any, work: Path) -> list[dict]:
    from rankstack.io import read_run

    if common.pyserini_python() is None:
        common.log("Pyserini venv not found: skipping the Pyserini rows (set PYSERINI_PYTHON)")
        return []
    cpath = common.write_corpus_jsonl(corpus, work / f"{name}.jsonl")
    qpath = common.write_queries_tsv(queries, work / f"{name}.tsv")
    rows = []
    for layout, rm3 in (("flat", False), ("multifield", False), ("flat", True)):
        index = work / f"{name}-{layout}"
        if not index.exists():
            extra = ["--multifield"] if layout == "multifield" else []
            common.pyserini(["index", "--corpus", str(cpath), "--index", str(index), *extra])
        run_path = work / f"{name}-{layout}{'-rm3' if rm3 else ''}.run"
        args = ["search", "--index", str(index), "--queries", str(qpath), "--run", str(run_path)]
        args += (["--multifield"] if layout == "multifield" else []) + (["--rm3"] if rm3 else [])
        common.pyserini(args)
        run = read_run(run_path)
        label = "Pyserini 0.22.1 BM25" + ("+RM3" if rm3 else "")
        rows.append({"dataset": name, "system": label, "index": layout,
                     **common.evaluate(run, qrels)})  # fmt: skip
    return rows


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    ap.add_argument("--quick", action="store_true", help="SciFact Pyserini only, no variants")
    ap.add_argument("--json", action="store_true", help="print JSON instead of tables")
    args = ap.parse_args()
    info = common.machine()
    rows: list[dict] = []
    with tempfile.TemporaryDirectory(prefix="bm25-quality-") as tmp:
        work = Path(tmp)
        for name, loader in (
            ("scifact", common.load_scifact),
            ("cranfield", common.load_cranfield),
        ):
            corpus, queries, qrels = loader()
            common.log(f"{name}: {corpus}, {queries}")
            rows += rankstack_rows(name, corpus, queries, qrels, args.quick)
            if not (args.quick and name == "cranfield"):
                rows += pyserini_rows(name, corpus, queries, qrels, work)
            for (ds, layout), (ndcg, rec) in PUBLISHED.items():
                if ds == name:
                    rows.append(
                        {"dataset": ds, "system": "Pyserini BEIR published", "index": layout,
                         "ndcg@10": ndcg, "recall@100": rec}
                    )  # fmt: skip
    if args.json:
        print(json.dumps({"machine": info, "rows": rows}, indent=1))
        return
    print(f"machine: {info}\n")
    cols = ["dataset", "system", "index", "ndcg@10", "recall@100", "map", "n_queries"]
    print(common.table(rows, cols))


if __name__ == "__main__":
    main()
