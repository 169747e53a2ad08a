"""ApproxNDCG and NeuralNDCG against straightforward per-query numpy versions."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from rankstack.exceptions import DataError
from rankstack.ltr.losses import approxndcg, neuralndcg
from rankstack.ltr.losses._neuralndcg import neural_sort, sinkhorn

QUERIES = [
    ([0.4, -0.5, 1.1, 0.2, 0.0], [2.0, 0.0, 1.0, 3.0, 0.0]),
    ([0.9, -1.0, 0.1], [0.0, 0.5, 1.5]),
    ([0.3, 0.7], [1.0, 1.0]),  # NDCG 1 whatever the order: not counted
    ([0.3, 0.7, 0.1], [0.0, 0.0, 0.0]),  # IDCG 0: not counted
]


def true_ndcg(ref, s: np.ndarray, y: np.ndarray) -> float:
    order = sorted(range(len(s)), key=lambda i: (-s[i], i))
    return ref.dcg([y[i] for i in order]) / ref.idcg(list(y))


@pytest.mark.parametrize("alpha", [1.0, 10.0])
def test_approxndcg_matches_numpy(ref, alpha: float) -> None:
    per_query: list[float | None] = []
    for s, y in QUERIES:
        s, y = np.array(s), np.array(y)
        if not ref.informative(y):
            per_query.append(None)
            continue
        dcg = 0.0
        for i in range(len(s)):
            pos = 1.0 + sum(
                1 / (1 + math.exp(-alpha * (s[j] - s[i]))) for j in range(len(s)) if j != i
            )
            dcg += (2.0 ** y[i] - 1) / math.log2(1 + pos)
        per_query.append(1.0 - dcg / ref.idcg(list(y)))
    s, y, m = ref.batch(QUERIES, width=6, pad_score=3.0, pad_label=4.0)
    assert approxndcg(s, y, m, alpha=alpha).item() == pytest.approx(ref.mean_counted(per_query))


def test_approxndcg_tends_to_one_minus_ndcg(ref) -> None:
    s, y, m = ref.batch(QUERIES[:2])
    exact = np.mean([1 - true_ndcg(ref, np.array(a), np.array(b)) for a, b in QUERIES[:2]])
    assert approxndcg(s, y, m, alpha=1e4).item() == pytest.approx(exact, abs=1e-9)


def numpy_neuralndcg(ref, s, y, tau, k, transposed, iters) -> float | None:
    """NeuralSort (Grover et al. 2019) + Sinkhorn + NDCG@k, one query, fixed rounds."""
    s, y = np.array(s), np.array(y)
    n = len(s)
    if not ref.informative(y):
        return None
    a = np.abs(s[:, None] - s[None, :]).sum(axis=1)
    p = np.zeros((n, n))
    for i in range(1, n + 1):
        p[i - 1] = np.exp(((n + 1 - 2 * i) * s - a) / tau - np.max(((n + 1 - 2 * i) * s - a) / tau))
        p[i - 1] /= p[i - 1].sum()
    for _ in range(iters):
        p = p / p.sum(axis=0, keepdims=True)
        p = p / p.sum(axis=1, keepdims=True)
    cut = n if k is None else min(k, n)
    d = np.array([1 / math.log2(r + 2) if r < cut else 0.0 for r in range(n)])
    g = 2.0**y - 1
    dcg = float(g @ (p.T @ d)) if transposed else float((p @ g) @ d)
    idcg = ref.dcg(sorted(y, reverse=True)[:cut])
    return 1.0 - dcg / idcg


@pytest.mark.parametrize(
    ("tau", "k", "transposed"),
    [(1.0, None, False), (0.5, 2, False), (1.0, None, True), (2.0, 3, True)],
)
def test_neuralndcg_matches_numpy(ref, tau: float, k: int | None, transposed: bool) -> None:
    expected = ref.mean_counted(
        [numpy_neuralndcg(ref, a, b, tau, k, transposed, 30) for a, b in QUERIES]
    )
    s, y, m = ref.batch(QUERIES, width=6, pad_score=-2.0, pad_label=3.0)
    got = neuralndcg(s, y, m, temperature=tau, k=k, transposed=transposed, max_iter=30, tol=0.0)
    assert got.item() == pytest.approx(expected, rel=1e-10)


def test_neuralsort_with_sinkhorn_is_doubly_stochastic_on_the_real_block(ref) -> None:
    s, _, m = ref.batch(QUERIES, width=6)
    n = m.sum(dim=-1)
    block = (torch.arange(6)[None, :] < n[:, None])[:, :, None] & m[:, None, :]
    p = sinkhorn(neural_sort(s, m, 1.0), block, torch.ones(4, dtype=torch.bool), 200, 1e-10)
    assert torch.all(p[~block] == 0)
    for q in range(4):
        sub = p[q, : int(n[q]), : int(n[q])]
        torch.testing.assert_close(sub.sum(dim=0), torch.ones(int(n[q]), dtype=torch.float64))
        torch.testing.assert_close(sub.sum(dim=1), torch.ones(int(n[q]), dtype=torch.float64))


@pytest.mark.parametrize("transposed", [False, True])
def test_neuralndcg_tends_to_one_minus_ndcg_at_low_temperature(ref, transposed: bool) -> None:
    s, y, m = ref.batch(QUERIES[:2])
    exact = np.mean([1 - true_ndcg(ref, np.array(a), np.array(b)) for a, b in QUERIES[:2]])
    got = neuralndcg(s, y, m, temperature=1e-3, transposed=transposed).item()
    assert got == pytest.approx(exact, abs=1e-6)


def test_neuralndcg_refuses_bad_k_and_temperature(ref) -> None:
    with pytest.raises(DataError, match="k must be"):
        neuralndcg(*ref.batch(QUERIES), k=0)
    with pytest.raises(DataError, match="temperature"):
        neuralndcg(*ref.batch(QUERIES), temperature=0.0)
