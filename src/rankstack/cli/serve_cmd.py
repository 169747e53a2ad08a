"""``rankstack serve``: the HTTP search service over saved pipelines (FastAPI + uvicorn)."""

from __future__ import annotations

import logging
from pathlib import Path

import typer

from rankstack.cli._app import app, console_err
from rankstack.exceptions import RankstackError


@app.command()
def serve(
    pipelines: list[str] = typer.Argument(
        None,
        help="Saved pipeline folders, as FOLDER or NAME=FOLDER (name default: the folder's "
        "name); the first is the default. A folder may be a symbolic link "
        "(see docs/operations.md).",
        show_default=False,
    ),
    host: str = typer.Option("127.0.0.1", "--host", help="Address to listen on."),
    port: int = typer.Option(8080, "--port", help="Port to listen on."),
    workers: int = typer.Option(
        1, "--workers", help="Worker processes (each maps the index; the OS shares its pages)."
    ),
    corpus: str | None = typer.Option(
        None,
        "--corpus",
        help="Document text for snippets: a dataset name or corpus file (default: the "
        "dataset recorded in each pipeline folder).",
    ),
    index: Path | None = typer.Option(
        None, "--index", help="Apply the pipelines to this index (default: the recorded one)."
    ),
    max_query_chars: int = typer.Option(1000, "--max-query-chars", help="Longest query."),
    max_k: int = typer.Option(1000, "--max-k", help="Largest k."),
    max_rerank_depth: int = typer.Option(1000, "--max-rerank-depth", help="Largest depth."),
    max_body_bytes: int = typer.Option(16384, "--max-body-bytes", help="Largest /search body."),
    max_candidates: int = typer.Option(1000, "--max-candidates", help="Most /rerank candidates."),
    log_level: str = typer.Option("info", "--log-level", help="uvicorn's log level."),
    write_openapi: Path | None = typer.Option(
        None, "--write-openapi", help="Write the OpenAPI spec to this file and exit."
    ),
) -> None:
    """Serve saved pipelines over HTTP: POST /search, POST /rerank, GET /health, GET /metrics,
    POST /admin/reload (or SIGHUP), and a search page at /."""
    from rankstack._compat import require

    require("fastapi")
    require("uvicorn")
    if write_openapi is not None:
        from rankstack.serve.app import write_openapi as write

        write(write_openapi)
        console_err.print(f"wrote {write_openapi}", highlight=False)
        return
    if not pipelines:
        raise RankstackError("serve: name at least one saved pipeline folder")
    if workers < 1:
        raise RankstackError(f"--workers must be >= 1, found {workers}")
    import uvicorn

    from rankstack.serve.config import CONFIG_ENV, Limits, ServeConfig

    config = ServeConfig.from_args(
        pipelines,
        corpus=corpus,
        index=None if index is None else str(index.absolute()),
        limits=Limits(
            max_query_chars=max_query_chars,
            max_k=max_k,
            max_rerank_depth=max_rerank_depth,
            max_body_bytes=max_body_bytes,
            max_candidates=max_candidates,
        ),
        workers=workers,
    )
    logging.basicConfig(
        level=log_level.upper(), format="%(asctime)s %(levelname)s %(name)s: %(message)s"
    )
    from rankstack.serve.app import catch_early_sighup, use_system_arrow_pool

    catch_early_sighup()  # a SIGHUP while loading: reload once serving, not end the process
    logging.getLogger(__name__).info("Arrow memory pool: %s", use_system_arrow_pool())
    if workers == 1:
        from rankstack.serve.app import create_app

        application = create_app(config, handle_sighup=True)  # load errors exit here
        uvicorn.run(application, host=host, port=port, log_level=log_level)
        return
    import os

    from rankstack.pipeline_io import read_description
    from rankstack.serve.registry import resolve_folder

    for spec in config.pipelines:  # fail fast in the supervisor; each worker loads its own
        read_description(resolve_folder(spec))
    from rankstack.serve.app import LOG_LEVEL_ENV

    os.environ[CONFIG_ENV] = config.to_env()
    os.environ[LOG_LEVEL_ENV] = log_level
    uvicorn.run(
        "rankstack.serve.app:app_from_env",
        factory=True,
        host=host,
        port=port,
        workers=workers,
        log_level=log_level,
    )
