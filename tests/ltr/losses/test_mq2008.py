"""Every loss trains a linear scorer on real LETOR MQ2008 data (Fold1) beyond its start."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import torch

from rankstack.io.letor import read_letor
from rankstack.ltr.losses import LOSSES

pytestmark = pytest.mark.realdata


def padded(
    path: Path, n_queries: int, slate: int = 40
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Features ``[q, L, F]``, labels, mask: the first ``slate`` rows of ``n_queries`` queries."""
    data = read_letor(path)
    sizes = data.group_sizes[:n_queries]
    rows = int(sizes.sum())
    query = np.repeat(np.arange(len(sizes)), sizes)
    pos = np.arange(rows) - np.repeat(np.cumsum(sizes) - sizes, sizes)
    keep = pos < slate
    query, pos = query[keep], pos[keep]
    x = np.zeros((len(sizes), min(slate, int(sizes.max())), data.n_features), dtype=np.float32)
    y = np.zeros(x.shape[:2], dtype=np.float32)
    m = np.zeros(x.shape[:2], dtype=bool)
    x[query, pos] = data.features[:rows][keep]
    y[query, pos] = data.labels[:rows][keep]
    m[query, pos] = True
    return torch.from_numpy(x), torch.from_numpy(y), torch.from_numpy(m)


def mean_ndcg(s: torch.Tensor, y: torch.Tensor, m: torch.Tensor) -> float:
    """Mean NDCG (exponential gain, whole list) over queries with a relevant document."""
    key = torch.where(m, s, torch.tensor(float("-inf")))
    ranked = y.gather(1, torch.argsort(key, dim=1, descending=True, stable=True))
    disc = 1.0 / torch.log2(torch.arange(y.shape[1], dtype=torch.float32) + 2.0)
    dcg = ((2.0**ranked - 1.0) * disc).sum(1)
    idcg = ((2.0 ** torch.sort(y, dim=1, descending=True).values - 1.0) * disc).sum(1)
    keep = idcg > 0
    return float((dcg[keep] / idcg[keep]).mean())


@pytest.fixture(autouse=True, scope="module")
def _one_thread() -> Iterator[None]:
    """Small tensors: one intra-op thread, which also avoids stalls on a busy shared machine."""
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


@pytest.fixture(scope="module")
def mq2008(datasets_dir: Path) -> dict[str, Any]:
    fold = datasets_dir / "letor" / "mq2008" / "Fold1"
    return {
        "train": padded(fold / "train.txt.gz", 120),
        "test": padded(fold / "test.txt.gz", 156, slate=1000),
    }


@pytest.mark.parametrize("name", sorted(LOSSES))
def test_training_a_linear_scorer_raises_test_ndcg(name: str, mq2008: dict[str, Any]) -> None:
    torch.manual_seed(0)
    x, y, m = mq2008["train"]
    xt, yt, mt = mq2008["test"]
    w = (-0.3 * torch.ones(x.shape[-1])).requires_grad_(True)  # a poor start: every feature down
    start = mean_ndcg(xt @ w.detach(), yt, mt)
    opt = torch.optim.Adam([w], lr=0.05)
    kw: dict[str, Any] = {"generator": torch.Generator().manual_seed(0)}
    for _ in range(25):
        opt.zero_grad()
        loss = LOSSES[name](x @ w, y, m, **(kw if name in ("pg_rank", "listmle") else {}))
        assert torch.isfinite(loss)
        loss.backward()
        opt.step()
    end = mean_ndcg(xt @ w.detach(), yt, mt)
    assert end > start + 0.03, (start, end)
