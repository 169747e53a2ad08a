"""LLM re-ranking on BEIR SciFact test: every method with the registry LLMs, next to BM25.

    RANKSTACK_DATA=/work/shared/datasets \
        .venv/bin/python benchmarks/llm_rerank.py [--quick] [--json] [--sections ...]

Sections (``--sections``, comma-separated; default all but ``lora``):

- ``quality``: BM25 (Anserini's k1=0.9 b=0.4) top ``--depth`` of the first ``--queries`` test
  queries (after skipping ``--offset``) re-ranked by each method with each model (``--models``);
  nDCG@10, paired t-test p against BM25, seconds per query (wall, whole method), model calls and
  parse repairs per query. ``first`` and ``listwise-letters`` share the prompt (letter
  identifiers), window and candidates, so they are the FIRST vs generation comparison. The
  cross-encoder of issue E is added when its exported folder exists (``--cross-encoder``,
  default /work/models/ce-scifact), at the length it was trained at. Over more than 20
  candidates, the answer budget of the methods that rank all of them in one prompt
  (``listwise-full``, ``reasoning``) grows in proportion (set for 20).
- ``http``: requests per second of the OpenAI-compatible backend against the loopback stub
  server at concurrency 1, 8 and 32 (stub answering at once, and after 50 ms), and the calls
  and prompt tokens of a sliding window (20/10) vs the full list for 100 candidates.
- ``lora``: a trained FIRST adapter (``--adapter``) against its base model and BM25 over BM25's
  top ``--lora-depth`` (default: the training window, so one window a query, as trained), on
  the first ``--lora-queries`` test queries.

``--quick``: top 20, 50 queries, SmolLM2 only, methods first / listwise-letters / pointwise.
Passages are cut to ``--passage-tokens`` tokens (48 by default: the machine is a 2-core CPU).
Prompts go to the model 16 at a time (``--batch-size``; the windows of all queries at a step
are sent together): greedy decoding runs the model once a new token for the whole batch, so 16
windows a batch generate 23 % faster than 4 (measured, docs/benchmarks.md).
No response cache is used, so every time is a real model call. Nothing is tuned on test queries.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np

ROOT = Path(__file__).resolve().parents[1]

#: method label -> (method name, parameters); windows over the top 20
METHODS: dict[str, tuple[str, dict[str, Any]]] = {
    "first": ("first", {"window": 10, "stride": 5}),
    "listwise-letters": (
        "listwise",
        {"window": 10, "stride": 5, "identifiers": "letters", "max_new_tokens": 45},
    ),
    "first-full": ("first", {"window": None}),
    "listwise-full": ("full-list", {"max_new_tokens": 90}),
    "listwise-sliding": ("listwise", {"window": 10, "stride": 5, "max_new_tokens": 60}),
    "pointwise": ("pointwise", {}),
    "pointwise-grade": ("pointwise-grade", {}),
    "pairwise-bubble": ("pairwise-bubble", {"passes": 1}),
    "reasoning": ("reasoning", {"window": None, "max_new_tokens": 256}),
}
QUICK_METHODS = ["first", "listwise-letters", "pointwise"]


def machine() -> dict[str, Any]:
    model = ""
    try:
        out = subprocess.run(["lscpu"], capture_output=True, text=True, check=False).stdout
        model = next(
            (ln.split(":", 1)[1].strip() for ln in out.splitlines() if "Model name" in ln), ""
        )
    except OSError:
        pass
    import torch
    import transformers

    return {
        "cpu": model,
        "cores": os.cpu_count(),
        "load": os.getloadavg(),
        "python": platform.python_version(),
        "torch": torch.__version__,
        "transformers": transformers.__version__,
        "date": time.strftime("%Y-%m-%d %H:%M:%S UTC", time.gmtime()),
    }


def scifact(n_queries: int, depth: int, offset: int = 0) -> tuple[Any, Any, Any, Any]:
    from rankstack.datasets import load_corpus, load_qrels, load_queries
    from rankstack.retrieve import BM25

    corpus = load_corpus("beir/scifact")
    queries = load_queries("beir/scifact/test")
    queries = queries.slice(offset, min(len(queries), offset + n_queries))
    qrels = load_qrels("beir/scifact/test")
    run = BM25.from_corpus(corpus, k=depth).transform(queries)
    return corpus, queries, qrels, run


def score(run: Any, base: Any, qrels: Any) -> dict[str, float]:
    from rankstack.evaluate import evaluate_per_query
    from rankstack.evaluate.significance import paired_t_test

    a = evaluate_per_query(run, qrels, "nDCG@10")
    b = evaluate_per_query(base, qrels, "nDCG@10")
    va = dict(zip(a.qids, a.values["nDCG@10"]))
    vb = dict(zip(b.qids, b.values["nDCG@10"]))
    keys = sorted(set(va) & set(vb))
    x = np.array([va[k] for k in keys])
    y = np.array([vb[k] for k in keys])
    p = float(paired_t_test(x, y)) if len(keys) > 1 and not np.allclose(x, y) else 1.0
    return {"ndcg@10": float(x.mean()), "delta": float((x - y).mean()), "p": p, "n": len(keys)}


def quality(args: argparse.Namespace, out: dict[str, Any]) -> None:
    from rankstack.exceptions import DataError
    from rankstack.llm import llm_reranker, make_backend

    corpus, queries, qrels, run = scifact(args.queries, args.depth, args.offset)
    nq = len(queries)
    rows = out.setdefault("quality", [])
    base = score(run, run, qrels)
    rows.append({"model": "-", "method": "BM25", **base, "s_per_query": 0.0})
    print(f"BM25 top {args.depth}, {nq} queries: nDCG@10 {base['ndcg@10']:.4f}", flush=True)
    ce = Path(args.cross_encoder)
    if (ce / "config.json").is_file():
        from rankstack.rerank.cross_encoder import CrossEncoder

        t0 = time.perf_counter()
        # the length it was trained at (rankstack_train.json), 128 for folders without one
        meta = ce / "rankstack_train.json"
        length = json.loads(meta.read_text())["config"]["max_length"] if meta.is_file() else 128
        ranked = CrossEncoder(str(ce), corpus=corpus, max_length=length).transform(queries, run)
        secs = (time.perf_counter() - t0) / nq
        rows.append(
            {
                "model": ce.name,
                "method": "cross-encoder",
                "max_length": length,
                **score(ranked, run, qrels),
                "s_per_query": secs,
            }
        )
        print(f"  cross-encoder {rows[-1]['ndcg@10']:.4f} {secs:.2f} s/q", flush=True)
    for model in args.models:
        t0 = time.perf_counter()
        be = make_backend("transformers", model, batch_size=args.batch_size)
        load_s = time.perf_counter() - t0
        print(
            f"{model}: loaded in {load_s:.1f} s ({be.identity().get('sha256', '')[:12]})",
            flush=True,
        )
        for label in args.methods:
            method, params = METHODS[label]
            one_prompt = method == "full-list" or params.get("window", 1) is None
            if args.depth != 20 and one_prompt and "max_new_tokens" in params:
                # one prompt holds every candidate: the answer's budget (set for 20) grows with them
                params = {**params, "max_new_tokens": params["max_new_tokens"] * args.depth // 20}
            try:
                stage = llm_reranker(
                    method,
                    be,
                    corpus,
                    top_k=args.depth,
                    max_passage_tokens=args.passage_tokens,
                    **params,
                )
            except DataError as exc:  # a setting the method refuses: say so, run the others
                rows.append({"model": model, "method": label, "error": str(exc)})
                print(f"  {label:18s} not run: {exc}", flush=True)
                continue
            t0 = time.perf_counter()
            ranked = stage.transform(queries, run)
            secs = (time.perf_counter() - t0) / nq
            c = ranked.metadata["llm"]["counts"]
            row = {
                "model": model,
                "method": label,
                **score(ranked, run, qrels),
                "s_per_query": secs,
                "calls_per_query": c["backend_calls"] / nq,
                "parse_repaired": c.get("parse_repaired", 0),
                "parse_unparseable": c.get("parse_unparseable", 0),
                "parse_answers": c.get("parse_answers", 0),
                "failed": c.get("failed_responses", 0),
                "passages_truncated": c.get("passages_truncated", 0),
                "load": os.getloadavg()[0],
            }
            rows.append(row)
            if args.out:  # partial results survive an interrupted run
                args.out.write_text(json.dumps(out, indent=1) + "\n")
            print(
                f"  {label:18s} nDCG@10 {row['ndcg@10']:.4f} ({row['delta']:+.4f}, "
                f"p={row['p']:.3f}) "
                f"{secs:6.2f} s/q, {row['calls_per_query']:.1f} calls/q, repaired "
                f"{row['parse_repaired']}/{row['parse_answers']}, load {row['load']:.1f}",
                flush=True,
            )
        be.close()
        del be


def http(args: argparse.Namespace, out: dict[str, Any]) -> None:
    from rankstack.llm import FullListReranker, ListwiseReranker
    from rankstack.llm.backends.base import Decoding, Prompt
    from rankstack.llm.backends.openai_http import OpenAIBackend
    from rankstack.llm.testing import StubBehaviour, stub_openai_server

    res = out.setdefault("http", {"throughput": [], "calls": []})
    prompts = [
        Prompt.chat(None, f"[1] passage {i}\n[2] other passage") for i in range(args.http_requests)
    ]
    for delay in (0.0, 0.05):
        mode = "slow" if delay else "reverse"
        with stub_openai_server(StubBehaviour(mode=mode, delay=delay)) as (url, _):
            for conc in (1, 8, 32):
                be = OpenAIBackend(url, "stub", concurrency=conc)
                be.generate(prompts[:4], Decoding(max_new_tokens=8))  # warm-up
                t0 = time.perf_counter()
                got = be.generate(prompts, Decoding(max_new_tokens=8))
                secs = time.perf_counter() - t0
                be.close()
                ok = sum(g is not None for g in got)
                res["throughput"].append(
                    {
                        "stub_delay_s": delay,
                        "concurrency": conc,
                        "requests": len(prompts),
                        "ok": ok,
                        "rps": len(prompts) / secs,
                    }
                )
                print(
                    f"http stub delay {delay:.2f} s, concurrency {conc:2d}: "
                    f"{len(prompts) / secs:8.1f} requests/s",
                    flush=True,
                )
    corpus, queries, _, run = scifact(10, 100)
    with stub_openai_server() as (url, state):
        be = OpenAIBackend(url, "stub", concurrency=8, context_length=32768)
        for label, stage in (
            ("sliding window 20/10", ListwiseReranker(be, corpus, window=20, stride=10, top_k=100)),
            ("full list", FullListReranker(be, corpus, top_k=100)),
        ):
            before = len(state.bodies)
            ranked = stage.transform(queries, run)
            bodies = state.bodies[before:]
            chars = sum(len(m["content"]) for b in bodies for m in b["messages"])
            c = ranked.metadata["llm"]["counts"]
            res["calls"].append(
                {
                    "strategy": label,
                    "candidates": 100,
                    "calls_per_query": c["backend_calls"] / len(queries),
                    "prompt_tokens_per_query": chars / 4 / len(queries),
                }
            )
            last = res["calls"][-1]
            print(
                f"{label}: {last['calls_per_query']:.1f} calls and "
                f"~{last['prompt_tokens_per_query']:.0f} prompt tokens per query",
                flush=True,
            )


def lora(args: argparse.Namespace, out: dict[str, Any]) -> None:
    from rankstack.llm import FirstReranker
    from rankstack.llm.backends.hf import TransformersBackend

    info = json.loads((Path(args.adapter).parent / "training.json").read_text())
    window = int(info["config"]["window"])
    depth = args.lora_depth or window
    corpus, queries, qrels, run = scifact(args.lora_queries, depth)
    nq = len(queries)
    res: dict[str, Any] = {
        "shifts": args.lora_shifts,
        "queries": nq,
        "training": {k: info[k] for k in ("examples", "steps", "seconds", "config")},
    }
    res["bm25"] = score(run, run, qrels)
    base_model = info["base_model"]["name"]
    for label, adapter in (("base", None), ("lora", args.adapter)):
        be = TransformersBackend(base_model, adapter=adapter, batch_size=args.batch_size)
        stage = FirstReranker(
            be,
            corpus,
            window=window,
            stride=max(1, window // 2),
            top_k=depth,
            shifts=args.lora_shifts,
            max_passage_tokens=info["config"]["max_passage_tokens"],
        )
        t0 = time.perf_counter()
        ranked = stage.transform(queries, run)
        res[label] = {**score(ranked, run, qrels), "s_per_query": (time.perf_counter() - t0) / nq}
        print(
            f"FIRST {label}: nDCG@10 {res[label]['ndcg@10']:.4f} "
            f"({res[label]['delta']:+.4f} vs BM25, p={res[label]['p']:.3f})",
            flush=True,
        )
    out["lora"] = res


def main() -> None:
    ap = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    ap.add_argument("--quick", action="store_true")
    ap.add_argument("--json", action="store_true", help="print the results as JSON")
    ap.add_argument("--out", type=Path, help="also write the JSON here")
    ap.add_argument("--sections", default="quality,http")
    ap.add_argument("--queries", type=int, default=None)
    ap.add_argument("--offset", type=int, default=0, help="skip the first N test queries")
    ap.add_argument("--depth", type=int, default=None)
    ap.add_argument("--models", default=None)
    ap.add_argument("--methods", default=None)
    ap.add_argument("--passage-tokens", type=int, default=48)
    ap.add_argument("--batch-size", type=int, default=16)
    ap.add_argument("--http-requests", type=int, default=200)
    ap.add_argument("--cross-encoder", default="/work/models/ce-scifact")
    ap.add_argument("--adapter", default=None)
    ap.add_argument("--lora-queries", type=int, default=100)
    ap.add_argument("--lora-shifts", type=int, default=1, help="FIRST's cyclic shifts")
    ap.add_argument("--lora-depth", type=int, default=None, help="default: the training window")
    args = ap.parse_args()
    args.queries = args.queries or (50 if args.quick else 300)
    args.depth = args.depth or 20
    args.models = (
        args.models or ("smollm2-135m" if args.quick else "smollm2-135m,qwen2.5-coder-0.5b")
    ).split(",")
    args.models = [m for m in args.models if m not in ("", "none")]  # none: BM25 and the CE only
    args.methods = (args.methods or ",".join(QUICK_METHODS if args.quick else list(METHODS))).split(
        ","
    )
    os.environ.setdefault("RANKSTACK_DATA", str(ROOT.parent / "shared" / "datasets"))
    out: dict[str, Any] = {
        "machine": machine(),
        "args": {k: (str(v) if isinstance(v, Path) else v) for k, v in vars(args).items()},
    }
    t0 = time.perf_counter()
    sections = args.sections.split(",")
    if "quality" in sections:
        quality(args, out)
    if "http" in sections:
        http(args, out)
    if "lora" in sections:
        if not args.adapter:
            sys.exit("--sections lora needs --adapter OUTPUT/adapter")
        lora(args, out)
    out["seconds"] = time.perf_counter() - t0
    out["machine"]["load_end"] = os.getloadavg()
    text = json.dumps(out, indent=1)
    if args.out:
        args.out.write_text(text + "\n")
    if args.json:
        print(text)
    print(f"total {out['seconds']:.0f} s", file=sys.stderr)


if __name__ == "__main__":
    main()
