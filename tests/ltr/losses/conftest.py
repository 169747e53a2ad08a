"""Shared helpers for the loss tests: padded batches and plain-Python NDCG references."""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np
import pytest
import torch


class Ref:
    """Straightforward per-query references (lists and loops, no vectorisation)."""

    @staticmethod
    def batch(
        queries: Sequence[tuple[Sequence[float], Sequence[float]]],
        width: int | None = None,
        dtype: torch.dtype = torch.float64,
        pad_score: float = 0.0,
        pad_label: float = 0.0,
    ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """Pad ``[(scores, labels), ...]`` at the end into ``(scores, labels, mask)``."""
        length = max([0, *(len(s) for s, _ in queries)])
        width = length if width is None else width
        s = torch.full((len(queries), width), pad_score, dtype=dtype)
        y = torch.full((len(queries), width), pad_label, dtype=dtype)
        m = torch.zeros((len(queries), width), dtype=torch.bool)
        for q, (sq, yq) in enumerate(queries):
            n = len(sq)
            s[q, :n] = torch.tensor(list(sq), dtype=dtype)
            y[q, :n] = torch.tensor(list(yq), dtype=dtype)
            m[q, :n] = True
        return s, y, m

    @staticmethod
    def split(
        s: torch.Tensor, y: torch.Tensor, m: torch.Tensor
    ) -> list[tuple[np.ndarray, np.ndarray]]:
        """The real ``(scores, labels)`` of every query as numpy arrays."""
        out = []
        for q in range(s.shape[0]):
            keep = m[q].numpy()
            out.append((s[q].detach().numpy()[keep], y[q].numpy()[keep]))
        return out

    @staticmethod
    def informative(labels: np.ndarray) -> bool:
        return len(labels) > 1 and float(labels.max()) > float(labels.min())

    @staticmethod
    def dcg(labels_in_rank_order: Sequence[float]) -> float:
        return sum(
            (2.0 ** float(g) - 1.0) / math.log2(r + 2.0) for r, g in enumerate(labels_in_rank_order)
        )

    @staticmethod
    def idcg(labels: Sequence[float]) -> float:
        return Ref.dcg(sorted(labels, reverse=True))

    @staticmethod
    def ranks(scores: np.ndarray) -> np.ndarray:
        """1-based ranks by decreasing score, ties by list order."""
        order = sorted(range(len(scores)), key=lambda i: (-scores[i], i))
        r = np.empty(len(scores), dtype=np.int64)
        for pos, i in enumerate(order):
            r[i] = pos + 1
        return r

    @staticmethod
    def mean_counted(values: list[float | None]) -> float:
        """Mean of the values that are not None (queries that count); 0 when none."""
        kept = [v for v in values if v is not None]
        return sum(kept) / len(kept) if kept else 0.0


@pytest.fixture
def ref() -> type[Ref]:
    return Ref
