"""Which parts of a system are cached: every unlearned retrieval part, at every prefix.

``bm25(k=100) >> features() >> lambdamart()`` becomes
``Cached(Cached(bm25(k=100)) >> features()) >> lambdamart()``: the candidates and their
features are each an entry, so changing the ranker reuses both, and changing the feature set
reuses the candidates. ``fuse(bm25(), rm3(bm25()))`` caches each retriever and the fusion.
A part that reads model folders or files is keyed by their contents too
(:mod:`rankstack.experiment.inputs`), so a model retrained in place is never served stale.
Learned stages are never inside a cached part; a stage the expression language cannot write
(a custom Python stage) is left uncached.
"""

from __future__ import annotations

import logging
from typing import Any

from rankstack.data import Queries
from rankstack.exceptions import DataError
from rankstack.experiment.cache import CachedStage, RunCache, queries_hash, run_hash
from rankstack.experiment.describe import describe
from rankstack.experiment.inputs import input_digests
from rankstack.pipeline import (
    Cutoff,
    FeatureUnion,
    Precomputed,
    Scaled,
    ScoreSum,
    Stage,
    Then,
    learned_stages,
)

logger = logging.getLogger(__name__)


def key_expression(stage: Stage) -> str | None:
    """The full expression of ``stage`` for cache keys, or None if it cannot be written."""

    def resolve(s: Stage) -> str | None:
        if isinstance(s, Precomputed):
            return f"run(sha256={run_hash(s.run)!r})"
        inner = getattr(s, "wrapped_stage", None)
        return key_expression(inner) if isinstance(inner, Stage) else None

    try:
        return describe(stage, full=True, resolve=resolve)
    except DataError:
        return None


def index_digests(stage: Stage) -> list[str]:
    """Fingerprint digests of the indexes ``stage`` reads."""
    from rankstack.pipeline_io import index_fingerprint, pipeline_indexes

    return sorted(index_fingerprint(i)["digest"] for i in pipeline_indexes(stage))


def input_key(inputs: list[dict[str, str]]) -> dict[str, Any]:
    """The key entry of the files a stage reads (:mod:`~rankstack.experiment.inputs`): none
    for a stage that reads none, so its key is the one earlier versions wrote."""
    return {"inputs": inputs} if inputs else {}


class Planner:
    """Wraps the cacheable parts of systems for one query universe."""

    def __init__(self, cache: RunCache, universe: Queries, label: str) -> None:
        self.cache = cache
        self.universe = universe
        self.label = label
        self.queries_key = {"label": label, "hash": queries_hash(universe)}

    def wrap(self, stage: Stage) -> Stage:
        """``stage`` with each maximal unlearned retrieval part (and its prefixes) cached."""
        if not learned_stages(stage):
            return self._cached(stage) if stage.is_retriever else stage
        if isinstance(stage, Then):
            steps = stage.stages
            first = next(i for i, s in enumerate(steps) if learned_stages(s))
            head = steps[:first]
            if head and head[0].is_retriever:
                prefix = self.wrap(head[0] if len(head) == 1 else Then(head))
                return Then([prefix, *steps[first:]])
            return stage
        return self._rebuilt(stage)

    def _rebuilt(self, stage: Stage) -> Stage:
        """A composite rebuilt with its retrieval children wrapped (same parameters)."""
        from rankstack.retrieve.fusion import Fuse

        if not isinstance(stage, (Fuse, ScoreSum, FeatureUnion, Scaled)):
            return stage

        def sub(value: Any) -> Any:
            if isinstance(value, Stage):
                return self.wrap(value) if value.is_retriever else value
            if isinstance(value, list) and any(isinstance(v, Stage) for v in value):
                return [sub(v) for v in value]
            return value

        return type(stage)(**{k: sub(v) for k, v in stage.get_params().items()})

    def _cached(self, stage: Stage) -> Stage:
        expr = key_expression(stage)
        if expr is None:
            logger.info("not caching %s: it has no pipeline expression", type(stage).__name__)
            return stage
        inputs = input_digests(stage)
        if inputs is None:
            return stage
        if isinstance(stage, Then) and len(stage.stages) > 1:
            *head, last = stage.stages
            inner: Stage = Then([self._cached(Then(head) if len(head) > 1 else head[0]), last])
            if isinstance(last, Cutoff):  # a cut is cheap: cache what it cuts, not the cut
                return inner
        else:
            inner = self._rebuilt(stage)
        description = {
            "kind": "run",
            "expression": expr,
            "queries": self.queries_key,
            "indexes": index_digests(stage),
            **input_key(inputs),
        }
        return CachedStage(inner, self.cache, description, self.universe, label=expr)
