"""Paired t-test, randomisation test and Holm correction."""

from __future__ import annotations

import itertools

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from scipy import stats

from rankstack.evaluate import holm, paired_t_test, randomisation_test
from rankstack.evaluate.significance import randomisation_pvalues
from rankstack.exceptions import DataError


def test_t_test_is_scipy_paired() -> None:
    rng = np.random.default_rng(0)
    a = rng.random(50)
    b = a + rng.normal(0.05, 0.1, 50)
    assert paired_t_test(a, b) == stats.ttest_rel(a, b).pvalue


def test_t_test_degenerate_cases() -> None:
    a = np.array([0.25, 0.5, 0.75])
    assert paired_t_test(a, a) == 1.0  # no difference at all
    assert paired_t_test(a, a + 0.25) == 0.0  # constant non-zero difference
    assert np.isnan(paired_t_test(np.array([0.1]), np.array([0.2])))
    with pytest.raises(DataError, match="equal length"):
        paired_t_test(a, a[:2])
    with pytest.raises(DataError, match="NaN"):
        paired_t_test(np.array([np.nan, 1.0]), np.array([0.0, 1.0]))


def _exact_permutation_p(d: np.ndarray) -> float:
    """The exact two-sided sign-flip p-value, enumerating all 2^n sign vectors."""
    obs = abs(d.sum())
    hits = 0
    total = 0
    for signs in itertools.product([-1.0, 1.0], repeat=len(d)):
        hits += abs(np.dot(signs, d)) >= obs - 1e-12
        total += 1
    return hits / total


def test_randomisation_approaches_the_exact_test() -> None:
    rng = np.random.default_rng(1)
    a = rng.random(12)
    b = a + rng.normal(0.08, 0.15, 12)
    exact = _exact_permutation_p(a - b)
    p = randomisation_test(a, b, n=20_000, seed=3)
    assert abs(p - exact) < 0.01  # Monte Carlo error at n=20,000 is about 0.003


def test_randomisation_is_seeded_and_never_zero() -> None:
    rng = np.random.default_rng(2)
    a = rng.random(30)
    b = a + 1.0  # every query better: the smallest possible p is 1/(n+1)
    assert randomisation_test(a, b, n=999, seed=5) == 1 / 1000
    c = a + rng.normal(0, 0.1, 30)
    assert randomisation_test(a, c, seed=9) == randomisation_test(a, c, seed=9)
    assert randomisation_test(a, a) == 1.0


def test_randomisation_batch_shares_sign_vectors() -> None:
    rng = np.random.default_rng(4)
    d = rng.normal(0.02, 0.1, size=(40, 3))
    batch = randomisation_pvalues(d, n=2000, seed=11)
    single = [randomisation_pvalues(d[:, j], n=2000, seed=11)[0] for j in range(3)]
    assert batch.tolist() == single
    assert np.isnan(randomisation_pvalues(np.zeros((0, 2)))).all()
    with pytest.raises(DataError, match="n must be >= 1"):
        randomisation_pvalues(d, n=0)


def test_holm_by_hand() -> None:
    # m = 4: sorted 0.01, 0.02, 0.03, 0.5 -> 0.04, 0.06, 0.06 (monotone), 0.5
    got = holm(np.array([0.03, 0.01, 0.5, 0.02]))
    np.testing.assert_allclose(got, [0.06, 0.04, 0.5, 0.06])
    assert holm(np.array([0.9, 0.8])).tolist() == [1.0, 1.0]
    got = holm(np.array([np.nan, 0.01, 0.04]))
    assert np.isnan(got[0]) and got[1:].tolist() == [0.02, 0.04]
    assert holm(np.array([])).tolist() == []


@settings(max_examples=100, deadline=None)
@given(st.lists(st.floats(0, 1), min_size=1, max_size=12))
def test_holm_invariants(ps: list[float]) -> None:
    p = np.array(ps)
    adj = holm(p)
    assert np.all(adj >= p) and np.all(adj <= 1.0)
    order = np.argsort(p, kind="stable")
    assert np.all(np.diff(adj[order]) >= 0)  # monotone in the raw p-values
    assert np.all(adj <= np.minimum(1.0, p * len(p)) + 1e-15)  # never worse than Bonferroni
