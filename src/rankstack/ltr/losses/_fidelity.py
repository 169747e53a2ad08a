"""Fidelity loss (FRank) on document pairs, with Thurstone or logistic pair probabilities."""

from __future__ import annotations

from typing import Literal

import torch
import torch.nn.functional as F
from torch import Tensor

from rankstack.exceptions import DataError
from rankstack.ltr.losses._common import mean_over_queries, preference_pairs, prepare

_LINKS = ("thurstone", "logistic")


def fidelity(
    scores: Tensor,
    labels: Tensor,
    mask: Tensor,
    *,
    link: Literal["thurstone", "logistic"] = "thurstone",
    sigma: float = 1.0,
    variances: Tensor | None = None,
) -> Tensor:
    """Fidelity loss ``1 - sqrt(P*_ij P_ij) - sqrt((1 - P*_ij)(1 - P_ij))`` over preference pairs.

    Tsai et al. 2007, "FRank: a ranking method with fidelity loss", SIGIR, eq. 4. Each pair with
    ``y_i > y_j`` has target ``P*_ij = 1``, so the pair loss is ``1 - sqrt(P_ij)``; it is
    bounded by 1, which makes it robust to mislabelled pairs. ``P_ij`` is either Thurstone's
    ``Φ(σ (s_i - s_j) / sqrt(v_i + v_j))`` with ``v = 1`` unless predicted variances are given
    (Zhang et al. 2021, "Uncertainty-aware blind image quality assessment in the laboratory and
    wild" (UNIQUE), IEEE TIP, Section III), or RankNet's logistic ``σ(σ (s_i - s_j))`` (FRank).

    Parameters
    ----------
    scores, labels, mask:
        ``[queries, list]`` model outputs, relevance labels and real-document mask.
    link:
        ``"thurstone"`` (standard normal CDF, default) or ``"logistic"``.
    sigma:
        Multiplies score differences inside the link.
    variances:
        Optional ``[queries, list]`` predicted variances ``v > 0`` (Thurstone only); they get
        gradients too.

    Returns
    -------
    Tensor
        Scalar loss: per-query sum over pairs, averaged over the queries that have a pair.

    Raises
    ------
    DataError
        On an unknown link, variances with the logistic link, or bad variances.
    """
    # Fidelity (Tsai et al. 2007, eq. 4) with P*_ij = 1: sum_{y_i > y_j} 1 - sqrt(P_ij)
    #   thurstone: P_ij = Φ(sigma (s_i - s_j) / sqrt(v_i + v_j))
    #   logistic:  P_ij = σ(sigma (s_i - s_j))
    if link not in _LINKS:
        raise DataError(f"link must be one of {', '.join(_LINKS)}; got {link!r}")
    s, y, m = prepare(scores, labels, mask)
    diff = sigma * (s[:, :, None] - s[:, None, :])
    if link == "logistic":
        if variances is not None:
            raise DataError("variances apply to the Thurstone link only; use link='thurstone'")
        log_p = F.logsigmoid(diff)
    else:
        if variances is None:
            spread = torch.sqrt(torch.tensor(2.0, dtype=s.dtype, device=s.device))
        else:
            if not isinstance(variances, Tensor) or variances.shape != s.shape:
                raise DataError(
                    f"variances must be a tensor of shape {tuple(s.shape)}; "
                    f"got {getattr(variances, 'shape', type(variances).__name__)}"
                )
            v = variances.to(s.dtype)
            if bool((m & ~(v > 0)).any()):
                raise DataError("variances must be > 0 at real (unmasked) positions")
            v = torch.where(m, v, torch.ones_like(v))
            spread = torch.sqrt(v[:, :, None] + v[:, None, :])
        log_p = torch.special.log_ndtr(diff / spread)
    pairs = preference_pairs(y, m)
    pair_loss = 1.0 - torch.exp(0.5 * log_p)
    per_query = torch.where(pairs, pair_loss, torch.zeros_like(pair_loss)).sum(dim=(1, 2))
    return mean_over_queries(per_query, pairs.flatten(1).any(dim=-1))
