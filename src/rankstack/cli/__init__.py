"""The ``rankstack`` command: one thin subcommand per step over the Python API.

Each ``*_cmd`` module registers its commands on :data:`app`. Errors a user can cause
(:class:`~rankstack.exceptions.RankstackError`) print one line to stderr and exit with code 2;
a traceback is only shown for bugs, and with ``RANKSTACK_DEBUG=1``.
"""

from __future__ import annotations

import os
import sys

from rich.markup import escape

# importing the command modules registers their commands on ``app``
from rankstack.cli import (  # noqa: F401  (imported for their side effect)
    batch_cmd,
    clicks_cmd,
    datasets_cmd,
    dense_cmd,
    eval_cmd,
    features_cmd,
    index_cmd,
    llm_cmd,
    ltr_cmd,
    neural_cmd,
    pipeline_cmd,
    serve_cmd,
)
from rankstack.cli._app import app, console_err
from rankstack.exceptions import RankstackError

__all__ = ["app", "main"]


def main(argv: list[str] | None = None) -> int:
    """Entry point of the ``rankstack`` script; returns the exit code."""
    try:
        app(args=argv, prog_name="rankstack")
    except RankstackError as exc:
        if os.environ.get("RANKSTACK_DEBUG"):
            raise
        console_err.print(
            f"[bold red]error:[/] {escape(str(exc))}", highlight=False, soft_wrap=True
        )
        return 2
    except KeyboardInterrupt:
        console_err.print("[yellow]interrupted[/]")
        return 130
    except SystemExit as exc:
        code = exc.code
        return code if isinstance(code, int) else (0 if code is None else 1)
    return 0


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
