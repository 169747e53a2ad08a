"""The trainers on tiny random models: loss goes down, resume is exact, outputs load."""

from __future__ import annotations

import json

import numpy as np
import pytest
from safetensors.numpy import load_file

from rankstack.exceptions import DataError
from rankstack.retrieve import BM25
from rankstack.train import (
    CheckpointError,
    DevSet,
    TrainConfig,
    build_training_data,
    split_dev,
    train_bi_encoder,
    train_cross_encoder,
)
from rankstack.train import trainer as trainer_mod


@pytest.fixture(scope="module")
def setup(collection):
    corpus, queries, qrels = collection
    bm25 = BM25.from_corpus(corpus, k=15)
    run = bm25.transform(queries)
    data = build_training_data(queries, qrels, corpus, [run], depth=10)
    return data, DevSet(queries, qrels, run.cut(8))


def _weights(folder) -> dict[str, np.ndarray]:
    return load_file(str(next(folder.glob("*.safetensors"))))


def test_cross_encoder_loss_decreases(setup, models, tmp_path) -> None:
    data, _ = setup
    from transformers import AutoModelForSequenceClassification, AutoTokenizer

    cfg = TrainConfig(steps=12, batch_size=4, n_negatives=3, negatives="star", lr=5e-3, warmup=0)
    tok = AutoTokenizer.from_pretrained(models["encoder"])
    import torch

    torch.manual_seed(0)
    net = AutoModelForSequenceClassification.from_pretrained(models["encoder"], num_labels=1)
    adapter = trainer_mod.CrossEncoderAdapter(net, tok, cfg)
    qs = [data.query_texts[q] for q in range(8)]
    groups = [
        [data.doc_texts[data.positives(q)[0]], *(data.doc_texts[d] for d in data.pool(q)[:3])]
        for q in range(8)
    ]

    def loss() -> float:
        net.eval()
        with torch.no_grad():
            return float(adapter.loss(qs, groups, np.ones(8)))

    before = loss()
    trainer_mod.Trainer(adapter, data, cfg, tmp_path / "out").train()
    assert loss() < before


@pytest.mark.parametrize("negatives,curriculum", [("adore", 0), ("star", 2)])
def test_resume_is_exact(setup, models, tmp_path, monkeypatch, negatives, curriculum) -> None:
    data, dev = setup
    cfg = TrainConfig(
        steps=6,
        batch_size=3,
        n_negatives=2,
        negatives=negatives,
        curriculum=curriculum,
        lr=1e-3,
        eval_every=3,
        checkpoint_every=2,
        seed=1,
    )
    straight = train_cross_encoder(str(models["encoder"]), data, cfg, tmp_path / "a", dev=dev)

    real_step = trainer_mod.Trainer._step
    calls = {"n": 0}

    def crash(self, *args, **kwargs):
        calls["n"] += 1
        if calls["n"] == 5:
            raise KeyboardInterrupt
        return real_step(self, *args, **kwargs)

    monkeypatch.setattr(trainer_mod.Trainer, "_step", crash)
    with pytest.raises(KeyboardInterrupt):
        train_cross_encoder(str(models["encoder"]), data, cfg, tmp_path / "b", dev=dev)
    monkeypatch.setattr(trainer_mod.Trainer, "_step", real_step)
    assert json.loads((tmp_path / "b/checkpoint/trainer.json").read_text())["step"] == 4
    resumed = train_cross_encoder(
        str(models["encoder"]), data, cfg, tmp_path / "b", dev=dev, resume=True
    )
    a, b = _weights(tmp_path / "a/final"), _weights(tmp_path / "b/final")
    assert a.keys() == b.keys()
    for k in a:
        np.testing.assert_array_equal(a[k], b[k])
    assert [h["loss"] for h in straight.history][-1] == pytest.approx(resumed.history[-1]["loss"])
    assert resumed.best_step == straight.best_step


def test_outputs_load_as_stages(setup, models, tmp_path, collection) -> None:
    data, dev = setup
    corpus, queries, _ = collection
    cfg = TrainConfig(steps=2, batch_size=2, n_negatives=2, eval_every=1)
    res = train_cross_encoder(str(models["encoder"]), data, cfg, tmp_path / "ce", dev=dev)
    assert res.best_step in (1, 2) and len(res.history) == 2
    assert {"nDCG@10", "rank_me", "loss", "train_seconds"} <= set(res.history[0])
    hist = json.loads((tmp_path / "ce/history.json").read_text())
    assert hist["config"]["negatives"] == "star"
    from rankstack.rerank.cross_encoder import CrossEncoder

    out = CrossEncoder(str(res.best_model), corpus=corpus).transform(queries, dev.run)
    assert len(out) == len(dev.run)

    bres = train_bi_encoder(
        str(models["st"]),
        data,
        TrainConfig(steps=2, batch_size=4, n_negatives=1, eval_every=1),
        tmp_path / "bi",
        dev=dev,
    )
    assert all("rank_me" in h for h in bres.history)
    from rankstack.dense import BiEncoder

    run = BiEncoder(str(bres.best_model), corpus=corpus, k=5, progress=False).transform(queries)
    assert len(run) == 5 * len(queries)


def test_resume_refuses_other_settings(setup, models, tmp_path) -> None:
    data, _ = setup
    cfg = TrainConfig(steps=1, batch_size=2, n_negatives=1, negatives="star")
    train_cross_encoder(str(models["encoder"]), data, cfg, tmp_path / "x")
    cfg.negatives = "random"
    with pytest.raises(CheckpointError, match="negatives"):
        train_cross_encoder(str(models["encoder"]), data, cfg, tmp_path / "x", resume=True)
    (tmp_path / "x/checkpoint/trainer.json").write_text("{oops")
    with pytest.raises(CheckpointError, match="JSON"):
        train_cross_encoder(str(models["encoder"]), data, cfg, tmp_path / "x", resume=True)


def test_config_and_split_errors(collection) -> None:
    _corpus, queries, qrels = collection
    with pytest.raises(DataError):
        TrainConfig(steps=0).check()
    with pytest.raises(DataError, match="softmax"):
        TrainConfig(curriculum=3, loss="listnet").check()
    tq, _tr, dq, _dr = split_dev(queries, qrels, 0.25, seed=0)
    assert len(tq) + len(dq) == len(queries) and len(dq) == 3
    assert set(tq.qid_list()).isdisjoint(dq.qid_list())
    assert split_dev(queries, qrels, 0.25, seed=0)[2].qid_list() == dq.qid_list()


def test_ltr_loss_option(setup, models, tmp_path) -> None:
    data, _ = setup
    cfg = TrainConfig(steps=2, batch_size=2, n_negatives=2, loss="listnet")
    res = train_cross_encoder(str(models["encoder"]), data, cfg, tmp_path / "l")
    assert res.best_model.is_dir()


@pytest.mark.parametrize("kind", ["cross", "bi"])
def test_bf16_mixed_precision_trains(setup, models, tmp_path, kind) -> None:
    data, dev = setup
    cfg = TrainConfig(steps=2, batch_size=2, n_negatives=2, eval_every=2, bf16=True)
    train = train_cross_encoder if kind == "cross" else train_bi_encoder
    res = train(models["encoder" if kind == "cross" else "st"], data, cfg, tmp_path, dev=dev)
    assert res.best_score is not None and np.isfinite(res.best_score)
    floats = [v for v in _weights(res.best_model).values() if v.dtype.kind == "f"]
    assert floats and all(v.dtype == np.float32 for v in floats)
