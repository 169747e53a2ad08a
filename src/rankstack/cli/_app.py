"""The typer application and shared console objects (no command lives here)."""

from __future__ import annotations

import typer
from rich.console import Console

app = typer.Typer(
    name="rankstack",
    help="The ranking stack: index, search, re-rank, learn to rank, evaluate.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
    rich_markup_mode="rich",
)
console = Console()
console_err = Console(stderr=True)


@app.callback()
def _root() -> None:
    """The ranking stack: index, search, re-rank, learn to rank, evaluate."""


@app.command()
def version() -> None:
    """Print rankstack's version."""
    from rankstack import __version__

    console.print(__version__)
