"""Listwise re-ranking: sliding windows, the full list in one call, FIRST, and reasoning.

**Sliding window** (Sun et al. 2023, "Is ChatGPT Good at Search? Investigating Large Language
Models as Re-Ranking Agents", EMNLP; RankGPT): the model ranks ``window`` passages at a time,
starting from the bottom of the top-k and moving up by ``stride``, so that relevant passages
bubble to the top; ``passes`` repeats the sweep. At each step the windows of all queries are
sent together, so batches are full even though each query's windows are sequential.

**Full list** (window = all candidates, one call per query), as argued for in Tang et al. 2025,
"Sliding Windows Are Not the End: Exploring Full Ranking with Long-Context Large Language
Models" (arXiv:2412.14574): fewer calls and no redundant re-reading of passages, if the
context holds the whole list. Rule 2 of :mod:`rankstack.llm.methods.base` shrinks passages
when it does not.

**FIRST** (Reddy et al. 2024, "FIRST: Faster Improved Listwise Reranking with Single Token
Decoding", EMNLP): instead of generating the permutation, read the logits of the first
identifier token after ``[`` and sort the window by them: one forward pass, no decoding.
Identifiers are letters (single tokens).

**Reasoning** (Rank-R1 style; Zhuang et al. 2025, arXiv:2503.06034): the model thinks inside
``<think>`` and then answers inside ``<answer>``; the permutation is read from the answer.

Generated answers are parsed by :func:`rankstack.llm.parse.parse_permutation` (repairs
counted); a failed request keeps the window's input order (``failed_responses``).
"""

from __future__ import annotations

import logging
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
from rankstack.llm.parse import LETTERS, answer_part, identifier, parse_permutation

logger = logging.getLogger(__name__)

MODES = ("generate", "first", "reasoning")
_TEMPLATES = {
    ("generate", "numbers"): "listwise.v1",
    ("generate", "letters"): "listwise_letters.v1",
    ("first", "letters"): "listwise_letters.v1",
    ("reasoning", "numbers"): "reasoning.v1",
    ("reasoning", "letters"): "reasoning.v1",
}


def window_schedule(
    m: int, window: int | None, stride: int, passes: int = 1
) -> list[tuple[int, int]]:
    """The ``(start, end)`` windows over ``m`` candidates, bottom first (RankGPT's order)."""
    if m <= 1:
        return []
    w = m if window is None else min(window, m)
    out: list[tuple[int, int]] = []
    for _ in range(passes):
        end = m
        while True:
            start = max(0, end - w)
            out.append((start, end))
            if start == 0:
                break
            end -= stride
    return out


class ListwiseReranker(LLMReranker):
    """Listwise LLM re-ranking with a sliding window (see the module docstring).

    Parameters
    ----------
    backend, corpus, top_k, template, max_passage_tokens, cache, fields, name:
        As in :class:`~rankstack.llm.methods.base.LLMReranker`.
    window:
        Passages per call; ``None`` ranks the whole top-k in one call (full list).
    stride:
        How far the window moves up each step (RankGPT: window 20, stride 10).
    passes:
        Sweeps from the bottom to the top.
    mode:
        ``generate`` (the model writes the permutation), ``first`` (first-token logits) or
        ``reasoning`` (think, then answer).
    identifiers:
        ``numbers`` (``[1]``...) or ``letters`` (``[A]``..., at most 26 a window; FIRST
        always uses letters).
    max_new_tokens:
        Tokens of a generated answer (default: 5 a passage + 8, plus 512 to reason).
    """

    method = "listwise"

    def __init__(
        self,
        backend: Backend,
        corpus: Corpus | None = None,
        *,
        window: int | None = 20,
        stride: int = 10,
        passes: int = 1,
        top_k: int = 100,
        mode: str = "generate",
        identifiers: str = "numbers",
        template: str | Path | None = None,
        max_passage_tokens: int = 100,
        max_new_tokens: int | None = None,
        cache: str | os.PathLike[str] | None = None,
        fields: Sequence[str] | None = None,
        name: str = "llm_listwise",
    ) -> None:
        if mode not in MODES:
            raise DataError(f"{type(self).__name__}: mode must be one of {MODES}, found {mode!r}")
        if identifiers not in ("numbers", "letters"):
            raise DataError(
                f"{type(self).__name__}: identifiers must be 'numbers' or 'letters', found "
                f"{identifiers!r}"
            )
        if mode == "first":
            identifiers = "letters"
        if window is not None and (
            int(window) < 2 or int(stride) < 1 or int(stride) >= int(window)
        ):
            raise DataError(
                f"{type(self).__name__}: window must be >= 2 and 1 <= stride < window, found "
                f"window={window}, stride={stride}"
            )
        if int(passes) < 1:
            raise DataError(f"{type(self).__name__}: passes must be >= 1, found {passes}")
        widest = int(top_k) if window is None else min(int(window), int(top_k))
        if identifiers == "letters" and widest > len(LETTERS):
            raise DataError(
                f"{type(self).__name__}: letter identifiers allow windows of at most "
                f"{len(LETTERS)} passages, found {widest} (lower window or top_k)"
            )
        if max_new_tokens is not None and int(max_new_tokens) < 1:
            raise DataError(f"max_new_tokens must be >= 1, found {max_new_tokens}")
        self.window = None if window is None else int(window)
        self.stride = int(stride)
        self.passes = int(passes)
        self.mode = mode
        self.identifiers = identifiers
        self.max_new_tokens = None if max_new_tokens is None else int(max_new_tokens)
        self.default_template = _TEMPLATES[(mode, identifiers)]
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
        return {
            "shifts": getattr(self, "shifts", 1),
            "window": self.window,
            "stride": self.stride,
            "passes": self.passes,
            "mode": self.mode,
            "identifiers": self.identifiers,
        }

    def decoding(self) -> Decoding | None:
        if self.mode == "first":
            return None
        width = self.top_k if self.window is None else min(self.window, self.top_k)
        default = 5 * width + 8 + (512 if self.mode == "reasoning" else 0)
        return Decoding(max_new_tokens=self.max_new_tokens or default)

    def prompt(self, query: str, passages: Sequence[str]) -> Prompt:
        block = "\n".join(
            f"[{identifier(i, self.identifiers)}] {p}" for i, p in enumerate(passages)
        )
        prefix = "[" if self.mode == "first" else ""
        return self.chat(prefix, query=query, passages=block, n=len(passages))

    def _rank(self, jobs: list[Job], be: CachingBackend, counts: Counter[str]) -> list[np.ndarray]:
        orders = [np.arange(len(j.passages), dtype=np.int64) for j in jobs]
        plans = [
            window_schedule(len(j.passages), self.window, self.stride, self.passes) for j in jobs
        ]
        dec = self.decoding()
        reserve = 1 if dec is None else dec.max_new_tokens
        steps = max((len(p) for p in plans), default=0)
        for t in range(steps):
            active = [q for q, plan in enumerate(plans) if t < len(plan)]
            prompts = []
            shifts = getattr(self, "shifts", 1) if self.mode == "first" else 1
            for q in active:
                lo, hi = plans[q][t]
                texts = [jobs[q].passages[i] for i in orders[q][lo:hi]]
                for r in range(min(shifts, len(texts))):
                    rotated = texts[r:] + texts[:r]
                    prompts.append(
                        self.fit_prompt(
                            be, partial(self.prompt, jobs[q].query), rotated, reserve, counts
                        )
                    )
            sizes = [plans[q][t][1] - plans[q][t][0] for q in active]
            if shifts > 1:
                perms = self._rank_shifted(be, prompts, sizes, shifts, counts)
            else:
                perms = self._rank_windows(be, prompts, sizes, counts)
            for q, perm in zip(active, perms):
                lo, hi = plans[q][t]
                orders[q][lo:hi] = orders[q][lo:hi][perm]
            counts["windows"] += len(active)
            logger.debug("listwise step %d/%d: %d windows", t + 1, steps, len(active))
        return orders

    def _rank_shifted(
        self,
        be: CachingBackend,
        prompts: list[Prompt],
        sizes: list[int],
        shifts: int,
        counts: Counter[str],
    ) -> list[np.ndarray]:
        """FIRST over cyclic shifts: mean log-probability of each passage over its letters."""
        lp = be.choice_logprobs(prompts, list(LETTERS[: max(sizes)]), exact=True)
        out, row = [], 0
        for n in sizes:
            k = min(shifts, n)
            total = np.zeros(n)
            failed = False
            for r in range(k):
                scores = lp[row + r, :n]
                failed |= bool(np.isnan(scores).any())
                # letter j shows passage (j + r) % n
                total[(np.arange(n) + r) % n] += scores
            row += k
            if failed:
                counts["failed_responses"] += 1
                out.append(np.arange(n, dtype=np.int64))
            else:
                out.append(np.argsort(-total, kind="stable").astype(np.int64))
        return out

    def _rank_windows(
        self, be: CachingBackend, prompts: list[Prompt], sizes: list[int], counts: Counter[str]
    ) -> list[np.ndarray]:
        if not prompts:
            return []
        out: list[np.ndarray] = []
        if self.mode == "first":
            width = max(sizes)
            lp = be.choice_logprobs(prompts, list(LETTERS[:width]), exact=True)
            for row, n in zip(lp, sizes):
                if np.isnan(row[:n]).any():
                    counts["failed_responses"] += 1
                    out.append(np.arange(n, dtype=np.int64))
                else:
                    out.append(np.argsort(-row[:n], kind="stable").astype(np.int64))
            return out
        answers = be.generate(prompts, self.decoding() or Decoding())
        for text, n in zip(answers, sizes):
            if text is None:
                counts["failed_responses"] += 1
                out.append(np.arange(n, dtype=np.int64))
                continue
            if self.mode == "reasoning":
                text = answer_part(text)
            order, report = parse_permutation(text, n, self.identifiers)
            report.add_to(counts)
            out.append(order)
        return out


class FullListReranker(ListwiseReranker):
    """The whole top-k ranked in one call per query (:class:`ListwiseReranker` without a window)."""

    method = "full_list"

    def __init__(
        self,
        backend: Backend,
        corpus: Corpus | None = None,
        *,
        top_k: int = 20,
        mode: str = "generate",
        identifiers: str = "numbers",
        template: str | Path | None = None,
        max_passage_tokens: int = 100,
        max_new_tokens: int | None = None,
        cache: str | os.PathLike[str] | None = None,
        fields: Sequence[str] | None = None,
        name: str = "llm_full_list",
    ) -> None:
        super().__init__(
            backend,
            corpus,
            window=None,
            top_k=top_k,
            mode=mode,
            identifiers=identifiers,
            template=template,
            max_passage_tokens=max_passage_tokens,
            max_new_tokens=max_new_tokens,
            cache=cache,
            fields=fields,
            name=name,
        )


class FirstReranker(ListwiseReranker):
    """FIRST: windows ranked by the logits of the first identifier token (letters).

    ``shifts=k`` scores each window under ``k`` cyclic shifts of its passages over the
    letters (``k`` forward passes) and averages each passage's log-probability: with ``k`` equal
    to the window size every passage is read under every letter, so a fixed preference of the
    model for some letters (small models prefer ``A``) adds the same to every passage and
    cancels (in the spirit of permutation self-consistency, Tang et al. 2024, NAACL).
    """

    method = "first"

    def __init__(
        self,
        backend: Backend,
        corpus: Corpus | None = None,
        *,
        window: int | None = 20,
        stride: int = 10,
        passes: int = 1,
        top_k: int = 100,
        shifts: int = 1,
        template: str | Path | None = None,
        max_passage_tokens: int = 100,
        cache: str | os.PathLike[str] | None = None,
        fields: Sequence[str] | None = None,
        name: str = "llm_first",
    ) -> None:
        if int(shifts) < 1:
            raise DataError(f"FirstReranker: shifts must be >= 1, found {shifts}")
        self.shifts = int(shifts)
        super().__init__(
            backend,
            corpus,
            window=window,
            stride=stride,
            passes=passes,
            top_k=top_k,
            mode="first",
            identifiers="letters",
            template=template,
            max_passage_tokens=max_passage_tokens,
            cache=cache,
            fields=fields,
            name=name,
        )


class ReasoningReranker(ListwiseReranker):
    """Think, then answer with a permutation (Rank-R1 style prompt)."""

    method = "reasoning"

    def __init__(
        self,
        backend: Backend,
        corpus: Corpus | None = None,
        *,
        window: int | None = 20,
        stride: int = 10,
        top_k: int = 20,
        template: str | Path | None = None,
        max_passage_tokens: int = 100,
        max_new_tokens: int | None = None,
        cache: str | os.PathLike[str] | None = None,
        fields: Sequence[str] | None = None,
        name: str = "llm_reasoning",
    ) -> None:
        super().__init__(
            backend,
            corpus,
            window=window,
            stride=stride,
            top_k=top_k,
            mode="reasoning",
            template=template,
            max_passage_tokens=max_passage_tokens,
            max_new_tokens=max_new_tokens,
            cache=cache,
            fields=fields,
            name=name,
        )
