"""Pointwise mean squared error between scores and graded labels."""

from __future__ import annotations

from torch import Tensor

from rankstack.ltr.losses._common import has_documents, mean_over_queries, prepare


def mse(scores: Tensor, labels: Tensor, mask: Tensor) -> Tensor:
    """Mean squared error, averaged over each query's documents and then over queries.

    Pointwise least-squares regression on the grades (Cossock & Zhang 2006, "Subset ranking
    using regression", COLT: the squared-error regression loss). Unlike the ranking losses it
    has a target for every document, so queries with equal labels count; only queries without
    real documents are left out.

    Parameters
    ----------
    scores, labels, mask:
        ``[queries, list]`` model outputs, relevance labels and real-document mask.

    Returns
    -------
    Tensor
        Scalar loss.
    """
    # MSE (Cossock & Zhang 2006): per query (1/n) sum_i (s_i - y_i)^2, then the mean over queries
    s, y, m = prepare(scores, labels, mask)
    n = m.sum(dim=-1).clamp(min=1).to(s.dtype)
    per_query = ((s - y) ** 2).sum(dim=-1) / n  # padded positions are 0 - 0
    return mean_over_queries(per_query, has_documents(m))
