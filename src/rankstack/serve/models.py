"""Request and response bodies of the HTTP API (pydantic models; they make the OpenAPI spec).

Requests are strict: unknown fields, numbers given as strings or floats, and text that is not
valid Unicode are refused with 422 and a message naming the field. Limits that the operator
sets (query length, ``k``, depth, candidates) are checked by the routes against
:class:`~rankstack.serve.config.Limits`, so the same limits apply whatever the defaults here.
"""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field, StrictInt, field_validator


def _unicode(value: str, what: str) -> str:
    try:
        value.encode("utf-8")
    except UnicodeEncodeError as exc:
        raise ValueError(f"{what} is not valid UTF-8 text (it holds a lone surrogate)") from exc
    return value


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


class SearchRequest(_Strict):
    """``POST /search``."""

    query: str = Field(description="The query text (at most max_query_chars characters).")
    k: StrictInt = Field(10, description="Results to return, 1..max_k (default limit 1000).")
    rerank_depth: StrictInt | None = Field(
        None,
        description="First-stage candidates handed to the re-rankers, 1..max_rerank_depth; "
        "default: the pipeline's own depth.",
    )
    pipeline: str | None = Field(
        None, description="Name of a served pipeline (GET /pipelines); default: the first."
    )
    snippets: bool = Field(True, description="Return a snippet of each document's text.")

    @field_validator("query")
    @classmethod
    def _query_text(cls, value: str) -> str:
        return _unicode(value, "query")


class Candidate(_Strict):
    """A document to re-rank, given by its text."""

    id: str = Field(description="The caller's id of the candidate (unique in the request).")
    text: str = Field(description="The candidate's text (body).")
    title: str = Field("", description="Its title, for indexes with a title field.")

    @field_validator("id", "text", "title")
    @classmethod
    def _text(cls, value: str) -> str:
        return _unicode(value, "candidate text")


class RerankRequest(_Strict):
    """``POST /rerank``."""

    query: str = Field(description="The query text.")
    candidates: list[Candidate] = Field(description="Candidates, 1..max_candidates.")
    k: StrictInt | None = Field(None, description="Results to return (default: all).")
    pipeline: str | None = Field(None, description="Name of a served pipeline.")

    @field_validator("query")
    @classmethod
    def _query_text(cls, value: str) -> str:
        return _unicode(value, "query")


class StageRank(BaseModel):
    """Where one ranking stage put a result (``rank`` 1-based; null: not in its ranking)."""

    stage: str
    rank: int | None
    score: float | None


class SearchResult(BaseModel):
    docid: str
    rank: int
    score: float
    title: str = ""
    snippet: str = ""
    highlights: list[tuple[int, int]] = Field(
        default_factory=list,
        description="[start, end) character spans of query-term matches in the snippet.",
    )
    stages: list[StageRank]


class SearchResponse(BaseModel):
    pipeline: str
    query: str
    k: int
    stages: list[str] = Field(description="The ranking stages, first stage first.")
    candidates: int = Field(description="How many documents the first stage returned.")
    took_ms: float
    generation: int = Field(description="Which load of the pipelines answered (reloads add 1).")
    results: list[SearchResult]


class RerankResult(BaseModel):
    id: str
    rank: int
    score: float
    stages: list[StageRank]


class RerankResponse(BaseModel):
    pipeline: str
    stages: list[str]
    took_ms: float
    generation: int
    results: list[RerankResult]


class PipelineInfo(BaseModel):
    name: str
    expression: str
    folder: str
    stages: list[str]
    index_digest: str | None
    n_docs: int | None
    documents: int = Field(description="Documents with text for snippets (0: no snippets).")
    rerank: bool = Field(description="Whether POST /rerank works with this pipeline.")
    rerank_note: str | None = None
    default_depth: int | None


class PipelinesResponse(BaseModel):
    default: str
    generation: int
    pipelines: list[PipelineInfo]


class HealthResponse(BaseModel):
    status: str
    pid: int
    generation: int
    uptime_s: float
    reloads: int
    failed_reloads: int
    last_reload_error: str | None
    pipelines: dict[str, str | None] = Field(description="Name -> index digest.")


class ReloadResponse(BaseModel):
    status: str = Field(
        description="'reloaded'; 'rolling-restart' when several workers run without Linux "
        "/proc (uvicorn's supervisor then replaces them)."
    )
    generation: int
    seconds: float
    pipelines: dict[str, str | None]
    signalled: list[int] = Field(
        default_factory=list,
        description="With several workers: the pids of the other workers, sent SIGHUP to "
        "reload in place.",
    )


class Problem(BaseModel):
    field: str
    message: str


class ErrorResponse(BaseModel):
    error: str
    problems: list[Problem] | None = None
