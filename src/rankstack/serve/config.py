"""What a service serves and the limits it enforces (plain data, JSON-serialisable).

A :class:`ServeConfig` is built by ``rankstack serve`` from its arguments. With
``--workers N`` uvicorn starts fresh worker processes that import the application by name, so
the configuration travels to them as JSON in the environment variable
:data:`CONFIG_ENV` (:meth:`ServeConfig.to_env` / :meth:`ServeConfig.from_env`).
"""

from __future__ import annotations

import json
import os
import re
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from rankstack.exceptions import RankstackError

CONFIG_ENV = "RANKSTACK_SERVE_CONFIG"
#: the environment variable holding the admin token (``POST /admin/reload`` from anywhere)
TOKEN_ENV = "RANKSTACK_ADMIN_TOKEN"
_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$")


@dataclass(frozen=True)
class Limits:
    """Request limits; a request outside them gets a 4xx that names the limit.

    Parameters
    ----------
    max_query_chars:
        Longest query text, in characters.
    max_k:
        Largest ``k`` (results returned).
    max_rerank_depth:
        Largest ``rerank_depth`` (first-stage candidates handed to the re-rankers).
    max_body_bytes:
        Largest request body of ``/search`` and the admin routes.
    max_rerank_body_bytes:
        Largest request body of ``/rerank`` (it carries candidate texts).
    max_candidates:
        Most candidates in one ``/rerank`` request.
    max_candidate_chars:
        Longest candidate text (title and text together), in characters.
    """

    max_query_chars: int = 1000
    max_k: int = 1000
    max_rerank_depth: int = 1000
    max_body_bytes: int = 16 * 1024
    max_rerank_body_bytes: int = 4 * 1024 * 1024
    max_candidates: int = 1000
    max_candidate_chars: int = 100_000

    def __post_init__(self) -> None:
        for key, value in asdict(self).items():
            if not isinstance(value, int) or value < 1:
                raise RankstackError(f"serve limit {key} must be a positive integer, found {value}")


@dataclass(frozen=True)
class PipelineSpec:
    """One served pipeline: the name clients use and the saved folder it is loaded from."""

    name: str
    folder: str

    def __post_init__(self) -> None:
        if not _NAME.match(self.name):
            raise RankstackError(
                f"pipeline name {self.name!r}: use 1 to 64 letters, digits, '_', '.' or '-' "
                "(NAME=FOLDER on the command line)"
            )


@dataclass(frozen=True)
class ServeConfig:
    """Everything a worker needs to build the application.

    Parameters
    ----------
    pipelines:
        The served pipelines; the first is the default of requests that name none.
    corpus:
        Where document text for snippets comes from (a dataset name or a corpus file), for
        every pipeline; default: the ``dataset`` recorded in each pipeline folder's info,
        else no snippets.
    index:
        Apply the pipelines to this index instead of the one recorded in their folders.
    limits:
        The request limits.
    workers:
        Number of uvicorn worker processes (``/admin/reload`` then makes every worker
        reload in place: see :func:`rankstack.serve.app.sibling_workers`).
    snippet_words:
        Length of a snippet, in words.
    """

    pipelines: tuple[PipelineSpec, ...]
    corpus: str | None = None
    index: str | None = None
    limits: Limits = field(default_factory=Limits)
    workers: int = 1
    snippet_words: int = 40

    def __post_init__(self) -> None:
        names = [p.name for p in self.pipelines]
        dupes = sorted({n for n in names if names.count(n) > 1})
        if dupes:
            raise RankstackError(f"pipeline names must be unique; repeated: {dupes}")

    @classmethod
    def from_args(
        cls, folders: list[str], *, corpus: str | None = None, **kwargs: Any
    ) -> ServeConfig:
        """From ``FOLDER`` or ``NAME=FOLDER`` arguments (name default: the folder's name)."""
        specs = []
        for arg in folders:
            name, sep, folder = arg.partition("=")
            if not sep:
                folder, name = arg, Path(arg.rstrip("/")).name
            specs.append(PipelineSpec(name, str(Path(folder).expanduser().absolute())))
        return cls(tuple(specs), corpus=corpus, **kwargs)

    def to_env(self) -> str:
        """The configuration as one JSON string (for :data:`CONFIG_ENV`)."""
        return json.dumps(asdict(self))

    @classmethod
    def from_json(cls, text: str) -> ServeConfig:
        try:
            doc = json.loads(text)
            return cls(
                pipelines=tuple(PipelineSpec(**p) for p in doc.pop("pipelines")),
                limits=Limits(**doc.pop("limits", {})),
                **doc,
            )
        except (json.JSONDecodeError, TypeError, KeyError, AttributeError) as exc:
            raise RankstackError(f"malformed service configuration ({exc})") from exc

    @classmethod
    def from_env(cls) -> ServeConfig:
        text = os.environ.get(CONFIG_ENV)
        if not text:
            raise RankstackError(
                f"{CONFIG_ENV} is not set; start the service with `rankstack serve`"
            )
        return cls.from_json(text)
