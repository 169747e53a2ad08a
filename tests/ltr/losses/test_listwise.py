"""ListNet and ListMLE against numpy and an exact Plackett-Luce enumeration."""

from __future__ import annotations

import itertools
import math

import numpy as np
import pytest
import torch

from rankstack.ltr.losses import listmle, listnet

QUERIES = [
    ([0.4, -0.5, 1.1, 0.2], [2.0, 0.0, 1.0, 3.0]),
    ([0.9, -1.0, 0.1], [0.0, 0.5, 1.5]),
    ([0.3, 0.7], [1.0, 1.0]),  # equal labels: uninformative
    ([2.0], [1.0]),  # one document: uninformative
]


def softmax(x: np.ndarray) -> np.ndarray:
    e = np.exp(x - x.max())
    return e / e.sum()


@pytest.mark.parametrize("keep", [False, True])
def test_listnet_matches_numpy(ref, keep: bool) -> None:
    per_query: list[float | None] = []
    for s, y in QUERIES:
        s, y = np.array(s), np.array(y)
        value = float(-(softmax(y) * np.log(softmax(s))).sum())
        per_query.append(value if keep or ref.informative(y) else None)
    s, y, m = ref.batch(QUERIES, width=5, pad_score=4.0, pad_label=2.0)
    got = listnet(s, y, m, keep_uninformative=keep).item()
    assert got == pytest.approx(ref.mean_counted(per_query), rel=1e-12)


def pl_probability(scores: np.ndarray, perm: tuple[int, ...]) -> float:
    """Plackett-Luce probability of ``perm`` (a list of document indices, best first)."""
    p, left = 1.0, list(perm)
    for doc in perm:
        p *= math.exp(scores[doc]) / sum(math.exp(scores[k]) for k in left)
        left.remove(doc)
    return p


def test_listmle_is_the_exact_plackett_luce_likelihood(ref) -> None:
    scores = np.array([0.3, -1.2, 0.8, 0.05])
    labels = [1.0, 0.0, 3.0, 2.0]  # all different: one label order, (2, 3, 0, 1)
    perms = list(itertools.permutations(range(4)))
    assert sum(pl_probability(scores, p) for p in perms) == pytest.approx(1.0, abs=1e-12)
    expected = -math.log(pl_probability(scores, (2, 3, 0, 1)))
    s, y, m = ref.batch([(list(scores), labels)], width=6, pad_score=-3.0, pad_label=5.0)
    for shuffle in (False, True):
        got = listmle(s, y, m, shuffle_ties=shuffle, generator=torch.Generator().manual_seed(1))
        assert got.item() == pytest.approx(expected, rel=1e-12)


def test_listmle_breaks_ties_at_random_or_in_list_order(ref) -> None:
    scores = np.array([0.3, -1.2, 0.8, 0.05])
    labels = [1.0, 1.0, 3.0, 0.0]  # documents 0 and 1 tie
    candidates = {
        (2, 0, 1, 3): -math.log(pl_probability(scores, (2, 0, 1, 3))),
        (2, 1, 0, 3): -math.log(pl_probability(scores, (2, 1, 0, 3))),
    }
    s, y, m = ref.batch([(list(scores), labels)])
    stable = listmle(s, y, m, shuffle_ties=False).item()
    assert stable == pytest.approx(candidates[(2, 0, 1, 3)], rel=1e-12)
    seen = set()
    for seed in range(20):
        value = listmle(s, y, m, generator=torch.Generator().manual_seed(seed)).item()
        match = [p for p, v in candidates.items() if v == pytest.approx(value, rel=1e-12)]
        assert len(match) == 1
        seen.add(match[0])
    assert seen == set(candidates)  # both tie orders occur
    g = torch.Generator().manual_seed(7)
    first = listmle(s, y, m, generator=g)
    again = listmle(s, y, m, generator=torch.Generator().manual_seed(7))
    torch.testing.assert_close(first, again)


@pytest.mark.parametrize("keep", [False, True])
def test_listmle_counts_queries_as_documented(ref, keep: bool) -> None:
    per_query: list[float | None] = []
    for s, y in QUERIES:
        order = sorted(range(len(y)), key=lambda i: (-y[i], i))
        value = -math.log(pl_probability(np.array(s), tuple(order)))
        per_query.append(value if keep or ref.informative(np.array(y)) else None)
    s, y, m = ref.batch(QUERIES)
    got = listmle(s, y, m, shuffle_ties=False, keep_uninformative=keep).item()
    assert got == pytest.approx(ref.mean_counted(per_query), rel=1e-12)
