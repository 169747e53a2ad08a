"""Pairwise ranking prompting (PRP; Qin et al. 2024, Findings of NAACL).

The model is asked which of two passages is more relevant; every comparison is asked in both
orders and the two answers averaged (the paper's fix for position bias), using
``P(A)`` / ``P(B)`` of the first answer token. Two ways to turn comparisons into a ranking:

- ``all_pairs`` (PRP-Allpair): every pair of the top-k, ``k (k - 1)`` prompts a query; a
  passage's score is its summed win probability;
- ``bubble`` (PRP-Sliding-K): ``passes`` bubble-sort sweeps from the bottom up, each fixing one
  more top position, ``about passes * k * 2`` prompts a query. Sweeps are sequential within a
  query, so each comparison step is batched across queries.

A failed comparison counts as a draw (``failed_responses``).
"""

from __future__ import annotations

import os
from collections import Counter
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from rankstack.data import Corpus
from rankstack.exceptions import DataError
from rankstack.llm.backends.base import Backend, Prompt
from rankstack.llm.cache import CachingBackend
from rankstack.llm.methods.base import Job, LLMReranker

MODES = ("all_pairs", "bubble")


class PairwiseReranker(LLMReranker):
    """PRP re-ranking (see the module docstring).

    Parameters
    ----------
    mode:
        ``all_pairs`` or ``bubble``.
    passes:
        Bubble-sort sweeps (top positions made exact by ``bubble``).
    others:
        As in :class:`~rankstack.llm.methods.base.LLMReranker`.
    """

    method = "pairwise"
    default_template = "pairwise.v1"

    def __init__(
        self,
        backend: Backend,
        corpus: Corpus | None = None,
        *,
        mode: str = "all_pairs",
        passes: int = 10,
        top_k: int = 20,
        template: str | Path | None = None,
        max_passage_tokens: int = 150,
        cache: str | os.PathLike[str] | None = None,
        fields: Sequence[str] | None = None,
        name: str = "llm_pairwise",
    ) -> None:
        if mode not in MODES or int(passes) < 1:
            raise DataError(
                f"PairwiseReranker: mode must be one of {MODES} and passes >= 1, found "
                f"{mode!r} and {passes}"
            )
        self.mode = mode
        self.passes = int(passes)
        super().__init__(
            backend,
            corpus,
            top_k=top_k,
            template=template,
            max_passage_tokens=max_passage_tokens,
            cache=cache,
            fields=fields,
            name=name,
        )

    def settings(self) -> dict[str, Any]:
        return {"mode": self.mode, "passes": self.passes}

    def _pair_prompt(
        self, be: CachingBackend, query: str, a: str, b: str, counts: Counter[str]
    ) -> Prompt:
        return self.fit_prompt(
            be,
            lambda ps: self.chat(query=query, passage_a=ps[0], passage_b=ps[1]),
            [a, b],
            1,
            counts,
        )

    def _first_wins(
        self, be: CachingBackend, pairs: list[tuple[Job, int, int]], counts: Counter[str]
    ) -> np.ndarray:
        """P(passage i beats passage j) of each ``(job, i, j)``, averaged over both orders."""
        prompts = []
        for job, i, j in pairs:
            prompts.append(
                self._pair_prompt(be, job.query, job.passages[i], job.passages[j], counts)
            )
            prompts.append(
                self._pair_prompt(be, job.query, job.passages[j], job.passages[i], counts)
            )
        lp = be.choice_logprobs(prompts, ["A", "B"])
        failed = np.isnan(lp).any(axis=1)
        counts["failed_responses"] += int(failed.sum())
        with np.errstate(invalid="ignore"):
            p_a = np.exp(lp[:, 0] - np.logaddexp(lp[:, 0], lp[:, 1]))
        p_a = np.where(failed | np.isnan(p_a), 0.5, p_a)
        counts["comparisons"] += len(pairs)
        return 0.5 * (p_a[0::2] + (1.0 - p_a[1::2]))

    def _rank(self, jobs: list[Job], be: CachingBackend, counts: Counter[str]) -> list[np.ndarray]:
        if self.mode == "all_pairs":
            return self._all_pairs(jobs, be, counts)
        return self._bubble(jobs, be, counts)

    def _all_pairs(
        self, jobs: list[Job], be: CachingBackend, counts: Counter[str]
    ) -> list[np.ndarray]:
        pairs = [
            (job, i, j)
            for job in jobs
            for i in range(len(job.passages))
            for j in range(i + 1, len(job.passages))
        ]
        wins = self._first_wins(be, pairs, counts) if pairs else np.zeros(0)
        scores = {id(job): np.zeros(len(job.passages)) for job in jobs}
        for (job, i, j), p in zip(pairs, wins):
            scores[id(job)][i] += p
            scores[id(job)][j] += 1.0 - p
        out = []
        for job in jobs:
            s = scores[id(job)]
            out.append(np.lexsort((np.arange(len(s)), -s)).astype(np.int64))
        return out

    def _bubble(
        self, jobs: list[Job], be: CachingBackend, counts: Counter[str]
    ) -> list[np.ndarray]:
        orders = [np.arange(len(j.passages), dtype=np.int64) for j in jobs]
        plans = []
        for job in jobs:
            m = len(job.passages)
            plans.append(
                [i for p in range(min(self.passes, m - 1)) for i in range(m - 2, p - 1, -1)]
            )
        steps = max((len(p) for p in plans), default=0)
        for t in range(steps):
            active = [q for q, plan in enumerate(plans) if t < len(plan)]
            pairs = []
            for q in active:
                i = plans[q][t]
                pairs.append((jobs[q], int(orders[q][i + 1]), int(orders[q][i])))
            lower_wins = self._first_wins(be, pairs, counts)
            for q, w in zip(active, lower_wins):
                if w > 0.5:
                    i = plans[q][t]
                    orders[q][[i, i + 1]] = orders[q][[i + 1, i]]
        return orders
