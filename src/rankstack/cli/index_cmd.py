"""``rankstack index`` and ``rankstack search``: build a BM25 index, write a TREC run."""

from __future__ import annotations

import time
from pathlib import Path

import typer

from rankstack.cli._app import app, console_err
from rankstack.exceptions import DataError


def _split_names(spec: str | None) -> list[str] | None:
    if spec is None:
        return None
    names = [s.strip() for s in spec.split(",") if s.strip()]
    if not names:
        raise DataError(f"--fields: expected comma-separated field names, found {spec!r}")
    return names


def parse_field_weights(spec: str | None) -> dict[str, float] | None:
    """``"title=1,text=0.5"`` (a bare name means weight 1) as a dict."""
    if spec is None:
        return None
    out: dict[str, float] = {}
    for part in spec.split(","):
        part = part.strip()
        if not part:
            continue
        name, sep, weight = part.partition("=")
        try:
            out[name.strip()] = float(weight) if sep else 1.0
        except ValueError:
            raise DataError(
                f"--fields: expected NAME=WEIGHT pairs such as title=1,text=1, found {part!r}"
            ) from None
    if not out:
        raise DataError(f"--fields: no fields in {spec!r}")
    return out


def _size(path: Path) -> int:
    return sum(p.stat().st_size for p in path.rglob("*") if p.is_file())


@app.command()
def index(
    corpus: str = typer.Argument(
        ...,
        help="Corpus: a path (BEIR folder or zip, JSONL, TSV, Parquet, cran.all.1400) or a "
        "dataset name such as beir/scifact.",
    ),
    output: Path = typer.Option(..., "--output", "-o", help="Index folder to write."),
    fields: str | None = typer.Option(
        None,
        "--fields",
        help="Corpus fields to index, comma-separated (default: all, title first).",
    ),
    multifield: bool = typer.Option(
        False,
        "--multifield",
        help="One index field per corpus field (default: one joined "
        "field 'contents', Pyserini's flat layout).",
    ),
    stemmer: str = typer.Option(
        "porter",
        "--stemmer",
        help="porter (Lucene's), english (Porter2), any Snowball language, or none.",
    ),
    stopwords: str = typer.Option(
        "lucene",
        "--stopwords",
        help="lucene (33 words), snowball (174), none, or a file with one word per line.",
    ),
    positions: bool = typer.Option(
        False, "--positions", help="Also store token positions (for proximity features)."
    ),
    threads: int = typer.Option(1, "--threads", help="2 overlaps splitting and analysis."),
    block_size: int = typer.Option(50_000, "--block-size", help="Documents per block."),
) -> None:
    """Build a BM25 index (Lucene-compatible English analysis) from a corpus."""
    from rankstack.datasets import load_corpus
    from rankstack.index import Tokenizer, build_index

    tok = Tokenizer(
        stemmer=None if stemmer.lower() == "none" else stemmer,
        stopwords=None if stopwords.lower() == "none" else stopwords,
    )
    t0 = time.perf_counter()
    docs = load_corpus(corpus)
    idx = build_index(
        docs,
        output,
        fields=_split_names(fields),
        multifield=multifield,
        tokenizer=tok,
        positions=positions,
        n_jobs=threads,
        block_size=block_size,
        progress=None,
    )
    secs = time.perf_counter() - t0
    console_err.print(
        f"indexed {idx.n_docs:,} documents, {idx.n_terms:,} terms, fields "
        f"{idx.field_names} into {output} ({_size(output) / 2**20:.1f} MiB, {secs:.1f} s)",
        highlight=False,
    )


@app.command()
def search(
    index_path: Path = typer.Argument(..., metavar="INDEX", help="Index folder."),
    queries: str = typer.Argument(
        ...,
        help="Queries: a path (TSV, JSONL, BEIR folder...) or a dataset name such as "
        "beir/scifact/test.",
    ),
    output: Path = typer.Option(..., "--output", "-o", help="TREC run file to write (.gz ok)."),
    k: int = typer.Option(1000, "-k", "--k", help="Documents per query."),
    variant: str = typer.Option(
        "lucene", "--variant", help="lucene, robertson, atire, bm25l or bm25+."
    ),
    k1: float = typer.Option(0.9, "--k1", help="BM25 k1."),
    b: float = typer.Option(0.4, "--b", help="BM25 b."),
    delta: float | None = typer.Option(None, "--delta", help="BM25L/BM25+ delta."),
    fields: str | None = typer.Option(
        None, "--fields", help="Field weights, e.g. title=1,text=1 (default: the index's field)."
    ),
    rm3: bool = typer.Option(False, "--rm3", help="Expand queries with RM3 (Anserini's)."),
    fb_docs: int = typer.Option(10, "--fb-docs", help="RM3 feedback documents."),
    fb_terms: int = typer.Option(10, "--fb-terms", help="RM3 expansion terms."),
    original_query_weight: float = typer.Option(
        0.5, "--original-query-weight", help="RM3 weight of the original query."
    ),
    tag: str = typer.Option("rankstack", "--tag", help="Run tag (last column)."),
    threads: int = typer.Option(1, "--threads", help="Threads over query batches."),
) -> None:
    """Retrieve with BM25 (optionally RM3) and write a TREC run."""
    from rankstack.datasets import load_queries
    from rankstack.index import Index
    from rankstack.io import write_run
    from rankstack.retrieve import BM25, RM3

    idx = Index.load(index_path)
    qs = load_queries(queries)
    t0 = time.perf_counter()
    bm25 = BM25(
        idx,
        k1=k1,
        b=b,
        variant=variant,
        delta=delta,
        k=k,
        fields=parse_field_weights(fields),
        n_jobs=threads,
    )
    stage: BM25 | RM3 = bm25
    if rm3:
        stage = RM3(
            bm25, fb_docs=fb_docs, fb_terms=fb_terms, original_query_weight=original_query_weight
        )
    run = stage.transform(qs)
    secs = time.perf_counter() - t0
    write_run(run, output, tag=tag)
    console_err.print(
        f"searched {len(qs):,} queries ({len(run):,} results) in {secs:.2f} s; wrote {output}",
        highlight=False,
    )
