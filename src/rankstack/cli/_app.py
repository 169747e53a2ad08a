"""The typer application and shared console objects (no command lives here)."""

from __future__ import annotations

import sys

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
# Piped output has no terminal width: use a generous fixed one so tables do not wrap.
console = Console(width=None if sys.stdout.isatty() else 140)
console_err = Console(stderr=True, width=None if sys.stderr.isatty() else 140)


@app.callback()
def _root() -> None:
    """The ranking stack: index, search, re-rank, learn to rank, evaluate."""


@app.command()
def version() -> None:
    """Print rankstack's version."""
    from rankstack import __version__

    console.print(__version__)
