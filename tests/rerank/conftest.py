"""Fixtures for the feature tests: a small hand-made corpus and SciFact (real data).

Also makes ``_features_reference`` importable under pytest's importlib mode.
"""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

from rankstack.data import Corpus, Queries, Run
from rankstack.index import Index, build_index

_HERE = str(Path(__file__).resolve().parent)
if _HERE not in sys.path:
    sys.path.insert(0, _HERE)

from _features_reference import THREE_FIELDS, all_pairs  # noqa: E402


@pytest.fixture(scope="session")
def small_corpus() -> Corpus:
    titles = [
        "Aspirin and the heart",
        "Effects of aspirin",
        "",
        "Heart disease risk",
        "Cats",
    ]
    texts = [
        "aspirin reduces the risk of heart attack; the heart attack risk falls with aspirin",
        "the effect of aspirin on pain and on heart disease in adults",
        "an empty title and a text about dogs and cats and dogs",
        "risk of heart disease rises with age. aspirin lowers heart disease risk",
        "",
    ]
    return Corpus.from_arrays(
        [f"d{i}" for i in range(len(texts))], fields={"title": titles, "text": texts}
    )


@pytest.fixture(scope="session")
def small_queries() -> Queries:
    return Queries.from_arrays(
        ["q1", "q2", "q3", "q4", "q5", "q6"],
        [
            "heart attack risk",
            "effect of aspirin",
            "aspirin aspirin heart",
            "the of and",  # stopwords only: an empty analysed query
            "zebra heart",  # an unknown word
            "risk heart disease risk",
        ],
    )


@pytest.fixture(scope="session")
def small_index(small_corpus: Corpus) -> Index:
    return build_index(small_corpus, fields=THREE_FIELDS, positions=True)


@pytest.fixture(scope="session")
def small_index_nopos(small_corpus: Corpus) -> Index:
    return build_index(small_corpus, fields=THREE_FIELDS, positions=False)


@pytest.fixture(scope="session")
def small_run(small_queries: Queries, small_corpus: Corpus) -> Run:
    return all_pairs(small_queries, small_corpus)


@pytest.fixture(scope="session")
def scifact(datasets_dir: Path) -> tuple[Corpus, Queries]:
    """SciFact corpus and test queries (skips only when the data folder is absent)."""
    from rankstack.io import BeirFolder

    folder = BeirFolder.open(datasets_dir / "beir" / "scifact")
    return folder.corpus(), folder.queries("test")


@pytest.fixture(scope="session")
def scifact_index(scifact: tuple[Corpus, Queries]) -> Index:
    return build_index(scifact[0], fields=THREE_FIELDS, positions=True)
