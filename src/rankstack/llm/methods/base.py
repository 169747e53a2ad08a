"""What every LLM re-ranking method shares: candidates, passage budgets, caching, metadata.

A method re-ranks the first ``top_k`` candidates of each query of the incoming run (the rest
keep their order below them) with query texts from the queries and document texts from a
:class:`~rankstack.data.Corpus`. The new scores are ranks turned into numbers
(``size - position``), so the run's order is the method's order.

Passages are cut by one documented rule, counted in the metadata:

1. every passage is cut to its first ``max_passage_tokens`` tokens (``passages_truncated``);
2. a prompt that still does not fit the context (minus the answer's tokens) has all its
   passages cut to the same smaller budget, ``(context - answer - prompt without passages)
   // passages`` tokens (``prompts_shrunk``);
3. if even that does not fit (budget under 8 tokens, or a huge query), the prompt is sent
   anyway, the backend refuses it, and that window keeps its input order
   (``prompts_over_context`` and ``failed_responses``).

Every run records in ``run.metadata["llm"]``: the method and its settings, the backend's
identity (model name, weight sha256 or hub revision, library versions), the template's name
and sha256, the decoding settings, and the counts (prompts, cache hits, backend calls, parse
repairs, truncations, failures, empty queries, candidates beyond ``top_k``). With a ``cache``
folder, responses are stored as they come back (:mod:`rankstack.llm.cache`): a re-run is
bit-identical and makes zero backend calls, and a run that stops loses no finished query.
"""

from __future__ import annotations

import logging
import os
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow.compute as pc

from rankstack.data import Corpus, Queries, Run
from rankstack.data._columns import take_str, to_str_list
from rankstack.exceptions import DataError
from rankstack.llm.backends.base import Backend, Decoding, Prompt
from rankstack.llm.cache import CachingBackend, ResponseCache
from rankstack.llm.prompts import PromptTemplate, load_template
from rankstack.pipeline import Stage, require_run

logger = logging.getLogger(__name__)

#: smallest passage budget (tokens) the shrinking rule goes down to
MIN_PASSAGE_TOKENS = 8


@dataclass
class Job:
    """One query's candidates: its text, the passages and their rows in the run."""

    qid: str
    query: str
    passages: list[str]
    rows: np.ndarray


class LLMReranker(Stage):
    """Base class of the LLM methods (see the module docstring); subclasses implement ``_rank``.

    Parameters
    ----------
    backend:
        A :class:`~rankstack.llm.backends.Backend`.
    corpus:
        The documents' texts (fields joined, title first, unless ``fields`` is given).
    top_k:
        Candidates re-ranked per query; the rest keep their order below them.
    template:
        A bundled template name or a template file (default: the method's own).
    max_passage_tokens:
        Tokens kept of each passage (rule 1 of the module docstring).
    cache:
        A folder for the response cache, or None for no cache.
    fields:
        Corpus fields joined as the passage text (default: all, title first).
    name:
        The stage's name in run metadata.
    """

    method = "llm"
    default_template = "listwise.v1"

    def __init__(
        self,
        backend: Backend,
        corpus: Corpus | None = None,
        *,
        top_k: int = 20,
        template: str | Path | None = None,
        max_passage_tokens: int = 100,
        cache: str | os.PathLike[str] | None = None,
        fields: Sequence[str] | None = None,
        name: str = "llm",
    ) -> None:
        if not isinstance(backend, Backend):
            raise DataError(
                f"{type(self).__name__}: backend must be a rankstack LLM Backend, found "
                f"{type(backend).__name__} (build one with rankstack.llm.make_backend)"
            )
        if int(top_k) < 1 or int(max_passage_tokens) < MIN_PASSAGE_TOKENS:
            raise DataError(
                f"{type(self).__name__}: top_k must be >= 1 and max_passage_tokens >= "
                f"{MIN_PASSAGE_TOKENS}, found {top_k} and {max_passage_tokens}"
            )
        self.backend = backend
        self.corpus = corpus
        self.top_k = int(top_k)
        self.template = template
        self.max_passage_tokens = int(max_passage_tokens)
        self.cache = cache
        self.fields = list(fields) if fields is not None else None
        self.name = name
        self.template_: PromptTemplate = load_template(template or self.default_template)
        self._cache: ResponseCache | None = None
        #: the counts of the last transform
        self.counts_: Counter[str] = Counter()

    # ------------------------------------------------------------------ subclass hooks
    def _rank(self, jobs: list[Job], be: CachingBackend, counts: Counter[str]) -> list[np.ndarray]:
        """The new order (0-based positions into ``job.passages``) of each job."""
        raise NotImplementedError

    def settings(self) -> dict[str, Any]:
        """Method settings recorded in the metadata (beyond top_k and the template)."""
        return {}

    def decoding(self) -> Decoding | None:
        """The decoding settings of generated answers (None for logit-only methods)."""
        return None

    # ------------------------------------------------------------------ stage
    def transform(self, queries: Queries, run: Run | None = None) -> Run:
        base = require_run(self, run)
        counts: Counter[str] = Counter()
        be = CachingBackend(self.backend, self._open_cache(), {"template": self.template_.sha256})
        jobs = self._jobs(queries, base, counts)
        orders = self._rank(jobs, be, counts) if jobs else []
        pos = base.ranks.astype(np.float64) if len(base) else np.zeros(0)
        for job, order in zip(jobs, orders):
            pos[job.rows[order]] = np.arange(len(order), dtype=np.float64)
        sizes = base.sizes[base.query_index].astype(np.float64) if len(base) else pos
        out = base.with_scores(sizes - pos) if len(base) else base
        counts.update(be.counts)
        self.counts_ = counts
        return out.with_metadata(stage=self.name, llm=self.describe(be, counts))

    def describe(self, be: Backend, counts: Counter[str]) -> dict[str, Any]:
        dec = self.decoding()
        return {
            "method": self.method,
            "settings": {
                "top_k": self.top_k,
                "max_passage_tokens": self.max_passage_tokens,
                **self.settings(),
            },
            "model": be.identity(),
            "template": self.template_.describe(),
            "decoding": None if dec is None else dec.to_dict(),
            "context_length": be.context_length,
            "counts": dict(sorted(counts.items())),
        }

    def _open_cache(self) -> ResponseCache | None:
        if self.cache is None:
            return None
        if self._cache is None or self._cache.folder != Path(self.cache):
            self._cache = ResponseCache(self.cache)
        return self._cache

    # ------------------------------------------------------------------ candidates
    def _jobs(self, queries: Queries, run: Run, counts: Counter[str]) -> list[Job]:
        counts["queries"] += run.n_queries
        counts["empty_queries"] += int((run.sizes == 0).sum())
        if len(run) == 0:
            return []
        counts["candidates_beyond_top_k"] += int(np.maximum(run.sizes - self.top_k, 0).sum())
        rows = np.flatnonzero(run.ranks < self.top_k)
        qpos = pc.index_in(run.qids, value_set=queries.qids)
        if qpos.null_count:
            raise DataError(
                f"{type(self).__name__}: {qpos.null_count} queries of the run have no text in "
                "the queries"
            )
        qtexts = to_str_list(
            take_str(queries.texts, qpos.to_numpy(zero_copy_only=False).astype(np.int64))
        )
        docs = self._doc_texts(run, rows)
        lengths = self.backend.count_tokens(docs)
        counts["passages"] += len(docs)
        counts["passages_truncated"] += int((lengths > self.max_passage_tokens).sum())
        long = np.flatnonzero(lengths > self.max_passage_tokens)
        if len(long):
            cut = self.backend.truncate([docs[i] for i in long], self.max_passage_tokens)
            for i, text in zip(long, cut):
                docs[i] = text
        row_query = run.query_index[rows]
        bounds = np.searchsorted(row_query, np.arange(run.n_queries + 1))
        qids = run.qid_list()
        jobs = []
        for q in range(run.n_queries):
            lo, hi = int(bounds[q]), int(bounds[q + 1])
            if hi > lo:
                jobs.append(Job(qids[q], qtexts[q], docs[lo:hi], rows[lo:hi]))
        return jobs

    def _doc_texts(self, run: Run, rows: np.ndarray) -> list[str]:
        if self.corpus is None:
            raise DataError(
                f"{type(self).__name__} needs the documents' texts: pass corpus=... "
                "(a rankstack Corpus)"
            )
        docids = take_str(run.docids, rows)
        pos = pc.index_in(docids, value_set=self.corpus.docids)
        if pos.null_count:
            missing = to_str_list(docids.filter(pc.is_null(pos)))[:3]
            raise DataError(
                f"{type(self).__name__}: {pos.null_count} candidates are not in the corpus "
                f"(e.g. {missing}); re-rank a run made over the same corpus"
            )
        texts = self.corpus.contents(self.fields)
        idx = pos.to_numpy(zero_copy_only=False).astype(np.int64)
        return [" ".join(t.split()) for t in to_str_list(take_str(texts, idx))]

    # ------------------------------------------------------------------ prompts
    def fit_prompt(
        self,
        be: Backend,
        make: Callable[[list[str]], Prompt],
        passages: list[str],
        reserve: int,
        counts: Counter[str],
    ) -> Prompt:
        """The prompt of ``passages``, shrunk by rules 2-3 of the module docstring."""
        prompt = make(passages)
        budget = be.context_length - reserve
        if be.prompt_tokens(prompt) <= budget:
            return prompt
        counts["prompts_shrunk"] += 1
        overhead = be.prompt_tokens(make([""] * len(passages)))
        per = (budget - overhead) // max(len(passages), 1)
        if per >= MIN_PASSAGE_TOKENS:
            prompt = make(be.truncate(passages, per))
            if be.prompt_tokens(prompt) <= budget:
                return prompt
        counts["prompts_over_context"] += 1
        return prompt

    def chat(self, prefix: str = "", **values: Any) -> Prompt:
        system, user = self.template_.render(**values)
        return Prompt.chat(system or None, user, prefix)
