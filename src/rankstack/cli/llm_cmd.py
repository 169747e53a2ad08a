"""``rankstack llm-rerank`` and ``rankstack train-llm-reranker``.

``llm-rerank`` re-ranks a TREC run (or BM25's top-k over the corpus when no run is given)
with an LLM method and writes the new run plus its metadata (model identity, template hash,
decoding settings, counts of cache hits, repairs, truncations and failures) as JSON next to it.
``train-llm-reranker`` fine-tunes a FIRST reranker with LoRA (:mod:`rankstack.llm.train_first`).
"""

from __future__ import annotations

import json
import time
from pathlib import Path

import typer

from rankstack.cli._app import app, console, console_err

_METHOD_HELP = (
    "first, listwise, full-list, pointwise, pointwise-grade, pointwise-grade-logits, pairwise, "
    "pairwise-bubble or reasoning."
)


@app.command("llm-rerank")
def llm_rerank_cmd(
    queries: str = typer.Option(..., "--queries", help="Queries: a path or a dataset split."),
    corpus: str = typer.Option(..., "--corpus", help="Corpus: a path or a dataset name."),
    output: Path = typer.Option(..., "--output", "-o", help="The re-ranked TREC run."),
    run: Path | None = typer.Option(
        None, "--run", help="Run to re-rank (default: BM25's top-k over the corpus)."
    ),
    method: str = typer.Option("first", "--method", help=_METHOD_HELP),
    model: str = typer.Option(
        "smollm2-135m", "--model", help="smollm2-135m, qwen2.5-coder-0.5b, a .gguf, a folder..."
    ),
    backend: str = typer.Option(
        "transformers", "--backend", help="transformers, llamacpp or openai."
    ),
    base_url: str | None = typer.Option(None, "--base-url", help="Endpoint of --backend openai."),
    adapter: str | None = typer.Option(None, "--adapter", help="LoRA adapter folder."),
    top_k: int = typer.Option(20, "--top-k", help="Candidates re-ranked per query."),
    window: int = typer.Option(20, "--window", help="Window size (0: the full list at once)."),
    stride: int = typer.Option(10, "--stride", help="Window stride."),
    passes: int = typer.Option(1, "--passes", help="Sliding-window sweeps / bubble passes."),
    template: str | None = typer.Option(None, "--template", help="Template name or file."),
    max_passage_tokens: int = typer.Option(100, "--max-passage-tokens", help="Tokens a passage."),
    max_new_tokens: int | None = typer.Option(None, "--max-new-tokens", help="Answer tokens."),
    cache: str | None = typer.Option(None, "--cache", help="Response cache folder."),
    batch_size: int = typer.Option(8, "--batch-size", help="Prompts per forward pass."),
    concurrency: int = typer.Option(8, "--concurrency", help="HTTP requests in flight."),
    qrels: str | None = typer.Option(
        None, "--qrels", help="Judgements: print nDCG@10 before and after."
    ),
    tag: str = typer.Option("rankstack-llm", "--tag", help="Run tag."),
) -> None:
    """Re-rank a run's top-k with an LLM and write the run and its metadata (OUTPUT.llm.json)."""
    from rankstack.datasets import load_corpus, load_queries
    from rankstack.io import write_run
    from rankstack.io.auto import read_run_file
    from rankstack.llm.stage import LLMRerank

    docs = load_corpus(corpus)
    qs = load_queries(queries)
    if run is not None:
        base = read_run_file(run)
    else:
        from rankstack.retrieve import BM25

        base = BM25.from_corpus(docs, k=top_k).transform(qs)
    stage = LLMRerank(
        method=method,
        model=model,
        backend=backend,
        base_url=base_url,
        adapter=adapter,
        corpus=docs,
        top_k=top_k,
        window=window or None,
        stride=stride,
        passes=passes,
        template=template,
        max_passage_tokens=max_passage_tokens,
        max_new_tokens=max_new_tokens,
        cache=cache,
        batch_size=batch_size,
        concurrency=concurrency,
    )
    t0 = time.perf_counter()
    out = stage.transform(qs, base)
    secs = time.perf_counter() - t0
    write_run(out, output, tag=tag)
    meta_path = output.with_name(output.name + ".llm.json")
    meta_path.write_text(json.dumps(out.metadata.get("llm", {}), indent=2, default=str) + "\n")
    counts = out.metadata.get("llm", {}).get("counts", {})
    console_err.print(
        f"re-ranked {out.n_queries:,} queries in {secs:.1f} s ({counts.get('backend_calls', 0)} "
        f"model calls, {counts.get('cache_hits', 0)} cached, {counts.get('parse_repaired', 0)} "
        f"repaired answers, {counts.get('failed_responses', 0)} failed); wrote {output} and "
        f"{meta_path.name}",
        highlight=False,
    )
    if qrels is not None:
        from rankstack.datasets import load_qrels
        from rankstack.evaluate import evaluate

        judged = load_qrels(qrels)
        before = evaluate(base, judged, "ndcg_cut_10")["nDCG@10"]
        after = evaluate(out, judged, "ndcg_cut_10")["nDCG@10"]
        console.print(f"nDCG@10 {before:.4f} -> {after:.4f}", highlight=False)


@app.command("train-llm-reranker")
def train_llm_reranker_cmd(
    corpus: str = typer.Option(..., "--corpus", help="Corpus: a path or a dataset name."),
    queries: str = typer.Option(..., "--queries", help="Training queries (path or split)."),
    qrels: str = typer.Option(..., "--qrels", help="Training judgements (path or split)."),
    output: Path = typer.Option(..., "--output", "-o", help="Output folder (adapter/...)."),
    base: str = typer.Option("smollm2-135m", "--base", help="Model to fine-tune with LoRA."),
    teacher: Path | None = typer.Option(
        None, "--teacher", help="A run whose scores are the labels (e.g. a cross-encoder's)."
    ),
    window: int = typer.Option(10, "--window", help="Passages a training window."),
    depth: int = typer.Option(20, "--depth", help="BM25 candidates negatives come from."),
    passage_tokens: int = typer.Option(48, "--passage-tokens", help="Tokens a passage."),
    epochs: int = typer.Option(1, "--epochs", help="Passes over the training queries."),
    max_queries: int | None = typer.Option(None, "--max-queries", help="Use this many queries."),
    max_steps: int | None = typer.Option(None, "--max-steps", help="Stop after this many steps."),
    lr: float = typer.Option(3e-4, "--lr", help="AdamW learning rate."),
    grad_accum: int = typer.Option(4, "--grad-accum", help="Windows an optimizer step."),
    lora_r: int = typer.Option(8, "--lora-r", help="LoRA rank."),
    lora_top_layers: int | None = typer.Option(
        None, "--lora-top-layers", help="LoRA on the top N layers only (cheaper backward)."
    ),
    loss: str = typer.Option(
        "weighted_ranknet", "--loss", help="weighted_ranknet or a rankstack.ltr.losses name."
    ),
    seed: int = typer.Option(0, "--seed", help="Seed of sampling, shuffling and LoRA init."),
    checkpoint_every: int = typer.Option(10, "--checkpoint-every", help="Steps a checkpoint."),
    resume: bool = typer.Option(True, "--resume/--no-resume", help="Continue a checkpoint."),
    threads: int | None = typer.Option(None, "--threads", help="torch CPU threads."),
) -> None:
    """Fine-tune a FIRST listwise reranker with LoRA on first-token logits (docs/llm.md)."""
    from rankstack.datasets import load_corpus, load_qrels, load_queries
    from rankstack.io.auto import read_run_file
    from rankstack.llm.train_first import (
        FirstTrainConfig,
        build_examples,
        train_first_reranker,
    )
    from rankstack.retrieve import BM25

    cfg = FirstTrainConfig(
        window=window,
        depth=depth,
        max_passage_tokens=passage_tokens,
        epochs=epochs,
        max_queries=max_queries,
        max_steps=max_steps,
        lr=lr,
        grad_accum=grad_accum,
        lora_r=lora_r,
        lora_alpha=2 * lora_r,
        lora_top_layers=lora_top_layers,
        loss=loss,
        seed=seed,
        checkpoint_every=checkpoint_every,
        threads=threads,
    )
    cfg.check()
    docs = load_corpus(corpus)
    qs = load_queries(queries)
    judged = load_qrels(qrels)
    run = BM25.from_corpus(docs, k=depth).transform(qs)
    teacher_run = read_run_file(teacher) if teacher is not None else None
    examples = build_examples(qs, judged, docs, run, cfg, teacher=teacher_run)
    console_err.print(
        f"training FIRST on {len(examples)} windows of {window} passages "
        f"({cfg.epochs} epoch(s), {grad_accum} windows a step)",
        highlight=False,
    )
    res = train_first_reranker(base, examples, output, cfg, resume=resume)
    console.print(
        f"trained {res.steps} steps on {res.examples} windows in {res.seconds:.0f} s; "
        f"final loss {res.losses[-1]:.4f}; adapter in {res.adapter}",
        highlight=False,
    )
