"""The served pipelines and their atomic replacement (``POST /admin/reload``, ``SIGHUP``).

The registry holds one immutable :class:`Snapshot` (name -> :class:`ServedPipeline`). A
request reads :attr:`Registry.current` once and uses that snapshot to the end, so a reload
never changes what a request in flight is using. A reload loads every pipeline folder again
into new objects (index memory-mapped anew, BM25 impacts computed, one warm-up query run),
and only when all of them loaded does it replace the reference, in one assignment. A reload
that fails (a folder half written, a corrupt file, an index that does not match) changes
nothing: the previous snapshot keeps serving and the error is reported. Reloads run one at a
time.

Folders are named on the command line only: no request field ever becomes a path. A folder
path may be a symbolic link; it is resolved at each load, so pointing the link at a new
version folder (``ln -sfn``-style, atomically with a rename, see :func:`publish`) and
reloading rolls the service to it.
"""

from __future__ import annotations

import logging
import os
import threading
import time
from dataclasses import dataclass
from pathlib import Path

from rankstack.exceptions import RankstackError
from rankstack.index import Index
from rankstack.serve.config import PipelineSpec, ServeConfig
from rankstack.serve.documents import Documents, empty_documents, load_documents, stamp
from rankstack.serve.runner import ServedPipeline

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class Snapshot:
    """The pipelines served together, and which load produced them (``generation``)."""

    pipelines: dict[str, ServedPipeline]
    generation: int
    loaded_at: float

    @property
    def default(self) -> str:
        return next(iter(self.pipelines))


class Registry:
    """Loads the configured pipelines and swaps in new versions atomically."""

    def __init__(self, config: ServeConfig) -> None:
        if not config.pipelines:
            raise RankstackError("serve needs at least one saved pipeline folder")
        self.config = config
        self._reload_lock = threading.Lock()
        self._documents: dict[str, tuple[object, Documents]] = {}
        self.reloads = 0
        self.failed_reloads = 0
        self.last_error: str | None = None
        self._current = self._load_all(generation=1)

    @property
    def current(self) -> Snapshot:
        """The snapshot to use for one whole request."""
        return self._current

    def reload(self) -> Snapshot:
        """Load every pipeline again and swap them in together; raises (and keeps the old
        snapshot) when any of them fails to load."""
        with self._reload_lock:
            t0 = time.perf_counter()
            logger.info("reloading %d pipelines", len(self.config.pipelines))
            try:
                new = self._load_all(self._current.generation + 1)
            except Exception as exc:
                self.failed_reloads += 1
                self.last_error = str(exc)
                logger.error(
                    "reload failed, still serving generation %d: %s", self._current.generation, exc
                )
                raise
            self._current = new  # the atomic swap: one reference assignment
            self.reloads += 1
            self.last_error = None
            logger.info(
                "reloaded %d pipelines (generation %d) in %.2fs",
                len(new.pipelines),
                new.generation,
                time.perf_counter() - t0,
            )
            return new

    # ------------------------------------------------------------------ loading
    def _load_all(self, generation: int) -> Snapshot:
        loaded = {spec.name: self._load(spec) for spec in self.config.pipelines}
        return Snapshot(loaded, generation, time.time())

    def _load(self, spec: PipelineSpec) -> ServedPipeline:
        from rankstack.pipeline_io import load_pipeline, pipeline_indexes, read_description

        folder = resolve_folder(spec)
        doc = read_description(folder, verify=False)  # load_pipeline verifies the files
        pipe = load_pipeline(folder, index=self.config.index)
        indexes = pipeline_indexes(pipe)
        index = indexes[0] if indexes else None
        ref = doc.get("index") or {}
        digest = (ref.get("fingerprint") or {}).get("digest")
        source = self.config.corpus or (doc.get("info") or {}).get("dataset")
        served = ServedPipeline(
            name=spec.name,
            folder=str(folder),
            expression=str(doc["expression"]),
            pipe=pipe,
            index=index,
            documents=self._documents_for(source, explicit=self.config.corpus is not None),
            digest=digest,
            loaded_at=time.time(),
            snippet_words=self.config.snippet_words,
        )
        # one query through every stage: opens the index and computes the BM25 impacts now,
        # so a broken version fails here (and is not swapped in) and the first request is fast
        served.search(_warm_up_query(index), k=1)
        logger.info("loaded pipeline %r from %s: %s", spec.name, folder, served.expression)
        return served

    def _documents_for(self, source: str | None, *, explicit: bool) -> Documents:
        if not source:
            return empty_documents()
        key = stamp(source)
        cached = self._documents.get(source)
        if cached is not None and cached[0] == key:
            return cached[1]
        try:
            docs = load_documents(source)
        except RankstackError as exc:
            if explicit:
                raise
            logger.warning("no snippets: the corpus %r cannot be loaded (%s)", source, exc)
            return empty_documents()
        self._documents[source] = (key, docs)
        return docs


def _warm_up_query(index: Index | None) -> str:
    """A query with a term of the index (its first vocabulary entry)."""
    if index is None or not index.n_terms:
        return "warm up"
    return str(index.terms[0].as_py())


def resolve_folder(spec: PipelineSpec) -> Path:
    """The folder of a pipeline, through any symbolic link, with a hint when a crashed
    ``save_pipeline`` left only its backup copy."""
    path = Path(spec.folder)
    if not path.exists():
        backups = sorted(path.parent.glob(f".{path.name}.old-*")) if path.parent.is_dir() else []
        hint = (
            f"; a save was interrupted while replacing it: its previous version is in "
            f"{backups[-1]} (rename it back to {path.name})"
            if backups
            else ""
        )
        raise RankstackError(f"pipeline {spec.name!r}: the folder {path} does not exist{hint}")
    return path.resolve()


def publish(version_folder: str | os.PathLike[str], link: str | os.PathLike[str]) -> Path:
    """Point the symbolic link ``link`` at ``version_folder`` atomically; returns the link.

    The new link is made under a temporary name and renamed over the old one (a rename is
    atomic on POSIX), so a service resolving ``link`` sees the old or the new version, never
    none. Then ``POST /admin/reload`` (or ``SIGHUP``) to switch the service over.
    """
    target = Path(version_folder).absolute()
    dest = Path(link)
    if not (target / "pipeline.json").is_file():
        raise RankstackError(f"{target} is not a saved pipeline folder (no pipeline.json)")
    if dest.exists() and not dest.is_symlink():
        raise RankstackError(f"{dest} exists and is not a symbolic link; refusing to replace it")
    tmp = dest.with_name(f".{dest.name}.tmp-{os.getpid()}")
    if tmp.is_symlink():
        tmp.unlink()
    os.symlink(target, tmp)
    os.replace(tmp, dest)
    return dest
