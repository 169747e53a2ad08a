"""On-disk cache of the runs an experiment computes: retrieved candidates and their features.

An entry is keyed by the SHA-256 of a description of everything that decides its content:

- the pipeline expression of the stage that produced it, every parameter written out
  (:func:`~rankstack.experiment.describe.describe` with ``full=True``);
- the query set it was computed for (a label such as the dataset and split, and a hash of the
  query ids and texts);
- the fingerprint of the index the stage reads (:func:`rankstack.pipeline_io.index_fingerprint`);
- the SHA-256 of the model folders and files it reads, which the expression names by path only
  (:mod:`rankstack.experiment.inputs`), so a model retrained in place is never served stale;
- for fitted systems, the training and validation queries and judgements, and the protocol;
- :data:`CACHE_VERSION`, bumped whenever a stage's output for the same description changes.

Each entry is two files: ``KEY.arrow`` (the run as an Arrow IPC file: doc ids, scores, one
float32 column per feature; the query ids and sizes in the schema metadata, so empty rankings
survive) and ``KEY.json`` (the description, the Arrow file's SHA-256 and size). An entry is
written atomically (Arrow file first, then its description); on read the checksum is verified,
and an entry that fails it, cannot be parsed or lacks a file counts as *corrupt*: it is logged,
recomputed and overwritten, never trusted. Nothing is pickled.

:class:`CachedStage` wraps an unlearned retrieval stage: it computes the stage once for a whole
*universe* of queries (every query the experiment will ask for), stores that run, and serves any
subset of those queries by selecting rows. This is exact for stages that treat queries
independently, which every retrieval, fusion and feature stage does.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
from collections import Counter
from collections.abc import Callable
from pathlib import Path
from typing import IO, Any, cast

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from rankstack.data import Queries, Run
from rankstack.data._columns import offsets_from_sizes
from rankstack.io._files import atomic_write
from rankstack.pipeline import Stage

logger = logging.getLogger(__name__)

#: bump when the output of a stage for the same description changes
CACHE_VERSION = 1
_META = b"rankstack.run"


def digest(description: Any) -> str:
    """The SHA-256 (hex) of a JSON-serialisable description, keys sorted."""
    text = json.dumps(description, sort_keys=True, separators=(",", ":"), default=str)
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def queries_hash(queries: Queries) -> str:
    """A hash of the query ids and texts, in order."""
    h = hashlib.sha256()
    for arr in (queries.qids, queries.texts):
        h.update(json.dumps(arr.to_pylist()).encode("utf-8"))
    return h.hexdigest()[:32]


def run_hash(run: Run) -> str:
    """A hash of a run's queries, doc ids and scores (for a precomputed run in a key)."""
    h = hashlib.sha256()
    h.update(json.dumps([run.qids.to_pylist(), run.docids.to_pylist()]).encode("utf-8"))
    h.update(np.ascontiguousarray(run.offsets).tobytes())
    h.update(np.ascontiguousarray(run.scores).tobytes())
    return h.hexdigest()[:32]


# ------------------------------------------------------------------------------ run files
def run_to_bytes(run: Run) -> bytes:
    """A run as an Arrow IPC file (no pickle)."""
    cols: dict[str, Any] = {
        "docid": run.docids.cast(pa.string()),
        "score": pa.array(run.scores, pa.float64()),
    }
    if run.features is not None:
        for j in range(run.features.shape[1]):
            cols[f"f{j}"] = pa.array(np.ascontiguousarray(run.features[:, j]), pa.float32())
    meta = {
        "qids": run.qids.to_pylist(),
        "sizes": run.sizes.tolist(),
        "feature_names": list(run.feature_names) if run.features is not None else None,
    }
    table = pa.table(cols).replace_schema_metadata({_META: json.dumps(meta).encode("utf-8")})
    sink = pa.BufferOutputStream()
    with pa.ipc.new_file(sink, table.schema) as writer:
        writer.write_table(table)
    return bytes(sink.getvalue().to_pybytes())


def run_from_bytes(data: bytes) -> Run:
    """The run written by :func:`run_to_bytes` (raises ``ValueError``/``KeyError`` if damaged)."""
    table = pa.ipc.open_file(pa.BufferReader(data)).read_all()
    meta = json.loads((table.schema.metadata or {})[_META])
    names = meta["feature_names"]
    features = None
    if names is not None:
        features = np.empty((table.num_rows, len(names)), dtype=np.float32)
        for j in range(len(names)):
            features[:, j] = table.column(f"f{j}").to_numpy()
    return Run(
        qids=pa.array(meta["qids"], pa.string()),
        offsets=offsets_from_sizes(np.asarray(meta["sizes"], dtype=np.int64)),
        docids=table.column("docid").combine_chunks(),
        scores=table.column("score").to_numpy().astype(np.float64),
        features=features,
        feature_names=tuple(names or ()),
    )


# ------------------------------------------------------------------------------ the cache
class RunCache:
    """Runs by key description: in memory for this process, on disk under ``root`` if given.

    ``stats`` counts ``hits`` (memory or disk), ``misses`` (computed), ``corrupt`` (a disk
    entry that failed its checks and was recomputed) and ``stored``; ``computed`` lists the
    labels of the entries computed, in order (what a changed experiment had to redo).
    """

    def __init__(self, root: str | os.PathLike[str] | None = None, *, enabled: bool = True) -> None:
        self.root = Path(root).expanduser() if root is not None else None
        self.enabled = enabled
        self._memory: dict[str, tuple[Run, dict[str, Any]]] = {}
        self.stats: Counter[str] = Counter()
        self.computed: list[str] = []

    def _paths(self, key: str) -> tuple[Path, Path]:
        assert self.root is not None
        folder = self.root / key[:2]
        return folder / f"{key}.arrow", folder / f"{key}.json"

    def get(
        self,
        description: dict[str, Any],
        compute: Callable[[], Run],
        label: str = "",
        *,
        refresh: bool = False,
        info: dict[str, Any] | None = None,
    ) -> Run:
        """The run for ``description``: from memory, from disk (verified), or ``compute()``.

        ``refresh=True`` computes it in any case and stores the result. ``info``, a dict that
        ``compute`` fills with facts about the computation, is stored with the entry and filled
        from it on a hit.
        """
        info = {} if info is None else info
        key = digest({**description, "cache_version": CACHE_VERSION})
        if not self.enabled:
            self.stats["misses"] += 1
            self.computed.append(label)
            return compute()
        if key in self._memory and not refresh:
            self.stats["hits"] += 1
            run, stored = self._memory[key]
            info.update(stored)
            return run
        found = self._read(key, label) if self.root is not None and not refresh else None
        if found is not None:
            self.stats["hits"] += 1
            run = found[0]
            info.update(found[1])
        else:
            self.stats["misses"] += 1
            self.computed.append(label)
            run = compute()
            if self.root is not None:
                self._write(key, description, run, info)
        self._memory[key] = (run, dict(info))
        return run

    def _read(self, key: str, label: str) -> tuple[Run, dict[str, Any]] | None:
        data_path, meta_path = self._paths(key)
        if not meta_path.exists() and not data_path.exists():
            return None
        try:
            meta = json.loads(meta_path.read_text(encoding="utf-8"))
            data = data_path.read_bytes()
            if meta.get("cache_version") != CACHE_VERSION or meta.get("key") != key:
                raise ValueError("the entry's description does not match its key")
            if len(data) != meta["bytes"] or hashlib.sha256(data).hexdigest() != meta["sha256"]:
                raise ValueError("the run file does not match its checksum")
            run = run_from_bytes(data)
        except (OSError, ValueError, KeyError, TypeError, pa.ArrowException) as exc:
            self.stats["corrupt"] += 1
            logger.warning(
                "cache entry %s (%s) is corrupt (%s); recomputing it", data_path, label, exc
            )
            return None
        logger.debug("cache hit %s (%s)", key, label)
        return run, dict(meta.get("info") or {})

    def _write(self, key: str, description: dict[str, Any], run: Run, info: dict[str, Any]) -> None:
        data_path, meta_path = self._paths(key)
        data = run_to_bytes(run)
        meta = {
            "cache_version": CACHE_VERSION,
            "key": key,
            "description": description,
            "sha256": hashlib.sha256(data).hexdigest(),
            "bytes": len(data),
            "info": info,
        }
        try:
            with atomic_write(data_path, "wb") as fh:
                cast("IO[bytes]", fh).write(data)
            with atomic_write(meta_path, "wb") as fh:
                cast("IO[bytes]", fh).write(json.dumps(meta, indent=1, default=str).encode())
        except OSError as exc:  # a full or read-only disk costs speed, not results
            logger.warning("could not write cache entry %s: %s", data_path, exc)
            return
        self.stats["stored"] += 1


class CachedStage(Stage):
    """A retrieval stage computed once for a universe of queries and cached (see module doc).

    Asked for queries outside the universe, it runs the stage directly (nothing is cached).
    """

    is_retriever = True

    def __init__(
        self,
        stage: Stage,
        cache: RunCache,
        description: dict[str, Any],
        universe: Queries,
        label: str = "",
    ) -> None:
        self.stage = stage
        self.cache = cache
        self.description = description
        self.universe = universe
        self.label = label

    @property
    def wrapped_stage(self) -> Stage:
        """The stage this one caches (what :func:`describe` writes)."""
        return self.stage

    def transform(self, queries: Queries, run: Run | None = None) -> Run:
        inside = pc.all(pc.is_in(queries.qids, value_set=self.universe.qids)).as_py()
        if len(queries) and not inside:
            return self.stage.transform(queries, run)
        full = self.cache.get(
            self.description, lambda: self.stage.transform(self.universe), self.label
        )
        if queries.qids.equals(self.universe.qids):
            return full
        return full.select(queries.qids, missing="raise")

    def __repr__(self) -> str:
        return f"CachedStage({self.stage!r})"


def qrels_hash(qrels: Any) -> str:
    """A hash of judgements (query ids, doc ids and grades)."""
    h = hashlib.sha256()
    h.update(json.dumps([qrels.qids.to_pylist(), qrels.docids.to_pylist()]).encode("utf-8"))
    h.update(np.ascontiguousarray(qrels.offsets).tobytes())
    h.update(np.ascontiguousarray(qrels.labels, dtype=np.int64).tobytes())
    return h.hexdigest()[:32]
