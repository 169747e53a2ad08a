"""A small synthetic LETOR set for the click simulator and counterfactual tests."""

from __future__ import annotations

import numpy as np
import pytest

from rankstack.data import Run
from rankstack.io.letor import LetorData


def synthetic_letor(
    n_queries: int = 40, docs: tuple[int, int] = (4, 25), seed: int = 0
) -> LetorData:
    """Queries with 4..25 documents, labels 0..2 and 6 features, two of them informative."""
    rng = np.random.default_rng(seed)
    sizes = rng.integers(docs[0], docs[1] + 1, n_queries)
    n = int(sizes.sum())
    qid = np.repeat([f"q{i:03d}" for i in range(n_queries)], sizes)
    docid = np.array([f"d{i:05d}" for i in range(n)])
    # queries differ a lot in how many relevant documents they have (some have none), as
    # in MQ2008
    rate = np.repeat(rng.uniform(0.0, 0.8, n_queries) * (rng.random(n_queries) > 0.2), sizes)
    labels = np.where(rng.random(n) < rate, rng.choice([1, 1, 2], size=n), 0)
    feats = rng.normal(size=(n, 6)).astype(np.float32)
    feats[:, 0] += 0.8 * labels
    feats[:, 1] += 0.4 * labels
    run = Run.from_arrays(qid, docid, np.zeros(n), features=feats)
    where = {d: i for i, d in enumerate(docid.tolist())}
    order = np.array([where[d] for d in run.docids.to_pylist()])
    return LetorData(run, labels[order].astype(np.int64))


@pytest.fixture(scope="session")
def letor() -> LetorData:
    return synthetic_letor()
