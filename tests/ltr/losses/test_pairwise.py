"""RankNet, LambdaRank, LambdaLoss, LiPO-λ and fidelity against loops over pairs."""

from __future__ import annotations

import math
from collections.abc import Callable

import numpy as np
import pytest
import torch

from rankstack.exceptions import DataError
from rankstack.ltr.losses import fidelity, lambdaloss, lambdarank, lipo_lambda, ranknet

QUERIES = [
    ([0.4, -0.5, 1.1, 0.2, 2.0], [2.0, 0.0, 1.0, 0.0, 3.0]),
    ([0.9, -1.0, 0.1], [0.0, 1.0, 1.0]),
    ([0.3, 0.7], [1.0, 1.0]),  # no pairs: not counted
    ([1.2, 0.4, -0.3, 0.8], [0.5, 0.0, 2.5, 1.0]),  # fractional labels
]


def softplus(x: float) -> float:
    return math.log1p(math.exp(-abs(x))) + max(x, 0.0)


def phi(x: float) -> float:
    return 0.5 * (1.0 + math.erf(x / math.sqrt(2.0)))


def pair_sum(ref, weight: Callable[[np.ndarray, np.ndarray, int, int], float], pair_loss) -> float:
    """Mean over queries with a pair of sum_{y_i > y_j} weight * pair_loss(s_i - s_j)."""
    per_query: list[float | None] = []
    for s, y in QUERIES:
        s, y = np.array(s), np.array(y)
        total, pairs = 0.0, 0
        for i in range(len(s)):
            for j in range(len(s)):
                if y[i] > y[j]:
                    pairs += 1
                    total += weight(s, y, i, j) * pair_loss(s[i] - s[j])
        per_query.append(total if pairs else None)
    return ref.mean_counted(per_query)


def batch(ref):
    return ref.batch(QUERIES, width=6, pad_score=5.0, pad_label=3.0)


@pytest.mark.parametrize("sigma", [1.0, 0.5, 2.0])
def test_ranknet_is_the_sum_over_pairs(ref, sigma: float) -> None:
    expected = pair_sum(ref, lambda *_: 1.0, lambda d: softplus(-sigma * d))
    assert ranknet(*batch(ref), sigma=sigma).item() == pytest.approx(expected, rel=1e-12)


def delta_ndcg(ref, s: np.ndarray, y: np.ndarray, i: int, j: int) -> float:
    r = ref.ranks(s)
    return abs(2.0 ** y[i] - 2.0 ** y[j]) * abs(1 / math.log2(1 + r[i]) - 1 / math.log2(1 + r[j]))


@pytest.mark.parametrize("sigma", [1.0, 2.0])
def test_lambdarank_weights_pairs_by_delta_ndcg(ref, sigma: float) -> None:
    def weight(s: np.ndarray, y: np.ndarray, i: int, j: int) -> float:
        return delta_ndcg(ref, s, y, i, j) / ref.idcg(list(y))

    expected = pair_sum(ref, weight, lambda d: softplus(-sigma * d))
    assert lambdarank(*batch(ref), sigma=sigma).item() == pytest.approx(expected, rel=1e-12)


def test_lambdarank_gradient_is_burges_lambda(ref) -> None:
    s, y, m = ref.batch([QUERIES[0]])
    s.requires_grad_(True)
    (g,) = torch.autograd.grad(lambdarank(s, y, m), s)
    sq, yq = np.array(QUERIES[0][0]), np.array(QUERIES[0][1])
    lam = np.zeros(len(sq))
    for i in range(len(sq)):
        for j in range(len(sq)):
            if yq[i] > yq[j]:
                w = delta_ndcg(ref, sq, yq, i, j) / ref.idcg(list(yq))
                rho = 1.0 / (1.0 + math.exp(sq[i] - sq[j]))  # Burges 2010: λ_ij = -σ ρ |ΔNDCG|
                lam[i] -= w * rho
                lam[j] += w * rho
    np.testing.assert_allclose(g[0].numpy(), lam, rtol=1e-12, atol=1e-15)


@pytest.mark.parametrize(("sigma", "mu"), [(1.0, 10.0), (1.0, 0.0), (0.5, 3.0)])
def test_lambdaloss_ndcg_loss2pp(ref, sigma: float, mu: float) -> None:
    def weight(s: np.ndarray, y: np.ndarray, i: int, j: int) -> float:
        r = ref.ranks(s)
        g = (2.0**y - 1.0) / ref.idcg(list(y))
        rho = abs(1 / math.log2(1 + r[i]) - 1 / math.log2(1 + r[j]))
        k = abs(int(r[i]) - int(r[j]))
        delta = abs(1 / math.log2(1 + k) - 1 / math.log2(2 + k))
        return (rho + mu * delta) * abs(g[i] - g[j])

    expected = pair_sum(ref, weight, lambda d: softplus(-sigma * d) / math.log(2.0))
    got = lambdaloss(*batch(ref), sigma=sigma, mu=mu).item()
    assert got == pytest.approx(expected, rel=1e-12)


def test_lambdaloss_without_mu_is_lambdarank_in_bits(ref) -> None:
    b = batch(ref)
    torch.testing.assert_close(lambdaloss(*b, mu=0.0), lambdarank(*b) / math.log(2.0))


@pytest.mark.parametrize("beta", [1.0, 0.1])
def test_lipo_lambda_uses_unnormalised_dcg_weights(ref, beta: float) -> None:
    def weight(s: np.ndarray, y: np.ndarray, i: int, j: int) -> float:
        return delta_ndcg(ref, s, y, i, j)

    expected = pair_sum(ref, weight, lambda d: softplus(-beta * d))
    assert lipo_lambda(*batch(ref), beta=beta).item() == pytest.approx(expected, rel=1e-12)


def test_fidelity_thurstone_and_logistic(ref) -> None:
    def general(p_star: float, p: float) -> float:  # FRank eq. 4
        return 1.0 - math.sqrt(p_star * p) - math.sqrt((1.0 - p_star) * (1.0 - p))

    thurstone = pair_sum(ref, lambda *_: 1.0, lambda d: general(1.0, phi(d / math.sqrt(2.0))))
    logistic = pair_sum(ref, lambda *_: 1.0, lambda d: general(1.0, 1 / (1 + math.exp(-2 * d))))
    b = batch(ref)
    assert fidelity(*b).item() == pytest.approx(thurstone, rel=1e-12)
    assert fidelity(*b, link="logistic", sigma=2.0).item() == pytest.approx(logistic, rel=1e-12)


def test_fidelity_with_predicted_variances(ref) -> None:
    s, y, m = batch(ref)
    v = torch.linspace(0.2, 3.0, s.numel(), dtype=torch.float64).reshape(s.shape)
    v_np = v.numpy()
    per_query: list[float | None] = []
    for q, (sq, yq) in enumerate(QUERIES):
        total, pairs = 0.0, 0
        for i in range(len(sq)):
            for j in range(len(sq)):
                if yq[i] > yq[j]:
                    pairs += 1
                    total += 1 - math.sqrt(
                        phi((sq[i] - sq[j]) / math.sqrt(v_np[q, i] + v_np[q, j]))
                    )
        per_query.append(total if pairs else None)
    v = v.clone().requires_grad_(True)
    loss = fidelity(s, y, m, variances=v)
    assert loss.item() == pytest.approx(ref.mean_counted(per_query), rel=1e-12)
    (gv,) = torch.autograd.grad(loss, v)
    assert torch.all(gv[~m] == 0) and torch.any(gv[m] != 0)


def test_fidelity_is_bounded_per_pair_and_refuses_bad_options(ref) -> None:
    s, y, m = ref.batch([([-50.0, 50.0], [1.0, 0.0])])
    assert fidelity(s, y, m).item() == pytest.approx(1.0)  # a hopeless pair costs at most 1
    with pytest.raises(DataError, match="link"):
        fidelity(s, y, m, link="probit")  # type: ignore[arg-type]
    with pytest.raises(DataError, match="Thurstone"):
        fidelity(s, y, m, link="logistic", variances=torch.ones_like(s))
    with pytest.raises(DataError, match="> 0"):
        fidelity(s, y, m, variances=torch.zeros_like(s))
    with pytest.raises(DataError, match="shape"):
        fidelity(s, y, m, variances=torch.ones(3))


@pytest.mark.parametrize("loss", [ranknet, lambdarank, lambdaloss, lipo_lambda, fidelity])
def test_pairwise_gradients_sum_to_zero_per_query(ref, loss) -> None:
    s, y, m = batch(ref)
    s.requires_grad_(True)
    (g,) = torch.autograd.grad(loss(s, y, m), s)
    torch.testing.assert_close(g.sum(dim=-1), torch.zeros(len(QUERIES), dtype=torch.float64))
