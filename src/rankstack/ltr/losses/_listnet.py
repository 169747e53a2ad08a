"""ListNet: cross-entropy between the top-one probabilities of labels and scores."""

from __future__ import annotations

from torch import Tensor

from rankstack.ltr.losses._common import (
    has_documents,
    informative,
    masked_log_softmax,
    masked_softmax,
    mean_over_queries,
    prepare,
)


def listnet(
    scores: Tensor, labels: Tensor, mask: Tensor, *, keep_uninformative: bool = False
) -> Tensor:
    """ListNet with top-one probabilities: ``-sum softmax(y) · log softmax(s)`` per query.

    Cao et al. 2007, "Learning to rank: from pairwise approach to listwise approach", ICML,
    eq. 3 with the top-one probability of Theorem 6 (``φ = exp``).

    Parameters
    ----------
    scores, labels, mask:
        ``[queries, list]`` model outputs, relevance labels and real-document mask.
    keep_uninformative:
        Queries whose real labels are all equal (or that have one document) only pull the
        scores towards uniform. By default they are left out of the mean, like the pairwise
        losses, so a batch of them gives 0; True counts every query with a document, as
        allRank does.

    Returns
    -------
    Tensor
        Scalar loss: mean over the counted queries.
    """
    # ListNet (Cao et al. 2007, eq. 3 with top-1 probabilities): -sum softmax(y) * log softmax(s)
    s, y, m = prepare(scores, labels, mask)
    target = masked_softmax(y, m)
    per_query = -(target * masked_log_softmax(s, m)).sum(dim=-1)
    counted = has_documents(m) if keep_uninformative else informative(y, m)
    return mean_over_queries(per_query, counted)
