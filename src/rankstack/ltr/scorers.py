"""Torch scoring networks of :class:`~rankstack.ltr.neural.NeuralRanker`.

A scorer maps padded per-query feature tensors to one score per document::

    scorer(x: float [queries, list, features], mask: bool [queries, list]) -> float [queries, list]

``mask`` is True at real documents. Padded positions get a score (the caller ignores it) but
never change the scores of real documents: the MLP scores each document alone, and the
context-aware scorer keeps padded documents out of attention with a key padding mask.

- :class:`MLPScorer`: a feed-forward network applied to each document independently
  (RankNet's scorer, Burges et al. 2005, ICML; allRank's ``FCModel`` + output layer).
- :class:`ContextScorer`: the context-aware scorer of Pobrotyn et al. 2020, "Context-Aware
  Learning to Rank with Self-Attention" (arXiv:2005.10084, Section 3): a linear input
  projection, ``n_layers`` Transformer encoder blocks (Vaswani et al. 2017) with pre-layer
  normalisation attending over the documents of the same query, a final layer norm and a
  linear output giving one score per document. As in the paper's main setting there is no
  positional encoding, so the scores do not depend on the input order of the documents.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from typing import Any

from torch import Tensor, nn

from rankstack.exceptions import DataError

logger = logging.getLogger(__name__)

SCORERS = ("mlp", "context")
"""Names of the scorer architectures."""


class MLPScorer(nn.Module):
    """A per-document feed-forward scorer: ``Linear -> ReLU -> Dropout`` blocks, then ``Linear(1)``.

    Parameters
    ----------
    n_features:
        Input width.
    hidden:
        Sizes of the hidden layers; empty gives a linear model.
    dropout:
        Dropout after each hidden layer (training only).
    """

    def __init__(self, n_features: int, hidden: Sequence[int] = (64, 32), dropout: float = 0.0):
        super().__init__()
        layers: list[nn.Module] = []
        width = n_features
        for size in hidden:
            layers += [nn.Linear(width, int(size)), nn.ReLU()]
            if dropout > 0:
                layers.append(nn.Dropout(dropout))
            width = int(size)
        layers.append(nn.Linear(width, 1))
        self.net = nn.Sequential(*layers)

    def forward(self, x: Tensor, mask: Tensor) -> Tensor:
        """Scores ``[queries, list]``; ``mask`` is unused (each document is scored alone)."""
        out: Tensor = self.net(x).squeeze(-1)
        return out


class ContextScorer(nn.Module):
    """Self-attention over the documents of a query (Pobrotyn et al. 2020, arXiv:2005.10084).

    Parameters
    ----------
    n_features:
        Input width.
    d_model:
        Width of the projected document representations (must be divisible by ``n_heads``).
    n_heads, n_layers, dim_feedforward:
        Attention heads, encoder blocks and hidden width of each block's feed-forward layer.
    dropout:
        Dropout inside the encoder blocks (training only).
    """

    def __init__(
        self,
        n_features: int,
        d_model: int = 64,
        n_heads: int = 4,
        n_layers: int = 2,
        dim_feedforward: int = 128,
        dropout: float = 0.0,
    ):
        super().__init__()
        if d_model % n_heads:
            raise DataError(
                f"d_model ({d_model}) must be divisible by n_heads ({n_heads}) for the "
                "context-aware scorer"
            )
        self.input = nn.Linear(n_features, d_model)
        layer = nn.TransformerEncoderLayer(
            d_model,
            n_heads,
            dim_feedforward=dim_feedforward,
            dropout=dropout,
            activation="relu",
            batch_first=True,
            norm_first=True,
        )
        self.encoder = nn.TransformerEncoder(
            layer, n_layers, norm=nn.LayerNorm(d_model), enable_nested_tensor=False
        )
        self.output = nn.Linear(d_model, 1)

    def forward(self, x: Tensor, mask: Tensor) -> Tensor:
        """Scores ``[queries, list]``; every query needs at least one real document."""
        h = self.encoder(self.input(x), src_key_padding_mask=~mask)
        out: Tensor = self.output(h).squeeze(-1)
        return out


def build_scorer(kind: str, n_features: int, **params: Any) -> nn.Module:
    """A fresh scorer by name (``"mlp"`` or ``"context"``) with its keyword parameters.

    Raises
    ------
    DataError
        For an unknown name or an impossible size.
    """
    if n_features < 1:
        raise DataError(f"a scorer needs at least one input feature, found {n_features}")
    if kind == "mlp":
        hidden = tuple(int(h) for h in params.get("hidden", (64, 32)))
        if any(h < 1 for h in hidden):
            raise DataError(f"hidden layer sizes must be >= 1, found {list(hidden)}")
        return MLPScorer(n_features, hidden, float(params.get("dropout", 0.0)))
    if kind == "context":
        sizes = {k: int(params[k]) for k in ("d_model", "n_heads", "n_layers", "dim_feedforward")}
        bad = {k: v for k, v in sizes.items() if v < 1}
        if bad:
            raise DataError(f"context scorer sizes must be >= 1, found {bad}")
        return ContextScorer(n_features, dropout=float(params.get("dropout", 0.0)), **sizes)
    raise DataError(f"unknown scorer model {kind!r}; choose from {list(SCORERS)}")


def n_parameters(module: nn.Module) -> int:
    """Number of trainable parameters."""
    return sum(p.numel() for p in module.parameters() if p.requires_grad)


__all__ = ["SCORERS", "ContextScorer", "MLPScorer", "build_scorer", "n_parameters"]
