"""LLM re-ranking: pointwise, pairwise (PRP), listwise sliding windows, full list, FIRST and
reasoning prompts, on local models (transformers, GGUF, llama.cpp) and OpenAI-compatible HTTP
endpoints, with versioned prompt templates and an on-disk response cache.

>>> from rankstack.llm import make_backend, llm_reranker          # doctest: +SKIP
>>> be = make_backend("transformers", "smollm2-135m")              # doctest: +SKIP
>>> pipe = bm25 % 20 >> llm_reranker("first", be, corpus, window=10, stride=5)  # doctest: +SKIP

See ``docs/llm.md``.
"""

from __future__ import annotations

from typing import Any

from rankstack.data import Corpus
from rankstack.exceptions import DataError
from rankstack.llm.backends import (
    Backend,
    BackendError,
    Decoding,
    EndpointDownError,
    Prompt,
    make_backend,
)
from rankstack.llm.cache import ResponseCache
from rankstack.llm.methods import (
    FirstReranker,
    FullListReranker,
    ListwiseReranker,
    LLMReranker,
    PairwiseReranker,
    PointwiseReranker,
    ReasoningReranker,
)
from rankstack.llm.parse import ParseReport, parse_permutation
from rankstack.llm.prompts import PromptTemplate, load_template

__all__ = [
    "METHODS",
    "Backend",
    "BackendError",
    "Decoding",
    "EndpointDownError",
    "FirstReranker",
    "FullListReranker",
    "LLMReranker",
    "ListwiseReranker",
    "PairwiseReranker",
    "ParseReport",
    "PointwiseReranker",
    "Prompt",
    "PromptTemplate",
    "ReasoningReranker",
    "ResponseCache",
    "llm_reranker",
    "load_template",
    "make_backend",
    "parse_permutation",
]

#: method names accepted by :func:`llm_reranker` (and ``rankstack llm-rerank --method``)
METHODS: dict[str, tuple[type[LLMReranker], dict[str, Any]]] = {
    "pointwise": (PointwiseReranker, {"mode": "yes_no"}),
    "pointwise-grade": (PointwiseReranker, {"mode": "grade"}),
    "pointwise-grade-logits": (PointwiseReranker, {"mode": "grade_logits"}),
    "pairwise": (PairwiseReranker, {"mode": "all_pairs"}),
    "pairwise-bubble": (PairwiseReranker, {"mode": "bubble"}),
    "listwise": (ListwiseReranker, {}),
    "full-list": (FullListReranker, {}),
    "first": (FirstReranker, {}),
    "reasoning": (ReasoningReranker, {}),
}


def llm_reranker(
    method: str, backend: Backend, corpus: Corpus | None = None, **params: Any
) -> LLMReranker:
    """A re-ranking stage by method name (keys of :data:`METHODS`)."""
    key = method.lower().replace("_", "-")
    if key not in METHODS:
        raise DataError(
            f"unknown LLM re-ranking method {method!r}: expected one of {sorted(METHODS)}"
        )
    cls, defaults = METHODS[key]
    return cls(backend, corpus, **{**defaults, **params})
