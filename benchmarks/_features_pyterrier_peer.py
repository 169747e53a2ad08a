"""PyTerrier peer of ``features_speed.py``: Terrier's FeaturesRetriever on BEIR SciFact.

Runs inside PyTerrier's own virtual environment (never a rankstack dependency):

    /work/.pyterrier-venv/bin/python benchmarks/_features_pyterrier_peer.py CORPUS.jsonl QUERIES.tsv

Prints one JSON object: the timings, or ``{"error": ...}`` with the step that failed.
PyTerrier fetches Terrier's jars from Maven at its first start, so without network access
(as on the benchmark machine) it stops in ``pt.java.init()``; the step is reported as is.
"""

from __future__ import annotations

import json
import sys
import tempfile
import time
import traceback


def main(corpus_path: str, queries_path: str) -> dict[str, object]:
    step = "import pyterrier"
    try:
        import pandas as pd
        import pyterrier as pt

        step = "pt.java.init() (downloads Terrier's jars on first use)"
        pt.java.init()
        step = "index SciFact with positions (blocks)"
        with tempfile.TemporaryDirectory(prefix="pt-index-") as tmp:
            docs = []
            with open(corpus_path, encoding="utf-8") as fh:
                for line in fh:
                    d = json.loads(line)
                    docs.append({"docno": d["_id"], "text": f"{d['title']} {d['text']}"})
            t0 = time.perf_counter()
            ref = pt.IterDictIndexer(tmp, blocks=True, meta={"docno": 32}).index(docs)
            index_s = time.perf_counter() - t0
            step = "FeaturesRetriever over the test queries, top 100"
            with open(queries_path, encoding="utf-8") as fh:
                rows = [ln.rstrip("\n").split("\t", 1) for ln in fh]
            topics = pd.DataFrame(rows, columns=["qid", "query"])
            features = [
                "WMODEL:BM25",
                "WMODEL:TF_IDF",
                "WMODEL:DirichletLM",
                "WMODEL:Hiemstra_LM",
                "DSM:org.terrier.matching.dsms.DFRDependenceScoreModifier",
            ]
            fr = pt.terrier.FeaturesRetriever(
                ref, features=features, wmodel="BM25", num_results=100
            )
            fr.transform(topics.head(5))
            t0 = time.perf_counter()
            res = fr.transform(topics)
            secs = time.perf_counter() - t0
        return {
            "index_s": index_s,
            "seconds": secs,
            "pairs": len(res),
            "features": features,
            "pyterrier": pt.__version__,
        }
    except BaseException as exc:  # report whatever stopped it, with the step
        tb = traceback.format_exception(exc)
        return {"error": f"{type(exc).__name__}: {exc}", "step": step, "trace_tail": tb[-3:]}


if __name__ == "__main__":
    print(json.dumps(main(sys.argv[1], sys.argv[2])))
