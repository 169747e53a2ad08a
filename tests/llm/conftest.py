"""Fixtures of the LLM tests: a deterministic fake backend, a tiny random LM, toy data."""

from __future__ import annotations

import re
from collections.abc import Sequence
from typing import Any

import numpy as np
import pytest

from rankstack.data import Corpus, Queries, Run
from rankstack.llm.backends.base import Backend, Decoding, Prompt

_REL = re.compile(r"rel(\d+)")
_LINE = re.compile(r"^\[([0-9A-Z]+)\] (.*)$", re.M)


def rel_of(text: str) -> int:
    m = _REL.search(text)
    return int(m.group(1)) if m else 0


class FakeBackend(Backend):
    """A 'model' that knows the truth: a passage's relevance is the N of ``relN`` in its text.

    Listwise prompts get the true order (or ``answer`` verbatim), FIRST gets logits equal to
    the relevance, pointwise P(Yes) grows with it, PRP prefers the more relevant passage.
    ``fail`` makes every request fail; ``calls`` counts prompts per call.
    """

    kind = "fake"

    def __init__(self, context: int = 4096, answer: str | None = None, fail: bool = False) -> None:
        self.context = context
        self.answer = answer
        self.fail = fail
        self.calls: list[int] = []

    @property
    def context_length(self) -> int:
        return self.context

    def identity(self) -> dict[str, Any]:
        return {"backend": "fake", "name": "oracle"}

    def _user(self, p: Prompt) -> str:
        return p.messages[-1][1]

    def generate(self, prompts: Sequence[Prompt], decoding: Decoding) -> list[str | None]:
        self.calls.append(len(prompts))
        out: list[str | None] = []
        for p in prompts:
            if self.fail or self.prompt_tokens(p) + decoding.max_new_tokens > self.context:
                out.append(None)
            elif self.answer is not None:
                out.append(self.answer)
            elif "Passage:" in self._user(p):
                out.append(str(min(3, rel_of(self._user(p)))))
            else:
                items = _LINE.findall(self._user(p))
                ranked = sorted(items, key=lambda it: -rel_of(it[1]))
                out.append(" > ".join(f"[{i}]" for i, _ in ranked))
        return out

    def choice_logprobs(
        self, prompts: Sequence[Prompt], choices: Sequence[str], *, exact: bool = False
    ) -> np.ndarray:
        self.calls.append(len(prompts))
        out = np.full((len(prompts), len(choices)), -np.inf)
        for r, p in enumerate(prompts):
            user = self._user(p)
            if self.fail or self.prompt_tokens(p) + 1 > self.context:
                out[r] = np.nan
            elif list(choices) == ["Yes", "No"]:
                out[r] = [0.1 * rel_of(user), 0.0]
            elif list(choices) == ["A", "B"]:
                a = rel_of(user.split("Passage A:")[1].split("Passage B:")[0])
                b = rel_of(user.split("Passage B:")[1])
                out[r] = [0.0, -1.0] if a >= b else [-1.0, 0.0]
            elif list(choices) == ["0", "1", "2", "3"]:
                out[r] = [0.0, 0.0, 0.0, 0.0]
                out[r, min(3, rel_of(user))] = 3.0
            else:
                rels = {i: rel_of(t) for i, t in _LINE.findall(user)}
                out[r] = [float(rels.get(c, -50)) for c in choices]
        return out


@pytest.fixture
def fake() -> FakeBackend:
    return FakeBackend()


@pytest.fixture
def toy() -> tuple[Queries, Corpus, Run]:
    """Three queries; q1 has 12 candidates whose relevance is the reverse of the BM25 order,
    q2 has 3, q3 has 1; d-ids are unique per query."""
    docs, texts = [], []
    qid, docid, score = [], [], []
    for q, n in (("q1", 12), ("q2", 3), ("q3", 1)):
        for i in range(n):
            d = f"{q}d{i}"
            docs.append(d)
            texts.append(f"passage {d} about topic rel{i} words")
            qid.append(q)
            docid.append(d)
            score.append(100.0 - i)
    corpus = Corpus.from_arrays(docs, texts)
    queries = Queries.from_arrays(["q1", "q2", "q3"], ["topic one", "topic two", "topic three"])
    return queries, corpus, Run.from_arrays(qid, docid, score)


@pytest.fixture(scope="session")
def tiny_lm() -> tuple[Any, Any]:
    from rankstack.llm.testing import tiny_causal_lm

    return tiny_causal_lm()


@pytest.fixture(scope="session")
def tiny_backend(tiny_lm: tuple[Any, Any]) -> Backend:
    from rankstack.llm.backends.hf import TransformersBackend

    return TransformersBackend(tiny_lm, batch_size=4)
