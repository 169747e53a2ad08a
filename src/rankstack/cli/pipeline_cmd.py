"""``rankstack experiment`` and ``rankstack pipeline fit|run|describe``.

``experiment`` fits, runs and compares the systems of an experiment file and writes the table,
JSON, CSV, runs and the HTML report; ``pipeline`` fits one pipeline described in a TOML file,
saves it as a folder, and applies a saved folder to queries.
"""

from __future__ import annotations

import json
import time
from pathlib import Path

import typer
from rich.markup import escape

from rankstack.cli._app import app, console

pipeline_app = typer.Typer(
    name="pipeline",
    help="Fit a pipeline described in a TOML file, save it, and run a saved one.",
    no_args_is_help=True,
    rich_markup_mode="rich",
)
app.add_typer(pipeline_app, name="pipeline")


@app.command()
def experiment(
    file: Path = typer.Argument(..., help="Experiment TOML file (see examples/scifact.toml)."),
    json_out: Path | None = typer.Option(
        None, "--json", help="Also write the results as JSON to this file."
    ),
    csv_out: Path | None = typer.Option(
        None, "--csv", help="Also write means and p-values as CSV to this file."
    ),
    runs_dir: Path | None = typer.Option(
        None, "--runs", help="Also write each system's run as a TREC file into this folder."
    ),
    report: Path | None = typer.Option(
        None,
        "--report",
        help="Write the HTML report here (default: next to --json, else runs/NAME.html).",
    ),
    no_report: bool = typer.Option(False, "--no-report", help="Do not write the HTML report."),
    cache_dir: Path | None = typer.Option(
        None,
        "--cache",
        help="Cache folder: indexes/ and runs/ (default: RANKSTACK_HOME/indexes and "
        "RANKSTACK_HOME/cache/runs).",
    ),
    no_cache: bool = typer.Option(
        False, "--no-cache", help="Recompute every run and feature (indexes are still reused)."
    ),
    save_models: Path | None = typer.Option(
        None,
        "--save-models",
        help="Save each fitted system as a pipeline folder here (with cross-validation, "
        "one folder per fold: NAME/fold-1 ...).",
    ),
    quiet: bool = typer.Option(False, "--quiet", "-q", help="Print only the table."),
) -> None:
    """Run an experiment: fit the learned systems, run all, compare them with the baseline."""
    from rankstack.experiment import Experiment
    from rankstack.experiment.runner import slug

    start = time.perf_counter()
    exp = Experiment.from_toml(file, cache_dir=cache_dir, use_cache=not no_cache)
    result = exp.run(console=None if quiet else console, save_dir=save_models)
    console.print(result.table())
    wrote: list[str] = []
    if json_out is not None:
        result.to_json(json_out)
        wrote.append(str(json_out))
    if csv_out is not None:
        result.comparison.to_csv(csv_out)
        wrote.append(str(csv_out))
    if runs_dir is not None:
        paths = result.save_runs(runs_dir)
        wrote.append(f"{len(paths)} runs to {runs_dir}")
    if not no_report:
        if report is None:
            report = (
                json_out.with_suffix(".html")
                if json_out is not None
                else Path("runs") / f"{slug(result.name) or 'experiment'}.html"
            )
        result.to_html(report)
        wrote.append(str(report))
    if not quiet:
        stats = result.cache_stats
        cache = (
            f"; cache: {stats.get('hits', 0)} hits, {stats.get('misses', 0)} computed"
            + (f", {stats['corrupt']} corrupt entries recomputed" if stats.get("corrupt") else "")
            if stats
            else ""
        )
        console.print(
            f"[dim]{time.perf_counter() - start:.1f} s{escape(cache)}"
            + (f"; wrote {escape(', '.join(wrote))}" if wrote else "")
            + "[/]",
            highlight=False,
        )


@pipeline_app.command("fit")
def pipeline_fit(
    file: Path = typer.Argument(
        ..., help="TOML file with dataset, \\[index] and pipeline (or an experiment file)."
    ),
    output: Path = typer.Option(..., "--output", "-o", help="Folder to save the fitted pipeline."),
    system: str | None = typer.Option(
        None, "--system", help="In an experiment file, the system to fit."
    ),
    cache_dir: Path | None = typer.Option(
        None, "--cache", help="Where built indexes are kept (default: RANKSTACK_HOME/indexes)."
    ),
    quiet: bool = typer.Option(False, "--quiet", "-q"),
) -> None:
    """Fit a pipeline on its dataset's training queries and save it as a folder."""
    from rankstack.experiment.describe import describe
    from rankstack.experiment.pipeline_file import fit_pipeline_file
    from rankstack.pipeline_io import save_pipeline

    start = time.perf_counter()
    stage, info = fit_pipeline_file(
        file, system=system, cache_dir=cache_dir / "indexes" if cache_dir else None
    )
    folder = save_pipeline(stage, output, info=info)
    if not quiet:
        dev = f", {info['dev_queries']} dev" if info["dev_queries"] else ""
        console.print(
            f"fitted [bold]{escape(describe(stage))}[/] on {info['train_queries']} train"
            f"{dev} queries of {escape(info['dataset'])} in {time.perf_counter() - start:.1f} s;"
            f" saved to {escape(str(folder))}",
            highlight=False,
            soft_wrap=True,
        )


@pipeline_app.command("run")
def pipeline_run(
    folder: Path = typer.Argument(..., help="A saved pipeline (rankstack pipeline fit -o)."),
    queries: str = typer.Argument(
        ..., help="Queries: a dataset with a split (beir/scifact/test) or a queries file."
    ),
    output: Path = typer.Option(..., "--output", "-o", help="TREC run file to write."),
    index: Path | None = typer.Option(
        None, "--index", help="The index to use (default: the one it was fitted on)."
    ),
    allow_index_mismatch: bool = typer.Option(
        False,
        "--allow-index-mismatch",
        help="Apply the pipeline to an index other than the one it was fitted on.",
    ),
    tag: str = typer.Option("rankstack", "--tag", help="Run tag (TREC's last column)."),
    quiet: bool = typer.Option(False, "--quiet", "-q"),
) -> None:
    """Apply a saved pipeline to queries and write the run."""
    from rankstack.datasets import load_queries
    from rankstack.io import write_run
    from rankstack.pipeline_io import load_pipeline

    pipe = load_pipeline(folder, index=index, allow_index_mismatch=allow_index_mismatch)
    qs = load_queries(queries)
    start = time.perf_counter()
    run = pipe.transform(qs)
    secs = time.perf_counter() - start
    write_run(run, output, tag=tag)
    if not quiet:
        console.print(
            f"ran {len(qs):,} queries ({len(run):,} results) in {secs:.2f} s; wrote {output}",
            highlight=False,
        )


@pipeline_app.command("describe")
def pipeline_describe(
    folder: Path = typer.Argument(..., help="A saved pipeline folder."),
    as_json: bool = typer.Option(False, "--json", help="Print pipeline.json as it is."),
) -> None:
    """Show a saved pipeline: its expression, index, learned stages and how it was fitted."""
    from rankstack.pipeline_io import read_description

    doc = read_description(folder)
    if as_json:
        console.print_json(json.dumps(doc))
        return
    console.print(f"[bold]{escape(doc['expression'])}[/]", highlight=False, soft_wrap=True)
    ref = doc.get("index")
    if ref:
        fp = ref.get("fingerprint", {})
        console.print(
            f"index: {escape(str(ref.get('path')))} ({fp.get('n_docs')} docs, "
            f"{fp.get('n_terms')} terms, fields {fp.get('fields')}, digest "
            f"{str(fp.get('digest'))[:12]})",
            highlight=False,
            soft_wrap=True,
        )
    for stage in doc.get("stages", []):
        console.print(f"{escape(stage['path'])}: {escape(stage['class'])}", highlight=False)
    for key, value in (doc.get("info") or {}).items():
        console.print(f"[dim]{escape(str(key))}:[/] {escape(str(value))}", highlight=False)
    console.print(
        f"[dim]saved {escape(str(doc.get('created')))} by rankstack "
        f"{escape(str(doc.get('rankstack_version')))}[/]",
        highlight=False,
    )
