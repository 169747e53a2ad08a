"""``rankstack experiment``: run the systems of an experiment file and print the comparison."""

from __future__ import annotations

from pathlib import Path

import typer

from rankstack.cli._app import app, console


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
    cache_dir: Path | None = typer.Option(
        None, "--cache", help="Where built indexes are kept (default: RANKSTACK_HOME/indexes)."
    ),
    quiet: bool = typer.Option(False, "--quiet", "-q", help="Print only the table."),
) -> None:
    """Run an experiment: every system on the dataset's queries, compared with the baseline."""
    from rankstack.experiment import Experiment

    exp = Experiment.from_toml(file, cache_dir=cache_dir)
    result = exp.run(console=None if quiet else console)
    console.print(result.table())
    if json_out is not None:
        result.to_json(json_out)
        if not quiet:
            console.print(f"[dim]wrote {json_out}[/]")
    if csv_out is not None:
        result.comparison.to_csv(csv_out)
        if not quiet:
            console.print(f"[dim]wrote {csv_out}[/]")
    if runs_dir is not None:
        paths = result.save_runs(runs_dir)
        if not quiet:
            console.print(f"[dim]wrote {len(paths)} runs to {runs_dir}[/]")
