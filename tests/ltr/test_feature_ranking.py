"""Feature ranking: MI against a loop reference, the cardinality correction, and gain."""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pytest

from rankstack.data import Run
from rankstack.exceptions import DataError
from rankstack.io.letor import LetorData
from rankstack.ltr.feature_ranking import discretise, mutual_information, rank_features


def _mi_loop(x: np.ndarray, y: np.ndarray) -> float:
    n = len(x)
    total = 0.0
    for a in set(x.tolist()):
        for b in set(y.tolist()):
            pab = float(np.sum((x == a) & (y == b))) / n
            if pab > 0:
                total += pab * math.log(pab / ((np.sum(x == a) / n) * (np.sum(y == b) / n)))
    return total


def test_mutual_information_matches_a_loop() -> None:
    rng = np.random.default_rng(0)
    codes = rng.integers(0, 5, size=(300, 4)).astype(np.int32)
    labels = (codes[:, 0] + rng.integers(0, 2, 300)) % 3
    got = mutual_information(codes, 5, labels)
    want = [_mi_loop(codes[:, j], labels) for j in range(4)]
    np.testing.assert_allclose(got, want, atol=1e-12)
    assert got[0] > 0.2 and got[1:].max() < 0.05


def test_discretise_keeps_small_cardinalities_and_caps_large() -> None:
    rng = np.random.default_rng(1)
    x = np.column_stack([rng.integers(0, 3, 500), rng.normal(size=500), np.zeros(500)])
    codes, counts = discretise(x.astype(np.float32), n_bins=16)
    assert counts.tolist()[0] == 3 and counts[1] <= 16 and counts[2] == 1
    assert codes.max(axis=0).tolist() == (counts - 1).tolist()
    # quantile bins are monotone in the value
    order = np.argsort(x[:, 1])
    assert (np.diff(codes[order, 1]) >= 0).all()
    with pytest.raises(DataError):
        discretise(x, n_bins=1)


def _data(n: int = 2000, seed: int = 0) -> LetorData:
    """Feature a: informative, few values; b: pure noise with many values; c: constant."""
    rng = np.random.default_rng(seed)
    a = rng.integers(0, 4, n)
    labels = np.minimum(a + rng.integers(0, 2, n), 3) // 2
    b = rng.normal(size=n)
    c = np.ones(n)
    feats = np.column_stack([a, b, c]).astype(np.float32)
    qids = np.repeat(np.arange(n // 20).astype(str), 20)
    run = Run.from_arrays(qids, np.arange(n).astype(str), np.zeros(n), feats, ["a", "b", "c"])
    order = run.docids.to_numpy(zero_copy_only=False).astype(int)
    return LetorData(run, labels[order].astype(np.int32))


def test_chance_correction_removes_the_cardinality_bias() -> None:
    ranking = rank_features(_data(), n_bins=64, n_permutations=5)
    a, b, c = range(3)
    assert ranking.mi[b] > 0.005  # noise with many bins has positive plug-in MI...
    assert abs(ranking.mi_adjusted[b]) < 0.3 * ranking.mi[b]  # ...mostly chance
    assert ranking.mi_adjusted[a] > 10 * abs(ranking.mi_adjusted[b])
    assert ranking.mi[c] == 0 and ranking.mi_normalised[c] == 0
    rows = ranking.rows("mi_adjusted")
    assert rows[0]["feature"] == "a" and rows[0]["rank_mi"] == 1
    assert ranking.gain[a] > 0.5 and ranking.gain.sum() == pytest.approx(1.0)
    assert [r["feature"] for r in ranking.rows("gain", top=1)] == ["a"]


def test_without_gain_and_errors() -> None:
    ranking = rank_features(_data(400), gain=False)
    assert not ranking.gain.any()
    with pytest.raises(DataError, match="sort key"):
        ranking.order("nope")
    with pytest.raises(DataError, match="n_permutations"):
        rank_features(_data(400), n_permutations=0)


@pytest.mark.realdata
def test_mq2008_top_features(datasets_dir: Path) -> None:
    from rankstack.ltr.config import load_letor

    ranking = rank_features(
        load_letor("letor/mq2008/fold1/vali"), model_params={"n_estimators": 30}
    )
    top = [r["feature"] for r in ranking.rows("mi_adjusted", top=10)]
    # LETOR 4.0's BM25 (21-25) and LMIR.JM (36-40) features of the five fields carry the signal
    assert len(set(top) & {str(i) for i in (*range(21, 26), *range(36, 41))}) >= 5
