"""Fixtures of the batch tests: a synthetic 10k-document index, saved pipelines, a cluster.

The corpus is a small Zipfian one (as ``benchmarks/_synthetic.py`` makes at scale): words
drawn with probability ~ 1 / rank^1.07 from a 5,000-word vocabulary of distinct syllable
strings, so every query matches a realistic spread of documents. One ``LocalCluster`` of two
worker processes (one thread each, no dashboard) is shared by the tests of this folder.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from rankstack.data import Corpus, Qrels, Queries

pytest.importorskip("distributed")

N_DOCS = 10_000
N_QUERIES = 3_000
_SYLLABLES = [c + v for c in "bcdfghjklmnprstvz" for v in "aeiou"]


def words(n: int) -> list[str]:
    """``n`` distinct words of two syllables or more."""
    out = []
    for r in range(n):
        x, parts = r + len(_SYLLABLES), []
        while x:
            x, d = divmod(x, len(_SYLLABLES))
            parts.append(_SYLLABLES[d])
        out.append("".join(reversed(parts)))
    return out


def synthetic_corpus(n_docs: int, vocab: list[str], seed: int = 0) -> Corpus:
    rng = np.random.default_rng(seed)
    p = 1.0 / np.arange(1, len(vocab) + 1) ** 1.07
    lengths = np.maximum(1, rng.lognormal(np.log(40), 0.5, size=n_docs).astype(int))
    draws = rng.choice(len(vocab), size=int(lengths.sum()), p=p / p.sum())
    ends = np.cumsum(lengths)
    arr = np.asarray(vocab, dtype=object)
    texts = [" ".join(arr[draws[e - n : e]]) for n, e in zip(lengths, ends)]
    return Corpus.from_arrays([f"d{i}" for i in range(n_docs)], texts)


def synthetic_queries(n: int, vocab: list[str], seed: int = 1) -> Queries:
    rng = np.random.default_rng(seed)
    texts = [
        " ".join(vocab[int(r)] for r in rng.choice(np.arange(20, 3000), rng.integers(2, 5)))
        for _ in range(n)
    ]
    return Queries.from_arrays([f"q{i}" for i in range(n)], texts)


@pytest.fixture(scope="session")
def batch_data(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    """The index folder, queries and a BM25 pipeline folder (built once per session)."""
    from rankstack.index import build_index
    from rankstack.pipeline_io import save_pipeline
    from rankstack.retrieve import BM25

    root = tmp_path_factory.mktemp("batch")
    vocab = words(5_000)
    index = build_index(
        synthetic_corpus(N_DOCS, vocab), root / "index", positions=True, progress=False
    )
    save_pipeline(BM25(index, k=100), root / "bm25")
    return {
        "root": root,
        "index": root / "index",
        "bm25": root / "bm25",
        "queries": synthetic_queries(N_QUERIES, vocab),
        "vocab": vocab,
    }


@pytest.fixture(scope="session")
def ltr_pipeline(batch_data: dict[str, Any]) -> Path:
    """``bm25(k=20) >> features() >> lambdamart()`` fitted on synthetic judgements."""
    from rankstack.index import Index
    from rankstack.ltr import LambdaMART
    from rankstack.pipeline_io import save_pipeline
    from rankstack.rerank import Features
    from rankstack.retrieve import BM25

    index = Index.load(batch_data["index"])
    train = synthetic_queries(200, batch_data["vocab"], seed=7)
    first = BM25(index, k=20).transform(train)
    rng = np.random.default_rng(3)
    grades = (rng.random(len(first)) < 0.2).astype(np.int64) + (first.ranks < 2)
    qrels = Qrels.from_arrays(first.qid_column(), first.docids, grades)
    pipe = BM25(index, k=20) >> Features(index) >> LambdaMART(n_estimators=15, num_leaves=7)
    pipe.fit(train, qrels)
    return save_pipeline(pipe, batch_data["root"] / "ltr")


@pytest.fixture(scope="session")
def client() -> Iterator[Any]:
    """A client of a LocalCluster: 2 worker processes, 1 thread each, no dashboard."""
    from rankstack.batch import dask_client

    with dask_client("local", workers=2, dashboard=False, memory_limit=None) as c:
        yield c
