"""Synthetic LETOR-shaped data for the LambdaMART benchmarks (deterministic for a seed).

``letor_shaped(queries, docs, features)`` gives a :class:`~rankstack.io.LetorData` with
exactly ``docs`` documents per query, float32 features drawn N(0, 1) in row blocks (no
float64 copy of the matrix is ever made), and labels 0-4 from a noisy linear function of the
first eight features, cut at fixed quantiles so that about half the documents are 0, as in
MSLR-WEB30K. Doc and query ids are Arrow strings built without Python loops.
"""

from __future__ import annotations

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from rankstack.data import Run
from rankstack.io.letor import LetorData


def letor_shaped(
    queries: int, docs: int, features: int, seed: int = 0, block: int = 200_000
) -> LetorData:
    rng = np.random.default_rng(seed)
    n = queries * docs
    x = np.empty((n, features), dtype=np.float32)
    signal = np.empty(n, dtype=np.float32)
    weights = np.zeros(features, dtype=np.float32)
    weights[: min(8, features)] = np.linspace(1.0, 0.2, min(8, features))
    for lo in range(0, n, block):
        hi = min(n, lo + block)
        rng.standard_normal(out=x[lo:hi], dtype=np.float32)
        signal[lo:hi] = x[lo:hi] @ weights + rng.standard_normal(hi - lo, dtype=np.float32)
    cuts = np.quantile(signal[: min(n, 1_000_000)], [0.5, 0.8, 0.93, 0.98])
    labels = np.searchsorted(cuts, signal).astype(np.int32)
    del signal
    ids = pc.cast(pa.array(np.arange(n, dtype=np.int64)), pa.string())
    qids = pc.cast(pa.array(np.arange(queries, dtype=np.int64)), pa.string())
    run = Run(
        qids=qids,
        offsets=np.arange(0, n + 1, docs, dtype=np.int64),
        docids=ids,
        scores=np.zeros(n, dtype=np.float64),
        features=x,
        feature_names=tuple(str(j + 1) for j in range(features)),
    )
    return LetorData(run, labels)
