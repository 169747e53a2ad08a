"""RankMe: the effective rank of an embedding matrix, an unsupervised signal of its quality.

Garrido, Balestriero, Najman and LeCun, "RankMe: Assessing the downstream performance of
pretrained self-supervised representations by their rank", ICML 2023, eq. 1::

    RankMe(Z) = exp( - sum_k p_k log p_k ),   p_k = sigma_k(Z) / ||sigma(Z)||_1 + eps

with ``sigma_k`` the singular values of the ``N x d`` embedding matrix ``Z`` and ``eps = 1e-7``
(the paper's constant for float32 embeddings). The value lies between about 1 (all vectors on
one line) and ``min(N, d)`` (singular values all equal, e.g. an orthonormal set): a collapsed
encoder scores low, one that spreads documents over many directions scores high.
"""

from __future__ import annotations

import numpy as np

from rankstack.exceptions import DataError

#: the paper's epsilon (added to every normalised singular value before the entropy)
EPSILON = 1e-7
#: the number of embeddings the paper computes RankMe on
PAPER_SAMPLES = 25_600


def singular_values(embeddings: np.ndarray) -> np.ndarray:
    """Singular values of ``embeddings`` (``N x d``), in float64, largest first.

    With more rows than columns they come from the eigenvalues of the ``d x d`` Gram matrix
    (one pass over the rows, memory ``d^2``), else from an SVD.
    """
    z = np.asarray(embeddings)
    if z.ndim != 2:
        raise DataError(f"rank_me: expected a 2-D embedding matrix, found shape {z.shape}")
    if z.shape[0] == 0 or z.shape[1] == 0:
        raise DataError(f"rank_me: the embedding matrix is empty (shape {z.shape})")
    z = z.astype(np.float64, copy=False)
    if not np.isfinite(z).all():
        raise DataError("rank_me: the embeddings hold NaN or infinite values")
    n, d = z.shape
    if n > 2 * d:
        gram = z.T @ z
        eig = np.linalg.eigvalsh(gram)[::-1]
        return np.sqrt(np.clip(eig, 0.0, None))
    return np.linalg.svd(z, compute_uv=False)


def rank_me(
    embeddings: np.ndarray,
    *,
    eps: float = EPSILON,
    max_samples: int | None = None,
    seed: int = 0,
) -> float:
    """RankMe (Garrido et al. 2023, eq. 1) of an ``N x d`` embedding matrix.

    Parameters
    ----------
    embeddings:
        One embedding per row (any float dtype; int8 caches should be decoded first).
    eps:
        Added to each normalised singular value (the paper's 1e-7).
    max_samples:
        Compute on a uniform random sample of this many rows (the paper uses 25,600);
        ``None`` uses every row.
    seed:
        Seed of that sample.

    Returns
    -------
    float
        The effective rank, between about 1 and ``min(N, d)``.
    """
    z = np.asarray(embeddings)
    if max_samples is not None and z.ndim == 2 and z.shape[0] > max_samples:
        if max_samples < 1:
            raise DataError(f"rank_me: max_samples must be >= 1, found {max_samples}")
        rows = np.random.default_rng(seed).choice(z.shape[0], size=max_samples, replace=False)
        z = z[np.sort(rows)]
    s = singular_values(z)
    total = float(s.sum())
    if total <= 0.0:
        raise DataError("rank_me: every embedding is zero; the effective rank is undefined")
    p = s / total + eps
    return float(np.exp(-np.sum(p * np.log(p))))
