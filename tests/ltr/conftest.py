"""Fixtures for the LambdaMART, preprocessing, CV and feature-ranking tests.

``make_letor`` builds small synthetic LETOR sets whose label depends on a few features, so a
ranker can learn something in a handful of boosting rounds; ``mq2008_fold1`` gives the real
MQ2008 fold (skipped only when the offline datasets folder is absent).
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest

from rankstack.data import Run
from rankstack.io.letor import LetorData, write_letor

MakeLetor = Callable[..., LetorData]


def synthetic_letor(
    n_queries: int = 40,
    docs: tuple[int, int] = (5, 30),
    n_features: int = 8,
    seed: int = 0,
    max_label: int = 2,
    qid_prefix: str = "q",
) -> LetorData:
    """Queries of random sizes; the label grows with features 0 and 1 (plus noise)."""
    rng = np.random.default_rng(seed)
    sizes = rng.integers(docs[0], docs[1] + 1, size=n_queries)
    n = int(sizes.sum())
    x = rng.normal(size=(n, n_features)).astype(np.float32)
    signal = 1.5 * x[:, 0] + x[:, 1] + 0.5 * rng.normal(size=n)
    labels = np.digitize(signal, np.quantile(signal, np.linspace(0, 1, max_label + 2)[1:-1]))
    qids = np.repeat([f"{qid_prefix}{i}" for i in range(n_queries)], sizes)
    docids = [f"d{i}" for i in range(n)]
    run = Run.from_arrays(
        qids, docids, np.zeros(n), features=x, feature_names=[str(j + 1) for j in range(n_features)]
    )
    # Run.from_arrays sorts rows within a query; labels follow the same permutation
    order = {d: i for i, d in enumerate(docids)}
    rows = np.array([order[d] for d in run.docids.to_pylist()])
    return LetorData(run, labels[rows].astype(np.int32))


@pytest.fixture
def make_letor() -> MakeLetor:
    return synthetic_letor


@pytest.fixture(scope="session")
def letor_small() -> LetorData:
    return synthetic_letor(n_queries=40, seed=1)


@pytest.fixture(scope="session")
def letor_valid() -> LetorData:
    return synthetic_letor(n_queries=20, seed=2, qid_prefix="v")


@pytest.fixture(scope="session")
def letor_test() -> LetorData:
    return synthetic_letor(n_queries=20, seed=3, qid_prefix="t")


@pytest.fixture
def letor_folder(tmp_path: Path) -> Path:
    """A LETOR-layout folder with two folds (Fold1, Fold2: train/vali/test.txt)."""
    root = tmp_path / "toy"
    for fold in (1, 2):
        for i, split in enumerate(("train", "vali", "test")):
            n = 30 if split == "train" else 12
            data = synthetic_letor(n_queries=n, seed=10 * fold + i, qid_prefix=f"{split}{fold}-")
            write_letor(data, root / f"Fold{fold}" / f"{split}.txt")
    return root


@pytest.fixture(scope="session")
def mq2008_fold1(datasets_dir: Path) -> dict[str, LetorData]:
    from rankstack import datasets

    ds = datasets.load("letor/mq2008/fold1")
    return {s: ds.letor(s) for s in ("train", "vali", "test")}
