"""Click models: how simulated users examine and click a displayed list.

Every model works on a batch of sessions at once: ``attract[n, k]`` is the probability that a
user who examines the document at each position clicks it (its *attractiveness*, from its
relevance label by :func:`click_probability_of_label`), ``mask[n, k]`` marks the positions
actually shown (lists can be shorter than ``k``). :meth:`ClickModel.sample` draws 0/1 clicks
with a numpy generator; :meth:`ClickModel.click_probabilities` gives the exact marginal
``P(C_r = 1)`` of each position, which the tests and the counterfactual checks compare with.
Loops run over the ``k`` positions, never over sessions.

Models (``r`` is the 1-based rank, ``R_r`` the attractiveness at rank ``r``):

- :class:`PBM`, position-based model (Richardson et al. 2007; Craswell et al. 2008):
  ``P(C_r) = theta_r * R_r`` with examination ``theta_r = (1 / r) ** eta``
  (Joachims, Swaminathan and Schnabel 2017, "Unbiased Learning-to-Rank with Biased Feedback",
  WSDM, Section 6; Ai et al. 2018 raise fixed propensities to the power ``eta`` the same way).
- :class:`Cascade` (Craswell, Zoeter, Taylor and Ramsey 2008, "An experimental comparison of
  click position-bias models", WSDM, Section 3.4): the user scans top-down and stops at the
  first click, ``P(C_r) = R_r * prod_{j<r} (1 - R_j)``; at most one click per session.
- :class:`DCM`, dependent click model (Guo, Liu and Wang 2009, "Efficient multiple-click
  models in web search", WSDM, Section 3): the user scans top-down; after a click at ``r`` she
  goes on with probability ``lambda_r``, after a skip always:
  ``P(E_1) = 1``, ``P(E_{r+1}) = P(E_r) * (1 - R_r + R_r * lambda_r)``, ``P(C_r) = P(E_r) R_r``.
- :class:`UBM`, user browsing model (Dupret and Piwowarski 2008, "A user browsing model to
  predict search engine click data from past observations", SIGIR, Section 3): examination
  depends on the rank and the distance ``d`` to the previous click (``d = r`` when there was
  none), ``P(E_r = 1 | r, d) = gamma[r, d]``, and ``P(C_r) = gamma[r, d] R_r``. The marginal
  is computed exactly by a recursion over the rank of the last click.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Sequence
from typing import Any, ClassVar

import numpy as np

from rankstack.exceptions import DataError

__all__ = [
    "DCM",
    "PBM",
    "UBM",
    "Cascade",
    "ClickModel",
    "click_probability_of_label",
    "make_click_model",
    "position_propensities",
]


def click_probability_of_label(
    labels: np.ndarray, *, eps_pos: float = 1.0, eps_neg: float = 0.1, max_label: int
) -> np.ndarray:
    """Probability of a click on an *examined* document with graded label ``y``.

    ``eps_neg + (eps_pos - eps_neg) * (2**y - 1) / (2**max_label - 1)``: the noisy
    relevance-to-click mapping of Ai, Bi, Luo, Guo and Croft 2018 ("Unbiased Learning to Rank
    with Unbiased Propensity Estimation", SIGIR, Section 5.1, with ``eps_pos = 1``) and the
    ULTRA toolkit's click simulator (Ai et al. 2021, CIKM), which generalises the binary
    ``eps+`` / ``eps-`` noise of Joachims et al. 2017 (Section 6.1: clicks on relevant documents
    with probability ``eps+``, on irrelevant ones with ``eps-``) to graded labels. Labels above
    ``max_label`` are an error; ``max_label = 0`` maps every document to ``eps_pos``.
    """
    if not 0.0 <= eps_neg <= 1.0 or not 0.0 <= eps_pos <= 1.0:
        raise DataError(f"eps_pos and eps_neg must be in [0, 1], found {eps_pos}, {eps_neg}")
    y = np.asarray(labels, dtype=np.float64)
    if y.size and (np.nanmin(y) < 0 or np.nanmax(y) > max_label):
        raise DataError(
            f"labels must lie in [0, max_label={max_label}], found {np.nanmin(y)}..{np.nanmax(y)}"
        )
    if max_label <= 0:
        return np.full(y.shape, eps_pos)
    gain = (np.exp2(y) - 1.0) / (2.0**max_label - 1.0)
    out: np.ndarray = eps_neg + (eps_pos - eps_neg) * gain
    return out


def position_propensities(k: int, eta: float = 1.0) -> np.ndarray:
    """``theta_r = (1 / r) ** eta`` for ``r = 1..k`` (Joachims et al. 2017, Section 6)."""
    if k < 1:
        raise DataError(f"k must be >= 1, found {k}")
    if eta < 0:
        raise DataError(f"eta must be >= 0, found {eta}")
    out: np.ndarray = (1.0 / np.arange(1, k + 1, dtype=np.float64)) ** eta
    return out


def _check(attract: np.ndarray, mask: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    a = np.asarray(attract, dtype=np.float64)
    m = np.asarray(mask, dtype=bool)
    if a.ndim != 2 or a.shape != m.shape:
        raise DataError(f"attract and mask must be 2-D of one shape, found {a.shape}, {m.shape}")
    return np.where(m, a, 0.0), m


def _per_rank(value: float | Sequence[float] | np.ndarray, k: int, name: str) -> np.ndarray:
    arr = np.asarray(value, dtype=np.float64)
    if arr.ndim == 0:
        arr = np.full(k, float(arr))
    if arr.ndim != 1 or len(arr) < k:
        raise DataError(f"{name} needs one value per rank (at least {k}), found shape {arr.shape}")
    if (arr < 0).any() or (arr > 1).any():
        raise DataError(f"{name} must be probabilities in [0, 1]")
    return arr[:k]


class ClickModel(ABC):
    """A click model: draws clicks for a batch of sessions and gives their exact marginals."""

    name: ClassVar[str] = "model"

    @abstractmethod
    def params(self) -> dict[str, Any]:
        """The model's parameters as plain JSON (recorded in a simulated log's metadata)."""

    @abstractmethod
    def sample(self, attract: np.ndarray, mask: np.ndarray, rng: np.random.Generator) -> np.ndarray:
        """0/1 clicks (uint8, shape of ``attract``) for each session and position."""

    @abstractmethod
    def click_probabilities(self, attract: np.ndarray, mask: np.ndarray) -> np.ndarray:
        """Exact ``P(C_r = 1)`` for each session and position (0 where not shown)."""

    def examination(self, k: int) -> np.ndarray | None:
        """Position-only examination probabilities (PBM's propensities), else None."""
        return None

    def __repr__(self) -> str:
        args = ", ".join(f"{k}={v!r}" for k, v in self.params().items())
        return f"{type(self).__name__}({args})"


class PBM(ClickModel):
    """Position-based model: examination ``theta_r = (1/r)**eta`` (or given ``propensities``)."""

    name = "pbm"

    def __init__(self, eta: float = 1.0, propensities: Sequence[float] | None = None) -> None:
        self.eta = float(eta)
        self.propensities = None if propensities is None else [float(p) for p in propensities]
        if self.propensities is not None:
            _per_rank(self.propensities, len(self.propensities), "propensities")
        elif self.eta < 0:
            raise DataError(f"eta must be >= 0, found {eta}")

    def params(self) -> dict[str, Any]:
        return {"eta": self.eta, "propensities": self.propensities}

    def examination(self, k: int) -> np.ndarray:
        if self.propensities is not None:
            return _per_rank(self.propensities, k, "propensities")
        return position_propensities(k, self.eta)

    def click_probabilities(self, attract: np.ndarray, mask: np.ndarray) -> np.ndarray:
        a, m = _check(attract, mask)
        return a * self.examination(a.shape[1])[None, :] * m

    def sample(self, attract: np.ndarray, mask: np.ndarray, rng: np.random.Generator) -> np.ndarray:
        p = self.click_probabilities(attract, mask)
        out: np.ndarray = (rng.random(p.shape) < p).astype(np.uint8)
        return out


class Cascade(ClickModel):
    """Cascade model: scan top-down, click the first attractive document, stop."""

    name = "cascade"

    def params(self) -> dict[str, Any]:
        return {}

    def click_probabilities(self, attract: np.ndarray, mask: np.ndarray) -> np.ndarray:
        a, _ = _check(attract, mask)
        before = np.cumprod(1.0 - a, axis=1)
        reach = np.ones_like(a)
        reach[:, 1:] = before[:, :-1]
        out: np.ndarray = reach * a
        return out

    def sample(self, attract: np.ndarray, mask: np.ndarray, rng: np.random.Generator) -> np.ndarray:
        a, _ = _check(attract, mask)
        hit = rng.random(a.shape) < a
        first = np.argmax(hit, axis=1)
        any_hit = hit[np.arange(len(a)), first]
        out = np.zeros(a.shape, dtype=np.uint8)
        out[np.flatnonzero(any_hit), first[any_hit]] = 1
        return out


class DCM(ClickModel):
    """Dependent click model with per-rank continuation probabilities ``lambdas`` after a click."""

    name = "dcm"

    def __init__(self, lambdas: float | Sequence[float] = 0.5) -> None:
        self.lambdas: float | list[float]
        if isinstance(lambdas, (int, float, np.number)):
            self.lambdas = float(lambdas)
            _per_rank(self.lambdas, 1, "lambdas")
        else:
            self.lambdas = [float(x) for x in lambdas]
            _per_rank(self.lambdas, len(self.lambdas), "lambdas")

    def params(self) -> dict[str, Any]:
        return {"lambdas": self.lambdas}

    def click_probabilities(self, attract: np.ndarray, mask: np.ndarray) -> np.ndarray:
        a, _ = _check(attract, mask)
        lam = _per_rank(self.lambdas, a.shape[1], "lambdas")
        exam = np.ones(len(a))
        out = np.zeros_like(a)
        for r in range(a.shape[1]):
            out[:, r] = exam * a[:, r]
            exam = exam * (1.0 - a[:, r] + a[:, r] * lam[r])
        return out

    def sample(self, attract: np.ndarray, mask: np.ndarray, rng: np.random.Generator) -> np.ndarray:
        a, _ = _check(attract, mask)
        lam = _per_rank(self.lambdas, a.shape[1], "lambdas")
        u_click = rng.random(a.shape)
        u_go = rng.random(a.shape)
        out = np.zeros(a.shape, dtype=np.uint8)
        exam = np.ones(len(a), dtype=bool)
        for r in range(a.shape[1]):
            click = exam & (u_click[:, r] < a[:, r])
            out[:, r] = click
            exam = exam & (~click | (u_go[:, r] < lam[r]))
        return out


class UBM(ClickModel):
    """User browsing model: examination ``gamma[r, d]`` by rank and distance to the last click.

    ``gamma`` is a ``k x k`` matrix indexed ``[r - 1, d - 1]`` (only ``d <= r`` is used);
    default ``gamma[r, d] = (1 / d) ** eta``, so the first examination of a session without a
    click follows the PBM's ``(1/r) ** eta`` and examination decays with the distance to the
    last click (the dependence Dupret and Piwowarski found strongest).
    """

    name = "ubm"

    def __init__(self, eta: float = 1.0, gamma: Sequence[Sequence[float]] | None = None) -> None:
        self.eta = float(eta)
        self.gamma = None if gamma is None else [[float(x) for x in row] for row in gamma]
        if self.gamma is not None:
            g = np.asarray(self.gamma)
            if g.ndim != 2 or g.shape[0] != g.shape[1] or (g < 0).any() or (g > 1).any():
                raise DataError("gamma must be a square matrix of probabilities [rank, distance]")

    def params(self) -> dict[str, Any]:
        return {"eta": self.eta, "gamma": self.gamma}

    def gamma_matrix(self, k: int) -> np.ndarray:
        if self.gamma is not None:
            g = np.asarray(self.gamma, dtype=np.float64)
            if g.shape[0] < k:
                raise DataError(f"gamma is {g.shape[0]} x {g.shape[0]}, the lists have k={k}")
            return g[:k, :k]
        d = np.arange(1, k + 1, dtype=np.float64)
        return np.tile((1.0 / d) ** self.eta, (k, 1))

    def click_probabilities(self, attract: np.ndarray, mask: np.ndarray) -> np.ndarray:
        a, _ = _check(attract, mask)
        n, k = a.shape
        g = self.gamma_matrix(k)
        # state[:, j]: probability that the last click so far was at rank j (0: none yet)
        state = np.zeros((n, k + 1))
        state[:, 0] = 1.0
        out = np.zeros_like(a)
        for r in range(1, k + 1):
            dist = r - np.arange(r)  # distance from each possible last click j = 0..r-1
            exam = g[r - 1, dist - 1]  # shape (r,)
            p_click = state[:, :r] * exam[None, :] * a[:, r - 1 : r]
            out[:, r - 1] = p_click.sum(axis=1)
            state[:, :r] -= p_click
            state[:, r] = out[:, r - 1]
        return out

    def sample(self, attract: np.ndarray, mask: np.ndarray, rng: np.random.Generator) -> np.ndarray:
        a, _ = _check(attract, mask)
        n, k = a.shape
        g = self.gamma_matrix(k)
        u_exam = rng.random(a.shape)
        u_click = rng.random(a.shape)
        last = np.zeros(n, dtype=np.int64)
        out = np.zeros(a.shape, dtype=np.uint8)
        for r in range(1, k + 1):
            exam = u_exam[:, r - 1] < g[r - 1, r - last - 1]
            click = exam & (u_click[:, r - 1] < a[:, r - 1])
            out[:, r - 1] = click
            last = np.where(click, r, last)
        return out


_MODELS: dict[str, type[ClickModel]] = {"pbm": PBM, "cascade": Cascade, "dcm": DCM, "ubm": UBM}


def make_click_model(name: str, **params: Any) -> ClickModel:
    """A click model by name (``pbm``, ``cascade``, ``dcm``, ``ubm``) with its parameters.

    Parameters a model does not take are an error, except ``eta`` for the models without
    position-only examination (cascade, DCM), which is ignored so that one command line serves
    all models.
    """
    key = name.lower()
    if key not in _MODELS:
        raise DataError(f"unknown click model {name!r}; choose from {sorted(_MODELS)}")
    cls = _MODELS[key]
    import inspect

    valid = set(inspect.signature(cls.__init__).parameters) - {"self"}
    kept = {}
    for p, v in params.items():
        if v is None:
            continue
        if p not in valid:
            if p == "eta":
                continue
            raise DataError(f"click model {key!r} has no parameter {p!r}; it takes {sorted(valid)}")
        kept[p] = v
    return cls(**kept)
