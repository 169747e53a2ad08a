"""The contract every loss keeps: scalar, padding-blind, degenerate-safe, differentiable."""

from __future__ import annotations

from typing import Any

import pytest
import torch
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from rankstack.exceptions import DataError
from rankstack.ltr.losses import LOSSES

NAMES = sorted(LOSSES)
POINTWISE = {"mse", "sigmoid_ce"}
RANKING = sorted(set(NAMES) - POINTWISE)
STOCHASTIC = {"pg_rank", "listmle"}


def params(name: str, seed: int = 0) -> dict[str, Any]:
    """Keyword arguments that make a loss deterministic (fixed generator)."""
    if name in STOCHASTIC:
        return {"generator": torch.Generator().manual_seed(seed)}
    return {}


def call(name: str, s: torch.Tensor, y: torch.Tensor, m: torch.Tensor, **kw: Any) -> torch.Tensor:
    return LOSSES[name](s, y, m, **{**params(name), **kw})


@st.composite
def padded_batches(draw: st.DrawFn, fractional: bool = False) -> dict[str, Any]:
    """Random queries, padded two ways: at the end, and scattered over a wider list."""
    n_queries = draw(st.integers(1, 3))
    sizes = draw(st.lists(st.integers(0, 6), min_size=n_queries, max_size=n_queries))
    width = max([*sizes, 1])
    extra = draw(st.integers(0, 3))
    score = st.floats(-5, 5, allow_nan=False, width=32)
    label = st.floats(0, 3, width=32) if fractional else st.integers(0, 3).map(float)
    queries = [
        (
            draw(st.lists(score, min_size=n, max_size=n)),
            draw(st.lists(label, min_size=n, max_size=n)),
        )
        for n in sizes
    ]
    layouts = [
        sorted(draw(st.permutations(range(width + extra)))[:n]) for n in sizes
    ]  # where the real documents sit in the scattered batch
    return {"queries": queries, "width": width, "extra": extra, "layouts": layouts}


def scattered(
    batch: dict[str, Any], pad_score: float, pad_label: float
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    wide = batch["width"] + batch["extra"]
    n = len(batch["queries"])
    s = torch.full((n, wide), pad_score, dtype=torch.float64)
    y = torch.full((n, wide), pad_label, dtype=torch.float64)
    m = torch.zeros((n, wide), dtype=torch.bool)
    for q, ((sq, yq), pos) in enumerate(zip(batch["queries"], batch["layouts"])):
        idx = torch.tensor(pos, dtype=torch.long)
        s[q, idx] = torch.tensor(sq, dtype=torch.float64)
        y[q, idx] = torch.tensor(yq, dtype=torch.float64)
        m[q, idx] = True
    return s, y, m


def value_and_grad(
    name: str, s: torch.Tensor, y: torch.Tensor, m: torch.Tensor, **kw: Any
) -> tuple[torch.Tensor, torch.Tensor]:
    s = s.clone().requires_grad_(True)
    loss = call(name, s, y, m, **kw)
    (grad,) = torch.autograd.grad(loss, s)
    return loss.detach(), grad


FAST = settings(max_examples=15, deadline=None, suppress_health_check=[HealthCheck.too_slow])


@pytest.mark.parametrize("name", NAMES)
@FAST
@given(batch=padded_batches(), fractional=padded_batches(fractional=True))
def test_padded_values_change_nothing(
    name: str, batch: dict[str, Any], fractional: dict[str, Any]
) -> None:
    for b in (batch, fractional):
        s1, y1, m = scattered(b, 0.0, 0.0)
        s2, y2, _ = scattered(b, 0.0, 0.0)
        s2[~m] = torch.tensor([float("nan"), 1e30, -float("inf"), 7.0], dtype=torch.float64).repeat(
            64
        )[: int((~m).sum())]
        y2[~m] = torch.tensor([float("nan"), -3.0, 1e6, 2.0], dtype=torch.float64).repeat(64)[
            : int((~m).sum())
        ]
        v1, g1 = value_and_grad(name, s1, y1, m)
        v2, g2 = value_and_grad(name, s2, y2, m)
        assert torch.isfinite(v1)
        assert torch.equal(v1, v2)
        assert torch.equal(g1, g2)
        assert torch.all(g1[~m] == 0)


@pytest.mark.parametrize("name", NAMES)
@FAST
@given(batch=padded_batches())
def test_padding_layout_changes_nothing(name: str, batch: dict[str, Any]) -> None:
    if name == "pg_rank":
        pytest.skip("Gumbel draws are assigned by position: invariant in distribution only")
    kw = {"shuffle_ties": False} if name == "listmle" else {}
    n = len(batch["queries"])
    s1 = torch.zeros((n, batch["width"]), dtype=torch.float64)
    y1 = torch.zeros_like(s1)
    m1 = torch.zeros(s1.shape, dtype=torch.bool)
    for q, (sq, yq) in enumerate(batch["queries"]):
        s1[q, : len(sq)] = torch.tensor(sq, dtype=torch.float64)
        y1[q, : len(sq)] = torch.tensor(yq, dtype=torch.float64)
        m1[q, : len(sq)] = True
    s2, y2, m2 = scattered(batch, 3.0, 1.0)
    v1, g1 = value_and_grad(name, s1, y1, m1, **kw)
    v2, g2 = value_and_grad(name, s2, y2, m2, **kw)
    torch.testing.assert_close(v1, v2, rtol=1e-6, atol=1e-9)
    torch.testing.assert_close(g1[m1], g2[m2], rtol=1e-5, atol=1e-9)
    assert torch.all(g2[~m2] == 0)


def degenerate_batch() -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """All-zero labels, all-equal positive labels, one document, no document."""
    s = torch.tensor(
        [[0.3, -1.2, 2.0, 0.1], [1.0, 0.5, -0.5, 9.0], [4.0, 0.0, 0.0, 0.0], [1.0, 2.0, 3.0, 4.0]],
        dtype=torch.float64,
    )
    y = torch.tensor(
        [[0.0, 0.0, 0.0, 0.0], [2.0, 2.0, 2.0, 0.0], [3.0, 0.0, 0.0, 0.0], [1.0, 0.0, 2.0, 3.0]],
        dtype=torch.float64,
    )
    m = torch.tensor(
        [
            [True, True, True, True],
            [True, True, True, False],
            [True, False, False, False],
            [False] * 4,
        ]
    )
    return s, y, m


@pytest.mark.parametrize("name", RANKING)
def test_batch_of_degenerate_queries_gives_zero_and_zero_gradient(name: str) -> None:
    s, y, m = degenerate_batch()
    s.requires_grad_(True)
    loss = call(name, s, y, m)
    assert loss.requires_grad
    assert loss.item() == 0.0
    (grad,) = torch.autograd.grad(loss, s)
    assert torch.all(grad == 0)


@pytest.mark.parametrize("name", sorted(POINTWISE))
def test_pointwise_losses_count_equal_labels_but_not_empty_queries(name: str) -> None:
    s, y, m = degenerate_batch()
    s.requires_grad_(True)
    full = call(name, s, y, m)
    assert full.item() > 0  # equal labels are still regression targets
    only_empty = call(name, s[3:], y[3:], m[3:])
    assert only_empty.item() == 0.0 and only_empty.requires_grad
    (grad,) = torch.autograd.grad(only_empty, s)
    assert torch.all(grad == 0)
    torch.testing.assert_close(full, call(name, s[:3], y[:3], m[:3]))


@pytest.mark.parametrize("name", RANKING)
def test_degenerate_queries_are_left_out_of_the_mean(name: str) -> None:
    s0 = torch.tensor([[0.2, 1.5, -0.3, 0.9]], dtype=torch.float64)
    y0 = torch.tensor([[1.0, 0.0, 2.0, 0.0]], dtype=torch.float64)
    m0 = torch.ones((1, 4), dtype=torch.bool)
    sd, yd, md = degenerate_batch()
    alone = call(name, s0, y0, m0)
    mixed = call(name, torch.cat([s0, sd]), torch.cat([y0, yd]), torch.cat([m0, md]))
    torch.testing.assert_close(alone, mixed)


@pytest.mark.parametrize("name", sorted(set(NAMES) - {"pg_rank"}))
def test_ideal_order_scores_lower_than_reversed(name: str) -> None:
    y = torch.tensor([[3.0, 2.0, 1.0, 0.0, 0.0, 1.0], [0.0, 1.0, 0.0, 2.0, 1.0, 0.0]])
    y = y.double()
    m = torch.ones(y.shape, dtype=torch.bool)
    m[1, 5] = False
    ideal = call(name, 2.0 * y - 2.0, y, m)
    reverse = call(name, -(2.0 * y - 2.0), y, m)
    assert ideal.item() < reverse.item()


@pytest.mark.parametrize("name", NAMES)
def test_gradcheck_float64(name: str) -> None:
    y = torch.tensor([[2.0, 0.0, 1.0, 0.0], [0.0, 1.0, 3.0, 1.0]], dtype=torch.float64)
    m = torch.tensor([[True, True, True, False], [True, True, True, True]])
    s = torch.tensor([[0.4, -0.5, 1.1, 0.0], [0.9, -1.0, 0.1, 1.6]], dtype=torch.float64)
    s.requires_grad_(True)
    extra: dict[str, Any] = {"tol": 0.0, "max_iter": 20} if name == "neuralndcg" else {}

    def f(x: torch.Tensor) -> torch.Tensor:
        return LOSSES[name](x, y, m, **{**params(name, seed=3), **extra})  # fresh generator

    assert torch.autograd.gradcheck(f, (s,), eps=1e-6, atol=1e-6, rtol=1e-4)


@pytest.mark.parametrize("name", NAMES)
def test_returns_a_scalar_in_the_scores_dtype_and_leaves_inputs_alone(name: str) -> None:
    s = torch.tensor([[0.5, -0.2, 1.0], [0.1, 0.2, 0.3]], dtype=torch.float32)
    y = torch.tensor([[1.0, 0.0, 2.0], [0.0, 1.0, 0.0]])
    m = torch.tensor([[True, True, True], [True, True, False]])
    copies = (s.clone(), y.clone(), m.clone())
    loss = call(name, s, y, m)
    assert loss.shape == () and loss.dtype == torch.float32
    assert all(torch.equal(a, b) for a, b in zip((s, y, m), copies))
    y_int = y.to(torch.int64)
    torch.testing.assert_close(call(name, s, y_int, m), loss)


@pytest.mark.parametrize("name", NAMES)
def test_extreme_scores_stay_finite(name: str) -> None:
    s = torch.tensor([[1e4, -1e4, 3e3, 0.0], [-2e4, -2e4 + 1, -3e4, 5.0]], requires_grad=True)
    y = torch.tensor([[0.0, 2.0, 1.0, 0.0], [1.0, 0.0, 3.0, 0.0]])
    m = torch.tensor([[True, True, True, True], [True, True, True, False]])
    loss = call(name, s, y, m)
    (grad,) = torch.autograd.grad(loss, s)
    assert torch.isfinite(loss) and torch.all(torch.isfinite(grad))


@pytest.mark.parametrize("name", NAMES)
@pytest.mark.parametrize("shape", [(0, 5), (2, 0)])
def test_empty_batch_gives_zero(name: str, shape: tuple[int, int]) -> None:
    s = torch.zeros(shape, requires_grad=True)
    loss = call(name, s, torch.zeros(shape), torch.zeros(shape, dtype=torch.bool))
    assert loss.item() == 0.0 and loss.requires_grad


@pytest.mark.parametrize("name", NAMES)
@pytest.mark.parametrize(
    ("scores", "labels", "mask", "match"),
    [
        (torch.zeros(2, 3), torch.zeros(2, 4), torch.ones(2, 3, dtype=torch.bool), "shape"),
        (torch.zeros(3), torch.zeros(3), torch.ones(3, dtype=torch.bool), "2-D"),
        (torch.zeros(1, 2), torch.zeros(1, 2), torch.ones(1, 2), "bool"),
        (torch.zeros(1, 2, dtype=torch.int64), torch.zeros(1, 2), torch.ones(1, 2).bool(), "float"),
        (torch.zeros(1, 2), torch.tensor([[1.0, -1.0]]), torch.ones(1, 2).bool(), ">= 0"),
        (torch.zeros(1, 2), torch.tensor([[float("nan"), 1.0]]), torch.ones(1, 2).bool(), ">= 0"),
        ([[0.0, 1.0]], torch.zeros(1, 2), torch.ones(1, 2).bool(), "torch tensors"),
    ],
)
def test_bad_inputs_raise_data_error(
    name: str, scores: Any, labels: torch.Tensor, mask: torch.Tensor, match: str
) -> None:
    with pytest.raises(DataError, match=match):
        call(name, scores, labels, mask)


@pytest.mark.parametrize("name", RANKING)
def test_labels_too_small_for_any_gain_count_as_degenerate(name: str) -> None:
    s = torch.tensor([[0.0, 0.0], [0.5, -0.5]], dtype=torch.float64, requires_grad=True)
    y = torch.tensor([[0.0, 1e-300], [0.0, 1e-300]], dtype=torch.float64)  # 2**y - 1 == 0
    loss = call(name, s, y, torch.ones((2, 2), dtype=torch.bool))
    (grad,) = torch.autograd.grad(loss, s)
    assert torch.isfinite(loss) and torch.all(torch.isfinite(grad))


def test_negative_labels_at_padded_positions_are_fine() -> None:
    s = torch.tensor([[0.1, 0.2, 0.3]])
    y = torch.tensor([[1.0, 0.0, -1.0]])  # -1: a common padding marker
    m = torch.tensor([[True, True, False]])
    for name in NAMES:
        assert torch.isfinite(call(name, s, y, m))
