"""benchmarks/first_lora.py's teachers: labels, shuffling, the upper bound, attempt 2's defaults.

Pure functions of the script on toy data (no model is loaded), and one check on SciFact that the
default arguments give attempt 2's training windows (docs/benchmarks.md).
"""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path
from types import ModuleType

import numpy as np
import pytest

from rankstack.data import Qrels, Run
from rankstack.llm.train_first import FirstTrainConfig, build_examples

SCRIPT = Path(__file__).resolve().parents[2] / "benchmarks" / "first_lora.py"

#: attempt 2's settings, as benchmarks/first_lora.py set them before --teacher existed
ATTEMPT_2 = FirstTrainConfig(
    window=5,
    depth=20,
    max_passage_tokens=48,
    epochs=1,
    max_steps=None,
    lr=1e-4,
    grad_accum=4,
    lora_r=8,
    lora_alpha=16,
    lora_top_layers=8,
    shuffle=False,
    windows="retrieved",
    seed=0,
    checkpoint_every=10,
    snapshot_every=45,
    threads=None,
)


@pytest.fixture(scope="module")
def script() -> ModuleType:
    spec = importlib.util.spec_from_file_location("first_lora_script", SCRIPT)
    assert spec is not None and spec.loader is not None
    mod = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = mod
    spec.loader.exec_module(mod)
    return mod


@pytest.fixture
def qrels() -> Qrels:
    # one judged positive inside each of q1's and q2's top 4
    return Qrels.from_arrays(["q1", "q1", "q2"], ["q1d2", "q1d9", "q2d1"], [1, 1, 1])


def _teacher(scores: dict[str, float]) -> Run:
    return Run.from_arrays(
        [d.split("d")[0] for d in scores], list(scores), np.array(list(scores.values()))
    )


def _scores(run: Run) -> dict[str, dict[str, float]]:
    out: dict[str, dict[str, float]] = {}
    for q, d, s in zip(run.qid_column().to_pylist(), run.docids.to_pylist(), run.scores):
        out.setdefault(q, {})[d] = float(s)
    return out


def _args(script: ModuleType, *extra: str):
    return script.parser().parse_args(["--work", "w", "--out", "o.json", *extra])


def test_teacher_labels_order_the_window_as_its_scores(script, toy, qrels):
    queries, corpus, run = toy
    teacher = _teacher(
        {"q1d0": 0.1, "q1d1": 0.9, "q1d2": 0.5, "q1d3": 0.3}
        | {"q2d0": 2.0, "q2d1": -1.0, "q2d2": 0.0}
    )
    args = _args(script, "--window", "4", "--teacher", "ce")
    ex = script.training_examples(args, queries, qrels, corpus, run, teacher)
    assert [e.qid for e in ex] == ["q1", "q2"]
    for e in ex:
        # the window is the run's top 4 in the run's order; the labels are the teacher's
        docs = [p.split()[1] for p in e.passages]
        assert docs == sorted(docs)
        by_label = [docs[i] for i in np.argsort(-e.labels, kind="stable")]
        by_teacher = sorted(docs, key=lambda d: -_scores(teacher)[e.qid][d])
        assert by_label == by_teacher
    assert [p.split()[1] for p in ex[0].passages] == ["q1d0", "q1d1", "q1d2", "q1d3"]
    assert ex[0].labels.tolist() == [0.1, 0.9, 0.5, 0.3]

    # the upper bound's re-ordering: the top 4 in the teacher's order, the rest as before
    ranked = _scores(script.reorder_top(run.select(["q1", "q2"]), teacher, qrels, 4))
    q1 = sorted(ranked["q1"], key=lambda d: -ranked["q1"][d])
    assert q1[:4] == ["q1d1", "q1d2", "q1d3", "q1d0"]
    assert q1[4:] == [f"q1d{i}" for i in range(4, 12)]
    oracle = _scores(script.reorder_top(run, None, qrels, 4))["q1"]
    assert sorted(oracle, key=lambda d: -oracle[d])[:4] == ["q1d2", "q1d0", "q1d1", "q1d3"]


def test_ce_plus_hybrid_is_the_minmax_interpolation(script):
    ce = _teacher({"q1d0": 1.0, "q1d1": 3.0, "q1d2": 2.0})
    hybrid = _teacher({"q1d0": 0.9, "q1d1": 0.1, "q1d2": 0.5})
    fused = _scores(script.combine_teacher("ce+hybrid", ce, hybrid, 0.4))["q1"]
    want = {"q1d0": 0.4 * 0.0 + 0.6 * 1.0, "q1d1": 0.4 * 1.0 + 0.6 * 0.0, "q1d2": 0.4 * 0.5 + 0.3}
    assert fused == pytest.approx(want)
    assert script.combine_teacher("ce", ce, hybrid, 0.4) is ce
    assert script.teacher_settings(_args(script), "qrels") == "qrels"


def test_restrict_keeps_exactly_the_window(script):
    big = _teacher({"q1d0": 3.0, "q1d1": 2.0, "q1d2": 1.0, "q2d0": 5.0, "q2d1": 4.0})
    window = big.cut(1)
    assert _scores(script.restrict(big, window)) == {"q1": {"q1d0": 3.0}, "q2": {"q2d0": 5.0}}


def test_train_shuffle_moves_passages_with_their_labels(script, toy, qrels):
    queries, corpus, run = toy
    teacher = _teacher(
        {f"q1d{i}": float(i % 3) + 0.1 * i for i in range(4)}
        | {"q2d0": 0.0, "q2d1": 1.0, "q2d2": 0.5}
    )
    plain = script.training_examples(
        _args(script, "--window", "4"), queries, qrels, corpus, run, teacher
    )
    args = _args(script, "--window", "4", "--train-shuffle", "--seed", "2")
    assert script.train_config(args).shuffle
    mixed = script.training_examples(args, queries, qrels, corpus, run, teacher)
    assert [e.qid for e in mixed] == [e.qid for e in plain]
    assert any(a.passages != b.passages for a, b in zip(plain, mixed))
    for a, b in zip(plain, mixed):
        assert sorted(a.passages) == sorted(b.passages)
        assert dict(zip(a.passages, a.labels.tolist())) == dict(zip(b.passages, b.labels.tolist()))
    again = script.training_examples(args, queries, qrels, corpus, run, teacher)
    assert [e.passages for e in again] == [e.passages for e in mixed]


def test_default_arguments_are_attempt_2(script, toy, qrels):
    args = _args(script)
    assert args.teacher == "qrels" and not args.train_shuffle
    assert script.train_config(args) == ATTEMPT_2
    assert script.teacher_run(args, "qrels", None, None, None, "train") is None
    queries, corpus, run = toy
    ex = script.training_examples(args, queries, qrels, corpus, run, None)
    ref = build_examples(queries, qrels, corpus, run, ATTEMPT_2)
    assert [(e.qid, e.passages, e.labels.tolist()) for e in ex] == [
        (e.qid, e.passages, e.labels.tolist()) for e in ref
    ]


def test_default_arguments_give_attempt_2s_scifact_windows(script, datasets_dir):
    """541 windows, first positive at A..E 425/55/33/15/13 (docs/benchmarks.md, attempt 2)."""
    from rankstack.datasets import load_corpus, load_qrels, load_queries
    from rankstack.retrieve import BM25

    args = _args(script)
    corpus = load_corpus("beir/scifact")
    train_q = load_queries("beir/scifact/train")
    qrels = load_qrels("beir/scifact/train")
    dev_q, fit_q = script.carve(train_q, args.dev, args.seed)
    assert (len(dev_q), len(fit_q)) == (100, 709)
    run = BM25.from_corpus(corpus, k=20).transform(fit_q)
    ex = script.training_examples(args, fit_q, qrels, corpus, run, None)
    assert len(ex) == 541
    assert script.label_top_at(ex, 5) == [425, 55, 33, 15, 13]
    assert script.first_positive_at(run.cut(5), qrels, {e.qid for e in ex}, 5) == [
        425,
        55,
        33,
        15,
        13,
    ]
