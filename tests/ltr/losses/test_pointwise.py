"""MSE and sigmoid cross-entropy against per-query numpy references."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from rankstack.exceptions import DataError
from rankstack.ltr.losses import mse, sigmoid_ce

QUERIES = [([0.5, -1.0, 2.0], [1.0, 0.0, 2.0]), ([0.3, 0.1], [0.0, 0.0]), ([1.5], [2.0])]


def test_mse_matches_numpy(ref) -> None:
    s, y, m = ref.batch(QUERIES, width=5, pad_score=9.0, pad_label=4.0)
    expected = np.mean([np.mean((np.array(a) - np.array(b)) ** 2) for a, b in QUERIES])
    assert mse(s, y, m).item() == pytest.approx(expected, rel=1e-12)


def bce(logits: np.ndarray, target: np.ndarray) -> float:
    p = 1.0 / (1.0 + np.exp(-logits))
    return float(np.mean(-(target * np.log(p) + (1 - target) * np.log(1 - p))))


@pytest.mark.parametrize("max_grade", [None, 2.0, 4.0])
def test_sigmoid_ce_matches_numpy(ref, max_grade: float | None) -> None:
    s, y, m = ref.batch(QUERIES, width=4, pad_score=-7.0, pad_label=3.0)
    scale = 2.0 if max_grade is None else max_grade  # the batch's largest real label is 2
    expected = np.mean([bce(np.array(a), np.array(b) / scale) for a, b in QUERIES])
    assert sigmoid_ce(s, y, m, max_grade=max_grade).item() == pytest.approx(expected, rel=1e-12)


def test_sigmoid_ce_keeps_click_labels_as_they_are(ref) -> None:
    clicks = [([0.2, -0.4, 1.0], [1.0, 0.0, 0.25])]
    s, y, m = ref.batch(clicks)
    expected = bce(np.array(clicks[0][0]), np.array(clicks[0][1]))
    assert sigmoid_ce(s, y, m).item() == pytest.approx(expected, rel=1e-12)


def test_sigmoid_ce_refuses_bad_max_grade(ref) -> None:
    s, y, m = ref.batch(QUERIES)
    with pytest.raises(DataError, match="exceeds max_grade"):
        sigmoid_ce(s, y, m, max_grade=1.0)
    with pytest.raises(DataError, match="> 0"):
        sigmoid_ce(s, y, m, max_grade=0.0)


def test_pointwise_gradients_have_the_closed_form(ref) -> None:
    s, y, m = ref.batch([([0.5, -1.0], [1.0, 0.0])])
    s.requires_grad_(True)
    (g,) = torch.autograd.grad(mse(s, y, m), s)
    torch.testing.assert_close(g, (s.detach() - y))  # d/ds (1/2) sum (s - y)^2 = (s - y)
