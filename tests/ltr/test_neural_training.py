"""Packing, batching, scorers and checkpoint files of the neural rankers (``ltr.training``)."""

from __future__ import annotations

import json

import numpy as np
import pytest

torch = pytest.importorskip("torch")

from hypothesis import HealthCheck, given, settings  # noqa: E402
from hypothesis import strategies as st  # noqa: E402

from rankstack.exceptions import DataError  # noqa: E402
from rankstack.ltr.scorers import ContextScorer, MLPScorer, build_scorer  # noqa: E402
from rankstack.ltr.training import (  # noqa: E402
    CheckpointError,
    LoopConfig,
    RNGs,
    TrainState,
    epoch_batches,
    load_checkpoint,
    pack_lists,
    plan_buckets,
    predict_packed,
    read_checkpoint_config,
    restore_checkpoint,
    save_checkpoint,
    take_batch,
    torch_threads,
    train_loop,
)

FAST = settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])


def grouped(sizes: list[int], n_features: int = 3, seed: int = 0):
    rng = np.random.default_rng(seed)
    offsets = np.concatenate([[0], np.cumsum(sizes)]).astype(np.int64)
    feats = rng.normal(size=(int(offsets[-1]), n_features)).astype(np.float32)
    labels = rng.integers(0, 3, size=int(offsets[-1])).astype(np.int32)
    return feats, offsets, labels


class FirstColumn(torch.nn.Module):
    """A 'scorer' returning feature 0, to check where scores land."""

    def forward(self, x, mask):
        return x[..., 0]


# ---------------------------------------------------------------------------------- packing
@FAST
@given(st.lists(st.integers(0, 60), min_size=1, max_size=40))
def test_pack_lists_holds_every_row_once(sizes):
    feats, offsets, labels = grouped(sizes)
    packed = pack_lists(feats, offsets, labels)
    assert packed.n_rows == len(feats)
    assert packed.n_queries == sum(1 for s in sizes if s > 0)
    seen = []
    for b in packed.buckets:
        m = b.mask.numpy()
        assert (b.rows[m] >= 0).all() and (b.rows[~m] == -1).all()
        assert np.array_equal(b.features.numpy()[m], feats[b.rows[m]])
        assert np.array_equal(b.labels.numpy()[m], labels[b.rows[m]].astype(np.float32))
        assert not b.features.numpy()[~m].any()
        assert np.array_equal(m.sum(axis=1), b.lengths.numpy())
        seen.append(b.rows[m])
    rows = np.sort(np.concatenate(seen)) if seen else np.zeros(0)
    assert np.array_equal(rows, np.arange(len(feats)))
    # scores come back in source row order
    out = predict_packed(FirstColumn(), packed)
    assert np.array_equal(out, feats[:, 0])


@FAST
@given(st.lists(st.integers(1, 500), min_size=1, max_size=60))
def test_plan_buckets_bounds_padding(sizes):
    sizes = np.asarray(sizes)
    buckets = plan_buckets(sizes, growth=1.25, slack=8)
    assert sorted(np.concatenate(buckets).tolist()) == list(range(len(sizes)))
    for qs in buckets:
        lo, hi = sizes[qs].min(), sizes[qs].max()
        assert hi <= max(lo * 1.25, lo + 8)


def test_pack_lists_chunks_give_the_same_tensors():
    feats, offsets, labels = grouped([5, 7, 6, 9, 8, 5, 40, 41], seed=3)
    whole = pack_lists(feats, offsets, labels)
    chunked = pack_lists(feats, offsets, labels, chunk_rows=10)
    for a, b in zip(whole.buckets, chunked.buckets, strict=True):
        assert torch.equal(a.features, b.features) and torch.equal(a.labels, b.labels)


def test_pack_lists_applies_the_transform_per_query_chunk():
    feats, offsets, labels = grouped([4, 6, 5], seed=1)
    calls = []

    def double(x, offs):
        calls.append(offs.copy())
        assert offs[0] == 0 and offs[-1] == len(x)
        return x * 2

    packed = pack_lists(feats, offsets, labels, transform=double)
    out = predict_packed(FirstColumn(), packed)
    assert np.array_equal(out, feats[:, 0] * 2)
    assert calls


@pytest.mark.parametrize("bad", [np.nan, np.inf, -1.0])
def test_pack_lists_rejects_bad_values(bad):
    feats, offsets, labels = grouped([3, 4])
    labels = labels.astype(np.float64)
    if bad == -1.0:
        labels[2] = bad
        with pytest.raises(DataError, match="labels"):
            pack_lists(feats, offsets, labels)
    else:
        feats[5, 1] = bad
        with pytest.raises(DataError, match="row 5"):
            pack_lists(feats, offsets, labels)


# ---------------------------------------------------------------------------------- batches
def test_epoch_batches_cover_each_query_once_and_repeat_with_the_seed():
    feats, offsets, labels = grouped([3, 4, 20, 21, 22, 5, 6, 3, 100, 90], seed=2)
    packed = pack_lists(feats, offsets, labels)
    a = epoch_batches(packed, 2, torch.Generator().manual_seed(7))
    b = epoch_batches(packed, 2, torch.Generator().manual_seed(7))
    c = epoch_batches(packed, 2, torch.Generator().manual_seed(8))
    assert [(i, t.tolist()) for i, t in a] == [(i, t.tolist()) for i, t in b]
    assert [(i, t.tolist()) for i, t in a] != [(i, t.tolist()) for i, t in c]
    covered = sorted(int(packed.buckets[i].rows[q, 0]) for i, idx in a for q in idx.tolist())
    assert covered == sorted(offsets[:-1].tolist())
    assert all(len(idx) <= 2 for _, idx in a)


def test_take_batch_cuts_to_the_longest_list_and_subsamples():
    feats, offsets, labels = grouped([30, 33, 35], seed=4)
    packed = pack_lists(feats, offsets, labels)
    (bucket,) = packed.buckets
    x, _, m = take_batch(bucket, torch.tensor([0, 1]))
    assert x.shape[1] == 33 and m.sum().item() == 30 + 33
    g = torch.Generator().manual_seed(0)
    x, _y, m = take_batch(bucket, torch.tensor([0, 1, 2]), max_list_len=10, generator=g)
    assert x.shape == (3, 10, 3) and bool(m.all())
    # the kept documents are real rows of each query, each once
    for q in range(3):
        rows = bucket.features[q, : int(bucket.lengths[q])]
        hits = (x[q][:, None, :] == rows[None, :, :]).all(-1).sum(1)
        assert bool((hits == 1).all())


# ---------------------------------------------------------------------------------- scorers
@pytest.mark.parametrize("kind", ["mlp", "context"])
def test_scorer_shapes_and_padding_values_never_matter(kind):
    torch.manual_seed(0)
    params = {"hidden": (8, 4)} if kind == "mlp" else {}
    if kind == "context":
        params = {"d_model": 8, "n_heads": 2, "n_layers": 2, "dim_feedforward": 16}
    scorer = build_scorer(kind, 5, **params)
    x = torch.randn(4, 9, 5)
    m = torch.arange(9)[None, :] < torch.tensor([9, 3, 1, 6])[:, None]
    garbage = torch.where(m[..., None], x, torch.randn(4, 9, 5) * 1e3)
    for train in (True, False):
        scorer.train(train)
        with torch.no_grad():
            a = scorer(torch.where(m[..., None], x, 0.0), m)
            b = scorer(garbage, m)
        assert a.shape == (4, 9)
        assert torch.equal(a[m], b[m])


@pytest.mark.parametrize("kind", ["mlp", "context"])
def test_a_query_scores_the_same_alone_or_batched_with_longer_ones(kind):
    torch.manual_seed(1)
    params = (
        {"hidden": (16,)}
        if kind == "mlp"
        else {"d_model": 16, "n_heads": 4, "n_layers": 1, "dim_feedforward": 32}
    )
    scorer = build_scorer(kind, 6, **params).eval()
    x = torch.randn(8, 40, 6)
    lengths = torch.tensor([40, 7, 33, 12, 5, 25, 39, 2])
    m = torch.arange(40)[None, :] < lengths[:, None]
    x = torch.where(m[..., None], x, 0.0)
    with torch.inference_mode():
        batched = scorer(x, m)
        for q in range(8):
            n = int(lengths[q])
            alone = scorer(x[q : q + 1, :n], m[q : q + 1, :n])[0]
            # the same up to BLAS blocking (different matrix shapes), never the padding
            torch.testing.assert_close(alone, batched[q, :n], rtol=1e-6, atol=1e-6)


def test_context_scorer_is_permutation_equivariant():
    torch.manual_seed(2)
    scorer = ContextScorer(4, d_model=8, n_heads=2, n_layers=1, dim_feedforward=8).eval()
    x = torch.randn(1, 6, 4)
    m = torch.ones(1, 6, dtype=torch.bool)
    perm = torch.tensor([3, 0, 5, 1, 4, 2])
    with torch.no_grad():
        torch.testing.assert_close(scorer(x, m)[0, perm], scorer(x[:, perm], m)[0])


def test_build_scorer_rejects_bad_sizes():
    with pytest.raises(DataError, match="unknown scorer"):
        build_scorer("gru", 3)
    with pytest.raises(DataError, match="divisible"):
        build_scorer("context", 3, d_model=10, n_heads=4, n_layers=1, dim_feedforward=8)
    with pytest.raises(DataError, match=">= 1"):
        build_scorer("mlp", 3, hidden=(0,))
    assert isinstance(build_scorer("mlp", 3, hidden=()), MLPScorer)


# ---------------------------------------------------------------------------------- loop + ckpt
def _setup(seed=0):
    feats, offsets, labels = grouped([5, 8, 12, 7, 30, 9, 4, 11], n_features=4, seed=5)
    packed = pack_lists(feats, offsets, labels)
    torch.manual_seed(seed)
    model = MLPScorer(4, (8,), dropout=0.2)
    opt = torch.optim.Adam(model.parameters(), lr=0.01)
    from rankstack.ltr.losses import listnet

    return packed, model, opt, listnet


def test_train_loop_lowers_the_loss_and_records_history():
    packed, model, opt, loss = _setup()
    scores = iter([0.1, 0.3, 0.2, 0.2, 0.25])
    state = train_loop(
        model,
        opt,
        loss,
        packed,
        LoopConfig(epochs=5, batch_size=3, patience=2),
        RNGs.seeded(0),
        validate=lambda: next(scores),
    )
    assert [h["epoch"] for h in state.history] == [1, 2, 3, 4]  # stopped after 2 bad epochs
    assert state.stopped and state.best_epoch == 2 and state.best_score == 0.3
    assert state.best_weights is not None
    assert all(np.isfinite(h["loss"]) for h in state.history)


def test_checkpoint_round_trip_restores_everything(tmp_path):
    packed, model, opt, loss = _setup()
    rngs = RNGs.seeded(3)
    state = train_loop(
        model, opt, loss, packed, LoopConfig(epochs=2, batch_size=3), rngs, validate=lambda: 0.5
    )
    save_checkpoint(tmp_path, model=model, optimizer=opt, state=state, rngs=rngs, meta={"a": 1})
    config, tensors = load_checkpoint(tmp_path)
    assert config["meta"] == {"a": 1} and config["state"]["epoch"] == 2
    _, model2, opt2, _ = _setup(seed=99)
    rngs2 = RNGs.seeded(42)
    state2 = restore_checkpoint(config, tensors, model=model2, optimizer=opt2, rngs=rngs2)
    for k, v in model.state_dict().items():
        assert torch.equal(v, model2.state_dict()[k])
    assert torch.equal(rngs.shuffle.get_state(), rngs2.shuffle.get_state())
    assert torch.equal(rngs.loss.get_state(), rngs2.loss.get_state())
    assert state2.history == state.history and state2.best_epoch == state.best_epoch
    assert opt2.state_dict()["param_groups"][0]["betas"] == (0.9, 0.999)
    # only one tensor file is kept
    assert len(list(tmp_path.glob("*.safetensors"))) == 1


def test_checkpoint_errors(tmp_path):
    with pytest.raises(CheckpointError, match="nothing to resume"):
        read_checkpoint_config(tmp_path)
    _packed, model, opt, _loss = _setup()
    rngs = RNGs.seeded(0)
    save_checkpoint(tmp_path, model=model, optimizer=opt, state=TrainState(), rngs=rngs, meta={})
    cfg = json.loads((tmp_path / "checkpoint.json").read_text())
    (tmp_path / "checkpoint.json").write_text(json.dumps({**cfg, "version": 99}))
    with pytest.raises(CheckpointError, match="version 99"):
        read_checkpoint_config(tmp_path)
    (tmp_path / "checkpoint.json").write_text(json.dumps(cfg))
    tensor_file = tmp_path / cfg["tensors"]
    tensor_file.write_bytes(tensor_file.read_bytes()[:100])
    with pytest.raises(CheckpointError, match="cannot read"):
        load_checkpoint(tmp_path)
    (tmp_path / "checkpoint.json").write_text("{not json")
    with pytest.raises(CheckpointError, match="not valid JSON"):
        read_checkpoint_config(tmp_path)


def test_restore_into_another_architecture_fails(tmp_path):
    _packed, model, opt, _loss = _setup()
    rngs = RNGs.seeded(0)
    save_checkpoint(tmp_path, model=model, optimizer=opt, state=TrainState(), rngs=rngs, meta={})
    other = MLPScorer(4, (16,))
    with pytest.raises(CheckpointError, match="does not fit"):
        restore_checkpoint(
            *load_checkpoint(tmp_path),
            model=other,
            optimizer=torch.optim.Adam(other.parameters()),
            rngs=rngs,
        )


def test_torch_threads_restores_the_count():
    before = torch.get_num_threads()
    with torch_threads(1):
        assert torch.get_num_threads() == 1
    assert torch.get_num_threads() == before
    with pytest.raises(DataError), torch_threads(0):
        pass
