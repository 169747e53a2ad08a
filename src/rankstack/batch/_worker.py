"""What runs inside a Dask worker: one cached pipeline per process, one partition per task.

A worker process opens (and memory-maps) the pipeline's index once: the loaded pipeline is
kept in a module-level cache keyed by the pipeline folder, the SHA-256 of its
``pipeline.json`` (which records every stage file's checksum and the index fingerprint) and
the index override, so every later partition on that worker reuses it, including what its
stages compute lazily (BM25's impact matrix). The task is a pure function of its arguments:
it reads files, writes none and returns bytes, so Dask can run it again on another worker
when a worker dies, and a rerun gives the same bytes.
"""

from __future__ import annotations

import hashlib
import logging
import threading
from collections import OrderedDict
from pathlib import Path
from typing import Any

from rankstack.batch._wire import decode_queries, encode_run
from rankstack.exceptions import RankstackError

logger = logging.getLogger(__name__)

#: pipelines kept open per worker process (least recently used dropped first)
CACHE_SIZE = 2

_CACHE: OrderedDict[tuple[str, str, str | None, bool], Any] = OrderedDict()
_LOCK = threading.Lock()


class PipelineCopyError(RankstackError, ValueError):
    """A worker's copy of the pipeline folder differs from the client's."""


def description_digest(folder: str | Path) -> str:
    """SHA-256 of a saved pipeline's ``pipeline.json``: what identifies the whole folder."""
    from rankstack.pipeline_io import DESCRIPTION

    with open(Path(folder) / DESCRIPTION, "rb") as fh:
        return hashlib.sha256(fh.read()).hexdigest()


def _where() -> str:
    try:
        from distributed import get_worker

        return f"worker {get_worker().address}"
    except (ImportError, ValueError):
        return "this process"


def cached_pipeline(
    folder: str, digest: str, index: str | None = None, allow_index_mismatch: bool = False
) -> Any:
    """The pipeline saved in ``folder``, loaded once per process (see the module docstring).

    Raises :class:`PipelineCopyError` when this machine's ``pipeline.json`` does not have
    ``digest`` (another copy, or the folder was saved again since the job started), and what
    :func:`~rankstack.pipeline_io.load_pipeline` raises (a different index copy:
    :class:`~rankstack.pipeline_io.IndexMismatchError`).
    """
    from rankstack.pipeline_io import PipelineFormatError, load_pipeline

    key = (folder, digest, index, allow_index_mismatch)
    with _LOCK:
        pipe = _CACHE.get(key)
        if pipe is not None:
            _CACHE.move_to_end(key)
            return pipe
        try:
            found = description_digest(folder)
        except OSError as exc:
            raise PipelineFormatError(
                f"{folder}: cannot read the saved pipeline on {_where()} ({exc}); workers need "
                "the pipeline folder and the index at the same path (a shared filesystem or a "
                "copy)"
            ) from exc
        if found != digest:
            raise PipelineCopyError(
                f"{folder}: the pipeline folder on {_where()} differs from the client's "
                f"(pipeline.json sha256 {found[:12]} vs {digest[:12]}); copy the same folder "
                "to every worker"
            )
        pipe = load_pipeline(folder, index=index, allow_index_mismatch=allow_index_mismatch)
        _CACHE[key] = pipe
        while len(_CACHE) > CACHE_SIZE:
            _CACHE.popitem(last=False)
        logger.info("%s: loaded pipeline %s", _where(), folder)
        return pipe


def run_partition(
    folder: str,
    digest: str,
    queries: bytes,
    index: str | None = None,
    allow_index_mismatch: bool = False,
) -> tuple[bytes, bytes]:
    """Run the cached pipeline on one partition of queries; returns the run as IPC bytes."""
    pipe = cached_pipeline(folder, digest, index, allow_index_mismatch)
    return encode_run(pipe.transform(decode_queries(queries)))


def clear_cache() -> None:
    """Forget every cached pipeline of this process (tests, or to free memory)."""
    with _LOCK:
        _CACHE.clear()
