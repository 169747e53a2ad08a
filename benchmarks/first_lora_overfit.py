"""Can the LoRA FIRST student fit a handful of training windows? A capacity/gradient check.

    RANKSTACK_DATA=/work/shared/datasets OMP_NUM_THREADS=1 \
        .venv/bin/python benchmarks/first_lora_overfit.py --lr 1e-3 --windows 4 --epochs 30

Takes the first ``--windows`` SciFact train windows (BM25's top 10 in BM25's order, qrels
labels, as ``first_lora.py`` builds them) whose judged positive is *not* at A, trains the same
LoRA as the protocol (rank 8 on the top 8 layers, 48-token passages) on only those windows
for ``--epochs`` passes, and prints the loss per step and how many passages of each window
score above its positive before and after. If the loss cannot fall on four windows, the
trainer is broken; if it can, a failure on the full set is one of learning, not of plumbing.
Used after LoRA attempt 4 (docs/benchmarks.md); not part of any protocol.
"""

from __future__ import annotations

import argparse
import logging
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np


def above_positive(backend: Any, examples: list[Any]) -> list[int]:
    """Per window: the passages whose identifier logit beats the judged positive's."""
    import torch

    from rankstack.llm import FirstReranker
    from rankstack.llm.parse import LETTERS

    ranker = FirstReranker(backend, None, window=10, stride=1, top_k=10)
    out = []
    with torch.no_grad():
        for ex in examples:
            prompt = ranker.prompt(ex.query, backend.truncate(ex.passages, 48))
            scores = backend.forward_choice_logits([prompt], list(LETTERS[: len(ex.passages)]))
            s = scores[0].float().numpy()
            out.append(int((s > s[int(np.argmax(ex.labels))]).sum()))
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--base", default="smollm2-135m")
    ap.add_argument("--lr", type=float, default=1e-3)
    ap.add_argument("--windows", type=int, default=4)
    ap.add_argument("--epochs", type=int, default=30)
    args = ap.parse_args()
    logging.basicConfig(level=logging.INFO)

    from rankstack.datasets import load_corpus, load_qrels, load_queries
    from rankstack.llm.backends.hf import TransformersBackend
    from rankstack.llm.train_first import train_first_reranker
    from rankstack.retrieve import BM25

    sys.path.insert(0, str(Path(__file__).resolve().parent))
    import first_lora  # the protocol's own settings, so this trains exactly its LoRA

    corpus = load_corpus("beir/scifact")
    queries = load_queries("beir/scifact/train")
    qrels = load_qrels("beir/scifact/train")
    run = BM25.from_corpus(corpus, k=20).transform(queries)
    protocol = first_lora.parser().parse_args(
        [
            *("--work", "unused", "--out", "unused.json", "--base", args.base, "--window", "10"),
            *("--lr", str(args.lr), "--epochs", str(args.epochs)),
            *("--grad-accum", str(args.windows), "--threads", "1"),
        ]
    )  # only its settings are used: nothing is written to --work or --out
    cfg = first_lora.train_config(protocol)
    examples = [
        e
        for e in first_lora.training_examples(protocol, queries, qrels, corpus, run, None)
        if e.labels[0] == 0
    ][: args.windows]
    print("judged positive at BM25 rank", [int(np.argmax(e.labels)) + 1 for e in examples])
    print(
        "passages above the positive, base:",
        above_positive(TransformersBackend(args.base, threads=1), examples),
    )
    with tempfile.TemporaryDirectory() as tmp:
        t0 = time.perf_counter()
        res = train_first_reranker(args.base, examples, tmp, cfg, resume=False)
        print(f"{res.steps} steps in {time.perf_counter() - t0:.0f} s")
        print("loss per step:", [round(x, 4) for x in res.losses])
        tuned = TransformersBackend(args.base, adapter=res.adapter, threads=1)
        print("passages above the positive, tuned:", above_positive(tuned, examples))


if __name__ == "__main__":
    main()
