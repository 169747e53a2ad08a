"""Every LLM method against an oracle backend: ordering, windows, batching, metadata, cache."""

from __future__ import annotations

import numpy as np
import pytest

from rankstack.data import Run
from rankstack.exceptions import DataError
from rankstack.llm import (
    METHODS,
    FirstReranker,
    FullListReranker,
    ListwiseReranker,
    PairwiseReranker,
    PointwiseReranker,
    llm_reranker,
)
from rankstack.llm.methods import window_schedule

from .conftest import FakeBackend, rel_of


def _rels(run: Run, corpus_texts: dict[str, str], qid: str) -> list[int]:
    docs, _ = run.query(qid)
    return [rel_of(corpus_texts[d]) for d in docs]


@pytest.fixture
def texts(toy):
    _, corpus, _ = toy
    return dict(zip(corpus.docid_list(), corpus.contents().to_pylist()))


ORACLE_METHODS = [
    ("pointwise", {}),
    ("pointwise-grade-logits", {}),
    ("pairwise", {}),
    ("pairwise-bubble", {"passes": 12}),
    ("listwise", {"window": 4, "stride": 2, "passes": 6}),
    ("listwise", {"window": 4, "stride": 2, "passes": 6, "identifiers": "letters"}),
    ("full-list", {}),
    ("first", {"window": None}),
    ("reasoning", {"window": None}),
]


@pytest.mark.parametrize(("method", "params"), ORACLE_METHODS)
def test_oracle_backend_gives_the_true_order(toy, texts, fake, method, params):
    queries, corpus, run = toy
    stage = llm_reranker(method, fake, corpus, top_k=20, **params)
    out = stage.transform(queries, run)
    assert len(out) == len(run)
    for q in ("q1", "q2", "q3"):
        rels = _rels(out, texts, q)
        if method == "pointwise-grade-logits":  # grades saturate at 3
            assert rels[:1] == [max(rels)] or min(rels[:1]) >= 3
        else:
            assert rels == sorted(rels, reverse=True), (method, q, rels)
    meta = out.metadata["llm"]
    assert meta["model"] == {"backend": "fake", "name": "oracle"}
    assert meta["template"]["sha256"]
    assert meta["counts"]["queries"] == 3
    assert meta["counts"].get("failed_responses", 0) == 0


def test_methods_registry_names():
    assert {"pointwise", "pairwise", "listwise", "full-list", "first", "reasoning"} <= set(METHODS)
    with pytest.raises(DataError, match="unknown LLM"):
        llm_reranker("nope", FakeBackend())


def test_top_k_reranks_only_the_head(toy, fake):
    queries, corpus, run = toy
    out = FullListReranker(fake, corpus, top_k=5).transform(queries, run)
    docs, scores = out.query("q1")
    assert docs[:5] == [f"q1d{i}" for i in (4, 3, 2, 1, 0)]
    assert docs[5:] == [f"q1d{i}" for i in range(5, 12)]
    assert np.all(np.diff(scores) < 0)
    assert out.metadata["llm"]["counts"]["candidates_beyond_top_k"] == 7


@pytest.mark.parametrize(
    ("m", "window", "stride", "expected"),
    [
        (12, 4, 2, [(8, 12), (6, 10), (4, 8), (2, 6), (0, 4)]),
        (3, 4, 2, [(0, 3)]),
        (1, 4, 2, []),
        (5, None, 1, [(0, 5)]),
        (20, 20, 10, [(0, 20)]),
        (
            100,
            20,
            10,
            [
                (80, 100),
                (70, 90),
                (60, 80),
                (50, 70),
                (40, 60),
                (30, 50),
                (20, 40),
                (10, 30),
                (0, 20),
            ],
        ),
    ],
)
def test_window_schedule(m, window, stride, expected):
    assert window_schedule(m, window, stride) == expected


def test_windows_of_different_queries_are_batched(toy, fake):
    queries, corpus, run = toy
    stage = ListwiseReranker(fake, corpus, window=4, stride=2, top_k=20)
    out = stage.transform(queries, run)
    # step 1 holds q1's first window and q2's only window; q3 (one candidate) needs none
    assert fake.calls[0] == 2
    assert fake.calls[1:] == [1, 1, 1, 1]
    counts = out.metadata["llm"]["counts"]
    assert counts["windows"] == 6
    assert counts["backend_calls"] == 6


def test_sliding_window_vs_full_list_call_counts(toy):
    queries, corpus, run = toy
    slide, full = FakeBackend(), FakeBackend()
    ListwiseReranker(slide, corpus, window=4, stride=2).transform(queries, run)
    FullListReranker(full, corpus).transform(queries, run)
    assert sum(slide.calls) == 6
    assert sum(full.calls) == 2


def test_bad_answers_are_repaired_and_counted(toy, texts):
    queries, corpus, run = toy
    fake = FakeBackend(answer="[3] > [3] > [99] > [1] blah")
    out = FullListReranker(fake, corpus, top_k=5).transform(queries, run)
    docs, _ = out.query("q1")
    assert docs[:5] == ["q1d2", "q1d0", "q1d1", "q1d3", "q1d4"]
    c = out.metadata["llm"]["counts"]
    assert c["parse_repeated"] == 2 and c["parse_out_of_range"] == 2
    assert c["parse_missing"] == 3 + 1  # q1: 3 missing; q2: [2] missing
    garbage = FakeBackend(answer="I cannot rank these.")
    out = FullListReranker(garbage, corpus, top_k=5).transform(queries, run)
    assert out.query("q1")[0] == run.query("q1")[0]
    assert out.metadata["llm"]["counts"]["parse_unparseable"] == 2


@pytest.mark.parametrize(
    "method", ["pointwise", "pairwise", "listwise", "first", "pointwise-grade"]
)
def test_failed_requests_keep_the_run_going(toy, method):
    queries, corpus, run = toy
    out = llm_reranker(method, FakeBackend(fail=True), corpus).transform(queries, run)
    assert sorted(out.docids.to_pylist()) == sorted(run.docids.to_pylist())
    assert out.query("q1")[0] == run.query("q1")[0]
    assert out.metadata["llm"]["counts"]["failed_responses"] > 0


def test_over_long_prompts_shrink_passages_then_fail_cleanly(toy):
    queries, corpus, run = toy
    long_docs = corpus.__class__.from_arrays(
        corpus.docid_list(), [t + " filler" * 400 for t in corpus.contents().to_pylist()]
    )
    fake = FakeBackend(context=700)
    out = FullListReranker(fake, long_docs, top_k=12, max_passage_tokens=400).transform(
        queries, run
    )
    c = out.metadata["llm"]["counts"]
    assert c["passages_truncated"] == 16 and c["prompts_shrunk"] >= 1
    assert c.get("prompts_over_context", 0) == 0
    # far too small a context: the window keeps its input order, counted
    tiny = FakeBackend(context=60)
    out = FullListReranker(tiny, long_docs, top_k=12).transform(queries, run)
    c = out.metadata["llm"]["counts"]
    assert c["prompts_over_context"] >= 1 and c["failed_responses"] >= 1
    assert out.query("q1")[0] == run.query("q1")[0]


def test_empty_run_and_empty_queries(toy, fake):
    queries, corpus, _ = toy
    empty = Run.empty(["q1", "q2"])
    out = FirstReranker(fake, corpus).transform(queries, empty)
    assert len(out) == 0
    assert out.metadata["llm"]["counts"]["empty_queries"] == 2
    assert fake.calls == []


def test_bad_settings_raise_our_errors(fake, toy):
    queries, corpus, run = toy
    with pytest.raises(DataError, match="stride"):
        ListwiseReranker(fake, corpus, window=4, stride=4)
    with pytest.raises(DataError, match="at most 26"):
        FirstReranker(fake, corpus, window=30, stride=5, top_k=100)
    with pytest.raises(DataError, match="mode"):
        PointwiseReranker(fake, corpus, mode="stars")
    with pytest.raises(DataError, match="Backend"):
        PairwiseReranker("not a backend", corpus)  # type: ignore[arg-type]
    with pytest.raises(DataError, match="needs a run"):
        FirstReranker(fake, corpus).transform(queries, None)
    with pytest.raises(DataError, match="corpus"):
        FirstReranker(fake, None).transform(queries, run)


def test_cache_makes_a_rerun_free_and_identical(toy, tmp_path):
    queries, corpus, run = toy
    first = FakeBackend()
    stage = ListwiseReranker(first, corpus, window=4, stride=2, cache=tmp_path / "c")
    a = stage.transform(queries, run)
    assert a.metadata["llm"]["counts"]["backend_calls"] == 6
    second = FakeBackend()
    again = ListwiseReranker(second, corpus, window=4, stride=2, cache=tmp_path / "c")
    b = again.transform(queries, run)
    assert second.calls == []
    assert b.metadata["llm"]["counts"]["backend_calls"] == 0
    assert b.metadata["llm"]["counts"]["cache_hits"] == 6
    assert a.equals(b)
    assert a.docids.to_pylist() == b.docids.to_pylist()
    assert np.array_equal(a.scores, b.scores)
    # another template hash: nothing is reused
    third = FakeBackend()
    ListwiseReranker(
        third, corpus, window=4, stride=2, identifiers="letters", cache=tmp_path / "c"
    ).transform(queries, run)
    assert sum(third.calls) == 6


def test_a_crash_mid_run_keeps_finished_work(toy, tmp_path):
    queries, corpus, run = toy

    class Crashing(FakeBackend):
        def generate(self, prompts, decoding):
            if len(self.calls) >= 2:
                raise KeyboardInterrupt
            return super().generate(prompts, decoding)

    crash = Crashing()
    with pytest.raises(KeyboardInterrupt):
        ListwiseReranker(crash, corpus, window=4, stride=2, cache=tmp_path).transform(queries, run)
    resumed = FakeBackend()
    out = ListwiseReranker(resumed, corpus, window=4, stride=2, cache=tmp_path).transform(
        queries, run
    )
    assert out.metadata["llm"]["counts"]["cache_hits"] == 3
    assert out.metadata["llm"]["counts"]["backend_calls"] == 3


def test_stage_composes_and_describes(toy, fake):
    from rankstack.pipeline import clone

    queries, corpus, run = toy
    stage = FirstReranker(fake, corpus, window=4, stride=2)
    params = stage.get_params()
    assert params["window"] == 4 and params["stride"] == 2 and "mode" not in params
    copy = clone(stage)
    assert copy.transform(queries, run).equals(stage.transform(queries, run))


def test_first_shifts_cancel_a_letter_prior(toy, texts):
    queries, corpus, run = toy

    class Biased(FakeBackend):
        def choice_logprobs(self, prompts, choices, *, exact=False):
            lp = super().choice_logprobs(prompts, choices, exact=exact)
            return lp - 100.0 * np.arange(len(choices))  # the model loves "A"

    plain = FirstReranker(Biased(), corpus, window=None, top_k=6).transform(queries, run)
    assert plain.query("q1")[0] == run.query("q1")[0]  # the prior wins: input order
    fake = Biased()
    fixed = FirstReranker(Biased(), corpus, window=None, top_k=6, shifts=6)
    out = fixed.transform(queries, run)
    assert _rels(out, texts, "q1")[:6] == [5, 4, 3, 2, 1, 0]
    assert out.metadata["llm"]["counts"]["backend_calls"] == 6 + 3  # q1: 6 shifts, q2: 3
    assert out.metadata["llm"]["settings"]["shifts"] == 6
    assert fake.calls == []
    with pytest.raises(DataError, match="shifts"):
        FirstReranker(fake, corpus, shifts=0)
