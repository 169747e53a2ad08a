from __future__ import annotations

import pytest
from hypothesis import assume, given, settings
from hypothesis import strategies as st

from rankstack.exceptions import DataError
from rankstack.experiment.splits import carve, kfold


@settings(max_examples=60, deadline=None)
@given(n=st.integers(2, 300), k=st.integers(2, 10), seed=st.integers(0, 2**32 - 1))
def test_kfold_parts_are_disjoint_cover_and_balanced(n: int, k: int, seed: int) -> None:
    qids = [f"q{i}" for i in range(n)]
    if n < k:
        with pytest.raises(DataError, match=f"at least {k} queries"):
            kfold(qids, k, seed)
        return
    parts = kfold(qids, k, seed)
    assert len(parts) == k
    flat = [q for p in parts for q in p]
    assert sorted(flat) == sorted(qids) and len(set(flat)) == n  # disjoint and covering
    sizes = [len(p) for p in parts]
    assert max(sizes) - min(sizes) <= 1
    for p in parts:  # each part keeps the original order
        assert p == sorted(p, key=qids.index)
    assert kfold(qids, k, seed) == parts  # seeded


def test_kfold_seed_changes_the_split() -> None:
    qids = [f"q{i}" for i in range(100)]
    assert kfold(qids, 5, 0) != kfold(qids, 5, 1)
    with pytest.raises(DataError, match="at least 2 folds"):
        kfold(qids, 1)


@settings(max_examples=60, deadline=None)
@given(n=st.integers(2, 200), fraction=st.floats(0.01, 0.9), seed=st.integers(0, 1000))
def test_carve_is_a_seeded_partition(n: int, fraction: float, seed: int) -> None:
    assume(max(1, round(fraction * n)) < n)
    qids = [f"q{i}" for i in range(n)]
    rest, dev = carve(qids, fraction, seed)
    assert sorted(rest + dev) == sorted(qids) and not set(rest) & set(dev)
    assert len(dev) == max(1, round(fraction * n)) and rest
    assert carve(qids, fraction, seed) == (rest, dev)


def test_carve_refuses_impossible_fractions() -> None:
    with pytest.raises(DataError, match=r"in \(0, 1\)"):
        carve(["a", "b"], 0.0)
    with pytest.raises(DataError, match="cannot carve"):
        carve(["a"], 0.5)
