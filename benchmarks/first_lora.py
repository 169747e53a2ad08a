"""The LoRA FIRST reranker on BEIR SciFact, end to end: train, choose on dev, test once.

    RANKSTACK_DATA=/work/shared/datasets OMP_NUM_THREADS=1 \\
        .venv/bin/python benchmarks/first_lora.py --work /work/models/first-lora-v2 \\
        --out first_lora.json

The protocol (fixed before any result was seen; docs/llm.md, "Training a FIRST reranker"):

1. **Carve.** SciFact's 809 train queries are split with a seeded permutation (``--seed``) into
   ``--dev`` dev queries and the rest for training. Test queries are not read until step 4.
2. **Train** (:func:`rankstack.llm.train_first.train_first_reranker`) on the training part:
   one window a query, BM25's top ``--window`` in BM25's order (``windows="retrieved"``, no
   shuffle), exactly the window :class:`~rankstack.llm.FirstReranker` re-ranks at test time;
   labels from the qrels; weighted RankNet; an adapter snapshot every ``--snapshot-every``
   steps.
3. **Choose** the checkpoint with the best dev nDCG@10 among the base model (step 0) and the
   snapshots (ties: the earliest), evaluated with the very pipeline used on test: BM25 (k1=0.9,
   b=0.4) top 20, the top ``--window`` re-ranked by FIRST in one window.
4. **Test once**: BM25 top 20 of all 300 test queries, the base model and the chosen adapter;
   nDCG@10, and the paired t-test of each against BM25.

Every phase stores its result in ``--out`` as it finishes and is skipped when found there, and
training resumes from its checkpoint, so an interrupted run continues where it stopped.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np

ROOT = Path(__file__).resolve().parents[1]


def ndcg_per_query(run: Any, qrels: Any) -> dict[str, float]:
    from rankstack.evaluate import evaluate_per_query

    res = evaluate_per_query(run, qrels, "nDCG@10")
    return {str(q): float(v) for q, v in zip(res.qids, res.values["nDCG@10"])}


def compare(run: Any, base: Any, qrels: Any) -> dict[str, float]:
    """nDCG@10 of ``run``, its mean difference to ``base`` and the paired t-test's p."""
    from rankstack.evaluate.significance import paired_t_test

    a, b = ndcg_per_query(run, qrels), ndcg_per_query(base, qrels)
    keys = sorted(set(a) & set(b))
    x = np.array([a[k] for k in keys])
    y = np.array([b[k] for k in keys])
    return {
        "ndcg@10": float(x.mean()),
        "delta": float((x - y).mean()),
        "p": float(paired_t_test(x, y)),
        "wins": int((x > y).sum()),
        "losses": int((x < y).sum()),
        "n": len(keys),
    }


def first_run(
    args: argparse.Namespace, adapter: str | None, corpus: Any, queries: Any, run: Any
) -> tuple[Any, float]:
    from rankstack.llm import FirstReranker
    from rankstack.llm.backends.hf import TransformersBackend

    be = TransformersBackend(
        args.base, adapter=adapter, batch_size=args.batch_size, threads=args.threads
    )
    stage = FirstReranker(
        be,
        corpus,
        window=args.window,
        stride=1,
        top_k=args.window,
        max_passage_tokens=args.passage_tokens,
    )
    t0 = time.perf_counter()
    ranked = stage.transform(queries, run)
    secs = (time.perf_counter() - t0) / len(queries)
    be.close()
    return ranked, secs


def save(args: argparse.Namespace, out: dict[str, Any]) -> None:
    args.out.write_text(json.dumps(out, indent=1) + "\n")


def main() -> None:
    ap = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    ap.add_argument("--work", type=Path, required=True, help="adapter, snapshots, checkpoint")
    ap.add_argument("--out", type=Path, required=True, help="results (JSON), also the resume log")
    ap.add_argument("--base", default="smollm2-135m")
    ap.add_argument("--dev", type=int, default=100, help="train queries carved out for dev")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--window", type=int, default=5)
    ap.add_argument("--passage-tokens", type=int, default=48)
    ap.add_argument("--lr", type=float, default=1e-4)
    ap.add_argument("--epochs", type=int, default=1)
    ap.add_argument("--grad-accum", type=int, default=4)
    ap.add_argument("--lora-r", type=int, default=8)
    ap.add_argument("--lora-top-layers", type=int, default=8)
    ap.add_argument("--snapshot-every", type=int, default=45)
    ap.add_argument("--max-steps", type=int, default=None)
    ap.add_argument("--batch-size", type=int, default=4)
    ap.add_argument("--threads", type=int, default=None)
    ap.add_argument("--phases", default="train,dev,test")
    args = ap.parse_args()
    os.environ.setdefault("RANKSTACK_DATA", str(ROOT.parent / "shared" / "datasets"))
    logging_setup()

    from rankstack.datasets import load_corpus, load_qrels, load_queries
    from rankstack.llm.train_first import FirstTrainConfig, build_examples, train_first_reranker
    from rankstack.retrieve import BM25

    out: dict[str, Any] = json.loads(args.out.read_text()) if args.out.is_file() else {}
    out.setdefault("args", {k: str(v) for k, v in vars(args).items()})
    phases = args.phases.split(",")
    corpus = load_corpus("beir/scifact")
    bm25 = BM25.from_corpus(corpus, k=20)  # Anserini's k1=0.9, b=0.4
    train_q = load_queries("beir/scifact/train")
    train_qrels = load_qrels("beir/scifact/train")
    perm = np.random.default_rng(args.seed).permutation(len(train_q))
    qids = train_q.qid_list()
    dev_q = train_q.select([qids[i] for i in np.sort(perm[: args.dev])])
    fit_q = train_q.select([qids[i] for i in np.sort(perm[args.dev :])])
    cfg = FirstTrainConfig(
        window=args.window,
        depth=20,
        max_passage_tokens=args.passage_tokens,
        epochs=args.epochs,
        max_steps=args.max_steps,
        lr=args.lr,
        grad_accum=args.grad_accum,
        lora_r=args.lora_r,
        lora_alpha=2 * args.lora_r,
        lora_top_layers=args.lora_top_layers,
        shuffle=False,
        windows="retrieved",
        seed=args.seed,
        checkpoint_every=10,
        snapshot_every=args.snapshot_every,
        threads=args.threads,
    )

    if "train" in phases and "train" not in out:
        examples = build_examples(fit_q, train_qrels, corpus, bm25.transform(fit_q), cfg)
        first_pos = np.bincount([int(np.argmax(e.labels)) for e in examples], minlength=cfg.window)
        print(
            f"{len(fit_q)} training queries, {len(dev_q)} dev; {len(examples)} windows "
            f"(first positive at A..: {first_pos.tolist()})",
            flush=True,
        )
        res = train_first_reranker(args.base, examples, args.work, cfg, progress=True)
        out["train"] = {
            "queries": len(fit_q),
            "dev_queries": len(dev_q),
            "windows": len(examples),
            "first_positive_at": first_pos.tolist(),
            "steps": res.steps,
            "seconds": res.seconds,
            "losses": res.losses,
            "load": os.getloadavg(),
            "date": time.strftime("%Y-%m-%d %H:%M:%S UTC", time.gmtime()),
        }
        save(args, out)

    if "dev" in phases:
        dev_run = bm25.transform(dev_q)
        dev = out.setdefault("dev", {"bm25": compare(dev_run, dev_run, train_qrels)})
        snaps = sorted((args.work / "snapshots").glob("step-*"))
        candidates: list[tuple[str, str | None]] = [("step-000000", None)]
        candidates += [(s.name, str(s)) for s in snaps]
        for name, adapter in candidates:
            if name in dev:
                continue
            ranked, secs = first_run(args, adapter, corpus, dev_q, dev_run)
            dev[name] = {**compare(ranked, dev_run, train_qrels), "s_per_query": secs}
            dev[name]["load"] = os.getloadavg()[0]
            print(f"dev {name}: {json.dumps(dev[name])}", flush=True)
            save(args, out)
        names = [n for n, _ in candidates]
        best = max(names, key=lambda n: (dev[n]["ndcg@10"], -names.index(n)))
        out["chosen"] = best
        save(args, out)
        print(f"chosen on dev: {best}", flush=True)

    if "test" in phases and "test" not in out:
        if "chosen" not in out:
            sys.exit("the test phase needs the dev phase's choice first")
        test_q = load_queries("beir/scifact/test")
        test_qrels = load_qrels("beir/scifact/test")
        run = bm25.transform(test_q)
        test: dict[str, Any] = {"bm25": compare(run, run, test_qrels)}
        chosen = out["chosen"]
        adapter = None if chosen == "step-000000" else str(args.work / "snapshots" / chosen)
        systems: list[tuple[str, str | None]] = [("base", None)]
        if adapter is not None:
            systems.append(("lora", adapter))
        for label, path in systems:
            ranked, secs = first_run(args, path, corpus, test_q, run)
            test[label] = {**compare(ranked, run, test_qrels), "s_per_query": secs}
            test[label]["load"] = os.getloadavg()[0]
            print(f"test {label}: {json.dumps(test[label])}", flush=True)
        test["date"] = time.strftime("%Y-%m-%d %H:%M:%S UTC", time.gmtime())
        out["test"] = test
        save(args, out)


def logging_setup() -> None:
    import logging

    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(message)s")
    logging.getLogger("httpx").setLevel(logging.WARNING)


if __name__ == "__main__":
    main()
