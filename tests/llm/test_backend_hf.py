"""The transformers backend on a tiny random Llama: batching, padding, context, methods."""

from __future__ import annotations

import numpy as np
import pytest

from rankstack.llm import FirstReranker, llm_reranker
from rankstack.llm.backends.base import BackendError, Decoding, Prompt
from rankstack.llm.backends.hf import TransformersBackend


def test_generate_and_choices_shapes(tiny_backend):
    prompts = [Prompt.chat("sys", "hello [1] a"), Prompt.chat(None, "a longer prompt here", "[")]
    out = tiny_backend.generate(prompts, Decoding(max_new_tokens=3))
    assert len(out) == 2 and all(isinstance(t, str) for t in out)
    lp = tiny_backend.choice_logprobs(prompts, ["A", "B", "Yes"])
    assert lp.shape == (2, 3) and np.all(lp <= 0) and np.isfinite(lp).all()
    ident = tiny_backend.identity()
    assert ident["backend"] == "transformers" and len(ident["sha256"]) == 64


def test_left_padding_does_not_change_logprobs(tiny_backend):
    short = Prompt.chat(None, "a b", "[")
    long = Prompt.chat(None, "a much longer prompt with many more words in it " * 3, "[")
    alone = tiny_backend.choice_logprobs([short], ["A", "B"])
    batched = tiny_backend.choice_logprobs([long, short], ["A", "B"])
    np.testing.assert_allclose(alone[0], batched[1], atol=1e-4)


def test_greedy_generation_is_deterministic_and_batch_independent(tiny_backend):
    a = Prompt.chat(None, "the quick brown fox")
    b = Prompt.chat(None, "cells protein gene cancer blood study results " * 2)
    one = tiny_backend.generate([a], Decoding(max_new_tokens=6))
    two = tiny_backend.generate([b, a], Decoding(max_new_tokens=6))
    assert one[0] == two[1]


def test_over_context_prompts_fail_not_crash(tiny_lm):
    be = TransformersBackend(tiny_lm, max_context=32)
    p = [Prompt.chat(None, "word " * 100), Prompt.chat(None, "hi")]
    assert be.generate(p, Decoding(max_new_tokens=4))[0] is None
    lp = be.choice_logprobs(p, ["A"])
    assert np.isnan(lp[0]).all() and np.isfinite(lp[1]).all()


def test_token_counting_and_truncation(tiny_backend):
    texts = ["the quick brown fox jumps over the lazy dog " * 5, "short"]
    counts = tiny_backend.count_tokens(texts)
    cut = tiny_backend.truncate(texts, 10)
    assert counts[0] > 10 and cut[1] == "short"
    assert tiny_backend.count_tokens(cut)[0] <= 10 and texts[0].startswith(cut[0])


def test_bad_settings(tiny_lm, tmp_path):
    with pytest.raises(BackendError, match="batch_size"):
        TransformersBackend(tiny_lm, batch_size=0)
    with pytest.raises(BackendError, match="adapter"):
        TransformersBackend(tiny_lm, adapter=tmp_path)
    with pytest.raises(BackendError, match="does not exist"):
        TransformersBackend(str(tmp_path / "missing.gguf"))
    with pytest.raises(BackendError, match="config"):
        TransformersBackend(str(tmp_path))


def test_model_folder_round_trip(tiny_lm, tmp_path):
    model, tok = tiny_lm
    model.save_pretrained(tmp_path, safe_serialization=True)
    tok.save_pretrained(tmp_path)
    be = TransformersBackend(str(tmp_path))
    ident = be.identity()
    assert ident["name"] == str(tmp_path) and len(ident["sha256"]) == 64
    p = [Prompt.chat(None, "a b c", "[")]
    ref = TransformersBackend(tiny_lm).choice_logprobs(p, ["A"])
    np.testing.assert_allclose(be.choice_logprobs(p, ["A"]), ref, atol=1e-5)


@pytest.mark.parametrize(
    ("method", "params"),
    [
        ("pointwise", {}),
        ("pointwise-grade", {}),
        ("pairwise-bubble", {"passes": 2}),
        ("listwise", {"window": 4, "stride": 2, "max_new_tokens": 8}),
        ("first", {"window": 4, "stride": 2}),
        ("reasoning", {"window": None, "max_new_tokens": 8}),
    ],
)
def test_methods_run_end_to_end_on_a_real_model(toy, tiny_backend, method, params, tmp_path):
    queries, corpus, run = toy
    stage = llm_reranker(method, tiny_backend, corpus, top_k=6, cache=tmp_path, **params)
    out = stage.transform(queries, run)
    assert sorted(out.docids.to_pylist()) == sorted(run.docids.to_pylist())
    meta = out.metadata["llm"]
    assert meta["model"]["library"].startswith("transformers")
    again = llm_reranker(method, tiny_backend, corpus, top_k=6, cache=tmp_path, **params)
    rerun = again.transform(queries, run)
    assert rerun.metadata["llm"]["counts"]["backend_calls"] == 0
    assert rerun.docids.to_pylist() == out.docids.to_pylist()


def test_first_reads_identifier_logits(toy, tiny_backend):
    queries, corpus, run = toy
    stage = FirstReranker(tiny_backend, corpus, window=None, top_k=5)
    out = stage.transform(queries, run)
    assert out.metadata["llm"]["counts"]["windows"] == 2
    assert out.metadata["llm"]["decoding"] is None


def test_exact_choices_read_only_the_token_as_written(tiny_backend):
    p = [Prompt.chat(None, "rank these", "[")]
    loose = tiny_backend.choice_logprobs(p, ["A", "B"])
    exact = tiny_backend.choice_logprobs(p, ["A", "B"], exact=True)
    assert np.all(exact <= loose + 1e-12)
    tok = tiny_backend.tokenizer
    ids = [tok("A", add_special_tokens=False)["input_ids"][0]]
    assert tiny_backend._ids_of("A")[:1] == ids


def test_last_position_logits_match_the_full_forward(tiny_lm):
    import torch

    be = TransformersBackend(tiny_lm, batch_size=2)
    prompts = [Prompt.chat(None, "one two three"), Prompt.chat(None, "four")]
    fast = be.choice_logprobs(prompts, ["A", "B", "C"])
    be._keep_last = False  # the fallback for models without logits_to_keep
    full = be.choice_logprobs(prompts, ["A", "B", "C"])
    np.testing.assert_allclose(fast, full, rtol=0, atol=1e-5)
    with torch.no_grad():
        grad = be.forward_choice_logits(prompts[:1], ["A", "B"])
    assert tuple(grad.shape) == (1, 2)
