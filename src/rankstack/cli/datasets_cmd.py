"""``rankstack datasets``: list the registry, describe a dataset, fetch and verify its files."""

from __future__ import annotations

from typing import Any

import typer
from rich.markup import escape
from rich.table import Table

from rankstack.cli._app import app, console

datasets_app = typer.Typer(
    name="datasets",
    help="Named datasets: list them, describe one, fetch and verify its files.",
    no_args_is_help=True,
    rich_markup_mode="rich",
)
app.add_typer(datasets_app, name="datasets")

_STYLE = {
    "offline": "green",
    "cached": "cyan",
    "partial": "yellow",
    "download": "magenta",
    "downloaded": "cyan",
    "missing": "red",
}


def _sizes(sizes: dict[str, Any]) -> str:
    """``5,183 docs, 1,109 queries`` from the registry's sizes (top level only)."""
    order = ("docs", "queries", "qrels", "pairs", "features")
    parts = [f"{sizes[k]:,} {k}" for k in order if isinstance(sizes.get(k), int)]
    return ", ".join(parts)


def _splits(splits: tuple[str, ...]) -> str:
    if not splits:
        return "(all queries)"
    folds = sorted({s.split("/")[0] for s in splits if "/" in s})
    if folds:
        parts = list(dict.fromkeys(s.split("/", 1)[1] for s in splits if "/" in s))
        return f"{folds[0]}..{folds[-1]} × {'/'.join(parts)}"
    return ", ".join(splits)


@datasets_app.command("list")
def list_cmd() -> None:
    """Registered datasets with splits, sizes and where their files are."""
    from rankstack.datasets import data_dir, home_dir, list_datasets

    table = Table(title="rankstack datasets", title_justify="left")
    table.add_column("name", style="bold")
    table.add_column("splits")
    table.add_column("sizes")
    table.add_column("local")
    for info in list_datasets():
        style = _STYLE.get(info.availability, "")
        table.add_row(
            escape(info.name),
            escape(_splits(info.splits)),
            escape(_sizes(info.sizes)),
            f"[{style}]{info.availability}[/]" if style else info.availability,
        )
    console.print(table)
    where = data_dir()
    console.print(
        f"[dim]offline folder (RANKSTACK_DATA): {escape(str(where)) if where else 'not set'}; "
        f"cache (RANKSTACK_HOME): {escape(str(home_dir()))}[/]"
    )


@datasets_app.command("info")
def info_cmd(name: str = typer.Argument(..., help="A dataset name, e.g. beir/scifact.")) -> None:
    """Description, splits, sizes, sources, checksums and the state of each file."""
    from rankstack.datasets import load

    ds = load(name)
    entry, info = ds.entry, ds.info
    console.print(f"[bold]{escape(entry.name)}[/] ({entry.kind}): {escape(entry.description)}")
    for label, value in (
        ("citation", entry.citation),
        ("homepage", entry.homepage),
        ("license", entry.license),
        ("mirror", entry.mirror),
    ):
        if value:
            console.print(f"  {label}: {escape(value)}")
    console.print(f"  splits: {escape(', '.join(ds.splits) or 'none (all queries)')}")
    if info.sizes:
        console.print(f"  sizes: {escape(str(info.sizes))}")
    table = Table(title="files", title_justify="left")
    table.add_column("file", style="bold")
    table.add_column("state")
    table.add_column("offline path")
    table.add_column("source")
    for key, spec in entry.files.items():
        state = info.files[key]
        style = _STYLE.get(state, "")
        dl = entry.downloads.get(spec.download) if spec.download else None
        source = ""
        if dl is not None:
            sums = ", ".join(f"{k} {v[:12]}…" for k, v in dl.checksums.items())
            source = f"{dl.url} ({sums})"
        table.add_row(
            escape(key),
            f"[{style}]{state}[/]" if style else state,
            escape(spec.offline or "-"),
            escape(source),
        )
    console.print(table)


@datasets_app.command("fetch")
def fetch_cmd(
    name: str = typer.Argument(..., help="A dataset name, e.g. letor/mq2008."),
    force: bool = typer.Option(False, "--force", help="Download again even when cached."),
) -> None:
    """Make every file of a dataset local: verify offline copies, download and verify the rest."""
    from rankstack.datasets import fetch, load

    ds = load(name)
    states = fetch(ds.entry.name, force=force)
    for key, state in states.items():
        style = _STYLE.get(state, "")
        path = ds.path(key)
        console.print(f"  [{style}]{state:>10}[/]  {escape(key)}  {escape(str(path))}")
    console.print(f"[green]{escape(ds.entry.name)}: {len(states)} files verified and local[/]")
