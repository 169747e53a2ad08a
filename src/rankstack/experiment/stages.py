"""An experiment's dataset, its index and its stages (the factories bound to that index).

Every index-bound stage (``bm25``, ``rm3``, ``features``) shares one index per set of
``[index]`` options, built once and cached on disk under ``RANKSTACK_HOME/indexes`` (keyed by
the dataset, the index options and the index format), so a second run of an experiment starts
searching at once. The stage names themselves live in :mod:`rankstack.experiment.factories`.
"""

from __future__ import annotations

import hashlib
import json
import logging
from collections.abc import Callable
from pathlib import Path
from typing import Any

from rankstack.data import Corpus, Qrels, Queries
from rankstack.exceptions import IndexFormatError, RankstackError
from rankstack.experiment.expression import ExperimentError, parse_pipeline
from rankstack.experiment.spec import ExperimentSpec, SystemSpec
from rankstack.io._files import PathLike
from rankstack.pipeline import Stage

logger = logging.getLogger(__name__)


class ExperimentContext:
    """Loads an experiment's dataset lazily and builds its stages by name."""

    def __init__(self, spec: ExperimentSpec, *, cache_dir: PathLike | None = None) -> None:
        self.spec = spec
        self._cache_dir = Path(cache_dir) if cache_dir is not None else None
        self._index: Any = None
        self._corpus: Corpus | None = None
        self._fingerprint: dict[str, Any] | None = None
        self._ds: tuple[Any] | None = None

    # ------------------------------------------------------------------ data
    def _dataset(self) -> Any:
        if self._ds is None:
            self._ds = (self._load_dataset(),)
        return self._ds[0]

    def _load_dataset(self) -> Any:
        from rankstack import datasets

        name = self.spec.dataset
        try:
            return datasets.load(name)
        except RankstackError:
            if self.spec.source is not None and (self.spec.source.parent / name).exists():
                return None  # a path relative to the experiment file
            if Path(name).exists():
                return None
            raise

    def _path(self) -> Path:
        p = Path(self.spec.dataset)
        if not p.exists() and self.spec.source is not None:
            p = self.spec.source.parent / self.spec.dataset
        return p

    def corpus(self) -> Corpus:
        if self._corpus is None:
            ds = self._dataset()
            if ds is not None:
                self._corpus = ds.corpus()
            else:
                from rankstack.datasets import load_corpus

                self._corpus = load_corpus(self._path())
        return self._corpus

    def splits(self) -> list[str]:
        """The dataset's split names (empty for a dataset without splits, like Cranfield)."""
        ds = self._dataset()
        if ds is not None:
            return [] if ds.split is not None else list(ds.splits)
        from rankstack.io import BeirFolder

        folder = BeirFolder.open(self._path())
        return [s for s in ("train", "dev", "test") if _has_qrels(folder, s)]

    def _split(self, split: str | None) -> str | None:
        """``split`` if the dataset has splits, None for one without (all queries)."""
        names = self.splits()
        if not names:
            return None
        split = split or self.spec.split
        if split not in names:
            raise ExperimentError(
                f"dataset {self.spec.dataset!r} has no split {split!r}; its splits are {names}"
            )
        return split

    def queries(self, split: str | None = None) -> Queries:
        """The judged queries of ``split`` (default: the experiment's report split)."""
        ds = self._dataset()
        if ds is not None:
            return ds.queries() if ds.split is not None else ds.queries(self._split(split))
        from rankstack.io import BeirFolder

        folder = BeirFolder.open(self._path())
        qrels = folder.qrels(self._split(split) or "test")
        return folder.queries().select(qrels.qids, missing="drop")

    def qrels(self, split: str | None = None) -> Qrels:
        ds = self._dataset()
        if ds is not None:
            return ds.qrels() if ds.split is not None else ds.qrels(self._split(split))
        from rankstack.io import BeirFolder

        return BeirFolder.open(self._path()).qrels(self._split(split) or "test")

    # ------------------------------------------------------------------ index
    def _index_key(self) -> str:
        from rankstack.index import _format

        desc = {
            "dataset": self.spec.dataset,
            "index": self.spec.index,
            "format": getattr(_format, "FORMAT_VERSION", 1),
        }
        if self._dataset() is None:
            p = self._path().resolve()
            st = p.stat()
            desc["path"] = [str(p), st.st_size, st.st_mtime_ns]
        digest = hashlib.sha256(json.dumps(desc, sort_keys=True).encode()).hexdigest()[:16]
        slug = "".join(c if c.isalnum() else "-" for c in self.spec.dataset).strip("-")
        return f"{slug}-{digest}"

    def cache_dir(self) -> Path:
        if self._cache_dir is not None:
            return self._cache_dir
        from rankstack.datasets import home_dir

        return Path(home_dir()) / "indexes"

    def index(self) -> Any:
        """The experiment's index: loaded from the cache, or built and cached."""
        if self._index is not None:
            return self._index
        from rankstack.index import Index, Tokenizer, build_index

        path = self.cache_dir() / self._index_key()
        if path.exists():
            try:
                self._index = Index.load(path)
                logger.info("using cached index %s", path)
                return self._index
            except IndexFormatError as exc:
                logger.warning("cached index %s is unusable (%s); rebuilding", path, exc)
        opts = dict(self.spec.index)
        fields = opts.pop("fields", None)
        tok_opts = {k: v for k, v in opts.items() if k in ("stemmer", "stopwords", "lowercase")}
        for key in ("stemmer", "stopwords"):
            if tok_opts.get(key) is False:
                tok_opts[key] = None
        tokenizer = Tokenizer(**tok_opts) if tok_opts else None
        corpus = self.corpus()
        names = list(fields) if fields else corpus.field_names
        names = sorted(names, key=lambda n: n != "title")  # title first, as Pyserini joins
        # one index serves both settings: "contents" (fields joined: Pyserini's flat BEIR
        # index) and one index field per corpus field (its "multifield" index)
        layout = {"contents": names, **{n: [n] for n in names}} if len(names) > 1 else None
        self._index = build_index(
            corpus,
            path,
            fields=layout or names,
            tokenizer=tokenizer,
            positions=bool(opts.get("positions", False)),
            progress=None,
        )
        return self._index

    def index_fingerprint(self) -> dict[str, Any]:
        """The fingerprint of the index (:func:`rankstack.pipeline_io.index_fingerprint`)."""
        if self._fingerprint is None:
            from rankstack.pipeline_io import index_fingerprint

            self._fingerprint = index_fingerprint(self.index())
        return self._fingerprint

    # ------------------------------------------------------------------ stages
    def factories(self) -> dict[str, Callable[..., Stage]]:
        """Stage name -> factory; parameters are the stages' own constructor parameters."""
        from rankstack.experiment.factories import stage_factories

        base = self.spec.source.parent if self.spec.source is not None else None
        return stage_factories(
            self.index, depth=self.spec.depth, base=base, models=base, corpus=self.corpus
        )

    def build(self, system: SystemSpec) -> Stage:
        return parse_pipeline(
            system.pipeline, self.factories(), where=f"system {system.name!r}: pipeline"
        )


def _has_qrels(folder: Any, split: str) -> bool:
    try:
        folder.qrels(split)
    except RankstackError:
        return False
    return True


def check_spec(spec: ExperimentSpec) -> None:
    """Parse every pipeline without touching data, so typos fail before any work starts."""
    from rankstack.experiment.factories import LazyFactory

    class _Dummy(Stage):
        is_retriever = True

    stubs: dict[str, Callable[..., Stage]] = {}
    for name, factory in ExperimentContext(spec).factories().items():
        stubs[name] = LazyFactory(lambda *a, **k: _Dummy(), _signature_of(factory))
    for system in spec.systems:
        parse_pipeline(system.pipeline, stubs, where=f"system {system.name!r}: pipeline")


def _signature_of(factory: Callable[..., Stage]) -> Callable[[], Any]:
    import inspect

    return lambda: inspect.signature(factory)
