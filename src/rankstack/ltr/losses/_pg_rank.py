"""PG-Rank: REINFORCE on rankings sampled from a Plackett-Luce policy, rewarded by NDCG."""

from __future__ import annotations

import torch
from torch import Tensor

from rankstack.exceptions import DataError
from rankstack.ltr.losses._common import (
    gains,
    ideal_dcg,
    informative,
    mean_over_queries,
    order_padding_first,
    plackett_luce_log_prob,
    prepare,
    uniform,
)


def pg_rank(
    scores: Tensor,
    labels: Tensor,
    mask: Tensor,
    *,
    n_samples: int = 32,
    generator: torch.Generator | None = None,
) -> Tensor:
    """Policy-gradient surrogate whose gradient estimates ``-∇ E_{π ~ PL(softmax(s))}[NDCG(π)]``.

    Singh & Joachims 2019, "Policy learning for fairness in ranking", NeurIPS, PG-Rank
    (Section 4, the log-derivative (REINFORCE) estimate of the utility gradient with a
    baseline): rankings are sampled from Plackett-Luce by sorting ``s + Gumbel`` noise, and
    ``loss = -mean_k (r_k - b) log P(π_k)`` with ``r_k`` the NDCG of sample k and ``b`` the
    mean reward of the query's samples. Only the gradient is meaningful, not the value.

    With ``b`` the mean over all ``n`` samples (including sample k), the expected gradient is
    ``(1 - 1/n)`` times the exact gradient of ``-E[NDCG]``: the right direction, slightly
    shrunk (it equals the unbiased leave-one-out baseline scaled by ``(n - 1) / n``).

    Parameters
    ----------
    scores, labels, mask:
        ``[queries, list]`` policy logits, relevance labels and real-document mask.
    n_samples:
        Rankings sampled per query (at least 2, for the baseline).
    generator:
        Source of the Gumbel noise; seed it for deterministic training. None uses torch's
        global generator.

    Returns
    -------
    Tensor
        Scalar surrogate loss, averaged over queries with two different labels (for the
        others every ranking has the same reward, so they are not counted).
    """
    # PG-Rank (Singh & Joachims 2019): -(1/n) sum_k (NDCG(π_k) - mean_k' NDCG(π_k')) log P(π_k | s)
    #   π_k = argsort(s + G_k), G_k ~ Gumbel(0, 1) i.i.d. (a Plackett-Luce sample)
    if isinstance(n_samples, bool) or not isinstance(n_samples, int) or n_samples < 2:
        raise DataError(f"n_samples must be an integer >= 2; got {n_samples!r}")
    s, y, m = prepare(scores, labels, mask)
    batch, length = s.shape
    shape = (batch, n_samples, length)
    u = uniform(shape, generator, s)
    gumbel = -torch.log(-torch.log(u.clamp(min=torch.finfo(s.dtype).tiny)))
    real = m[:, None, :].expand(shape)
    order = order_padding_first(s.detach()[:, None, :] + gumbel, real)
    real_sorted = real.gather(-1, order)
    log_p = plackett_luce_log_prob(s[:, None, :].expand(shape).gather(-1, order), real_sorted)
    with torch.no_grad():
        n_pad = (length - m.sum(dim=-1))[:, None, None]
        position = (torch.arange(length, device=s.device) - n_pad).clamp(min=0).to(s.dtype)
        g_sorted = gains(y)[:, None, :].expand(shape).gather(-1, order)
        terms = torch.where(real_sorted, g_sorted / torch.log2(position + 2.0), 0.0)
        idcg = ideal_dcg(y)
        reward = terms.sum(dim=-1) / torch.where(idcg > 0, idcg, torch.ones_like(idcg))[:, None]
        advantage = reward - reward.mean(dim=1, keepdim=True)
    per_query = -(advantage * log_p).mean(dim=1)
    return mean_over_queries(per_query, informative(y, m) & (idcg > 0))
