"""The forward-posting lookup behind every feature: both strategies against brute force."""

from __future__ import annotations

import numpy as np
import pytest

from rankstack.rerank.features._pairs import DocGroups, _bisect_postings, find_postings


@pytest.mark.parametrize("seed", range(5))
@pytest.mark.parametrize("doc_len", [3, 200])  # short docs: gathered keys; long: binary search
def test_lookup_strategies_agree_with_brute_force(seed: int, doc_len: int) -> None:
    rng = np.random.default_rng(seed)
    n_docs, n_terms = 40, 500
    rows = [np.sort(rng.choice(n_terms, size=rng.integers(0, doc_len + 1), replace=False))
            for _ in range(n_docs)]  # fmt: skip
    indptr = np.concatenate([[0], np.cumsum([len(r) for r in rows])]).astype(np.int64)
    terms = np.concatenate(rows).astype(np.int32)
    docs = rng.integers(0, n_docs, size=300)
    want = np.where(
        rng.random(300) < 0.5,
        rng.integers(0, n_terms, size=300),
        [rows[d][0] if len(rows[d]) else 0 for d in docs],
    )
    expected = np.full(300, -1)
    for i, (d, t) in enumerate(zip(docs, want)):
        hit = np.flatnonzero(rows[d] == t)
        if len(hit):
            expected[i] = indptr[d] + hit[0]
    np.testing.assert_array_equal(find_postings(indptr, terms, DocGroups.of(docs), want), expected)
    np.testing.assert_array_equal(_bisect_postings(indptr, terms, docs, want), expected)


def test_no_lookups() -> None:
    indptr = np.array([0, 2], dtype=np.int64)
    terms = np.array([1, 3], dtype=np.int32)
    empty = np.zeros(0, dtype=np.int64)
    assert len(find_postings(indptr, terms, DocGroups.of(empty), empty)) == 0
