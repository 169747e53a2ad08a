"""NeuralNDCG: NDCG through a NeuralSort relaxation of sorting, made doubly stochastic."""

from __future__ import annotations

import math

import torch
from torch import Tensor

from rankstack.exceptions import DataError
from rankstack.ltr.losses._common import (
    discounts,
    gains,
    informative,
    masked_softmax,
    mean_over_queries,
    prepare,
)


def neural_sort(s: Tensor, m: Tensor, temperature: float) -> Tensor:
    """NeuralSort's relaxed permutation matrix ``P̂[q, i, j]``: weight of document j at rank i.

    Grover et al. 2019, "Stochastic optimization of sorting networks via continuous
    relaxations", ICLR: ``P̂[i, :] = softmax(((n + 1 - 2i) s - A_s 1) / τ)`` with
    ``A_s[j, k] = |s_j - s_k|``, 1-based ``i``, and ``n`` the number of real documents of each
    query. Rows ``i >= n`` and padded columns are 0, and so are entries below
    ``sqrt(finfo.tiny)`` of their row's largest (about 1e-19 in float32): far below any effect
    on NDCG, they would otherwise be subnormal numbers, which make CPU arithmetic (forward and
    backward) many times slower.
    """
    if s.shape[-1] == 0:
        return s[:, :, None] * s[:, None, :]  # [queries, 0, 0]
    n = m.sum(dim=-1)
    rows = torch.arange(s.shape[-1], device=s.device)
    coef = (n[:, None] - 1 - 2 * rows[None, :]).to(s.dtype)  # n + 1 - 2i for 1-based i
    spread = torch.where(m[:, None, :], (s[:, :, None] - s[:, None, :]).abs(), 0.0).sum(
        dim=-1
    )  # (A_s 1)_j over real k
    logits = (coef[:, :, None] * s[:, None, :] - spread[:, None, :]) / temperature
    real_rows = rows[None, :] < n[:, None]
    block = real_rows[:, :, None] & m[:, None, :]
    flat = logits.detach()
    top = torch.where(block, flat, float("-inf")).amax(dim=-1, keepdim=True)
    keep = block & (flat - top > 0.5 * math.log(torch.finfo(s.dtype).tiny))
    return torch.where(keep, masked_softmax(logits, keep), torch.zeros_like(logits))


def _reciprocal(x: Tensor) -> Tensor:
    """``1 / x`` where ``x > 0``, else 0, without ever dividing by 0 (no ``NaN`` gradients)."""
    positive = x > 0
    return torch.where(positive, 1.0 / torch.where(positive, x, torch.ones_like(x)), 0.0)


def _matvec(k: Tensor, v: Tensor) -> Tensor:
    return torch.bmm(k, v[:, :, None]).squeeze(-1)


def sinkhorn(p: Tensor, block: Tensor, active: Tensor, max_iter: int, tol: float) -> Tensor:
    """Alternately normalise columns and rows of each real block (Sinkhorn 1964).

    Written with scaling vectors, ``diag(r) K diag(c)``: each round is two batched
    matrix-vector products instead of several passes over ``[queries, list, list]`` matrices,
    and autograd keeps vectors rather than a matrix per round. Each query stops on its own once
    its columns sum to 1 within ``tol`` (rows do after every round), so its result does not
    depend on the rest of the batch; all stop after ``max_iter`` rounds. Queries where
    ``active`` is False are returned unscaled. Entries outside ``block`` stay 0.

    Entries below ``sqrt(finfo.tiny)`` (about 1e-19 in float32) are set to 0 first: they are
    far below any effect on NDCG, and subnormal numbers make CPU arithmetic much slower.
    """
    floor = torch.finfo(p.dtype).tiny ** 0.5
    k = torch.where(p > floor, p, 0.0)
    kt = k.transpose(1, 2)
    real_cols = block.any(dim=1)
    r = torch.ones(p.shape[:2], dtype=p.dtype, device=p.device)
    c = torch.ones_like(r)
    col_sums = _matvec(kt, r)
    done = ~active
    for _ in range(max_iter):
        if bool(done.all()):
            break
        new_c = _reciprocal(col_sums)
        new_r = _reciprocal(_matvec(k, new_c))
        new_col_sums = _matvec(kt, new_r)
        keep = done[:, None]
        c = torch.where(keep, c, new_c)
        r = torch.where(keep, r, new_r)
        col_sums = torch.where(keep, col_sums, new_col_sums)
        if tol > 0:
            err = torch.where(real_cols, (c * col_sums).detach() - 1.0, 0.0).abs()
            done = done | (err.amax(dim=-1) < tol)
    return r[:, :, None] * k * c[:, None, :]


def neuralndcg(
    scores: Tensor,
    labels: Tensor,
    mask: Tensor,
    *,
    temperature: float = 1.0,
    k: int | None = None,
    transposed: bool = False,
    max_iter: int = 50,
    tol: float = 1e-6,
) -> Tensor:
    """``1 - NeuralNDCG@k``: NDCG of the labels sorted by a Sinkhorn-scaled NeuralSort matrix.

    Pobrotyn & Białobrzeski 2021, "NeuralNDCG: direct optimisation of a ranking metric via
    differentiable relaxation of sorting" (arXiv:2102.07831), eq. 7 (default: relaxed sorted
    gains ``P̂ g`` times the discounts) or eq. 8 with ``transposed=True`` (gains times the
    expected discounts ``P̂ᵀ d``).

    Parameters
    ----------
    scores, labels, mask:
        ``[queries, list]`` model outputs, relevance labels and real-document mask.
    temperature:
        NeuralSort's ``τ``; smaller is closer to the hard sort.
    k:
        NDCG cutoff (ranks ``> k`` get discount 0, ideal DCG at ``k`` too); None for the whole list.
    transposed:
        Use the paper's transposed variant (eq. 8).
    max_iter, tol:
        Sinkhorn rounds and tolerance on column sums (``tol=0`` runs every round).

    Returns
    -------
    Tensor
        Scalar loss, averaged over the queries with two different labels (the others have
        ideal DCG 0 or NDCG 1 for any order and are not counted).
    """
    # NeuralNDCG (Pobrotyn & Białobrzeski 2021, eq. 7): 1 - sum_{i<=k} (P̂ g)_i d_i / IDCG@k,
    #   P̂ = Sinkhorn(NeuralSort(s, τ)), g = 2^y - 1, d_i = 1 / log2(1 + i)
    if k is not None and k < 1:
        raise DataError(f"k must be a positive integer or None; got {k}")
    if not temperature > 0:
        raise DataError(f"temperature must be > 0; got {temperature}")
    s, y, m = prepare(scores, labels, mask)
    length = s.shape[-1]
    cut = length if k is None else min(k, length)
    disc = discounts(length, s)
    disc = torch.where(torch.arange(length, device=s.device) < cut, disc, torch.zeros_like(disc))
    n = m.sum(dim=-1)
    block = (torch.arange(length, device=s.device)[None, :] < n[:, None])[:, :, None] & m[
        :, None, :
    ]
    ideal = torch.sort(y, dim=-1, descending=True).values
    idcg = (gains(ideal) * disc).sum(dim=-1)
    counted = informative(y, m) & (idcg > 0)
    p = sinkhorn(neural_sort(s, m, temperature), block, counted, max_iter, tol)
    g = torch.where(m, gains(y), torch.zeros_like(y))
    if transposed:
        dcg = (g * (p * disc[None, :, None]).sum(dim=1)).sum(dim=-1)  # eq. 8: g · P̂ᵀ d
    else:
        dcg = ((p @ g[:, :, None]).squeeze(-1) * disc).sum(dim=-1)  # eq. 7: (P̂ g) · d
    ndcg = dcg / torch.where(counted, idcg, torch.ones_like(idcg))
    return mean_over_queries(1.0 - ndcg, counted)
