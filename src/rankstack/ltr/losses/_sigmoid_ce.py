"""Pointwise sigmoid cross-entropy on labels scaled to [0, 1]."""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor

from rankstack.exceptions import DataError
from rankstack.ltr.losses._common import has_documents, mean_over_queries, prepare


def sigmoid_ce(
    scores: Tensor, labels: Tensor, mask: Tensor, *, max_grade: float | None = None
) -> Tensor:
    """Binary cross-entropy of ``sigmoid(s)`` against ``label / max_grade``.

    Pointwise logistic loss as in TF-Ranking's ``SigmoidCrossEntropyLoss`` (Pasumarthi et al.
    2019, "TF-Ranking: scalable TensorFlow library for learning-to-rank", KDD): each document is
    a Bernoulli prediction of its relevance. Graded labels become targets in ``[0, 1]`` by
    dividing by ``max_grade``.

    Parameters
    ----------
    scores, labels, mask:
        ``[queries, list]`` logits, relevance labels and real-document mask.
    max_grade:
        The largest grade of the data set (2 for MQ2008, 4 for MSLR-WEB); give it for targets
        that do not depend on the batch. ``None`` uses the largest real label of the batch, but
        at least 1, so 0/1 and fractional click labels are used as they are.

    Returns
    -------
    Tensor
        Scalar loss: mean over each query's documents, then over queries with documents.

    Raises
    ------
    DataError
        When ``max_grade`` is not positive or a label exceeds it.
    """
    # sigmoid CE (Pasumarthi et al. 2019), t_i = y_i / max_grade:
    #   -(1/n) sum_i [t_i log σ(s_i) + (1 - t_i) log(1 - σ(s_i))]
    s, y, m = prepare(scores, labels, mask)
    if max_grade is None:
        top = y.max() if y.numel() else torch.zeros((), dtype=y.dtype, device=y.device)
        scale = top.clamp(min=1.0)
    else:
        if not max_grade > 0:
            raise DataError(f"max_grade must be > 0; got {max_grade}")
        if y.numel() and bool((y > max_grade).any()):
            raise DataError(
                f"a label ({float(y.max())}) exceeds max_grade={max_grade}; "
                "pass the data set's largest grade"
            )
        scale = torch.tensor(float(max_grade), dtype=y.dtype, device=y.device)
    target = y / scale
    elementwise = F.binary_cross_entropy_with_logits(s, target, reduction="none")
    elementwise = torch.where(m, elementwise, torch.zeros_like(elementwise))
    per_query = elementwise.sum(dim=-1) / m.sum(dim=-1).clamp(min=1).to(s.dtype)
    return mean_over_queries(per_query, has_documents(m))
