"""The ``rankstack`` command: one thin subcommand per step over the Python API.

Each ``*_cmd`` module registers its commands on :data:`app`. Errors a user can cause
(:class:`~rankstack.exceptions.RankstackError`) print one line to stderr and exit with code 2;
a traceback is only shown for bugs, and with ``RANKSTACK_DEBUG=1``.
"""

from __future__ import annotations

import os
import sys

from rankstack.cli._app import app, console_err

# importing the command modules registers their commands on ``app``
from rankstack.cli import (  # noqa: F401  (imported for their side effect)
    datasets_cmd,
    eval_cmd,
    index_cmd,
    pipeline_cmd,
)
from rankstack.exceptions import RankstackError

__all__ = ["app", "main"]


def main(argv: list[str] | None = None) -> int:
    """Entry point of the ``rankstack`` script."""
    try:
        app(args=argv, prog_name="rankstack", standalone_mode=False)
    except RankstackError as exc:
        if os.environ.get("RANKSTACK_DEBUG"):
            raise
        console_err.print(f"[bold red]error:[/] {exc}", highlight=False, soft_wrap=True)
        return 2
    except KeyboardInterrupt:
        console_err.print("[yellow]interrupted[/]")
        return 130
    except SystemExit as exc:  # typer.Exit inside commands
        return int(exc.code or 0)
    except Exception as exc:  # click usage errors
        import click

        if isinstance(exc, click.exceptions.ClickException):
            exc.show()
            return 2
        if isinstance(exc, click.exceptions.Abort):
            return 1
        if isinstance(exc, click.exceptions.Exit):
            return int(exc.exit_code)
        raise
    return 0


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
