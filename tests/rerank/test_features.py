"""Features stage: every feature against the per-pair reference, BM25 parity, proximity by
hand, names, errors and edge cases."""

from __future__ import annotations

import numpy as np
import pytest
from _features_reference import THREE_FIELDS, Params, all_pairs, reference_features
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from rankstack.data import Corpus, Queries, Run
from rankstack.exceptions import DataError, MissingFeaturesError
from rankstack.index import Index, build_index
from rankstack.pipeline import Cutoff
from rankstack.rerank import Features, list_features
from rankstack.retrieve import BM25

DEFAULT_NAMES = [
    "bm25_contents", "bm25_title", "bm25_text",
    "tfidf_contents", "tfidf_title", "tfidf_text",
    "lm_dirichlet_contents", "lm_dirichlet_title", "lm_dirichlet_text",
    "lm_jm_contents", "lm_jm_title", "lm_jm_text",
    "coverage_contents", "coverage_title", "coverage_text",
    "dl_contents", "dl_title", "dl_text",
    "idf_sum", "idf_max", "idf_mean", "qlen",
    "phrase_count", "phrase_match", "bigram_count", "span_unordered", "span_ordered",
    "score", "rank",
]  # fmt: skip


def assert_matches_reference(out: Run, ref: dict[str, np.ndarray]) -> None:
    assert ref, "the reference computed nothing"
    for name, want in ref.items():
        got = out.feature(name).astype(np.float64)
        assert np.isfinite(got).all(), name
        np.testing.assert_allclose(got, want, rtol=2e-5, atol=1e-5, err_msg=name)


# ---------------------------------------------------------------------- against the reference
def test_every_feature_matches_the_per_pair_reference(
    small_index: Index, small_queries: Queries, small_run: Run
) -> None:
    out = Features(small_index).transform(small_queries, small_run)
    assert list(out.feature_names) == DEFAULT_NAMES
    assert_matches_reference(out, reference_features(small_index, small_queries, small_run))


@pytest.mark.parametrize(("mu", "jm_lambda", "k1", "b"), [(10.0, 0.5, 1.2, 0.75), (1.0, 1.0, 0, 0)])
def test_parameters_reach_the_features(
    small_index: Index,
    small_queries: Queries,
    small_run: Run,
    mu: float,
    jm_lambda: float,
    k1: float,
    b: float,
) -> None:
    stage = Features(small_index, features="no_positions", mu=mu, jm_lambda=jm_lambda, k1=k1, b=b)
    out = stage.transform(small_queries, small_run)
    ref = reference_features(
        small_index, small_queries, small_run, params=Params(k1=k1, b=b, mu=mu, jm_lambda=jm_lambda)
    )
    assert_matches_reference(out, {k: v for k, v in ref.items() if k in out.feature_names})


def test_small_chunks_give_the_same_features(
    small_index: Index, small_queries: Queries, small_run: Run
) -> None:
    whole = Features(small_index).transform(small_queries, small_run)
    chunked = Features(small_index, chunk_entries=3).transform(small_queries, small_run)
    assert chunked.equals(whole)


_WORDS = ["alpha", "beta", "gamma", "delta", "eps", "the", "of"]  # two stopwords
_doc = st.lists(st.sampled_from(_WORDS), max_size=14).map(" ".join)
_query = st.lists(st.sampled_from([*_WORDS, "zzz"]), max_size=5).map(" ".join)


@settings(
    max_examples=100,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)
@given(
    titles=st.lists(_doc, min_size=1, max_size=6),
    data=st.data(),
    queries=st.lists(_query, min_size=1, max_size=4),
)
def test_random_corpora_match_the_reference(
    titles: list[str], data: st.DataObject, queries: list[str]
) -> None:
    texts = data.draw(st.lists(_doc, min_size=len(titles), max_size=len(titles)))
    if not any((t + x).strip() for t, x in zip(titles, texts)):
        texts[0] = "alpha"  # an index needs at least one token
    corpus = Corpus.from_arrays(
        [f"d{i}" for i in range(len(titles))], fields={"title": titles, "text": texts}
    )
    qs = Queries.from_arrays([f"q{i}" for i in range(len(queries))], queries)
    index = build_index(corpus, fields=THREE_FIELDS, positions=True)
    run = all_pairs(qs, corpus)
    out = Features(index, chunk_entries=7).transform(qs, run)
    assert_matches_reference(out, reference_features(index, qs, run))
    # positions taken from the text match the stored ones
    plain = build_index(corpus, fields=THREE_FIELDS, positions=False)
    fallback = Features(plain, features="proximity", corpus=corpus).transform(qs, run)
    for name in fallback.feature_names:
        np.testing.assert_array_equal(fallback.feature(name), out.feature(name), err_msg=name)


# ---------------------------------------------------------------------- BM25 parity
@pytest.mark.parametrize("variant", ["lucene", "robertson", "atire", "bm25l", "bm25+"])
@pytest.mark.parametrize("field", ["contents", "title", "text"])
def test_bm25_feature_equals_the_bm25_stage(
    small_index: Index, small_queries: Queries, variant: str, field: str
) -> None:
    run = BM25(small_index, variant=variant, fields={field: 1.0}, k=100).transform(small_queries)
    out = Features(small_index, features=[f"bm25_{field}"], variant=variant).transform(
        small_queries, run
    )
    np.testing.assert_array_equal(out.features[:, 0], run.scores.astype(np.float32))


def test_bm25_feature_equals_the_stage_on_scifact(scifact_index: Index, scifact: tuple) -> None:
    _, queries = scifact
    for field in ("contents", "title", "text"):
        run = BM25(scifact_index, fields={field: 1.0}, k=100).transform(queries)
        out = Features(scifact_index, features=[f"bm25_{field}"]).transform(queries, run)
        np.testing.assert_array_equal(out.features[:, 0], run.scores.astype(np.float32))


def test_scifact_features_match_the_reference(scifact_index: Index, scifact: tuple) -> None:
    _, queries = scifact
    run = (BM25(scifact_index, fields={"contents": 1.0}) >> Cutoff(50)).transform(
        queries.slice(0, 12)
    )
    out = Features(scifact_index).transform(queries, run)
    assert_matches_reference(out, reference_features(scifact_index, queries, run))


# ---------------------------------------------------------------------- proximity by hand
def _one_doc(text: str, query: str) -> dict[str, float]:
    corpus = Corpus.from_arrays(["d"], text)
    index = build_index(corpus, positions=True)
    qs = Queries.from_arrays(["q"], [query])
    out = Features(index, features=["proximity", "coverage"]).transform(
        qs, Run.from_arrays(["q"], ["d"], [1.0])
    )
    return {n: float(out.feature(n)[0]) for n in out.feature_names}


def test_tao_zhai_example() -> None:
    # Tao and Zhai (SIGIR 2007), section 3: d = t1 t2 t1 t3 t5 t4 t2 t3 t4, Q = {t1, t2}
    f = _one_doc("ta tb ta tc te td tb tc td", "ta tb")
    assert f["span_unordered"] == 2  # MinCover
    assert f["span_ordered"] == 2  # "ta tb" at positions 0-1
    assert f["phrase_count"] == 1
    assert f["phrase_match"] == 1
    assert f["bigram_count"] == 1


# ("a" is a stopword, so the one-letter words below avoid it)
@pytest.mark.parametrize(
    ("text", "query", "expected"),
    [
        # a stopword between query words is a wildcard position, as in Lucene
        ("effect of aspirin and effect on aspirin", "effect of aspirin",
         {"phrase_count": 2, "span_unordered": 3, "span_ordered": 3, "bigram_count": 2}),
        ("aspirin effect", "effect of aspirin",
         {"phrase_count": 0, "span_unordered": 2, "span_ordered": 0, "bigram_count": 0}),
        ("b x p y y b y p", "p b",
         {"phrase_count": 0, "span_unordered": 3, "span_ordered": 4, "bigram_count": 0}),
        ("p b c", "c p", {"phrase_count": 0, "span_unordered": 3, "span_ordered": 0}),
        ("nothing here", "p b", {"phrase_count": 0, "span_unordered": 0, "span_ordered": 0,
                                 "coverage_contents": 0}),
        ("x p x p", "p", {"phrase_count": 2, "span_unordered": 1, "span_ordered": 1}),
        ("p b p b", "p b p", {"phrase_count": 1, "bigram_count": 3, "span_unordered": 2,
                              "span_ordered": 2}),
        ("p b", "p zebra b", {"phrase_count": 0, "bigram_count": 0, "span_unordered": 2,
                              "coverage_contents": 2 / 3}),
    ],
)  # fmt: skip
def test_proximity_by_hand(text: str, query: str, expected: dict[str, float]) -> None:
    got = _one_doc(text, query)
    for name, value in expected.items():
        assert got[name] == pytest.approx(value), (name, got)


def test_unknown_query_word_blocks_the_phrase_but_not_the_bigram() -> None:
    # "zebra" is in no document: the phrase cannot occur, but the bigram "p _ b" (the two
    # known words 2 apart, as in the query) matches
    got = _one_doc("p x b", "p zebra b")
    assert got["phrase_count"] == 0
    assert got["bigram_count"] == 1


# ---------------------------------------------------------------------- names and listing
def test_feature_names_are_stable(small_index: Index) -> None:
    assert Features(small_index).feature_names == DEFAULT_NAMES
    assert Features(small_index, features=["idf", "bm25_title", "bm25"]).feature_names == [
        "idf_sum", "idf_max", "idf_mean", "bm25_title", "bm25_contents", "bm25_text"
    ]  # fmt: skip
    assert Features(small_index, fields=["title"], features="no_positions").feature_names == [
        "bm25_title", "tfidf_title", "lm_dirichlet_title", "lm_jm_title", "coverage_title",
        "dl_title", "idf_sum", "idf_max", "idf_mean", "qlen", "score", "rank",
    ]  # fmt: skip


def test_list_features_templates_and_concrete() -> None:
    infos = list_features()
    names = [i.name for i in infos]
    assert names[:2] == ["bm25_{field}", "tfidf_{field}"]
    assert "span_unordered" in names and "rank" in names
    assert all(i.description and "\n" not in i.description for i in infos)
    assert {i.name for i in infos if i.positions} == {
        "phrase_count", "phrase_match", "bigram_count", "span_unordered", "span_ordered"
    }  # fmt: skip
    concrete = list_features(["contents", "title"])
    assert [i.name for i in concrete][:2] == ["bm25_contents", "bm25_title"]
    assert concrete[0].field == "contents"


def test_unknown_feature_name_lists_the_valid_ones(small_index: Index) -> None:
    with pytest.raises(DataError, match=r"unknown feature 'bm26'.*'bm25'.*'span_ordered'"):
        Features(small_index, features=["bm26"])
    with pytest.raises(DataError, match=r"unknown feature 'bm25_body'.*'bm25_title'"):
        Features(small_index, features=["bm25_body"]).feature_names  # noqa: B018


def test_unknown_field_names_the_fields(small_index: Index) -> None:
    with pytest.raises(MissingFeaturesError, match="title"):
        Features(small_index, fields=["body"]).feature_names  # noqa: B018


@pytest.mark.parametrize(
    "kwargs",
    [{"mu": 0}, {"jm_lambda": 0}, {"jm_lambda": 1.5}, {"k1": -1}, {"b": 2}, {"variant": "bm26"}],
)
def test_bad_parameters(small_index: Index, kwargs: dict[str, float]) -> None:
    with pytest.raises(DataError):
        Features(small_index, **kwargs)  # type: ignore[arg-type]


# ---------------------------------------------------------------------- positions
def test_missing_positions_says_how_to_rebuild(
    small_index_nopos: Index, small_queries: Queries, small_run: Run
) -> None:
    with pytest.raises(MissingFeaturesError, match=r"positions=True.*--positions"):
        Features(small_index_nopos).transform(small_queries, small_run)
    out = Features(small_index_nopos, features="no_positions").transform(small_queries, small_run)
    assert "span_ordered" not in out.feature_names


def test_positions_from_the_corpus_text(
    small_index: Index,
    small_index_nopos: Index,
    small_corpus: Corpus,
    small_queries: Queries,
    small_run: Run,
) -> None:
    stored = Features(small_index).transform(small_queries, small_run)
    text = Features(small_index_nopos, corpus=small_corpus).transform(small_queries, small_run)
    assert text.equals(stored)
    other = Corpus.from_arrays(["zz"], ["unrelated"])
    with pytest.raises(DataError, match="lacks 5 candidate documents"):
        Features(small_index_nopos, corpus=other).transform(small_queries, small_run)


# ---------------------------------------------------------------------- edge cases
def test_empty_query_and_unmatched_documents_give_zeros_not_nan(
    small_index: Index, small_queries: Queries, small_run: Run
) -> None:
    out = Features(small_index).transform(small_queries, small_run)
    assert np.isfinite(out.features).all()
    qid = out.qid_column().to_pylist()
    empty = np.array([q == "q4" for q in qid])
    lm = [n for n in out.feature_names if n.startswith("lm_")]
    keep = {"dl_contents", "dl_title", "dl_text", "score", "rank"}
    for name in out.feature_names:
        if name not in keep:  # an empty query scores 0 everywhere, LM included
            assert (out.feature(name)[empty] == 0).all(), name
    # q1 "heart attack risk" against d4 ("Cats", empty text): no query term
    row = np.flatnonzero((np.array(qid) == "q1") & (np.array(out.docids.to_pylist()) == "d4"))
    for name in out.feature_names:
        if name not in keep and name not in lm and name != "qlen":
            assert out.feature(name)[row] == 0, name
    assert all(out.feature(n)[row] < 0 for n in lm)  # the background model's likelihood


def test_existing_features_are_kept_and_names_made_unique(
    small_index: Index, small_queries: Queries, small_run: Run
) -> None:
    first = small_run.with_features(np.ones((len(small_run), 2), np.float32), ["score", "x"])
    out = Features(small_index, features=["first_stage", "qlen"]).transform(small_queries, first)
    assert list(out.feature_names) == ["score", "x", "score_2", "rank", "qlen"]
    np.testing.assert_array_equal(out.features[:, :2], 1)
    np.testing.assert_array_equal(out.feature("score_2"), small_run.scores.astype(np.float32))
    np.testing.assert_array_equal(out.feature("rank"), small_run.ranks + 1)
    assert out.docids.equals(small_run.docids)
    np.testing.assert_array_equal(out.scores, small_run.scores)


def test_empty_run(small_index: Index, small_queries: Queries) -> None:
    out = Features(small_index).transform(small_queries, Run.empty(["q1"]))
    assert out.features is not None and out.features.shape == (0, len(DEFAULT_NAMES))


def test_foreign_documents_and_queries_are_refused(
    small_index: Index, small_queries: Queries
) -> None:
    run = Run.from_arrays(["q1", "q1"], ["d0", "nope"], [2.0, 1.0])
    with pytest.raises(DataError, match=r"1 candidate documents are not in the index.*nope"):
        Features(small_index).transform(small_queries, run)
    run = Run.from_arrays(["qx"], ["d0"], [1.0])
    with pytest.raises(DataError, match="qx"):
        Features(small_index).transform(small_queries, run)


def test_needs_a_run(small_index: Index, small_queries: Queries) -> None:
    with pytest.raises(DataError, match="needs a run"):
        Features(small_index).transform(small_queries)


def test_in_a_pipeline_and_from_a_path(
    small_index: Index, small_queries: Queries, tmp_path: object
) -> None:
    from pathlib import Path

    path = Path(str(tmp_path)) / "idx"
    saved = small_index.save(path)
    pipe = BM25(saved, k=3) >> Features(path, features=["bm25_contents", "rank"])
    out = pipe.transform(small_queries)
    np.testing.assert_array_equal(out.feature("bm25_contents"), out.scores.astype(np.float32))
    assert Features(path).get_params()["index"] == path


@pytest.mark.slow
def test_all_scifact_test_pairs_match_the_reference(scifact_index: Index, scifact: tuple) -> None:
    _, queries = scifact
    run = BM25(scifact_index, fields={"contents": 1.0}, k=100).transform(queries)
    out = Features(scifact_index).transform(queries, run)
    assert_matches_reference(out, reference_features(scifact_index, queries, run))
