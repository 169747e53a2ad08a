"""``run_batch``: a saved pipeline over many queries, partitioned across a Dask cluster.

The queries are cut into contiguous partitions of (nearly) equal size; each partition is one
Dask task that runs :func:`rankstack.batch._worker.run_partition` on some worker, where the
pipeline (and its memory-mapped index) is opened once per worker process and reused. The
partial runs come back as Arrow IPC bytes as soon as each task finishes
(:func:`distributed.as_completed`) and are concatenated in partition order, i.e. in the
queries' order, so the run equals the one ``pipeline.transform(queries)`` gives in a single
process, and its TREC file is byte-identical.

Fault tolerance comes from Dask: a task is a pure function of its inputs (pipeline folder,
its digest, the partition's queries) with a deterministic key, so when a worker dies the
scheduler runs its unfinished tasks again elsewhere (up to
``distributed.scheduler.allowed-failures`` deaths per task, 3 by default). A finished
partition is fetched to the client at once, so a later death cannot lose it.
"""

from __future__ import annotations

import hashlib
import logging
import os
import time
from collections.abc import Callable
from itertools import pairwise
from pathlib import Path
from typing import Any

from rankstack._compat import require
from rankstack.batch._cluster import worker_threads
from rankstack.batch._partition import even_bounds
from rankstack.batch._wire import decode_run, encode_queries
from rankstack.batch._worker import description_digest, run_partition
from rankstack.data import Queries, Run
from rankstack.exceptions import DataError, RankstackError

logger = logging.getLogger(__name__)

#: ``progress(queries_done, queries_total)`` after each finished partition
BatchProgress = Callable[[int, int], None]

#: default partitions per worker thread: enough for balance and cheap retries
PARTITIONS_PER_THREAD = 4


class BatchError(RankstackError, RuntimeError):
    """A partition failed on the cluster (e.g. its workers kept dying)."""


def run_batch(
    pipeline_dir: str | os.PathLike[str],
    queries: Queries | str | os.PathLike[str],
    *,
    client: Any = None,
    partitions: int | None = None,
    index: str | os.PathLike[str] | None = None,
    allow_index_mismatch: bool = False,
    retries: int = 0,
    progress: BatchProgress | None = None,
) -> Run:
    """Run the saved pipeline in ``pipeline_dir`` on ``queries``, partitioned over ``client``.

    Parameters
    ----------
    pipeline_dir:
        A folder written by :func:`~rankstack.pipeline_io.save_pipeline`. Every worker must
        see it, and the index it refers to, at the same absolute path (a shared filesystem
        or an identical copy: a copy whose ``pipeline.json`` differs is refused, an index
        with another fingerprint too).
    queries:
        :class:`~rankstack.data.Queries`, a registry name with a split
        (``beir/scifact/test``) or a queries file.
    client:
        A :class:`distributed.Client`; None runs the partitions one after the other in this
        process.
    partitions:
        Number of contiguous partitions (default: 4 per worker thread, or 1 without a
        client).
    index, allow_index_mismatch:
        As in :func:`~rankstack.pipeline_io.load_pipeline` (an index path every worker sees).
    retries:
        Extra attempts of a task that *raised* (a flaky shared filesystem). A worker that
        dies is handled by Dask's rescheduling whatever this value.
    progress:
        Called as ``progress(queries_done, queries_total)`` after each partition.

    Returns
    -------
    Run
        The queries' run in query order, equal to ``load_pipeline(dir).transform(queries)``.
    """
    from rankstack.pipeline_io import read_description

    folder = Path(pipeline_dir).expanduser().resolve()
    read_description(folder)  # format and checksums checked here, before any task starts
    digest = description_digest(folder)
    if isinstance(queries, Queries):
        qs = queries
    else:
        from rankstack.datasets import load_queries

        qs = load_queries(queries if isinstance(queries, str) else Path(queries))
    if partitions is not None and partitions < 1:
        raise DataError(f"partitions must be >= 1, found {partitions}")
    if retries < 0:
        raise DataError(f"retries must be >= 0, found {retries}")
    if len(qs) == 0:
        logger.warning("run_batch: no queries; the run is empty")
        return Run.empty()
    n_parts = partitions or (
        1 if client is None else PARTITIONS_PER_THREAD * worker_threads(client)
    )
    bounds = [(int(a), int(b)) for a, b in pairwise(even_bounds(len(qs), n_parts))]
    index_arg = None if index is None else str(Path(index).expanduser().resolve())
    start = time.perf_counter()
    if client is None:
        runs = _run_local(folder, qs, bounds, index_arg, allow_index_mismatch, progress)
    else:
        runs = _run_dask(
            client, folder, digest, qs, bounds, index_arg, allow_index_mismatch, retries, progress
        )
    run = Run.concat(runs)
    logger.info(
        "run_batch: %d queries in %d partitions, %d results, %.2f s",
        len(qs),
        len(bounds),
        len(run),
        time.perf_counter() - start,
    )
    return run


def _run_local(
    folder: Path,
    qs: Queries,
    bounds: list[tuple[int, int]],
    index: str | None,
    allow: bool,
    progress: BatchProgress | None,
) -> list[Run]:
    from rankstack.pipeline_io import load_pipeline

    pipe = load_pipeline(folder, index=index, allow_index_mismatch=allow)
    runs = []
    for a, b in bounds:
        runs.append(pipe.transform(qs.slice(a, b)))
        if progress is not None:
            progress(b, len(qs))
    return runs


def _run_dask(
    client: Any,
    folder: Path,
    digest: str,
    qs: Queries,
    bounds: list[tuple[int, int]],
    index: str | None,
    allow: bool,
    retries: int,
    progress: BatchProgress | None,
) -> list[Run]:
    as_completed: Any = require("distributed").as_completed
    futures = []
    for i, (a, b) in enumerate(bounds):
        payload = encode_queries(qs.slice(a, b))
        token = hashlib.sha256(
            f"{digest}\0{index}\0{allow}\0{folder}\0".encode() + payload
        ).hexdigest()
        futures.append(
            client.submit(
                run_partition,
                str(folder),
                digest,
                payload,
                index,
                allow,
                key=f"rankstack-batch-{i}-{token[:20]}",
                pure=True,
                retries=retries,
            )
        )
    where = {f.key: i for i, f in enumerate(futures)}
    runs: list[Run | None] = [None] * len(futures)
    done = 0
    try:
        for future in as_completed(futures):
            i = where[future.key]
            if runs[i] is not None:  # reported again after a recomputation: already have it
                continue
            try:
                result = future.result()
            except RankstackError:
                raise
            except Exception as exc:
                if type(exc).__name__ != "KilledWorker":
                    raise
                raise BatchError(
                    f"partition {i} (queries {bounds[i][0]}..{bounds[i][1] - 1}) failed: the "
                    f"workers running it died repeatedly ({exc}); check their memory limit and "
                    "logs"
                ) from exc
            runs[i] = decode_run(result)
            future.release()
            done += bounds[i][1] - bounds[i][0]
            if progress is not None:
                progress(done, len(qs))
    finally:
        client.cancel([f for f in futures if f.status != "finished"])
    return [r for r in runs if r is not None]
