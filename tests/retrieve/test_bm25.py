"""BM25: every variant against a brute-force reference, rank_bm25, bm25s and Pyserini's figures."""

from __future__ import annotations

import logging
import math
from collections import Counter

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from rankstack.data import Corpus, Qrels, Queries, Run
from rankstack.exceptions import DataError, MissingFeaturesError
from rankstack.index import Index, Tokenizer, build_index
from rankstack.retrieve import BM25
from rankstack.retrieve.scoring import (
    VARIANTS,
    absent_term_score,
    byte_to_length,
    length_to_byte,
    quantize_lengths,
)

from .conftest import trec_eval

# whitespace tokens, no stopwords, no stemming: scoring is tested apart from analysis
PLAIN = Tokenizer(stopwords=None, stemmer=None, pattern=r"\S+")


def _lucene_small_float(n: int) -> int:
    """SmallFloat.intToByte4 then byte4ToInt, transcribed from Lucene's integer code."""

    def long_to_int4(i: int) -> int:
        num_bits = i.bit_length()
        if num_bits < 4:
            return i
        shift = num_bits - 4
        return ((i >> shift) & 0x07) | ((shift + 1) << 3)

    def int4_to_long(i: int) -> int:
        bits, shift = i & 0x07, (i >> 3) - 1
        return bits if shift == -1 else (bits | 0x08) << shift

    free = 255 - long_to_int4(2**31 - 1)
    code = n if n < free else free + long_to_int4(n - free)
    return code if code < free else free + int4_to_long(code - free)


def reference(
    docs: list[list[str]],
    query: list[str],
    variant: str,
    k1: float,
    b: float,
    delta: float,
    quantize: bool,
) -> np.ndarray:
    """Scores of every document straight from the definitions (Kamphuis et al. 2020)."""
    lengths = [len(d) for d in docs]
    if variant == "lucene":
        n = sum(1 for x in lengths if x)
        avgdl = sum(lengths) / n
    else:
        n = len(docs)
        avgdl = sum(lengths) / n
    df = Counter(t for d in docs for t in set(d))
    out = np.zeros(len(docs))
    for i, d in enumerate(docs):
        tf = Counter(d)
        dl = _lucene_small_float(lengths[i]) if quantize else lengths[i]
        norm = 1 - b + b * dl / avgdl
        for t in query:
            if t not in tf:
                continue
            f, m = tf[t], df[t]
            if variant == "lucene":
                w = math.log(1 + (n - m + 0.5) / (m + 0.5)) * f / (f + k1 * norm)
            elif variant == "robertson":
                w = max(math.log((n - m + 0.5) / (m + 0.5)), 0.0) * f / (f + k1 * norm)
            elif variant == "atire":
                w = math.log(n / m) * (k1 + 1) * f / (f + k1 * norm)
            elif variant == "bm25l":
                c = f / norm
                w = math.log((n + 1) / (m + 0.5)) * (k1 + 1) * (c + delta) / (k1 + c + delta)
            else:
                w = math.log((n + 1) / m) * ((k1 + 1) * f / (k1 * norm + f) + delta)
            out[i] += w
    return out


def _index(docs: list[list[str]]) -> Index:
    ids = [f"d{i:03d}" for i in range(len(docs))]
    return build_index(Corpus.from_arrays(ids, [" ".join(d) for d in docs]), tokenizer=PLAIN)


def _scores(run: Run, n_docs: int) -> np.ndarray:
    out = np.zeros(n_docs)
    for _, docids, scores in run:
        for d, s in zip(docids.to_pylist(), scores):
            out[int(d[1:])] = s
    return out


_words = st.sampled_from(list("abcdefgh"))
_docs = st.lists(st.lists(_words, min_size=0, max_size=12), min_size=1, max_size=12)


@settings(max_examples=40, deadline=None)
@given(
    docs=_docs.filter(lambda ds: any(ds)),
    query=st.lists(_words, min_size=1, max_size=5),
    variant=st.sampled_from(VARIANTS),
    k1=st.sampled_from([0.0, 0.9, 1.2, 2.0]),
    b=st.sampled_from([0.0, 0.4, 0.75, 1.0]),
)
def test_variants_match_brute_force(
    docs: list[list[str]], query: list[str], variant: str, k1: float, b: float
) -> None:
    delta = {"bm25l": 0.5, "bm25+": 1.0}.get(variant, 0.0)
    quantize = variant == "lucene"
    idx = _index(docs)
    run = BM25(idx, k1=k1, b=b, variant=variant, k=len(docs)).search(" ".join(query))
    expected = reference(docs, query, variant, k1, b, delta, quantize)
    got = _scores(run, len(docs))
    np.testing.assert_allclose(got, expected, rtol=2e-5, atol=1e-5)
    # exactly the documents with a positive score come back, best first, ties by doc id desc
    assert len(run) == int(np.count_nonzero(expected > 1e-9))
    _, ids, scores = next(iter(run))
    pairs = list(zip(scores.tolist(), ids.to_pylist()))
    assert pairs == sorted(pairs, reverse=True)


@pytest.mark.parametrize("variant", VARIANTS)
def test_quantize_switch(variant: str) -> None:
    docs = [["a"] * n + ["b"] for n in (1, 30, 57, 200)]
    idx = _index(docs)
    for quantize in (True, False):
        got = _scores(BM25(idx, variant=variant, quantize=quantize).search("a b"), 4)
        np.testing.assert_allclose(
            got,
            reference(
                docs, ["a", "b"], variant, 0.9, 0.4, 0.5 if variant == "bm25l" else 1.0, quantize
            ),
            rtol=2e-5,
        )


def test_lucene_small_float_matches_lucene() -> None:
    n = np.arange(0, 5000)
    assert [int(x) for x in quantize_lengths(n)] == [_lucene_small_float(int(x)) for x in n]
    assert length_to_byte(np.array([0, 23, 24, 2**31 - 1])).tolist() == [0, 23, 24, 255]
    table = byte_to_length(np.arange(256))
    assert np.all(np.diff(table) > 0) and int(table[-1]) == 2013265944


@settings(max_examples=50, deadline=None)
@given(st.integers(0, 2**31 - 1))
def test_quantized_length_is_close_below(n: int) -> None:
    q = int(quantize_lengths(np.array([n]))[0])
    assert q <= n and (n - q) <= max(n - 24, 0) / 8 + 1


def test_matches_rank_bm25() -> None:
    rank_bm25 = pytest.importorskip("rank_bm25")
    rng = np.random.default_rng(7)
    vocab = [f"w{i}" for i in range(60)]
    docs = [list(rng.choice(vocab, size=rng.integers(1, 30))) for _ in range(80)]
    idx = _index(docs)
    df = Counter(t for d in docs for t in set(d))
    queries = [list(rng.choice(vocab, size=4)) for _ in range(20)]
    k1, b = 1.2, 0.75
    okapi = rank_bm25.BM25Okapi(docs, k1=k1, b=b)
    bm25l = rank_bm25.BM25L(docs, k1=k1, b=b, delta=0.5)
    bm25p = rank_bm25.BM25Plus(docs, k1=k1, b=b, delta=1.0)
    for query in queries:
        if any(df[t] > len(docs) / 2 for t in query):
            continue  # rank_bm25 replaces negative idfs by a floor; ours clips at 0
        text = " ".join(query)
        # Robertson: Kamphuis et al. drop the (k1 + 1) factor that rank_bm25 keeps
        ours = _scores(BM25(idx, k1=k1, b=b, variant="robertson", k=100).search(text), 80)
        np.testing.assert_allclose(ours * (k1 + 1), okapi.get_scores(query), rtol=1e-5, atol=1e-6)
        # BM25+: rank_bm25 also adds the tf=0 value (idf * delta) of every query term a doc lacks
        ours = _scores(BM25(idx, k1=k1, b=b, variant="bm25+", k=100).search(text), 80)
        f0 = absent_term_score("bm25+", idx.field(), k1)
        absent = np.array([sum(f0[idx.term_id(t)] for t in query if t not in set(d)) for d in docs])
        np.testing.assert_allclose(ours + absent, bm25p.get_scores(query), rtol=1e-5, atol=1e-6)
    # BM25L: rank_bm25 0.2.2 multiplies each term's score by its tf (a departure from Lv &
    # Zhai), so the definitions agree term by term: rank_bm25 = tf * ours for one-term queries
    fwd = idx.field().forward_matrix().toarray()
    for t in vocab[:20]:
        if df[t] == 0:
            continue
        ours = _scores(BM25(idx, k1=k1, b=b, variant="bm25l", k=100).search(t), 80)
        tf = fwd[:, idx.term_id(t)]
        np.testing.assert_allclose(tf * ours, bm25l.get_scores([t]), rtol=1e-5, atol=1e-6)


def test_multifield_is_weighted_sum_of_fields() -> None:
    corpus = Corpus.from_arrays(
        ["a", "b", "c"],
        fields={
            "title": ["red fox", "", "blue whale"],
            "text": ["a fox ran", "the red sea", "red"],
        },
    )
    idx = build_index(corpus, multifield=True)
    title = _by_id(BM25(idx, fields={"title": 1.0}).search("red fox"))
    text = _by_id(BM25(idx, fields={"text": 1.0}).search("red fox"))
    both = _by_id(BM25(idx, fields={"title": 1.0, "text": 2.0}).search("red fox"))
    for d in "abc":
        assert both.get(d, 0.0) == pytest.approx(title.get(d, 0.0) + 2 * text.get(d, 0.0), rel=1e-6)
    # default on a multi-field index without "contents": every field, weight 1
    assert BM25(idx).field_weights() == {"title": 1.0, "text": 1.0}
    with pytest.raises(MissingFeaturesError):
        BM25(idx, fields={"body": 1.0}).search("red")


def _by_id(run: Run) -> dict[str, float]:
    _, d, s = next(iter(run))
    return dict(zip(d.to_pylist(), s.tolist()))


def test_empty_and_unknown_queries(caplog: pytest.LogCaptureFixture) -> None:
    idx = _index([["a", "b"], ["b", "c"]])
    queries = Queries.from_arrays(["q1", "q2", "q3"], ["zzz", "b", ""])
    with caplog.at_level(logging.WARNING, logger="rankstack.retrieve.bm25"):
        run = BM25(idx).transform(queries)
    assert run.qid_list() == ["q1", "q2", "q3"]
    assert run.sizes.tolist() == [0, 2, 0]
    assert "2 of 3 queries have no indexed terms" in caplog.text
    # stopwords only, with the default analyser
    lucene_idx = build_index(Corpus.from_arrays(["x"], ["the cat"]))
    assert len(BM25(lucene_idx).search("the and of")) == 0


def test_k_cutoffs_and_ties() -> None:
    # four identical documents tie: trec_eval's order breaks ties by doc id, descending
    docs = [["x", "y"]] * 4 + [["x"]]
    idx = _index(docs)
    full = BM25(idx, k=100).search("x y")
    assert full.docids.to_pylist() == ["d003", "d002", "d001", "d000", "d004"]
    full = BM25(idx, k=100).search("x")
    _, ids, scores = next(iter(full))
    assert len(ids) == 5  # k larger than the corpus: every match
    # the top-k of a tied list is the prefix of the full ranking, whatever k is
    for k in range(0, 6):
        part = BM25(idx, k=k).search("x")
        assert part.docids.to_pylist() == ids.to_pylist()[:k]
    tied = [d for d, s in zip(ids.to_pylist(), scores) if s == scores[1]]
    assert tied == sorted(tied, reverse=True)
    with pytest.raises(DataError):
        BM25(idx, k=-1)
    with pytest.raises(DataError, match="variant"):
        BM25(idx, variant="bm26")


def test_threads_give_the_same_run() -> None:
    rng = np.random.default_rng(3)
    vocab = [f"w{i}" for i in range(40)]
    docs = [list(rng.choice(vocab, size=20)) for _ in range(300)]
    idx = _index(docs)
    queries = Queries.from_arrays(
        [f"q{i}" for i in range(50)], [" ".join(rng.choice(vocab, size=3)) for _ in range(50)]
    )
    one = BM25(idx, k=20).transform(queries)
    two = BM25(idx, k=20, n_jobs=2).transform(queries)
    assert one.equals(two)


def test_stage_protocol() -> None:
    corpus = Corpus.from_arrays(["a", "b"], ["red fox", "blue whale"])
    bm25 = BM25.from_corpus(corpus, k=10, variant="atire")
    assert bm25.is_retriever
    assert bm25.get_params()["variant"] == "atire"
    assert "atire" in repr(bm25)
    run = (bm25 % 1).transform(Queries.from_arrays(["q"], ["fox"]))
    assert run.docids.to_pylist() == ["a"]


# ------------------------------------------------------------------------- real data
@pytest.mark.realdata
@pytest.mark.parametrize(
    ("layout", "expected"),
    # Pyserini's published BEIR figures (v0.22, "flat" and "multifield" BM25)
    [("flat", (0.6789, 0.9253)), ("multifield", (0.6647, 0.9076))],
)
def test_scifact_matches_pyserini(
    layout: str,
    expected: tuple[float, float],
    scifact: tuple[Corpus, Queries, Qrels],
    scifact_flat: Index,
    scifact_multifield: Index,
) -> None:
    idx = scifact_flat if layout == "flat" else scifact_multifield
    run = BM25(idx).transform(scifact[1])
    got = trec_eval(run, scifact[2])
    assert got["ndcg_cut_10"] == pytest.approx(expected[0], abs=0.0005)
    assert got["recall_100"] == pytest.approx(expected[1], abs=0.0005)


@pytest.mark.realdata
@pytest.mark.parametrize("method", VARIANTS)
def test_scifact_matches_bm25s(
    method: str, scifact: tuple[Corpus, Queries, Qrels], scifact_flat: Index
) -> None:
    """bm25s on our analysed tokens: equal scores where the definitions agree (bm25s uses
    exact lengths, and adds BM25L/BM25+'s tf=0 value for absent query terms)."""
    bm25s = pytest.importorskip("bm25s")
    idx = scifact_flat
    f = idx.field()
    terms = idx.terms.to_pylist()
    docs = [
        [terms[t] for t, n in zip(*f.doc_terms(d)) for _ in range(int(n))]
        for d in range(idx.n_docs)
    ]
    delta = {"bm25l": 0.5, "bm25+": 1.0}.get(method, 0.5)  # bm25s defaults to 0.5 for both
    ref = bm25s.BM25(method=method, k1=0.9, b=0.4, delta=delta)
    ref.index(docs, show_progress=False)
    ours = BM25(idx, variant=method, quantize=False, k=idx.n_docs, delta=delta)
    batch = idx.analyze_queries(scifact[1].texts)
    f0 = absent_term_score(method, f, 0.9, delta)
    fwd = f.forward_matrix().tocsr()
    for i in range(0, len(scifact[1]), 15):  # every 15th query keeps this quick
        ids = batch.ids[batch.offsets[i] : batch.offsets[i + 1]]
        if len(ids) == 0:
            continue
        got = _direct_scores(ours, ids, idx)  # analysed ids: re-analysing stems would restem
        want = ref.get_scores([terms[t] for t in ids])
        if method in ("bm25l", "bm25+"):
            present = (fwd[:, ids] > 0).toarray()
            want = want - (f0[ids][None, :] * ~present).sum(axis=1)
        np.testing.assert_allclose(got, want, rtol=1e-4, atol=1e-4)


def _direct_scores(bm25: BM25, ids: np.ndarray, idx: Index) -> np.ndarray:
    import scipy.sparse as sp

    q = sp.csr_matrix(
        (np.ones(len(ids), np.float32), (np.zeros(len(ids), int), ids)), shape=(1, idx.n_terms)
    )
    hits = bm25.search_terms(q, k=idx.n_docs)
    out = np.zeros(idx.n_docs)
    out[hits.docs] = hits.scores
    return out


def test_small_batches_give_the_same_run(monkeypatch: pytest.MonkeyPatch) -> None:
    from rankstack.retrieve import _search

    rng = np.random.default_rng(5)
    vocab = [f"w{i}" for i in range(30)]
    idx = _index([list(rng.choice(vocab, size=15)) for _ in range(200)])
    queries = Queries.from_arrays(
        [f"q{i}" for i in range(40)], [" ".join(rng.choice(vocab, size=3)) for _ in range(40)]
    )
    whole = BM25(idx, k=50).transform(queries)
    monkeypatch.setattr(_search, "MAX_BATCH_POSTINGS", 150)  # a few queries per product
    assert BM25(idx, k=50).transform(queries).equals(whole)
