"""``rankstack batch``: run a saved pipeline over many queries on a Dask cluster."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

import typer
from rich.markup import escape
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

from rankstack.cli._app import app, console, console_err


@contextmanager
def _bar(enabled: bool) -> Iterator[Callable[[int, int], None] | None]:
    """A rich bar on stderr counting finished queries; yields its update callback."""
    if not enabled:
        yield None
        return
    bar = Progress(
        TextColumn("queries"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        console=console_err,
        transient=True,
    )
    task = bar.add_task("queries", total=None)

    def update(done: int, total: int) -> None:
        if not bar.live.is_started:  # shown from the first finished partition: an error
            bar.start()  # raised before it (a bad folder) stays one clean line
        bar.update(task, completed=done, total=total)

    try:
        yield update
    finally:
        if bar.live.is_started:
            bar.stop()


@app.command()
def batch(
    folder: Path = typer.Argument(..., help="A saved pipeline (rankstack pipeline fit -o)."),
    queries: str = typer.Argument(
        ..., help="Queries: a dataset with a split (beir/scifact/test) or a queries file."
    ),
    output: Path = typer.Option(..., "--output", "-o", help="TREC run file to write."),
    scheduler: str = typer.Option(
        "local",
        "--scheduler",
        help="'local' (start a local Dask cluster), a scheduler address (tcp://host:8786), "
        "or 'none' (this process only).",
    ),
    workers: int = typer.Option(
        2, "--workers", help="Worker processes of a local cluster (one thread each)."
    ),
    partitions: int | None = typer.Option(
        None, "--partitions", help="Query partitions (default: 4 per worker thread)."
    ),
    memory_limit: str = typer.Option(
        "auto", "--memory-limit", help="Memory limit per local worker (e.g. 4GiB; 'auto')."
    ),
    index: Path | None = typer.Option(
        None, "--index", help="The index to use (default: the one it was fitted on)."
    ),
    allow_index_mismatch: bool = typer.Option(
        False,
        "--allow-index-mismatch",
        help="Apply the pipeline to an index other than the one it was fitted on.",
    ),
    retries: int = typer.Option(
        0, "--retries", help="Extra attempts of a partition that raised an error."
    ),
    tag: str = typer.Option("rankstack", "--tag", help="Run tag (TREC's last column)."),
    dashboard: bool = typer.Option(
        True, "--dashboard/--no-dashboard", help="Serve the local cluster's Dask dashboard."
    ),
    quiet: bool = typer.Option(False, "--quiet", "-q", help="No dashboard link or progress."),
) -> None:
    """Run a saved pipeline on QUERIES, partitioned over Dask workers; the run is identical
    to 'rankstack pipeline run'."""
    from rankstack.batch import dashboard_link, dask_client, run_batch
    from rankstack.datasets import load_queries
    from rankstack.io import write_run

    qs = load_queries(queries)
    limit = None if memory_limit.lower() in ("none", "0") else memory_limit
    with dask_client(
        scheduler, workers=workers, dashboard=dashboard and not quiet, memory_limit=limit
    ) as client:
        n_workers = 1 if client is None else len(client.nthreads())
        if client is not None and not quiet:
            link = dashboard_link(client) if dashboard else None
            console_err.print(
                f"[dim]Dask: {n_workers} workers"
                + (f"; dashboard {escape(link)}" if link else "")
                + "[/]",
                highlight=False,
                soft_wrap=True,
            )
        start = time.perf_counter()
        with _bar(not quiet) as update:
            run = run_batch(
                folder,
                qs,
                client=client,
                partitions=partitions,
                index=index,
                allow_index_mismatch=allow_index_mismatch,
                retries=retries,
                progress=update,
            )
        secs = time.perf_counter() - start
    write_run(run, output, tag=tag)
    if not quiet:
        console.print(
            f"ran {len(qs):,} queries ({len(run):,} results) in {secs:.2f} s on "
            f"{n_workers} worker{'s' if n_workers != 1 else ''}; wrote {escape(str(output))}",
            highlight=False,
            soft_wrap=True,
        )
