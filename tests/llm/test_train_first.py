"""LoRA FIRST training on a tiny random Llama: examples, loss, adapter, checkpoint/resume."""

from __future__ import annotations

import pytest
import torch

from rankstack.data import Qrels
from rankstack.exceptions import DataError
from rankstack.llm import FirstReranker
from rankstack.llm.backends.hf import TransformersBackend
from rankstack.llm.testing import tiny_causal_lm
from rankstack.llm.train_first import (
    FirstTrainConfig,
    build_examples,
    train_first_reranker,
    weighted_ranknet,
)

safetensors = pytest.importorskip("safetensors.torch")


@pytest.fixture
def qrels():
    # in q1 the two most relevant documents are judged; q2 has only an unretrieved positive
    return Qrels.from_arrays(
        ["q1", "q1", "q2", "q3"], ["q1d11", "q1d10", "q2d2", "q3d0"], [1, 2, 1, 0]
    )


def test_examples_hold_positives_and_negatives(toy, qrels):
    queries, corpus, run = toy
    cfg = FirstTrainConfig(window=4, depth=12, seed=1)
    ex = build_examples(queries, qrels, corpus, run, cfg)
    assert [e.qid for e in ex] == ["q1", "q2"]  # q3 has no positive
    assert len(ex[0].passages) == 4 and sorted(ex[0].labels.tolist()) == [0, 0, 1, 2]
    assert sorted(ex[1].labels.tolist()) == [0, 0, 1]
    again = build_examples(queries, qrels, corpus, run, cfg)
    assert [e.passages for e in again] == [e.passages for e in ex]


def test_weighted_ranknet_prefers_the_target_order():
    labels = torch.tensor([2.0, 0.0, 1.0])
    good = weighted_ranknet(torch.tensor([3.0, 0.0, 1.0]), labels)
    bad = weighted_ranknet(torch.tensor([0.0, 3.0, 1.0]), labels)
    assert float(good) < float(bad)
    assert float(weighted_ranknet(torch.zeros(3), torch.zeros(3))) == 0.0


def _adapter(folder):
    return safetensors.load_file(str(folder / "adapter_model.safetensors"))


def test_training_saves_an_adapter_and_resumes_exactly(toy, qrels, tmp_path, monkeypatch):
    queries, corpus, run = toy
    cfg = FirstTrainConfig(
        window=4, depth=12, epochs=3, grad_accum=1, checkpoint_every=2, lr=1e-2, lora_r=2
    )
    ex = build_examples(queries, qrels, corpus, run, cfg)
    lm = tiny_causal_lm(seed=3)
    full = train_first_reranker(lm, ex, tmp_path / "full", cfg)
    assert full.steps == 6 and len(full.losses) == 6
    assert (tmp_path / "full" / "adapter" / "adapter_model.safetensors").is_file()
    assert (tmp_path / "full" / "training.json").is_file()
    assert not (tmp_path / "full" / "checkpoint").exists()

    import rankstack.llm.train_first as tf

    real_save = tf._save_checkpoint

    def save_then_crash(*args, **kwargs):
        real_save(*args, **kwargs)
        if args[3] == 4:
            raise KeyboardInterrupt

    monkeypatch.setattr(tf, "_save_checkpoint", save_then_crash)
    with pytest.raises(KeyboardInterrupt):
        train_first_reranker(lm, ex, tmp_path / "cut", cfg)
    monkeypatch.setattr(tf, "_save_checkpoint", real_save)
    resumed = train_first_reranker(lm, ex, tmp_path / "cut", cfg, resume=True)
    assert resumed.losses == pytest.approx(full.losses, abs=1e-6)
    a, b = _adapter(tmp_path / "full" / "adapter"), _adapter(tmp_path / "cut" / "adapter")
    assert a.keys() == b.keys()
    for k in a:
        torch.testing.assert_close(a[k], b[k], atol=1e-6, rtol=0)

    # the adapter changes the identifier logits and is recorded in the identity
    be = TransformersBackend(lm, adapter=tmp_path / "full" / "adapter")
    plain = TransformersBackend(lm)
    assert "adapter" in be.identity() and "adapter" not in plain.identity()
    ranker = FirstReranker(plain, corpus, window=4, stride=2)
    prompt = ranker.prompt(ex[0].query, plain.truncate(ex[0].passages, cfg.max_passage_tokens))
    letters = ["A", "B", "C", "D"][: len(ex[0].passages)]
    tuned = be.forward_choice_logits([prompt], letters)
    base = plain.forward_choice_logits([prompt], letters)
    assert not torch.allclose(tuned, base)
    out = FirstReranker(be, corpus, window=4, stride=2).transform(queries, run)
    assert len(out) == len(run)


def test_bad_training_input(toy, qrels, tmp_path):
    with pytest.raises(DataError, match="window"):
        FirstTrainConfig(window=30).check()
    with pytest.raises(DataError, match="no training examples"):
        train_first_reranker(tiny_causal_lm(), [], tmp_path)
    queries, corpus, run = toy
    ex = build_examples(queries, qrels, corpus, run, FirstTrainConfig(window=4))
    top = train_first_reranker(
        tiny_causal_lm(), ex, tmp_path / "top", FirstTrainConfig(window=4, lora_top_layers=1)
    )
    names = list(_adapter(top.adapter))
    assert names and all("layers.1." in n for n in names)
    with pytest.raises(DataError, match="unknown loss"):
        train_first_reranker(tiny_causal_lm(), ex, tmp_path, FirstTrainConfig(window=4, loss="x"))


def test_retrieved_windows_are_the_test_time_window(toy, qrels):
    queries, corpus, run = toy
    cfg = FirstTrainConfig(window=4, windows="retrieved", shuffle=False)
    ex = build_examples(queries, qrels, corpus, run, cfg)
    # q1: the run's top 4 in the run's order (no judged positive among them: skipped);
    # q2: its 3 candidates, none judged relevant (the positive q2d2 is judged 1)
    assert [e.qid for e in ex] == ["q2"]
    assert [p.split()[1] for p in ex[0].passages] == ["q2d0", "q2d1", "q2d2"]
    assert ex[0].labels.tolist() == [0.0, 0.0, 1.0]
    shuffled = build_examples(
        queries, qrels, corpus, run, FirstTrainConfig(window=4, windows="retrieved", seed=3)
    )
    assert sorted(shuffled[0].passages) == sorted(ex[0].passages)
    with pytest.raises(DataError, match="windows must be one of"):
        FirstTrainConfig(windows="random").check()
    with pytest.raises(DataError, match="snapshot_every"):
        FirstTrainConfig(snapshot_every=0).check()


def test_steps_span_epochs_and_none_is_empty(toy, qrels, tmp_path):
    """epochs x examples not a multiple of grad_accum: the last step still trains."""
    queries, corpus, run = toy
    cfg = FirstTrainConfig(window=4, epochs=3, grad_accum=4, lr=1e-2, lora_r=2)
    ex = build_examples(queries, qrels, corpus, run, cfg)
    assert (cfg.epochs * len(ex)) % cfg.grad_accum != 0
    res = train_first_reranker(tiny_causal_lm(seed=3), ex, tmp_path / "t", cfg)
    assert res.steps == -(-(cfg.epochs * len(ex)) // cfg.grad_accum)
    assert all(loss > 0 for loss in res.losses)


def test_snapshots_are_loadable_adapters(toy, qrels, tmp_path):
    queries, corpus, run = toy
    cfg = FirstTrainConfig(window=4, epochs=5, grad_accum=1, snapshot_every=2, lr=1e-2, lora_r=2)
    ex = build_examples(queries, qrels, corpus, run, cfg)
    res = train_first_reranker(tiny_causal_lm(seed=3), ex, tmp_path / "t", cfg)
    assert res.steps == 10
    snaps = sorted(p.name for p in (tmp_path / "t" / "snapshots").iterdir())
    assert snaps == [f"step-{s:06d}" for s in (2, 4, 6, 8, 10)]
    last = _adapter(tmp_path / "t" / "snapshots" / "step-000010")
    final = _adapter(res.adapter)
    for k in final:
        torch.testing.assert_close(last[k], final[k], atol=0, rtol=0)
    be = TransformersBackend(
        tiny_causal_lm(seed=3), adapter=tmp_path / "t" / "snapshots" / snaps[0]
    )
    assert "adapter" in be.identity()
