"""Pointwise re-ranking: each (query, passage) judged on its own.

``yes_no``: the score is ``log P(Yes) - log(P(Yes) + P(No))`` of the first answer token after
a relevance question (relevance generation as in Liang et al. 2022, HELM; Nogueira et al.
2020, monoT5, with "true"/"false"). ``grade``: the model generates a grade 0-3 (Zhuang et al.
2024, "Beyond Yes and No", NAACL), parsed from the answer; ``grade_logits``: the expected
grade under the next-token distribution over "0".."3" (the same paper's expected relevance
value). Ties keep the input order. A failed request or an unreadable grade puts the
passage below the judged ones (``failed_responses`` / ``parse_unparseable``).
"""

from __future__ import annotations

import os
from collections import Counter
from collections.abc import Sequence
from functools import partial
from pathlib import Path
from typing import Any

import numpy as np

from rankstack.data import Corpus
from rankstack.exceptions import DataError
from rankstack.llm.backends.base import Backend, Decoding, Prompt
from rankstack.llm.cache import CachingBackend
from rankstack.llm.methods.base import Job, LLMReranker
from rankstack.llm.parse import parse_grade

MODES = ("yes_no", "grade", "grade_logits")


class PointwiseReranker(LLMReranker):
    """Score each candidate alone (see the module docstring).

    Parameters
    ----------
    mode:
        ``yes_no``, ``grade`` or ``grade_logits``.
    others:
        As in :class:`~rankstack.llm.methods.base.LLMReranker`.
    """

    method = "pointwise"

    def __init__(
        self,
        backend: Backend,
        corpus: Corpus | None = None,
        *,
        mode: str = "yes_no",
        top_k: int = 100,
        template: str | Path | None = None,
        max_passage_tokens: int = 200,
        cache: str | os.PathLike[str] | None = None,
        fields: Sequence[str] | None = None,
        name: str = "llm_pointwise",
    ) -> None:
        if mode not in MODES:
            raise DataError(f"PointwiseReranker: mode must be one of {MODES}, found {mode!r}")
        self.mode = mode
        self.default_template = "pointwise_yes_no.v1" if mode == "yes_no" else "pointwise_grade.v1"
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
        return {"mode": self.mode}

    def decoding(self) -> Decoding | None:
        return Decoding(max_new_tokens=4) if self.mode == "grade" else None

    def _rank(self, jobs: list[Job], be: CachingBackend, counts: Counter[str]) -> list[np.ndarray]:
        dec = self.decoding()
        reserve = 1 if dec is None else dec.max_new_tokens
        prompts = [
            self.fit_prompt(be, partial(self._prompt, job.query), [p], reserve, counts)
            for job in jobs
            for p in job.passages
        ]
        scores = self._scores(be, prompts, counts)
        out = []
        lo = 0
        for job in jobs:
            s = scores[lo : lo + len(job.passages)]
            lo += len(job.passages)
            out.append(np.lexsort((np.arange(len(s)), -s)).astype(np.int64))
        return out

    def _prompt(self, query: str, passages: list[str]) -> Prompt:
        return self.chat(query=query, passage=passages[0])

    def _scores(self, be: CachingBackend, prompts: list[Any], counts: Counter[str]) -> np.ndarray:
        if self.mode == "grade":
            answers = be.generate(prompts, self.decoding() or Decoding())
            grades = np.full(len(prompts), -1.0)
            for i, text in enumerate(answers):
                if text is None:
                    counts["failed_responses"] += 1
                    continue
                g = parse_grade(text)
                counts["parse_answers"] += 1
                if g is None:
                    counts["parse_unparseable"] += 1
                else:
                    grades[i] = g
            return grades
        choices = ["Yes", "No"] if self.mode == "yes_no" else ["0", "1", "2", "3"]
        lp = be.choice_logprobs(prompts, choices)
        failed = np.isnan(lp).any(axis=1)
        counts["failed_responses"] += int(failed.sum())
        with np.errstate(invalid="ignore"):
            norm = lp - np.logaddexp.reduce(lp, axis=1, keepdims=True)
        # yes_no: log P(Yes | Yes or No); grade_logits: the expected grade
        s = norm[:, 0] if len(choices) == 2 else (np.exp(norm) * np.arange(4.0)).sum(axis=1)
        return np.where(failed | np.isnan(s), -np.inf, s)
