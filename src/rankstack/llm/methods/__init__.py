"""LLM re-ranking methods, each a :class:`~rankstack.pipeline.Stage`."""

from __future__ import annotations

from rankstack.llm.methods.base import LLMReranker
from rankstack.llm.methods.listwise import (
    FirstReranker,
    FullListReranker,
    ListwiseReranker,
    ReasoningReranker,
    window_schedule,
)
from rankstack.llm.methods.pairwise import PairwiseReranker
from rankstack.llm.methods.pointwise import PointwiseReranker

__all__ = [
    "FirstReranker",
    "FullListReranker",
    "LLMReranker",
    "ListwiseReranker",
    "PairwiseReranker",
    "PointwiseReranker",
    "ReasoningReranker",
    "window_schedule",
]
