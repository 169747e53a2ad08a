"""The stage names a pipeline expression can use, bound to one index.

``stage_factories(index)`` maps each name of the expression language to a function that
builds the stage: ``bm25``, ``rm3``, ``fuse``, ``cutoff``, ``run`` (a saved TREC run),
``features`` (query-document features, when :mod:`rankstack.rerank` is installed),
``dense``, ``dense_features`` (bi-encoder features), ``splade``, ``hybrid``, ``cross_encoder`` and
``llm_rerank`` (neural stages over the corpus), ``lambdamart`` and ``neural`` (learned rankers;
``saved="stages/0"`` loads a saved one; not ``model``, which is a parameter of
``NeuralRanker``). The parameters of each factory are the stage's own constructor parameters,
so the expression parser can name an unknown parameter and list the valid ones. Experiments
(:mod:`rankstack.experiment.stages`) and saved pipelines (:mod:`rankstack.pipeline_io`) share
these factories, so a saved pipeline is re-read with exactly the grammar it was written in.

The rankers' signatures are read lazily: listing ``neural``'s parameters imports torch only
when an expression uses it.
"""

from __future__ import annotations

import inspect
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

from rankstack.exceptions import DataError
from rankstack.experiment.expression import ExperimentError
from rankstack.pipeline import Cutoff, Precomputed, Stage

#: rankers whose saved folder a factory can load with ``saved=...``
RANKER_CLASSES = {"lambdamart": ("rankstack.ltr.gbdt", "LambdaMART")}
RANKER_CLASSES["neural"] = ("rankstack.ltr.neural", "NeuralRanker")

#: parameters that the experiment sets differently from the class default
EXPERIMENT_DEFAULTS: dict[str, dict[str, Any]] = {
    "neural": {"progress": False},
    "dense_features": {"cache_dir": "auto", "progress": False},
}
#: the bi-encoder of ``dense()`` and ``dense_features()`` without ``model=``
DENSE_MODEL = "sentence-transformers/all-MiniLM-L6-v2"


class LazyFactory:
    """A factory whose signature is computed on first use (it may import torch)."""

    def __init__(
        self, make: Callable[..., Stage], signature: Callable[[], inspect.Signature]
    ) -> None:
        self._make = make
        self._signature = signature
        self._sig: inspect.Signature | None = None
        self.__doc__ = make.__doc__

    @property
    def __signature__(self) -> inspect.Signature:
        if self._sig is None:
            self._sig = self._signature()
        return self._sig

    def __call__(self, *args: Any, **kwargs: Any) -> Stage:
        return self._make(*args, **kwargs)


def _import(module: str, name: str) -> Any:
    import importlib

    return getattr(importlib.import_module(module), name)


def _class_signature(
    cls: type, *, drop: tuple[str, ...] = (), extra: tuple[inspect.Parameter, ...] = ()
) -> inspect.Signature:
    """The keyword-only signature of ``cls.__init__`` without ``self`` and ``drop``."""
    params = [
        p.replace(kind=inspect.Parameter.KEYWORD_ONLY)
        for name, p in inspect.signature(cls.__init__).parameters.items()  # type: ignore[misc]
        if name != "self" and name not in drop and p.kind is not p.VAR_KEYWORD
    ]
    return inspect.Signature([*extra, *params])


def _ranker_factory(kind: str, models: Path | None) -> LazyFactory:
    module, cls_name = RANKER_CLASSES[kind]

    def make(saved: str | None = None, **params: Any) -> Stage:
        from rankstack._compat import require

        cls = _import(module, cls_name)
        if saved is not None:
            if params:
                raise ExperimentError(
                    f"{kind}(saved=...) loads a saved model; its parameters are in the model "
                    f"folder, so {sorted(params)} cannot be given too"
                )
            folder = Path(saved)
            if not folder.is_absolute() and models is not None:
                folder = models / folder
            loaded: Stage = cls.load(folder)
            return loaded
        if kind == "lambdamart":
            require("lightgbm")
        return cls(**{**EXPERIMENT_DEFAULTS.get(kind, {}), **params})

    def signature() -> inspect.Signature:
        saved = inspect.Parameter(
            "saved", inspect.Parameter.KEYWORD_ONLY, default=None, annotation="str | None"
        )
        return _class_signature(_import(module, cls_name), extra=(saved,))

    make.__doc__ = f"A {cls_name} ranker (``saved='DIR'`` loads a saved one)."
    return LazyFactory(make, signature)


def features_class() -> type[Stage] | None:
    """:class:`rankstack.rerank.Features`, or None while that module is not installed."""
    try:
        cls: type[Stage] = _import("rankstack.rerank", "Features")
    except (ImportError, AttributeError):
        return None
    return cls


def stage_factories(
    index: Callable[[], Any],
    *,
    depth: int = 1000,
    base: Path | None = None,
    models: Path | None = None,
    corpus: Callable[[], Any] | None = None,
) -> dict[str, Callable[..., Stage]]:
    """Stage name -> factory, with every index-bound stage over ``index()``.

    Parameters
    ----------
    index:
        Returns the :class:`~rankstack.index.Index` (called only when a stage needs it, so a
        file can be checked without building an index).
    depth:
        Default ``k`` of ``bm25()`` (the experiment's depth).
    base:
        Folder that relative ``run(path=...)`` paths are read from.
    models:
        Folder that relative ``lambdamart(saved=...)`` / ``neural(saved=...)`` paths are
        read from.
    corpus:
        Returns the corpus of the index: ``features()`` over an index built without positions
        then takes the positions of its phrase and proximity features from the text.
    """

    def bm25(
        k1: float = 0.9,
        b: float = 0.4,
        variant: str = "lucene",
        delta: float | None = None,
        k: int | None = None,
        fields: Mapping[str, float] | None = None,
        quantize: bool | None = None,
        name: str = "bm25",
    ) -> Stage:
        """BM25 over the index (``k`` defaults to the experiment's depth)."""
        from rankstack.retrieve import BM25

        return BM25(
            index(),
            k1=k1,
            b=b,
            variant=variant,
            delta=delta,
            k=depth if k is None else k,
            fields=fields,
            quantize=quantize,
            name=name,
        )

    def rm3(
        first: Stage | None = None,
        fb_docs: int = 10,
        fb_terms: int = 10,
        original_query_weight: float = 0.5,
        field: str | None = None,
        filter_terms: bool = True,
        max_df_ratio: float = 0.1,
        k: int | None = None,
        name: str = "rm3",
    ) -> Stage:
        """RM3 expansion around a BM25 stage (default: ``bm25()``)."""
        from rankstack.retrieve import BM25, RM3

        base_stage = first if first is not None else bm25()
        if not isinstance(base_stage, BM25):
            raise ExperimentError(
                f"rm3 expands the queries of a bm25 stage, found {type(base_stage).__name__}: "
                "write rm3(bm25(...))"
            )
        return RM3(
            base_stage,
            fb_docs=fb_docs,
            fb_terms=fb_terms,
            original_query_weight=original_query_weight,
            field=field,
            filter_terms=filter_terms,
            max_df_ratio=max_df_ratio,
            k=k,
            name=name,
        )

    def run(path: str, name: str | None = None) -> Stage:
        """A saved TREC run (a relative path is read from the experiment's folder)."""
        from rankstack.io import read_run

        p = Path(path)
        if not p.is_absolute() and base is not None:
            p = base / p
        return Precomputed(read_run(p), name=name or p.stem)

    def fuse(
        *stages: Stage,
        method: str = "rrf",
        k: int = 60,
        norm: str | None = None,
        weights: list[float] | None = None,
        alpha: float | None = None,
        depth: int | None = None,
    ) -> Stage:
        """Fusion of stages: method rrf, combsum, combmnz or interpolate."""
        from rankstack.retrieve.fusion import Fuse

        if not stages:
            raise ExperimentError("fuse() needs at least one stage: fuse(bm25(), rm3(bm25()))")
        bad = [type(s).__name__ for s in stages if not isinstance(s, Stage)]
        if bad:
            raise ExperimentError(f"fuse() takes stages, found {bad}")
        return Fuse(
            list(stages), method=method, k=k, norm=norm, weights=weights, alpha=alpha, depth=depth
        )

    def cutoff(k: int) -> Stage:
        """Keep the top ``k`` of each query (the same as ``stage % k``)."""
        return Cutoff(k)

    def dense(
        model: str = DENSE_MODEL,
        k: int | None = None,
        batch_size: int = 64,
        normalize: bool = True,
        query_prefix: str = "",
        doc_prefix: str = "",
        cache_dir: str | None = "auto",
        dtype: str = "float32",
        index_kind: str = "exact",
        index_params: dict[str, Any] | None = None,
        fields: list[str] | None = None,
        name: str = "dense",
    ) -> Stage:
        """A bi-encoder over the corpus (rankstack.dense; embeddings cached on disk)."""
        from rankstack.dense import BiEncoder

        if corpus is None:
            raise ExperimentError("dense() needs the experiment's corpus")
        where = Path(model)
        if not where.is_absolute() and models is not None and (models / where).exists():
            model = str(models / where)
        return BiEncoder(
            model,
            corpus=corpus(),
            k=depth if k is None else k,
            batch_size=batch_size,
            normalize=normalize,
            query_prefix=query_prefix,
            doc_prefix=doc_prefix,
            cache_dir=cache_dir,
            dtype=dtype,
            index_kind=index_kind,
            index_params=index_params,
            fields=fields,
            progress=False,
            name=name,
        )

    def hybrid(
        sparse: Stage,
        dense: Stage,
        method: str = "interpolate",
        norm: str = "minmax",
        alpha: float | None = None,
        k: int = 60,
        depth: int | None = None,
        grid: list[float] | None = None,
        measure: str = "nDCG@10",
        name: str = "hybrid",
    ) -> Stage:
        """Sparse + dense fusion: rrf, or interpolate (alpha fixed, or fitted by Hybrid.fit)."""
        from rankstack.dense import Hybrid

        bad = [type(s).__name__ for s in (sparse, dense) if not isinstance(s, Stage)]
        if bad:
            raise ExperimentError(f"hybrid() takes two stages, found {bad}")
        return Hybrid(
            sparse,
            dense,
            method=method,
            norm=norm,
            alpha=alpha,
            k=k,
            depth=depth,
            grid=grid,
            measure=measure,
            name=name,
        )

    def llm_rerank(**params: Any) -> Stage:
        """Re-rank with an LLM (rankstack.llm; methods, backends and models in docs/llm.md)."""
        from rankstack.llm.stage import LLMRerank

        if corpus is None:
            raise ExperimentError("llm_rerank() needs the experiment's corpus")
        try:
            return LLMRerank(corpus=corpus(), **params)
        except TypeError as exc:
            raise ExperimentError(f"llm_rerank(): {exc}") from exc

    def cross_encoder(model: str, **params: Any) -> Stage:
        """Re-rank with a cross-encoder (rankstack.rerank.cross_encoder; docs/neural.md)."""
        from rankstack.rerank.cross_encoder import CrossEncoder

        if corpus is None:
            raise ExperimentError("cross_encoder() needs the experiment's corpus")
        where = Path(model)
        if not where.is_absolute() and models is not None and (models / where).exists():
            model = str(models / where)
        try:
            return CrossEncoder(model, corpus=corpus(), **params)
        except TypeError as exc:
            raise ExperimentError(f"cross_encoder(): {exc}") from exc

    def splade(
        model: str | None = "splade-tiny",
        index: str | None = None,
        k: int | None = None,
        max_length: int = 64,
        doc_max_length: int = 256,
        batch_size: int = 32,
        quantize: bool = True,
        scale: float = 100.0,
        fields: list[str] | None = None,
        cache_dir: str = "auto",
        name: str = "splade",
    ) -> Stage:
        """SPLADE over the corpus (rankstack.sparse; the impact index built once and cached,
        or ``index=PATH`` for a saved one)."""
        from rankstack.sparse import Splade

        if model is not None:
            where = Path(model)
            if not where.is_absolute() and models is not None and (models / where).exists():
                model = str(models / where)
        kk = depth if k is None else k
        if index is not None:
            p = Path(index)
            if not p.is_absolute() and base is not None:
                p = base / p
            return Splade(
                p, model=model, k=kk, max_length=max_length, batch_size=batch_size, name=name
            )
        if corpus is None or model is None:
            raise ExperimentError(
                "splade() needs the experiment's corpus and a model, or index=PATH"
            )
        return Splade.cached(
            corpus(),
            model,
            cache_dir=cache_dir,
            quantize=quantize,
            scale=scale,
            doc_max_length=doc_max_length,
            batch_size=batch_size,
            fields=fields,
            k=kk,
            max_length=max_length,
            name=name,
        )

    def dense_features(model: str = DENSE_MODEL, **params: Any) -> Stage:
        """Bi-encoder features of each candidate (rankstack.dense.DenseFeatures)."""
        from rankstack.dense.features import DenseFeatures

        where = Path(model)
        if not where.is_absolute() and models is not None and (models / where).exists():
            model = str(models / where)
        vectors = params.get("vectors")
        if isinstance(vectors, str) and not Path(vectors).is_absolute() and models is not None:
            params["vectors"] = str(models / vectors)  # a saved pipeline's assets/N
        if params.get("vectors") is None:
            if corpus is None:
                raise ExperimentError(
                    "dense_features() needs the experiment's corpus, or vectors=PATH (a saved "
                    "vector index of the document embeddings)"
                )
            params["corpus"] = corpus()
        try:
            return DenseFeatures(model, **{**EXPERIMENT_DEFAULTS["dense_features"], **params})
        except TypeError as exc:
            raise ExperimentError(f"dense_features(): {exc}") from exc

    def dense_features_signature() -> inspect.Signature:
        sig = _class_signature(
            _import("rankstack.dense.features", "DenseFeatures"), drop=("corpus",)
        )
        changed = EXPERIMENT_DEFAULTS["dense_features"]
        params = [
            p.replace(default=changed.get(p.name, p.default)) for p in sig.parameters.values()
        ]
        params[0] = params[0].replace(default=DENSE_MODEL)
        return sig.replace(parameters=params)

    factories: dict[str, Callable[..., Stage]] = {
        "bm25": bm25,
        "dense_features": LazyFactory(dense_features, dense_features_signature),
        "dense": dense,
        "hybrid": hybrid,
        "splade": splade,
        "rm3": rm3,
        "run": run,
        "fuse": fuse,
        "cutoff": cutoff,
        "lambdamart": _ranker_factory("lambdamart", models),
        "neural": _ranker_factory("neural", models),
        "cross_encoder": LazyFactory(
            cross_encoder,
            lambda: _class_signature(
                _import("rankstack.rerank.cross_encoder", "CrossEncoder"), drop=("corpus",)
            ),
        ),
        "llm_rerank": LazyFactory(
            llm_rerank,
            lambda: _class_signature(_import("rankstack.llm.stage", "LLMRerank"), drop=("corpus",)),
        ),
    }
    feats = features_class()
    if feats is not None:
        cls = feats

        def make_features(**params: Any) -> Stage:
            idx = index()
            if corpus is not None and not getattr(idx, "positions", True):
                params["corpus"] = corpus()
            try:
                return cls(idx, **params)  # type: ignore[call-arg]
            except (TypeError, ValueError) as exc:
                if isinstance(exc, DataError):
                    raise
                raise ExperimentError(f"features(): {exc}") from exc

        make_features.__doc__ = "Query-document features over the index (rankstack.rerank)."
        factories["features"] = LazyFactory(
            make_features, lambda: _class_signature(cls, drop=("index", "corpus"))
        )
    return factories
