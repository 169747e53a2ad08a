"""PG-Rank: its Monte-Carlo gradient against the exact gradient of expected NDCG."""

from __future__ import annotations

import itertools

import pytest
import torch

from rankstack.exceptions import DataError
from rankstack.ltr.losses import pg_rank


def exact_expected_ndcg(s: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    """E_{π ~ PL(softmax(s))}[NDCG(π)] over all permutations of a short list."""
    n = s.shape[0]
    gains = 2.0**y - 1.0
    disc = 1.0 / torch.log2(torch.arange(n, dtype=s.dtype) + 2.0)
    idcg = (torch.sort(gains, descending=True).values * disc).sum()
    total = torch.zeros((), dtype=s.dtype)
    for perm in itertools.permutations(range(n)):
        log_p = torch.zeros((), dtype=s.dtype)
        for i in range(n):
            rest = torch.tensor(perm[i:])
            log_p = log_p + s[perm[i]] - torch.logsumexp(s[rest], dim=0)
        ndcg = (gains[list(perm)] * disc).sum() / idcg
        total = total + torch.exp(log_p) * ndcg
    return total


def test_expected_gradient_matches_the_exact_one_on_three_items() -> None:
    s0 = torch.tensor([0.3, -0.4, 0.9], dtype=torch.float64)
    y = torch.tensor([2.0, 1.0, 0.0], dtype=torch.float64)
    s = s0.clone().requires_grad_(True)
    (exact,) = torch.autograd.grad(exact_expected_ndcg(s, y), s)
    # many copies of one query: one gradient estimate per copy, hence a standard error
    copies, n = 64, 512
    scores = s0.repeat(copies, 1).requires_grad_(True)
    loss = pg_rank(
        scores,
        y.repeat(copies, 1),
        torch.ones((copies, 3), dtype=torch.bool),
        n_samples=n,
        generator=torch.Generator().manual_seed(0),
    )
    (g,) = torch.autograd.grad(loss, scores)
    estimates = -g * copies  # each copy's gradient of its own loss; the loss is a mean
    mean = estimates.mean(dim=0)
    stderr = estimates.std(dim=0) / copies**0.5
    target = (1.0 - 1.0 / n) * exact  # the mean baseline shrinks the expectation by (1 - 1/n)
    assert torch.all((mean - target).abs() < 4 * stderr + 1e-4), (mean, target, stderr)
    assert torch.all(stderr < 0.1 * exact.abs().max())  # the check has teeth


def test_same_generator_same_loss_and_padding_values_ignored() -> None:
    s = torch.tensor([[0.1, 0.5, -0.2, 0.0]], dtype=torch.float64, requires_grad=True)
    y = torch.tensor([[1.0, 0.0, 2.0, 0.0]], dtype=torch.float64)
    m = torch.tensor([[True, True, True, False]])
    a = pg_rank(s, y, m, generator=torch.Generator().manual_seed(5))
    b = pg_rank(s, y, m, generator=torch.Generator().manual_seed(5))
    c = pg_rank(s, y, m, generator=torch.Generator().manual_seed(6))
    assert a.item() == b.item() and a.item() != c.item()


def test_a_confident_correct_policy_has_no_gradient() -> None:
    s = torch.tensor([[100.0, 50.0, 0.0]], dtype=torch.float64, requires_grad=True)
    y = torch.tensor([[2.0, 1.0, 0.0]], dtype=torch.float64)
    loss = pg_rank(s, y, torch.ones((1, 3), dtype=torch.bool), n_samples=16)
    (g,) = torch.autograd.grad(loss, s)
    assert loss.item() == 0.0 and torch.all(g == 0)  # every sample is the ideal ranking


@pytest.mark.parametrize("bad", [1, 0, 2.5, True])
def test_n_samples_must_allow_a_baseline(bad: object) -> None:
    s = torch.zeros((1, 3))
    with pytest.raises(DataError, match="n_samples"):
        pg_rank(s, torch.zeros((1, 3)), torch.ones((1, 3), dtype=torch.bool), n_samples=bad)  # type: ignore[arg-type]
