"""The stage names an experiment file can use, bound to the experiment's dataset and index.

``bm25(...)`` and ``rm3(...)`` share one index per set of ``[index]`` options, built once and
cached on disk under ``RANKSTACK_HOME/indexes`` (keyed by the dataset, the index options and
the index format), so a second run of an experiment starts searching at once.
"""

from __future__ import annotations

import hashlib
import json
import logging
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

from rankstack.data import Corpus, Qrels, Queries
from rankstack.exceptions import IndexFormatError, RankstackError
from rankstack.experiment.expression import ExperimentError, parse_pipeline
from rankstack.experiment.spec import ExperimentSpec, SystemSpec
from rankstack.io._files import PathLike
from rankstack.pipeline import Precomputed, Stage

logger = logging.getLogger(__name__)


class ExperimentContext:
    """Loads an experiment's dataset lazily and builds its stages by name."""

    def __init__(self, spec: ExperimentSpec, *, cache_dir: PathLike | None = None) -> None:
        self.spec = spec
        self._cache_dir = Path(cache_dir) if cache_dir is not None else None
        self._index: Any = None
        self._corpus: Corpus | None = None

    # ------------------------------------------------------------------ data
    def _dataset(self) -> Any:
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

    def queries(self) -> Queries:
        ds = self._dataset()
        if ds is not None:
            return ds.queries(self.spec.split) if ds.split is None else ds.queries()
        from rankstack.io import BeirFolder

        folder = BeirFolder.open(self._path())
        qrels = folder.qrels(self.spec.split or "test")
        return folder.queries().select(qrels.qids, missing="drop")

    def qrels(self) -> Qrels:
        ds = self._dataset()
        if ds is not None:
            return ds.qrels(self.spec.split) if ds.split is None else ds.qrels()
        from rankstack.io import BeirFolder

        return BeirFolder.open(self._path()).qrels(self.spec.split or "test")

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
            corpus, path, fields=layout or names, tokenizer=tokenizer, progress=None
        )
        return self._index

    # ------------------------------------------------------------------ stages
    def factories(self) -> dict[str, Callable[..., Stage]]:
        """Stage name -> factory; parameters are the stages' own constructor parameters."""
        ctx = self

        def bm25(
            k1: float = 0.9,
            b: float = 0.4,
            variant: str = "lucene",
            delta: float | None = None,
            k: int | None = None,
            fields: Mapping[str, float] | None = None,
            quantize: bool | None = None,
        ) -> Stage:
            """BM25 over the experiment's index (k defaults to the experiment's depth)."""
            from rankstack.retrieve import BM25

            return BM25(
                ctx.index(),
                k1=k1,
                b=b,
                variant=variant,
                delta=delta,
                k=ctx.spec.depth if k is None else k,
                fields=fields,
                quantize=quantize,
            )

        def rm3(
            first: Stage | None = None,
            fb_docs: int = 10,
            fb_terms: int = 10,
            original_query_weight: float = 0.5,
        ) -> Stage:
            """RM3 expansion around a BM25 stage (default: ``bm25()``)."""
            from rankstack.retrieve import BM25, RM3

            base = first if first is not None else bm25()
            if not isinstance(base, BM25):
                raise ExperimentError(
                    f"rm3 expands the queries of a bm25 stage, found {type(base).__name__}: "
                    "write rm3(bm25(...))"
                )
            return RM3(
                base,
                fb_docs=fb_docs,
                fb_terms=fb_terms,
                original_query_weight=original_query_weight,
            )

        def run(path: str, name: str | None = None) -> Stage:
            """A saved TREC run (path relative to the experiment file)."""
            from rankstack.io import read_run

            p = Path(path)
            if not p.is_absolute() and ctx.spec.source is not None:
                p = ctx.spec.source.parent / p
            return Precomputed(read_run(p), name=name or p.stem)

        def fuse(*stages: Stage, method: str = "rrf", **options: Any) -> Stage:
            """Fusion of stages: method rrf, combsum, combmnz or interpolate."""
            from rankstack.retrieve.fusion import Fuse

            return Fuse(list(stages), method=method, **options)

        return {"bm25": bm25, "rm3": rm3, "run": run, "fuse": fuse}

    def build(self, system: SystemSpec) -> Stage:
        return parse_pipeline(
            system.pipeline, self.factories(), where=f"system {system.name!r}: pipeline"
        )


def check_spec(spec: ExperimentSpec) -> None:
    """Parse every pipeline without touching data, so typos fail before any work starts."""
    from rankstack.pipeline import Stage as _Stage

    class _Dummy(_Stage):
        is_retriever = True

    ctx = ExperimentContext(spec)
    real = ctx.factories()
    stubs: dict[str, Callable[..., Stage]] = {}
    for name, factory in real.items():
        stubs[name] = _stub_like(factory, _Dummy)
    for system in spec.systems:
        try:
            parse_pipeline(system.pipeline, stubs, where=f"system {system.name!r}: pipeline")
        except ExperimentError:
            raise


def _stub_like(factory: Callable[..., Stage], cls: type[Stage]) -> Callable[..., Stage]:
    import functools
    import inspect

    @functools.wraps(factory)
    def stub(*args: Any, **kwargs: Any) -> Stage:
        return cls()

    stub.__signature__ = inspect.signature(factory)  # type: ignore[attr-defined]
    return stub
