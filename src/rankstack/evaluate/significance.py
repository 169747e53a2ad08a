"""Paired significance tests over per-query values, and Holm-Bonferroni correction.

- :func:`paired_t_test`: Student's paired t-test, two-sided (scipy's ``ttest_rel``).
- :func:`randomisation_test`: the paired randomisation (permutation) test: under the null
  hypothesis each query's pair of values is exchangeable, so the sign of each per-query
  difference is flipped at random; the p-value is the share of ``n`` random sign vectors
  whose mean difference is at least as extreme as the observed one, with the ``+1`` correction
  of Phipson and Smyth (2010) so that it is never 0. Vectorised: one random sign matrix, one
  matrix product, in chunks.
- :func:`holm`: Holm's step-down correction of a family of p-values.

References: M. Smucker, J. Allan and B. Carterette, "A Comparison of Statistical Significance
Tests for Information Retrieval Evaluation", CIKM 2007; S. Holm, "A Simple Sequentially
Rejective Multiple Test Procedure", Scand. J. Statistics 6(2), 1979; B. Phipson and G. Smyth,
"Permutation P-values Should Never Be Zero", Stat. Appl. Genet. Mol. Biol. 9(1), 2010.
"""

from __future__ import annotations

import warnings

import numpy as np

from rankstack.exceptions import DataError

_CHUNK_CELLS = 4_000_000  # sign-matrix cells generated at once (32 MB as float64)


def _paired(a: np.ndarray, b: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    x = np.asarray(a, dtype=np.float64)
    y = np.asarray(b, dtype=np.float64)
    if x.shape != y.shape or x.ndim != 1:
        raise DataError(
            f"paired test: expected two 1-D arrays of equal length, found shapes "
            f"{x.shape} and {y.shape}"
        )
    if np.isnan(x).any() or np.isnan(y).any():
        raise DataError("paired test: the per-query values contain NaN")
    return x, y


def paired_t_test(a: np.ndarray, b: np.ndarray) -> float:
    """Two-sided p-value of the paired t-test of ``a`` against ``b`` (same queries, same order).

    1.0 when every difference is 0 (no evidence of a difference); NaN with fewer than 2 queries.
    """
    from scipy import stats

    x, y = _paired(a, b)
    if len(x) < 2:
        return float("nan")
    d = x - y
    if not d.any():
        return 1.0
    if np.all(d == d[0]):
        return 0.0  # a constant non-zero difference: zero variance, t is infinite
    with warnings.catch_warnings():  # near-constant differences: scipy warns, p stays valid
        warnings.simplefilter("ignore", RuntimeWarning)
        return float(stats.ttest_rel(x, y).pvalue)


def randomisation_pvalues(
    diffs: np.ndarray, *, n: int = 10_000, seed: int | None = 0
) -> np.ndarray:
    """Two-sided randomisation-test p-values for each column of ``diffs`` (queries x pairs).

    All columns share the same random sign vectors (common random numbers), so comparing
    several systems with one baseline costs one pass.
    """
    d = np.asarray(diffs, dtype=np.float64)
    if d.ndim == 1:
        d = d[:, None]
    if n < 1:
        raise DataError(f"randomisation test: n must be >= 1, found {n}")
    n_q, n_pairs = d.shape
    if n_q == 0:
        return np.full(n_pairs, np.nan)
    observed = np.abs(d.sum(axis=0))
    tol = 1e-12 * np.maximum(1.0, observed)
    hits = np.zeros(n_pairs, dtype=np.int64)
    rng = np.random.default_rng(seed)
    rows = max(1, _CHUNK_CELLS // max(n_q, 1))
    done = 0
    while done < n:
        m = min(rows, n - done)
        signs = rng.integers(0, 2, size=(m, n_q), dtype=np.int8).astype(np.float64)
        signs *= 2.0
        signs -= 1.0
        stat = np.abs(signs @ d)
        hits += (stat >= observed - tol).sum(axis=0)
        done += m
    p = (hits + 1.0) / (n + 1.0)
    p[~d.any(axis=0)] = 1.0
    return p


def randomisation_test(
    a: np.ndarray, b: np.ndarray, *, n: int = 10_000, seed: int | None = 0
) -> float:
    """Two-sided p-value of the paired randomisation test of ``a`` against ``b``.

    ``n`` random sign flips of the per-query differences, drawn with ``seed`` (reproducible).
    """
    x, y = _paired(a, b)
    return float(randomisation_pvalues(x - y, n=n, seed=seed)[0])


def holm(pvalues: np.ndarray) -> np.ndarray:
    """Holm-Bonferroni adjusted p-values (NaNs are left out of the family and kept as NaN).

    The i-th smallest of m p-values becomes ``max_{j <= i} min(1, (m - j + 1) p_(j))``.
    """
    p = np.asarray(pvalues, dtype=np.float64)
    out = np.full(p.shape, np.nan)
    ok = ~np.isnan(p)
    vals = p[ok]
    m = len(vals)
    if m == 0:
        return out
    order = np.argsort(vals, kind="stable")
    scaled = np.minimum(1.0, (m - np.arange(m)) * vals[order])
    adjusted = np.empty(m)
    adjusted[order] = np.maximum.accumulate(scaled)
    out[ok] = adjusted
    return out
