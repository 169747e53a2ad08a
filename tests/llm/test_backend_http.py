"""The OpenAI-compatible HTTP backend against a stub server on loopback."""

from __future__ import annotations

import socket
import time

import numpy as np
import pytest

from rankstack.llm import FirstReranker, FullListReranker, PointwiseReranker
from rankstack.llm.backends import make_backend
from rankstack.llm.backends.base import BackendError, Decoding, EndpointDownError, Prompt
from rankstack.llm.backends.openai_http import OpenAIBackend
from rankstack.llm.testing import StubBehaviour, stub_openai_server


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def test_generation_and_logprobs():
    with stub_openai_server() as (url, state):
        be = OpenAIBackend(url, "stub", concurrency=4)
        p = [Prompt.chat("s", "[1] a\n[2] b\n[3] c"), Prompt.chat(None, "[A] x\n[B] y", "[")]
        assert be.generate(p, Decoding(max_new_tokens=20)) == ["[3] > [2] > [1]", "[B] > [A]"]
        lp = be.choice_logprobs(p[1:], ["A", "B", "C"])
        np.testing.assert_allclose(lp[0], [-0.1, 0.0, -np.inf])
        assert state.bodies[0]["model"] == "stub" and state.bodies[0]["temperature"] == 0.0
        assert state.bodies[-1]["logprobs"] is True
        assert be.stats["requests"] == 3


def test_reranking_through_http_with_cache(toy, tmp_path):
    queries, corpus, run = toy
    with stub_openai_server() as (url, state):
        be = make_backend("openai", "stub", base_url=url)
        out = FullListReranker(be, corpus, top_k=5, cache=tmp_path).transform(queries, run)
        assert out.query("q1")[0][:5] == [f"q1d{i}" for i in (4, 3, 2, 1, 0)]
        assert out.metadata["llm"]["model"]["base_url"] == url
        n = state.requests
        again = FullListReranker(be, corpus, top_k=5, cache=tmp_path).transform(queries, run)
        assert state.requests == n and again.equals(out)
        first = FirstReranker(be, corpus, window=None, top_k=5).transform(queries, run)
        assert first.query("q1")[0][:5] == [f"q1d{i}" for i in (4, 3, 2, 1, 0)]
        point = PointwiseReranker(be, corpus, top_k=3).transform(queries, run)
        assert point.metadata["llm"]["counts"].get("failed_responses", 0) == 0


def test_retries_with_backoff_then_success():
    with stub_openai_server(StubBehaviour(mode="flaky", fail_first=2)) as (url, state):
        be = OpenAIBackend(url, "stub", max_retries=3, backoff=0.01)
        assert be.generate([Prompt.chat(None, "[1] a\n[2] b")], Decoding()) == ["[2] > [1]"]
        assert be.stats["retries"] == 2 and be.stats["http_500"] == 2 and state.requests == 3


@pytest.mark.parametrize("mode", ["garbage", "error"])
def test_garbage_and_errors_are_counted_not_raised(toy, mode):
    queries, corpus, run = toy
    with stub_openai_server(StubBehaviour(mode=mode)) as (url, _):
        be = OpenAIBackend(url, "stub", max_retries=1, backoff=0.0)
        out = FullListReranker(be, corpus, top_k=5).transform(queries, run)
        assert out.query("q1")[0] == run.query("q1")[0]
        assert out.metadata["llm"]["counts"]["failed_responses"] == 2
        assert be.stats["failed_prompts"] == 2


def test_timeouts_are_retried_and_counted():
    with stub_openai_server(StubBehaviour(mode="slow", delay=0.5)) as (url, _):
        be = OpenAIBackend(url, "stub", timeout=0.1, max_retries=1, backoff=0.0)
        t0 = time.perf_counter()
        assert be.generate([Prompt.chat(None, "x")], Decoding()) == [None]
        assert be.stats["timeouts"] == 2 and time.perf_counter() - t0 < 2.0


def test_text_answers_without_logprobs():
    with stub_openai_server(StubBehaviour(mode="text", text="I pick [B], then A")) as (url, _):
        be = OpenAIBackend(url, "stub")
        lp = be.choice_logprobs([Prompt.chat(None, "x")], ["A", "B"])
        assert lp[0].tolist() == [-np.inf, 0.0]


def test_endpoint_down_is_a_clear_error():
    url = f"http://127.0.0.1:{_free_port()}/v1"
    be = OpenAIBackend(url, "stub", max_retries=1, backoff=0.0)
    with pytest.raises(EndpointDownError, match="refused every connection"):
        be.generate([Prompt.chat(None, "x")], Decoding())


def test_concurrency_overlaps_requests():
    with stub_openai_server(StubBehaviour(mode="slow", delay=0.2)) as (url, _):
        prompts = [Prompt.chat(None, f"[1] a{i}\n[2] b") for i in range(8)]
        be = OpenAIBackend(url, "stub", concurrency=8)
        t0 = time.perf_counter()
        out = be.generate(prompts, Decoding())
        assert all(o == "[2] > [1]" for o in out)
        assert time.perf_counter() - t0 < 1.0  # 8 x 0.2 s one at a time


def test_bad_settings():
    with pytest.raises(BackendError, match="http"):
        OpenAIBackend("localhost:8000", "m")
    with pytest.raises(BackendError, match="concurrency"):
        OpenAIBackend("http://x/v1", "m", concurrency=0)
    with pytest.raises(BackendError, match="base URL"):
        make_backend("openai", "m")
    with pytest.raises(BackendError, match="unknown LLM backend"):
        make_backend("telepathy", "m")
