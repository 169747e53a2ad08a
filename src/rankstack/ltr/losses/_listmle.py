"""ListMLE: negative Plackett-Luce log-likelihood of the ranking by labels."""

from __future__ import annotations

import torch
from torch import Tensor

from rankstack.ltr.losses._common import (
    has_documents,
    informative,
    mean_over_queries,
    order_padding_first,
    plackett_luce_log_prob,
    prepare,
    uniform,
)


def listmle(
    scores: Tensor,
    labels: Tensor,
    mask: Tensor,
    *,
    shuffle_ties: bool = True,
    generator: torch.Generator | None = None,
    keep_uninformative: bool = False,
) -> Tensor:
    """ListMLE: ``-log P(π_y | s)`` under Plackett-Luce, ``π_y`` sorting the labels decreasingly.

    Xia et al. 2008, "Listwise approach to learning to rank: theory and algorithm", ICML,
    the likelihood loss of ListMLE: ``-log prod_i exp(s_π(i)) / sum_{k >= i} exp(s_π(k))``.

    Parameters
    ----------
    scores, labels, mask:
        ``[queries, list]`` model outputs, relevance labels and real-document mask.
    shuffle_ties:
        Documents with equal labels have no true order. True (default, as allRank) orders them
        at random on every call, drawn from ``generator`` (or torch's global generator when
        None), so no fixed tie order is learnt; False keeps their list order (stable, fully
        deterministic).
    generator:
        Source of the tie-breaking draws; seed it for reproducible training.
    keep_uninformative:
        By default queries whose real labels are all equal (or that have one document) are
        left out of the mean: their likelihood only rewards an arbitrary tie order. True
        counts every query with a document, as allRank does.

    Returns
    -------
    Tensor
        Scalar loss: per-query negative log-likelihood (a sum over positions), averaged over
        the counted queries.
    """
    # ListMLE (Xia et al. 2008): -sum_i [s_π(i) - log sum_{k >= i} exp(s_π(k))], π sorts y desc
    s, y, m = prepare(scores, labels, mask)
    if shuffle_ties and y.numel():
        # a random order first, then a stable sort by label: ties stay in the random order
        noise = uniform(y.shape, generator, y)
        shuffle = torch.argsort(noise, dim=-1)
        order = torch.gather(
            shuffle, -1, order_padding_first(y.gather(-1, shuffle), m.gather(-1, shuffle))
        )
    else:
        order = order_padding_first(y, m)
    log_p = plackett_luce_log_prob(s.gather(-1, order), m.gather(-1, order))
    counted = has_documents(m) if keep_uninformative else informative(y, m)
    return mean_over_queries(-log_p, counted)
