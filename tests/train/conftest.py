"""Fixtures of the training tests: tiny random models and a small synthetic collection."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pytest

from rankstack.data import Corpus, Qrels, Queries

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")


@pytest.fixture(scope="session")
def models(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    from rankstack.train.testing import tiny_encoder, tiny_sentence_transformer

    root = tmp_path_factory.mktemp("tiny-models")
    return {"encoder": tiny_encoder(root / "enc"), "st": tiny_sentence_transformer(root / "st")}


@pytest.fixture(scope="session")
def collection() -> tuple[Corpus, Queries, Qrels]:
    """40 documents of random tiny-vocabulary words, 12 queries, one relevant document each
    (query i is made of words of document i, so BM25 finds it)."""
    from rankstack.train.testing import WORDS

    rng = np.random.default_rng(0)
    docs = [" ".join(rng.choice(WORDS, 12)) for _ in range(40)]
    corpus = Corpus.from_arrays([f"d{i}" for i in range(40)], docs)
    qtexts = [" ".join(docs[i].split()[:3]) for i in range(12)]
    queries = Queries.from_arrays([f"q{i}" for i in range(12)], qtexts)
    qrels = Qrels.from_arrays(
        [f"q{i}" for i in range(12)] + ["q0"], [f"d{i}" for i in range(12)] + ["d20"], [1] * 13
    )
    return corpus, queries, qrels
