"""Shared pieces of the ranking losses: input checks, masking, NDCG terms, the query mean.

Every loss works on padded ``[queries, list]`` tensors. Padding is removed at the door
(:func:`prepare` replaces padded scores and labels by 0 through ``torch.where``, whose gradient
at unselected positions is exactly 0), and everything after that keeps padded entries out of
sums with masks, never with ``inf`` fills that could turn a zero gradient into ``NaN``.

NDCG terms follow Burges et al. (ICML 2005): gain ``2**y - 1``, discount ``log2(1 + rank)``
with 1-based ranks, ideal DCG from the labels sorted decreasingly (the whole list, no cutoff).
"""

from __future__ import annotations

import logging

import torch
from torch import Tensor

from rankstack.exceptions import DataError

logger = logging.getLogger(__name__)


def prepare(scores: Tensor, labels: Tensor, mask: Tensor) -> tuple[Tensor, Tensor, Tensor]:
    """Check the three inputs of a loss and return them with padding zeroed.

    Parameters
    ----------
    scores:
        Float ``[queries, list]`` model outputs.
    labels:
        ``[queries, list]`` relevance labels (``>= 0`` where ``mask`` is True).
    mask:
        Bool ``[queries, list]``; True marks a real document.

    Returns
    -------
    tuple
        ``(s, y, m)``: scores and labels (in the scores' dtype) with 0 at padded positions, and the
        mask. The caller's tensors are not changed.

    Raises
    ------
    DataError
        On shapes, dtypes or labels that break the contract.
    """
    if not (isinstance(scores, Tensor) and isinstance(labels, Tensor) and isinstance(mask, Tensor)):
        raise DataError(
            "scores, labels and mask must be torch tensors; got "
            f"{type(scores).__name__}, {type(labels).__name__}, {type(mask).__name__}"
        )
    if scores.dim() != 2 or labels.shape != scores.shape or mask.shape != scores.shape:
        raise DataError(
            "scores, labels and mask must share one 2-D shape [queries, list]; got "
            f"scores {tuple(scores.shape)}, labels {tuple(labels.shape)}, mask {tuple(mask.shape)}"
        )
    if not scores.is_floating_point():
        raise DataError(f"scores must be a floating-point tensor; got {scores.dtype}")
    if mask.dtype != torch.bool:
        raise DataError(f"mask must be a bool tensor (True = real document); got {mask.dtype}")
    if labels.is_complex():
        raise DataError(f"labels must be real numbers; got {labels.dtype}")
    y = labels.to(dtype=scores.dtype, device=scores.device)
    m = mask.to(device=scores.device)
    bad = m & ~(y >= 0)  # also catches NaN labels
    if bool(bad.any()):
        raise DataError("labels must be finite and >= 0 at real (unmasked) positions")
    zero = torch.zeros((), dtype=scores.dtype, device=scores.device)
    return torch.where(m, scores, zero), torch.where(m, y, zero), m


def mean_over_queries(per_query: Tensor, counted: Tensor) -> Tensor:
    """Mean of ``per_query`` over the queries where ``counted`` is True; 0 when none count.

    The result keeps its graph, so a batch where nothing counts still returns a scalar that
    requires grad and back-propagates zeros. ``per_query`` must be finite everywhere.
    """
    kept = torch.where(counted, per_query, torch.zeros_like(per_query))
    return kept.sum() / counted.sum().clamp(min=1).to(per_query.dtype)


def has_documents(m: Tensor) -> Tensor:
    """``[queries]`` bool: the query has at least one real document."""
    return m.any(dim=-1)


def informative(y: Tensor, m: Tensor) -> Tensor:
    """``[queries]`` bool: two real documents of the query have different labels.

    Queries with equal labels (all 0, all 2...), one real document or none carry no ranking
    signal; the pairwise, listwise and NDCG-based losses leave them out of the query mean.
    """
    if y.shape[-1] == 0:
        return torch.zeros(y.shape[:-1], dtype=torch.bool, device=y.device)
    big = torch.finfo(y.dtype).max
    hi = torch.where(m, y, -big).amax(dim=-1)
    lo = torch.where(m, y, big).amin(dim=-1)
    return hi > lo


def preference_pairs(y: Tensor, m: Tensor) -> Tensor:
    """``[queries, list, list]`` bool: ``(i, j)`` both real with ``y_i > y_j``."""
    both = m[:, :, None] & m[:, None, :]
    return both & (y[:, :, None] > y[:, None, :])


def gains(y: Tensor) -> Tensor:
    """Exponential gain ``2**y - 1`` (Burges et al. 2005)."""
    return torch.exp2(y) - 1.0


def discounts(length: int, like: Tensor) -> Tensor:
    """``1 / log2(2 + p)`` for 0-based positions ``p < length`` (rank ``p + 1``)."""
    p = torch.arange(length, dtype=like.dtype, device=like.device)
    return 1.0 / torch.log2(p + 2.0)


def ideal_dcg(y: Tensor) -> Tensor:
    """``[queries]`` DCG of the labels sorted decreasingly (padded labels must be 0)."""
    ideal = torch.sort(y, dim=-1, descending=True).values
    return (gains(ideal) * discounts(y.shape[-1], y)).sum(dim=-1)


def ranks_by_score(s: Tensor, m: Tensor) -> Tensor:
    """0-based rank of every document when sorted by decreasing score (no gradient).

    Ties keep list order (a stable sort); padded positions come after every real document.
    """
    key = torch.where(m, s.detach(), torch.tensor(float("-inf"), dtype=s.dtype, device=s.device))
    order = torch.sort(key, dim=-1, descending=True, stable=True).indices
    positions = torch.arange(s.shape[-1], device=s.device).expand_as(order)
    return torch.empty_like(order).scatter_(-1, order, positions)


def pairwise_rank_weights(y: Tensor, s: Tensor, m: Tensor) -> tuple[Tensor, Tensor]:
    """``|G_i - G_j|`` and ``|1/D(r_i) - 1/D(r_j)|`` at the current ranks, both ``[q, L, L]``.

    ``G = 2**y - 1`` and ``D(r) = log2(1 + r)`` with ``r`` the 1-based rank under the current
    scores (Burges 2010, the |ΔNDCG| of swapping i and j, before dividing by the ideal DCG).
    """
    g = gains(y)
    inv_d = 1.0 / torch.log2(ranks_by_score(s, m).to(s.dtype) + 2.0)
    gain_gap = (g[:, :, None] - g[:, None, :]).abs()
    disc_gap = (inv_d[:, :, None] - inv_d[:, None, :]).abs()
    return gain_gap, disc_gap


def reverse_logcumsumexp(x: Tensor) -> Tensor:
    """``out[..., i] = log(sum_{k >= i} exp(x[..., k]))`` along the last axis."""
    return torch.logcumsumexp(x.flip(-1), dim=-1).flip(-1)


def plackett_luce_log_prob(s_sorted: Tensor, real_sorted: Tensor) -> Tensor:
    """Log-probability of a ranking under Plackett-Luce with weights ``exp(s)``.

    ``log P(π) = sum_i [s_π(i) - log sum_{k >= i} exp(s_π(k))]`` (Plackett 1975; Luce 1959), over
    the real positions. ``s_sorted`` holds the scores in ranking order with all padded positions
    *first* and finite, so the suffix sums of real positions never see padding and no ``inf``
    appears (which would make gradients ``NaN``). Reduces the last axis.
    """
    terms = s_sorted - reverse_logcumsumexp(s_sorted)
    return torch.where(real_sorted, terms, torch.zeros_like(terms)).sum(dim=-1)


def order_padding_first(keys: Tensor, m: Tensor) -> Tensor:
    """Indices sorting ``keys`` decreasingly (stable), with padded positions placed first."""
    inf = torch.tensor(float("inf"), dtype=keys.dtype, device=keys.device)
    return torch.sort(torch.where(m, keys, inf), dim=-1, descending=True, stable=True).indices


def uniform(shape: tuple[int, ...], generator: torch.Generator | None, like: Tensor) -> Tensor:
    """``U[0, 1)`` draws in ``like``'s dtype and device, from ``generator``'s own device.

    A CPU generator thus also drives losses on a GPU, with the same draws.
    """
    device = like.device if generator is None else generator.device
    u = torch.rand(shape, generator=generator, dtype=like.dtype, device=device)
    return u.to(like.device)


def masked_log_softmax(x: Tensor, m: Tensor) -> Tensor:
    """Log-softmax over the real positions of the last axis; 0 at padded positions.

    Rows without a real position give zeros. ``x`` must be finite.
    """
    if x.shape[-1] == 0:
        return x
    neg_inf = torch.tensor(float("-inf"), dtype=x.dtype, device=x.device)
    top = torch.where(m, x, neg_inf).amax(dim=-1, keepdim=True)
    top = torch.where(torch.isfinite(top), top, torch.zeros_like(top)).detach()
    shifted = torch.where(m, x - top, neg_inf)
    total = torch.exp(shifted).sum(dim=-1, keepdim=True)
    total = torch.where(total > 0, total, torch.ones_like(total))
    out = x - top - torch.log(total)
    return torch.where(m, out, torch.zeros_like(out))


def masked_softmax(x: Tensor, m: Tensor) -> Tensor:
    """Softmax over the real positions of the last axis; exactly 0 at padded positions."""
    lsm = masked_log_softmax(x, m)
    return torch.where(m, torch.exp(lsm), torch.zeros_like(lsm))
