"""RankMe on matrices whose effective rank is known."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from rankstack.dense.rankme import EPSILON, rank_me, singular_values
from rankstack.exceptions import DataError


@pytest.mark.parametrize("d", [1, 8, 64])
def test_identity_is_full_rank(d: int) -> None:
    # equal singular values: p_k = 1/d (+ eps), entropy log d
    assert rank_me(np.eye(d)) == pytest.approx(d, rel=1e-4)  # eps shifts it by ~d * 1e-7 * 16


def test_orthonormal_rows_many_samples() -> None:
    rng = np.random.default_rng(0)
    q, _ = np.linalg.qr(rng.normal(size=(500, 20)))  # 500 x 20 with orthonormal columns
    assert rank_me(q) == pytest.approx(20, rel=1e-4)


def test_rank_one_is_about_one() -> None:
    rng = np.random.default_rng(1)
    z = np.outer(rng.normal(size=300), rng.normal(size=32))
    assert rank_me(z) == pytest.approx(1.0, abs=1e-3)


def test_rank_r_block() -> None:
    rng = np.random.default_rng(2)
    u, _ = np.linalg.qr(rng.normal(size=(400, 5)))
    v, _ = np.linalg.qr(rng.normal(size=(48, 5)))
    z = u @ np.diag([3.0] * 5) @ v.T  # five equal singular values
    assert rank_me(z) == pytest.approx(5.0, rel=1e-4)


def test_matches_the_formula_by_svd() -> None:
    rng = np.random.default_rng(3)
    z = rng.normal(size=(1000, 16)) * np.linspace(0.1, 3, 16)
    s = np.linalg.svd(z, compute_uv=False)
    p = s / s.sum() + EPSILON
    expected = np.exp(-(p * np.log(p)).sum())
    assert rank_me(z) == pytest.approx(expected, rel=1e-9)
    assert np.allclose(singular_values(z), s)


def test_sample_and_float16() -> None:
    rng = np.random.default_rng(4)
    z = rng.normal(size=(3000, 24)).astype(np.float16)
    full = rank_me(z)
    assert rank_me(z, max_samples=1000) == pytest.approx(full, rel=0.02)


@pytest.mark.parametrize("bad", [np.zeros((0, 3)), np.zeros(4), np.zeros((3, 3))])
def test_bad_input(bad: np.ndarray) -> None:
    with pytest.raises(DataError):
        rank_me(bad)


def test_nan_refused() -> None:
    with pytest.raises(DataError, match="NaN"):
        rank_me(np.array([[1.0, np.nan]]))


@settings(max_examples=40, deadline=None)
@given(
    n=st.integers(1, 60),
    d=st.integers(1, 20),
    seed=st.integers(0, 2**16),
    scale=st.floats(1e-3, 1e3),
)
def test_bounds_and_scale_invariance(n: int, d: int, seed: int, scale: float) -> None:
    z = np.random.default_rng(seed).normal(size=(n, d))
    r = rank_me(z)
    assert 1.0 - 1e-6 <= r <= min(n, d) * (1 + 1e-4)
    assert rank_me(z * scale) == pytest.approx(r, rel=1e-6)
