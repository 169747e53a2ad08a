"""``rankstack dense``: encode a corpus into an embedding cache, index it, search it, RankMe.

The steps mirror ``rankstack index`` / ``rankstack search``::

    rankstack dense encode MODEL CORPUS -o CACHE      # embed the documents (incremental)
    rankstack dense index CACHE -o INDEX --kind hnsw  # build a vector index from the cache
    rankstack dense search INDEX QUERIES -o RUN       # write a TREC run
    rankstack dense rankme MODEL CORPUS               # effective rank of the embeddings
"""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any

import typer

from rankstack.cli._app import app, console, console_err

dense_app = typer.Typer(
    name="dense",
    help="Dense retrieval: encode a corpus, build a vector index, search it, RankMe.",
    no_args_is_help=True,
    rich_markup_mode="rich",
)
app.add_typer(dense_app, name="dense")

_MODEL_HELP = (
    "Model: a sentence-transformers folder or a Hugging Face hub name such as "
    "sentence-transformers/all-MiniLM-L6-v2."
)
_CORPUS_HELP = "Corpus: a path (BEIR folder or zip, JSONL, TSV, Parquet) or a dataset name."


def _fields(spec: str | None) -> list[str] | None:
    from rankstack.cli.index_cmd import _split_names

    return _split_names(spec)


def _size(path: Path) -> float:
    return sum(p.stat().st_size for p in path.rglob("*") if p.is_file()) / 2**20


@dense_app.command("encode")
def encode_cmd(
    model: str = typer.Argument(..., help=_MODEL_HELP),
    corpus: str = typer.Argument(..., help=_CORPUS_HELP),
    output: Path = typer.Option(..., "--output", "-o", help="Embedding cache folder."),
    dtype: str = typer.Option("float32", "--dtype", help="float32, float16 or int8."),
    batch_size: int = typer.Option(64, "--batch-size", help="Texts per forward pass."),
    doc_prefix: str = typer.Option(
        "", "--doc-prefix", help='Prepended to documents ("passage: ").'
    ),
    fields: str | None = typer.Option(
        None,
        "--fields",
        help="Corpus fields to embed, comma-separated (default: all, title first).",
    ),
    no_normalize: bool = typer.Option(False, "--no-normalize", help="Keep raw embeddings."),
    device: str = typer.Option("cpu", "--device", help="Torch device (cpu, cuda)."),
    rebuild: bool = typer.Option(
        False, "--rebuild", help="Replace a cache of another model or setting (else refused)."
    ),
) -> None:
    """Embed a corpus into a cache folder (only new or changed documents are encoded)."""
    from rankstack.datasets import load_corpus
    from rankstack.dense import BiEncoder

    docs = load_corpus(corpus)
    stage = BiEncoder(
        model,
        corpus=docs,
        batch_size=batch_size,
        normalize=not no_normalize,
        doc_prefix=doc_prefix,
        cache_dir=output,
        dtype=dtype,
        fields=_fields(fields),
        device=device,
        rebuild=rebuild,
    )
    t0 = time.perf_counter()
    emb = stage.doc_embeddings()
    secs = time.perf_counter() - t0
    console_err.print(
        f"embedded {len(docs):,} documents ({emb.shape[1]}-d, {dtype}) with "
        f"{stage.identity_} into {output} ({_size(output):.1f} MiB, {secs:.1f} s)",
        highlight=False,
    )


@dense_app.command("index")
def index_cmd(
    cache: Path = typer.Argument(..., metavar="CACHE", help="Embedding cache folder."),
    output: Path = typer.Option(..., "--output", "-o", help="Vector index folder to write."),
    kind: str = typer.Option("exact", "--kind", help="exact, hnsw or ivf."),
    m: int = typer.Option(16, "--m", help="HNSW: links per node."),
    ef_construction: int = typer.Option(100, "--ef-construction", help="HNSW: build beam."),
    ef_search: int = typer.Option(64, "--ef-search", help="HNSW: search beam."),
    nlist: int | None = typer.Option(None, "--nlist", help="IVF: cells (default 4 sqrt(n))."),
    nprobe: int = typer.Option(16, "--nprobe", help="IVF: cells visited per query."),
) -> None:
    """Build a vector index from an embedding cache."""
    from rankstack.dense import EmbeddingCache, VectorIndex

    emb = EmbeddingCache.open(cache)
    params: dict[str, Any] = {}
    if kind == "hnsw":
        params = {"M": m, "ef_construction": ef_construction, "ef_search": ef_search}
    elif kind == "ivf":
        params = {"nlist": nlist, "nprobe": nprobe}
    meta = {
        "model": emb.model.to_json(),
        "corpus_version": emb.corpus_version,
        "dtype": emb.dtype,
        "settings": emb.settings,
        "cache": str(cache),
    }
    index = VectorIndex.build(emb.embeddings(), emb.docids, kind, metadata=meta, **params)
    index.save(output)
    console_err.print(
        f"indexed {len(index):,} vectors ({index.dim}-d, {kind}) into {output} "
        f"({_size(output):.1f} MiB, built in {index.build_seconds:.1f} s)",
        highlight=False,
    )


@dense_app.command("search")
def search_cmd(
    index_path: Path = typer.Argument(..., metavar="INDEX", help="Vector index folder."),
    queries: str = typer.Argument(
        ..., help="Queries: a path (TSV, JSONL, BEIR folder...) or a dataset split name."
    ),
    output: Path = typer.Option(..., "--output", "-o", help="TREC run file to write (.gz ok)."),
    model: str | None = typer.Option(
        None, "--model", help="Query encoder (default: the model the index was built with)."
    ),
    k: int = typer.Option(1000, "-k", "--k", help="Documents per query."),
    query_prefix: str = typer.Option(
        "", "--query-prefix", help='Prepended to queries ("query: ").'
    ),
    batch_size: int = typer.Option(64, "--batch-size", help="Queries per forward pass."),
    ef_search: int | None = typer.Option(None, "--ef-search", help="HNSW search beam."),
    nprobe: int | None = typer.Option(None, "--nprobe", help="IVF cells visited per query."),
    device: str = typer.Option("cpu", "--device", help="Torch device (cpu, cuda)."),
    tag: str = typer.Option("rankstack-dense", "--tag", help="Run tag (last column)."),
) -> None:
    """Retrieve with a bi-encoder over a vector index and write a TREC run."""
    from rankstack.datasets import load_queries
    from rankstack.dense import BiEncoder
    from rankstack.exceptions import DataError
    from rankstack.io import write_run

    search_params = {"ef_search": ef_search, "nprobe": nprobe}
    given = {k_: v for k_, v in search_params.items() if v is not None}
    name = model
    if name is None:
        from rankstack.dense import _store
        from rankstack.dense.vector_index import FORMAT_NAME, FORMAT_VERSION, HINT, WHAT

        manifest = _store.read_manifest(index_path, FORMAT_NAME, FORMAT_VERSION, WHAT, HINT)
        name = manifest.get("metadata", {}).get("model", {}).get("name")
        if not name:
            raise DataError(f"the vector index {index_path} does not name its model: give --model")
    qs = load_queries(queries)
    t0 = time.perf_counter()
    stage = BiEncoder(
        name,
        index=index_path,
        k=k,
        batch_size=batch_size,
        query_prefix=query_prefix,
        index_params=given or None,
        device=device,
    )
    run = stage.transform(qs)
    secs = time.perf_counter() - t0
    write_run(run, output, tag=tag)
    console_err.print(
        f"searched {len(qs):,} queries ({len(run):,} results) in {secs:.2f} s; wrote {output}",
        highlight=False,
    )


@dense_app.command("rankme")
def rankme_cmd(
    model: str = typer.Argument(..., help=_MODEL_HELP),
    corpus: str = typer.Argument(..., help=_CORPUS_HELP),
    samples: int = typer.Option(
        25_600, "--samples", help="Documents sampled (the paper's 25,600; 0 = all)."
    ),
    cache: Path | None = typer.Option(None, "--cache", help="Embedding cache to use or fill."),
    batch_size: int = typer.Option(64, "--batch-size", help="Texts per forward pass."),
    doc_prefix: str = typer.Option("", "--doc-prefix", help="Prepended to documents."),
    seed: int = typer.Option(0, "--seed", help="Seed of the sample."),
    device: str = typer.Option("cpu", "--device", help="Torch device (cpu, cuda)."),
    as_json: bool = typer.Option(False, "--json", help="Print one JSON object."),
) -> None:
    """RankMe (effective rank, Garrido et al. 2023) of a model's document embeddings."""
    from rankstack.datasets import load_corpus
    from rankstack.dense import BiEncoder

    docs = load_corpus(corpus)
    if cache is None and 0 < samples < len(docs):
        import numpy as np

        # without a cache, embed only the sample
        rows = np.sort(np.random.default_rng(seed).choice(len(docs), samples, replace=False))
        docs = docs.take(rows)
    stage = BiEncoder(
        model,
        corpus=docs,
        batch_size=batch_size,
        doc_prefix=doc_prefix,
        cache_dir=cache,
        device=device,
    )
    value = stage.rank_me(max_samples=samples or None, seed=seed)
    n_used = min(len(docs), samples) if samples else len(docs)
    emb_dim = stage.dim
    if as_json:
        out = {
            "model": stage.identity_.to_json(),
            "documents": n_used,
            "dim": emb_dim,
            "rankme": value,
        }
        console.print_json(json.dumps(out))
    else:
        console.print(
            f"RankMe {value:.2f} of {emb_dim} dimensions ({n_used:,} documents, {stage.identity_})",
            highlight=False,
        )
