"""One served pipeline: run it for one query, stage by stage, keeping each stage's ranking.

The pipeline ``a >> b >> c`` is run one stage at a time so that every result can say where
each *ranking* stage put it (the first stage, then every stage that re-scores: a learned
ranker, a fusion...), e.g. "bm25 #7 -> lambdamart #2". Stages that only annotate or cut
(:class:`~rankstack.rerank.Features`, :class:`~rankstack.pipeline.Cutoff`) keep the ranking.

``rerank_depth`` replaces the pipeline's own first-stage depth: a BM25 first stage retrieves
that many candidates (its ``k`` is not changed: the depth is passed per call), and cut-offs
between the first stage and the first re-ranker are skipped. ``POST /rerank`` runs the same
stages over candidate texts (:mod:`rankstack.serve.textview`); it supports pipelines whose
first stage is BM25 and whose later stages are cut-offs, feature stages and learned rankers.

A :class:`ServedPipeline` is used by many request threads at once; its analysers and the
lazily computed BM25 impacts are not meant for concurrent use, so every run holds the
pipeline's lock (the work is short: one query). A new version is a new object (reload).
"""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from rankstack.data import Queries, Run
from rankstack.data._columns import to_str_list
from rankstack.exceptions import RankstackError
from rankstack.index import Index
from rankstack.pipeline import Cutoff, Stage, Then, align_rows, is_learned
from rankstack.rerank import Features
from rankstack.retrieve import BM25
from rankstack.serve.documents import Documents
from rankstack.serve.snippets import Snippet, SnippetMaker
from rankstack.serve.textview import candidate_index

_QID = "q"


class RerankUnsupportedError(RankstackError, ValueError):
    """The pipeline cannot score texts that are not in its index."""


@dataclass(frozen=True)
class StageHit:
    """Where one stage ranked a result: 1-based ``rank`` and ``score`` (``None``: not ranked)."""

    stage: str
    rank: int | None
    score: float | None


@dataclass(frozen=True)
class Hit:
    docid: str
    rank: int
    score: float
    stages: list[StageHit]
    title: str = ""
    snippet: Snippet | None = None


@dataclass(frozen=True)
class Outcome:
    hits: list[Hit]
    stages: list[str]
    n_candidates: int
    seconds: float


@dataclass
class ServedPipeline:
    """A loaded pipeline with its index, document text and facts for ``/health``."""

    name: str
    folder: str
    expression: str
    pipe: Stage
    index: Index | None
    documents: Documents
    digest: str | None
    loaded_at: float
    snippet_words: int = 40
    lock: threading.Lock = field(default_factory=threading.Lock, repr=False)
    _snippets: SnippetMaker | None = field(default=None, repr=False)

    # ------------------------------------------------------------------ structure
    @property
    def stages(self) -> list[Stage]:
        return list(self.pipe.stages) if isinstance(self.pipe, Then) else [self.pipe]

    @property
    def default_depth(self) -> int | None:
        first = self.stages[0]
        return first.k if isinstance(first, BM25) else None

    def rerank_support(self) -> str | None:
        """``None`` when ``/rerank`` works with this pipeline, else why it does not."""
        stages = self.stages
        if not isinstance(stages[0], BM25) or self.index is None:
            return (
                f"its first stage is {type(stages[0]).__name__}; /rerank scores given texts "
                "with a BM25 first stage"
            )
        for s in stages[1:]:
            if not (isinstance(s, (Cutoff, Features)) or is_learned(s)):
                return (
                    f"its stage {type(s).__name__} needs documents from the index; /rerank "
                    "supports cut-offs, features() and learned rankers after BM25"
                )
        return None

    # ------------------------------------------------------------------ search
    def search(self, query: str, k: int, rerank_depth: int | None = None) -> Outcome:
        """The top ``k`` results of ``query`` with each ranking stage's rank and a snippet."""
        t0 = time.perf_counter()
        queries = Queries.from_arrays([_QID], [query])
        with self.lock:
            stages = self.stages
            depth = rerank_depth or (k if len(stages) == 1 else self.default_depth)
            run = _first_stage(stages[0], queries, depth)
            trace = self._run_rest(stages, queries, run, skip_cutoffs=rerank_depth is not None)
            hits = _hits(trace, k)
            self._add_snippets(query, hits)
        return Outcome(hits, [n for n, _ in trace], len(trace[0][1]), time.perf_counter() - t0)

    def rerank(
        self,
        query: str,
        ids: list[str],
        texts: list[str],
        titles: list[str],
        k: int | None = None,
    ) -> Outcome:
        """Score the given candidates with the pipeline's stages (see the module docstring)."""
        reason = self.rerank_support()
        if reason is not None:
            raise RerankUnsupportedError(f"pipeline {self.name!r} cannot re-rank texts: {reason}")
        t0 = time.perf_counter()
        queries = Queries.from_arrays([_QID], [query])
        index = self.index
        if index is None:
            raise RerankUnsupportedError(f"pipeline {self.name!r} has no index")
        with self.lock:
            view = candidate_index(index, ids, texts, titles)
            stages = [_rebind(s, view) for s in self.stages]
            run = _bm25_of_texts(stages[0], view, queries, ids)  # type: ignore[arg-type]
            trace = self._run_rest(stages, queries, run, skip_cutoffs=False)
        hits = _hits(trace, len(ids) if k is None else k)
        return Outcome(hits, [n for n, _ in trace], len(ids), time.perf_counter() - t0)

    def _run_rest(
        self, stages: list[Stage], queries: Queries, run: Run, *, skip_cutoffs: bool
    ) -> list[tuple[str, Run]]:
        trace = [(_label(stages[0]), run)]
        reranked = False
        for stage in stages[1:]:
            if isinstance(stage, Cutoff) and skip_cutoffs and not reranked:
                continue
            run = stage.transform(queries, run)
            if not isinstance(stage, (Cutoff, Features)):
                reranked = True
                trace.append((_label(stage), run))
        # the final run (after any trailing cut-off or feature stage) ranks as the last ranker
        trace[-1] = (trace[-1][0], run)
        labels = _dedupe([n for n, _ in trace])
        return [(n, r) for n, (_, r) in zip(labels, trace)]

    def _add_snippets(self, query: str, hits: list[Hit]) -> None:
        if not hits or not len(self.documents) or self.index is None:
            return
        titles, texts = self.documents.texts([h.docid for h in hits])
        if self._snippets is None:  # one per pipeline: its caches stay warm
            self._snippets = SnippetMaker(self.index)
        maker = self._snippets
        keys = [h.docid for h in hits]
        snippets = maker.make(keys, texts, maker.query_terms(query), self.snippet_words)
        for i, (h, title, snip) in enumerate(zip(hits, titles, snippets)):
            hits[i] = Hit(h.docid, h.rank, h.score, h.stages, title, snip)


def _first_stage(stage: Stage, queries: Queries, depth: int | None) -> Run:
    if isinstance(stage, BM25) and depth is not None:
        q, _ = stage.query_matrix(queries)
        return stage.hits_to_run(queries, stage.search_terms(q, k=depth))
    run = stage.transform(queries)
    return run.cut(depth) if depth is not None else run


def _rebind(stage: Stage, view: Index) -> Stage:
    """A feature stage reading the candidate view instead of the served index."""
    if isinstance(stage, Features):
        return Features(**{**stage.get_params(), "index": view, "corpus": None})
    return stage


def _bm25_of_texts(first: BM25, view: Index, queries: Queries, ids: list[str]) -> Run:
    """The first-stage BM25 score of every candidate, from the view's features."""
    weights = first.field_weights()
    feats = Features(
        view,
        features=["bm25"],
        fields=list(weights),
        k1=first.k1,
        b=first.b,
        variant=first.variant,
        delta=first.delta,
        quantize=first.quantize,
    )
    blank = Run.from_arrays([_QID] * len(ids), ids, np.zeros(len(ids)))
    scored = feats.transform(queries, blank)
    matrix = scored.features if scored.features is not None else np.zeros((len(ids), 1))
    w = np.asarray(list(weights.values()), dtype=np.float32)
    scores = (matrix * w).sum(axis=1, dtype=np.float32) if len(w) > 1 else matrix[:, 0]
    out = scored.with_features(None).with_scores(np.asarray(scores, dtype=np.float64))
    return out.with_metadata(stage=first.name)


def _hits(trace: list[tuple[str, Run]], k: int) -> list[Hit]:
    final = trace[-1][1].cut(k)
    docids = to_str_list(final.docids)
    per_stage = []
    for name, run in trace:
        rows = align_rows(final, run) if len(run) else np.full(len(final), -1)
        ok = rows >= 0
        ranks = np.where(ok, run.ranks[np.maximum(rows, 0)] + 1 if len(run) else 0, 0)
        scores = run.scores[np.maximum(rows, 0)] if len(run) else np.zeros(len(final))
        per_stage.append((name, ok.tolist(), ranks.tolist(), scores.tolist()))
    hits = []
    for i, (docid, score) in enumerate(zip(docids, final.scores.tolist())):
        stages = [
            StageHit(name, int(r[i]) if ok[i] else None, float(s[i]) if ok[i] else None)
            for name, ok, r, s in per_stage
        ]
        hits.append(Hit(docid, i + 1, float(score), stages))
    return hits


def _label(stage: Stage) -> str:
    name = getattr(stage, "name", None)
    if isinstance(name, str) and name:
        return name
    return str(getattr(stage, "kind", None) or type(stage).__name__).lower()


def _dedupe(names: list[str]) -> list[str]:
    out: list[str] = []
    for n in names:
        cand, i = n, 1
        while cand in out:
            i += 1
            cand = f"{n}_{i}"
        out.append(cand)
    return out


def describe_stages(served: ServedPipeline) -> list[dict[str, Any]]:
    """The stages of a served pipeline as ``{"stage": label, "class": name}`` (for listings)."""
    return [{"stage": _label(s), "class": type(s).__name__} for s in served.stages]
