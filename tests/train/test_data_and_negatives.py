"""Training data joins, the negative samplers (random, STAR, ADORE) and the curriculum."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from rankstack.data import Run
from rankstack.exceptions import DataError
from rankstack.retrieve import BM25
from rankstack.train import (
    DynamicHardNegatives,
    RandomNegatives,
    StaticHardNegatives,
    build_training_data,
    curriculum_weight,
    make_sampler,
    reciprocal_rank_difficulty,
)


@pytest.fixture(scope="module")
def data(collection):
    corpus, queries, qrels = collection
    run = BM25.from_corpus(corpus, k=15).transform(queries)
    return build_training_data(queries, qrels, corpus, [run], depth=10), run


def test_pools_exclude_positives_and_follow_rank(data, collection) -> None:
    d, run = data
    corpus = collection[0]
    assert d.n_queries == 12
    assert sorted(d.positives(0).tolist()) == [0, 20]
    for q in range(d.n_queries):
        pool = d.pool(q)
        assert not np.isin(pool, d.positives(q)).any()
        ranks = d.pool_ranks[d.pool_offsets[q] : d.pool_offsets[q + 1]]
        assert (np.diff(ranks) >= 0).all()
        # the pool is the run's top 10 minus the positives, in run order
        ids, _ = run.query(d.qids[q].as_py())
        idx = [corpus.docid_list().index(x) for x in ids[:10]]
        assert pool.tolist() == [i for i in idx if i not in d.positives(q)]


def test_best_rank_over_runs(collection) -> None:
    corpus, queries, qrels = collection
    a = Run.from_arrays(["q1", "q1", "q1"], ["d5", "d6", "d1"], [3.0, 2.0, 1.0])
    b = Run.from_arrays(["q1", "q1"], ["d6", "d7"], [2.0, 1.0])
    d = build_training_data(queries, qrels, corpus, [a, b], depth=10)
    q = d.qids.to_pylist().index("q1")
    assert d.pool(q).tolist() == [5, 6, 7]  # d6: best rank 1 (in b)
    assert d.pool_ranks[d.pool_offsets[q] : d.pool_offsets[q + 1]].tolist() == [1.0, 1.0, 2.0]
    assert d.pos_ranks[d.pos_offsets[q]] == 3.0  # d1 ranked third in a


def test_no_joinable_judgement(collection) -> None:
    from rankstack.data import Qrels

    corpus, queries, _ = collection
    with pytest.raises(DataError, match="no relevant"):
        build_training_data(queries, Qrels.from_arrays(["zz"], ["d1"], [1]), corpus)


@pytest.mark.parametrize(
    "sampler", [RandomNegatives(), StaticHardNegatives(0.5), StaticHardNegatives(1.0)]
)
def test_samplers_deterministic_and_never_positive(data, sampler) -> None:
    d, _ = data
    qs = np.arange(d.n_queries)
    a = sampler.sample(d, qs, 6, np.random.default_rng(3))
    b = sampler.sample(d, qs, 6, np.random.default_rng(3))
    assert a.docs.shape == (d.n_queries, 6)
    np.testing.assert_array_equal(a.docs, b.docs)
    for q in qs:
        assert not np.isin(a.docs[q], d.positives(q)).any()


def test_star_mixes_pool_and_random(data) -> None:
    d, _ = data
    negs = StaticHardNegatives(0.5).sample(d, np.arange(d.n_queries), 6, np.random.default_rng(0))
    for q in range(d.n_queries):
        hard = negs.docs[q, :3]
        assert np.isin(hard, d.pool(q)).all()
        assert len(set(hard.tolist())) == 3  # drawn without replacement
        assert np.isfinite(negs.ranks[q, :3]).all()


def test_adore_takes_top_scored_pool_docs_and_refreshes(data) -> None:
    d, _ = data
    calls = []

    def scorer(q: int, docs: np.ndarray) -> np.ndarray:
        calls.append(q)
        return docs.astype(float)  # the model prefers high doc indices

    s = DynamicHardNegatives(depth=None, refresh=2)
    negs = s.sample(d, np.array([0, 1]), 3, np.random.default_rng(0), step=0, scorer=scorer)
    for row, q in zip(negs.docs, [0, 1]):
        assert row.tolist() == sorted(d.pool(q).tolist(), reverse=True)[:3]
    s.sample(d, np.array([0]), 3, np.random.default_rng(0), step=1, scorer=scorer)
    assert calls == [0, 1]  # still fresh at step 1
    s.sample(d, np.array([0]), 3, np.random.default_rng(0), step=2, scorer=scorer)
    assert calls == [0, 1, 0]
    t = DynamicHardNegatives(depth=None, refresh=2)
    t.load_state(s.state())
    again = t.sample(d, np.array([0, 1]), 3, np.random.default_rng(9), step=3, scorer=scorer)
    np.testing.assert_array_equal(again.docs[0], negs.docs[0])
    with pytest.raises(DataError, match="scorer"):
        DynamicHardNegatives().sample(d, np.array([0]), 3, np.random.default_rng(0))


def test_make_sampler_names() -> None:
    assert isinstance(make_sampler("STAR"), StaticHardNegatives)
    with pytest.raises(DataError, match="random, star or adore"):
        make_sampler("bogus")


def test_curriculum_formula() -> None:
    d = reciprocal_rank_difficulty(np.array([1.0, np.inf]), np.array([[np.inf, 2.0], [1.0, 1.0]]))
    np.testing.assert_allclose(d, [0.5 * 1 + 0.5 * 0.75, 0.0])
    np.testing.assert_allclose(curriculum_weight(d, 0, 10), d)
    np.testing.assert_allclose(curriculum_weight(d, 5, 10), d + 0.5 * (1 - d))
    np.testing.assert_allclose(curriculum_weight(d, 10, 10), 1.0)
    np.testing.assert_allclose(curriculum_weight(d, 3, 0), 1.0)


@settings(max_examples=50, deadline=None)
@given(
    st.lists(st.floats(1, 1e6), min_size=1, max_size=5),
    st.integers(0, 20),
    st.integers(1, 20),
)
def test_curriculum_weight_bounds(ranks, step, m) -> None:
    pos = np.array(ranks)
    neg = np.tile(np.array(ranks)[:, None], (1, 3))
    d = reciprocal_rank_difficulty(pos, neg)
    w = curriculum_weight(d, step, m)
    assert ((d >= 0) & (d <= 1)).all()
    assert ((w >= d - 1e-12) & (w <= 1 + 1e-12)).all()
    assert (curriculum_weight(d, step + 1, m) >= w - 1e-12).all()  # annealed upwards
