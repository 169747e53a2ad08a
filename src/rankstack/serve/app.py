"""The FastAPI application: search, re-rank, health, metrics, reload and the search page.

:func:`create_app` builds the application over a :class:`~rankstack.serve.config.ServeConfig`
(pipelines are loaded before it returns, so a bad folder fails at start-up, not at the first
request). :func:`app_from_env` is the factory uvicorn's worker processes import.

Every error answer is JSON ``{"error": message, "problems": [...]}`` with a 4xx status for
what the client sent (400 unreadable body, 404 unknown pipeline or path, 413 body too large,
422 a field out of its limits or of the wrong type) and 500 for a bug, whose details go to the
log only: a response never carries a traceback.
"""

from __future__ import annotations

import asyncio
import contextlib
import hmac
import ipaddress
import logging
import os
import signal
import threading
import time
from collections.abc import AsyncIterator
from importlib import resources
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import FileResponse, JSONResponse, PlainTextResponse
from fastapi.staticfiles import StaticFiles
from starlette.exceptions import HTTPException

from rankstack.exceptions import RankstackError
from rankstack.serve.config import TOKEN_ENV, ServeConfig
from rankstack.serve.limits import BodyLimitMiddleware, body_limit_for, check_range
from rankstack.serve.metrics import CONTENT_TYPE, Metrics, MetricsMiddleware
from rankstack.serve.models import (
    ErrorResponse,
    HealthResponse,
    PipelineInfo,
    PipelinesResponse,
    Problem,
    ReloadResponse,
    RerankRequest,
    RerankResponse,
    RerankResult,
    SearchRequest,
    SearchResponse,
    SearchResult,
    StageRank,
)
from rankstack.serve.registry import Registry, Snapshot
from rankstack.serve.runner import RerankUnsupportedError, ServedPipeline

logger = logging.getLogger(__name__)

_ERRORS: dict[int | str, dict[str, Any]] = {
    code: {"model": ErrorResponse, "description": what}
    for code, what in (
        (400, "The body is not readable JSON (or not UTF-8)."),
        (404, "Unknown pipeline."),
        (413, "The body is larger than the limit."),
        (422, "A field is missing, of the wrong type, or outside its limit."),
    )
}


class ClientError(RankstackError):
    """A request the service refuses; ``status`` is its HTTP status."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status


def create_app(
    config: ServeConfig | None = None,
    *,
    registry: Registry | None = None,
    handle_sighup: bool = False,
) -> FastAPI:
    """The application over ``config`` (or an already loaded ``registry``).

    Parameters
    ----------
    handle_sighup:
        Reload on ``SIGHUP`` (the process's main thread must run the event loop; the command
        line does this when it runs one process).
    """
    from rankstack import __version__

    if registry is None:
        if config is None:
            raise RankstackError("create_app needs a ServeConfig or a Registry")
        registry = Registry(config)
    reg = registry
    cfg = reg.config
    limits = cfg.limits
    metrics = Metrics()
    static = resources.files("rankstack.serve") / "static"

    @contextlib.asynccontextmanager
    async def lifespan(_app: Any) -> AsyncIterator[None]:
        if handle_sighup and hasattr(signal, "SIGHUP"):
            loop = asyncio.get_running_loop()
            try:
                loop.add_signal_handler(
                    signal.SIGHUP, lambda: loop.run_in_executor(None, _reload_logged, reg)
                )
            except (RuntimeError, ValueError, NotImplementedError):  # not the main thread
                logger.warning("SIGHUP reloads are off: not running in the main thread")
            else:
                if _EARLY_HUP.is_set():  # asked for while the pipelines were loading
                    _EARLY_HUP.clear()
                    logger.info("SIGHUP received during start-up: reloading")
                    loop.run_in_executor(None, _reload_logged, reg)
        yield

    app = FastAPI(
        title="rankstack search service",
        version=__version__,
        description="Search and re-rank with saved rankstack pipelines. See docs/operations.md.",
        lifespan=lifespan,
    )

    # ------------------------------------------------------------------ errors
    @app.exception_handler(ClientError)
    async def _client_error(_request: Any, exc: ClientError) -> Any:
        return JSONResponse({"error": str(exc)}, status_code=exc.status)

    @app.exception_handler(RequestValidationError)
    async def _invalid(_request: Any, exc: Any) -> Any:
        problems = [_problem(e) for e in exc.errors()]
        unreadable = any(
            e.get("type") in ("json_invalid", "value_error.jsondecode") for e in exc.errors()
        )
        status = 400 if unreadable else 422
        head = "the body is not valid JSON" if unreadable else "invalid request"
        return JSONResponse(
            {
                "error": f"{head}: " + "; ".join(f"{p.field}: {p.message}" for p in problems),
                "problems": [p.model_dump() for p in problems],
            },
            status_code=status,
        )

    @app.exception_handler(HTTPException)
    async def _http(_request: Any, exc: Any) -> Any:
        message = exc.detail if isinstance(exc.detail, str) else "request refused"
        if exc.status_code == 400 and "parsing the body" in message:
            message = "the body cannot be read: it must be UTF-8 encoded JSON"
        return JSONResponse(
            {"error": message}, status_code=exc.status_code, headers=getattr(exc, "headers", None)
        )

    @app.exception_handler(RankstackError)
    async def _rankstack(_request: Any, exc: RankstackError) -> Any:
        return JSONResponse({"error": str(exc)}, status_code=422)

    @app.exception_handler(Exception)
    async def _bug(_request: Any, exc: Exception) -> Any:
        logger.error("internal error answering a request", exc_info=exc)
        return JSONResponse(
            {"error": "internal error; the details are in the service log"}, status_code=500
        )

    # ------------------------------------------------------------------ search
    @app.post("/search", response_model=SearchResponse, responses=_ERRORS, tags=["search"])
    def search(body: SearchRequest) -> SearchResponse:
        """Search with a served pipeline: ranked doc ids, scores, snippets and the rank and
        score each ranking stage gave every result."""
        snap = reg.current
        served = _pick(snap, body.pipeline)
        _check_query(body.query, limits.max_query_chars)
        _check(check_range("k", body.k, 1, limits.max_k))
        if body.rerank_depth is not None:
            _check(check_range("rerank_depth", body.rerank_depth, 1, limits.max_rerank_depth))
        out = served.search(body.query, body.k, body.rerank_depth)
        return SearchResponse(
            pipeline=served.name,
            query=body.query,
            k=body.k,
            stages=out.stages,
            candidates=out.n_candidates,
            took_ms=round(out.seconds * 1000, 3),
            generation=snap.generation,
            results=[
                SearchResult(
                    docid=h.docid,
                    rank=h.rank,
                    score=h.score,
                    title=h.title if body.snippets else "",
                    snippet=h.snippet.text if h.snippet and body.snippets else "",
                    highlights=h.snippet.highlights if h.snippet and body.snippets else [],
                    stages=_stage_ranks(h.stages),
                )
                for h in out.hits
            ],
        )

    @app.post("/rerank", response_model=RerankResponse, responses=_ERRORS, tags=["search"])
    def rerank(body: RerankRequest) -> RerankResponse:
        """Re-rank candidate texts with a served pipeline: its BM25 first stage scores the
        texts with the index's statistics, then its feature and learned stages re-rank them.
        Pipelines with other stages answer 422."""
        snap = reg.current
        served = _pick(snap, body.pipeline)
        _check_query(body.query, limits.max_query_chars)
        _check(check_range("number of candidates", len(body.candidates), 1, limits.max_candidates))
        if body.k is not None:
            _check(check_range("k", body.k, 1, limits.max_k))
        long = [
            c.id for c in body.candidates if len(c.text) + len(c.title) > limits.max_candidate_chars
        ]
        if long:
            raise ClientError(
                422, f"candidate {long[0]!r} is longer than {limits.max_candidate_chars} characters"
            )
        try:
            out = served.rerank(
                body.query,
                [c.id for c in body.candidates],
                [c.text for c in body.candidates],
                [c.title for c in body.candidates],
                body.k,
            )
        except RerankUnsupportedError as exc:
            raise ClientError(422, str(exc)) from exc
        return RerankResponse(
            pipeline=served.name,
            stages=out.stages,
            took_ms=round(out.seconds * 1000, 3),
            generation=snap.generation,
            results=[
                RerankResult(id=h.docid, rank=h.rank, score=h.score, stages=_stage_ranks(h.stages))
                for h in out.hits
            ],
        )

    # ------------------------------------------------------------------ state
    @app.get("/health", response_model=HealthResponse, tags=["service"])
    def health() -> HealthResponse:
        """Liveness and what is served (generation, index digest of each pipeline)."""
        snap = reg.current
        return HealthResponse(
            status="ok",
            pid=os.getpid(),
            generation=snap.generation,
            uptime_s=round(time.time() - metrics.started, 3),
            reloads=reg.reloads,
            failed_reloads=reg.failed_reloads,
            last_reload_error=reg.last_error,
            pipelines={n: p.digest for n, p in snap.pipelines.items()},
        )

    @app.get("/pipelines", response_model=PipelinesResponse, tags=["service"])
    def pipelines() -> PipelinesResponse:
        """The served pipelines: names, expressions, stages and what they support."""
        snap = reg.current
        return PipelinesResponse(
            default=snap.default,
            generation=snap.generation,
            pipelines=[_info(p) for p in snap.pipelines.values()],
        )

    @app.get("/metrics", response_class=PlainTextResponse, tags=["service"])
    def prometheus() -> Any:
        """Request counts and latency histograms in Prometheus's text format."""
        snap = reg.current
        extra = {
            "rankstack_reloads_total": ("counter", "Successful reloads.", float(reg.reloads)),
            "rankstack_reload_failures_total": (
                "counter",
                "Reloads that failed (the previous version kept serving).",
                float(reg.failed_reloads),
            ),
            "rankstack_generation": (
                "gauge",
                "Load generation being served.",
                float(snap.generation),
            ),
        }
        return PlainTextResponse(metrics.render(extra), media_type=CONTENT_TYPE)

    @app.post(
        "/admin/reload",
        response_model=ReloadResponse,
        tags=["admin"],
        responses={
            403: {"model": ErrorResponse},
            401: {"model": ErrorResponse},
            409: {"model": ErrorResponse},
        },
    )
    async def reload(request: Request) -> ReloadResponse:
        """Load the pipeline folders again and swap them in atomically (requests in flight
        finish on the old version). With several worker processes, the worker answering
        reloads itself and sends ``SIGHUP`` to the others, which reload in place the same way
        (``signalled``: their pids; ``GET /health`` shows each worker's generation). Loopback
        clients only, or any client with ``Authorization: Bearer $RANKSTACK_ADMIN_TOKEN``
        when that variable is set."""
        _authorise(request)
        t0 = time.perf_counter()
        signalled: list[int] = []
        if cfg.workers > 1:
            siblings = sibling_workers()
            if siblings is None:  # no /proc: uvicorn's supervisor replaces the workers
                os.kill(os.getppid(), signal.SIGHUP)
                snap = reg.current
                return ReloadResponse(
                    status="rolling-restart",
                    generation=snap.generation,
                    seconds=0.0,
                    pipelines=_digests(snap),
                )
            for pid in siblings:
                with contextlib.suppress(ProcessLookupError):
                    os.kill(pid, signal.SIGHUP)
                    signalled.append(pid)
        try:
            snap = await asyncio.get_running_loop().run_in_executor(None, reg.reload)
        except Exception as exc:
            raise ClientError(
                409, f"reload failed, the previous version keeps serving: {exc}"
            ) from exc
        return ReloadResponse(
            status="reloaded",
            generation=snap.generation,
            seconds=round(time.perf_counter() - t0, 3),
            pipelines=_digests(snap),
            signalled=signalled,
        )

    # ------------------------------------------------------------------ page
    @app.get("/", include_in_schema=False)
    def page() -> Any:
        with resources.as_file(static / "index.html") as path:
            return FileResponse(path, media_type="text/html; charset=utf-8")

    with resources.as_file(static) as folder:
        app.mount("/static", StaticFiles(directory=str(folder)), name="static")

    app.add_middleware(BodyLimitMiddleware, limit=body_limit_for(limits))
    known = frozenset(str(getattr(r, "path", "")) for r in app.routes)
    app.add_middleware(MetricsMiddleware, metrics=metrics, known=known)
    app.state.registry = reg
    app.state.metrics = metrics
    return app


#: the log level of worker processes (set by ``rankstack serve``)
LOG_LEVEL_ENV = "RANKSTACK_SERVE_LOG_LEVEL"

#: set by a SIGHUP that arrives before the application's event loop handles it
_EARLY_HUP = threading.Event()


def catch_early_sighup() -> None:
    """Remember a ``SIGHUP`` received while the pipelines load (its default action would end
    the process); the application reloads once it runs. Call from the main thread before
    :func:`create_app` with ``handle_sighup=True``."""
    if hasattr(signal, "SIGHUP"):
        signal.signal(signal.SIGHUP, lambda _signum, _frame: _EARLY_HUP.set())


def app_from_env() -> FastAPI:
    """Factory for uvicorn worker processes: the configuration comes from the environment.

    Each worker reloads in place on ``SIGHUP`` (sent by ``POST /admin/reload`` to every
    worker, or by an operator to the workers' pids); ``SIGHUP`` to uvicorn's supervisor
    instead replaces the worker processes one by one.
    """
    catch_early_sighup()
    logging.basicConfig(  # a spawned worker does not inherit the command's logging set-up
        level=os.environ.get(LOG_LEVEL_ENV, "info").upper(),
        format="%(asctime)s %(levelname)s %(name)s[%(process)d]: %(message)s",
    )
    use_system_arrow_pool()
    return create_app(ServeConfig.from_env(), handle_sighup=True)


def sibling_workers() -> list[int] | None:
    """The pids of the other uvicorn worker processes of this service (children of this
    worker's parent started by ``multiprocessing``'s spawn), or None without Linux ``/proc``."""
    parent = os.getppid()
    tasks = f"/proc/{parent}/task"
    if not os.path.isdir(tasks):
        return None
    pids: set[int] = set()
    for task in os.listdir(tasks):
        with (
            contextlib.suppress(OSError, ValueError),
            open(f"{tasks}/{task}/children", encoding="ascii") as fh,
        ):
            pids.update(int(x) for x in fh.read().split())
    out = []
    for pid in sorted(pids - {os.getpid()}):
        with contextlib.suppress(OSError):
            with open(f"/proc/{pid}/cmdline", "rb") as fh:
                cmd = fh.read()
            if b"spawn_main" in cmd and b"resource_tracker" not in cmd:
                out.append(pid)
    return out


def use_system_arrow_pool() -> str:
    """Make the C library's allocator Arrow's memory pool in this process (the service's).

    Arrow's default pool (mimalloc or jemalloc) keeps a heap per thread; the service answers
    from a pool of about 40 threads, each analysing text with Arrow compute functions, and on
    SciFact under 200 concurrent clients those heaps held about 650 MB more than the system
    allocator did, at the same speed (measured; docs/operations.md). A pool chosen with the
    ``ARROW_DEFAULT_MEMORY_POOL`` environment variable is left alone. Returns the pool's name.
    """
    import pyarrow as pa

    if not os.environ.get("ARROW_DEFAULT_MEMORY_POOL"):
        pa.set_memory_pool(pa.system_memory_pool())
    return str(pa.default_memory_pool().backend_name)


# ---------------------------------------------------------------------- helpers
def _reload_logged(reg: Registry) -> None:
    with contextlib.suppress(Exception):  # logged by Registry.reload; old version serves
        reg.reload()


def _pick(snap: Snapshot, name: str | None) -> ServedPipeline:
    key = snap.default if name is None else name
    served = snap.pipelines.get(key)
    if served is None:
        raise ClientError(
            404, f"unknown pipeline {name!r}; served: {', '.join(sorted(snap.pipelines))}"
        )
    return served


def _check(message: str | None) -> None:
    if message is not None:
        raise ClientError(422, message)


def _check_query(query: str, limit: int) -> None:
    if not query.strip():
        raise ClientError(422, "query is empty")
    if len(query) > limit:
        raise ClientError(422, f"query is too long: {len(query)} characters, the limit is {limit}")


def _problem(error: dict[str, Any]) -> Problem:
    loc = [str(p) for p in error.get("loc", ()) if p != "body"]
    message = str(error.get("msg", "invalid"))
    if error.get("type") == "missing" and not loc:
        return Problem(field="body", message="the body is missing: send a JSON object")
    if error.get("type") == "json_invalid":
        detail = (error.get("ctx") or {}).get("error")
        message = f"JSON decode error ({detail})" if detail else "JSON decode error"
        loc = [f"position {loc[0]}"] if loc else []
    if message.startswith("Value error, "):
        message = message[len("Value error, ") :]
    return Problem(field=".".join(loc) or "body", message=message)


def _stage_ranks(stages: list[Any]) -> list[StageRank]:
    return [StageRank(stage=s.stage, rank=s.rank, score=s.score) for s in stages]


def _digests(snap: Snapshot) -> dict[str, str | None]:
    return {n: p.digest for n, p in snap.pipelines.items()}


def _info(p: ServedPipeline) -> PipelineInfo:
    from rankstack.serve.runner import describe_stages

    note = p.rerank_support()
    return PipelineInfo(
        name=p.name,
        expression=p.expression,
        folder=p.folder,
        stages=[s["stage"] for s in describe_stages(p)],
        index_digest=p.digest,
        n_docs=None if p.index is None else p.index.n_docs,
        documents=len(p.documents),
        rerank=note is None,
        rerank_note=note,
        default_depth=p.default_depth,
    )


def _authorise(request: Request) -> None:
    token = os.environ.get(TOKEN_ENV)
    if token:
        given = request.headers.get("authorization", "")
        if not hmac.compare_digest(given.encode(), f"Bearer {token}".encode()):
            raise ClientError(
                401,
                f"admin routes need 'Authorization: Bearer <token>' with the token in {TOKEN_ENV}",
            )
        return
    host = request.client.host if request.client else ""
    try:
        loopback = ipaddress.ip_address(host).is_loopback
    except ValueError:
        loopback = False
    if not loopback:
        raise ClientError(
            403,
            "admin routes answer loopback clients only; set "
            f"{TOKEN_ENV} to allow other clients with a bearer token",
        )


# ---------------------------------------------------------------------- the committed spec
class _SpecOnly:
    """A registry stand-in that serves nothing: enough to build the routes for the spec."""

    config = ServeConfig(pipelines=())


def openapi_document() -> dict[str, Any]:
    """The OpenAPI document of the service (independent of what it serves)."""
    app = create_app(registry=_SpecOnly())  # type: ignore[arg-type]
    doc: dict[str, Any] = app.openapi()
    return doc


def openapi_text() -> str:
    """:func:`openapi_document` as the JSON text committed in ``docs/openapi.json``."""
    import json

    return json.dumps(openapi_document(), indent=2, sort_keys=True, ensure_ascii=False) + "\n"


def write_openapi(path: str | os.PathLike[str]) -> None:
    """Write :func:`openapi_text` to ``path`` atomically."""
    from rankstack.io._files import atomic_write

    with atomic_write(path, "wb") as fh:
        fh.write(openapi_text().encode("utf-8"))  # type: ignore[arg-type]
