"""Learning-to-rank losses in PyTorch over padded, query-grouped score tensors.

Every loss has the signature ``loss(scores, labels, mask, **params) -> Tensor``:

- ``scores``: float ``[queries, list]`` model outputs;
- ``labels``: ``[queries, list]`` graded relevance ``>= 0`` (0/1 or fractional for clicks);
- ``mask``: bool ``[queries, list]``, True for a real document, False for padding (anywhere).

Each returns a scalar: the mean, over the queries that count, of the per-query loss.
Padding never changes the value, and its gradient is exactly 0. Ranking losses do not count
queries without two different labels; a batch of only such queries gives 0 with zero
gradients. ``docs/losses.md`` lists the equations, parameters and choices.

Look a loss up by name with :func:`get_loss` (``LOSSES`` holds them all).
"""

from __future__ import annotations

from collections.abc import Callable

from rankstack._compat import require
from rankstack.exceptions import RankstackError

require("torch")

from torch import Tensor  # noqa: E402

from rankstack.ltr.losses._approxndcg import approxndcg  # noqa: E402
from rankstack.ltr.losses._fidelity import fidelity  # noqa: E402
from rankstack.ltr.losses._lambdaloss import lambdaloss  # noqa: E402
from rankstack.ltr.losses._lambdarank import lambdarank  # noqa: E402
from rankstack.ltr.losses._lipo_lambda import lipo_lambda  # noqa: E402
from rankstack.ltr.losses._listmle import listmle  # noqa: E402
from rankstack.ltr.losses._listnet import listnet  # noqa: E402
from rankstack.ltr.losses._mse import mse  # noqa: E402
from rankstack.ltr.losses._neuralndcg import neuralndcg  # noqa: E402
from rankstack.ltr.losses._pg_rank import pg_rank  # noqa: E402
from rankstack.ltr.losses._ranknet import ranknet  # noqa: E402
from rankstack.ltr.losses._sigmoid_ce import sigmoid_ce  # noqa: E402

Loss = Callable[..., Tensor]
"""A loss: ``(scores, labels, mask, **params) -> scalar Tensor``."""

LOSSES: dict[str, Loss] = {
    "mse": mse,
    "sigmoid_ce": sigmoid_ce,
    "ranknet": ranknet,
    "lambdarank": lambdarank,
    "lambdaloss": lambdaloss,
    "listnet": listnet,
    "listmle": listmle,
    "approxndcg": approxndcg,
    "neuralndcg": neuralndcg,
    "fidelity": fidelity,
    "pg_rank": pg_rank,
    "lipo_lambda": lipo_lambda,
}
"""Every loss by its registry name."""


class UnknownLossError(RankstackError, ValueError):
    """A loss name is not in :data:`LOSSES`."""


def get_loss(name: str) -> Loss:
    """The loss registered as ``name`` (case and ``-``/``_`` do not matter).

    Raises
    ------
    UnknownLossError
        For a name that is not registered; the message lists the valid names.
    """
    key = name.strip().lower().replace("-", "_") if isinstance(name, str) else name
    try:
        return LOSSES[key]
    except (KeyError, TypeError):
        raise UnknownLossError(
            f"unknown loss {name!r}; valid names: {', '.join(sorted(LOSSES))}"
        ) from None


__all__ = [
    "LOSSES",
    "Loss",
    "UnknownLossError",
    "approxndcg",
    "fidelity",
    "get_loss",
    "lambdaloss",
    "lambdarank",
    "lipo_lambda",
    "listmle",
    "listnet",
    "mse",
    "neuralndcg",
    "pg_rank",
    "ranknet",
    "sigmoid_ce",
]
