"""Run allRank's own ``allrank.main`` unchanged and record when each epoch ends.

Runs inside a Python environment that has allRank (see ``ltr_neural_speed.py``), never in
rankstack's. It wraps three allRank functions with timers, without changing what they do:

- ``train_utils.fit`` (start of training),
- ``train_utils.compute_metrics`` (its first call in an epoch ends the gradient pass; allRank
  then evaluates the training and validation sets),
- ``EarlyStop.step`` (called once at the end of every epoch with the validation metric).

    python _allrank_driver.py --threads 1 --out times.json -- \
        --job-dir DIR --run-id RUN --config-file-name CONFIG.json
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time

import numpy as np


def validation_scores(model, loader):  # type: ignore[no-untyped-def]
    """Scores of the final model for every validation row, in file order.

    allRank's ``FixLength`` keeps the order of shorter lists but permutes the longest one
    (it "samples" all of its documents); ``indices`` holds each position's original index.
    """
    import torch

    model.eval()
    out = []
    with torch.no_grad():
        for xb, yb, indices in loader:
            mask = yb == -1
            s = model.score(xb, mask, indices)
            for q in range(s.shape[0]):
                real = ~mask[q]
                ordered = np.empty(int(real.sum()))
                ordered[indices[q][real].numpy()] = s[q][real].numpy()
                out.append(ordered)
    return np.concatenate(out)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--out", required=True)
    args, rest = parser.parse_known_args()
    if rest and rest[0] == "--":
        rest = rest[1:]

    import torch

    torch.set_num_threads(args.threads)

    import allrank.main as allrank_main
    import allrank.training.train_utils as tu

    events: list[tuple[str, float, float | None]] = []

    original_fit = tu.fit
    captured: dict = {}

    def fit(*a, **kw):  # type: ignore[no-untyped-def]
        captured.update(kw)
        events.append(("start", time.perf_counter(), None))
        return original_fit(*a, **kw)

    original_metrics = tu.compute_metrics

    def compute_metrics(*a, **kw):  # type: ignore[no-untyped-def]
        events.append(("metrics", time.perf_counter(), None))
        return original_metrics(*a, **kw)

    original_step = tu.EarlyStop.step

    def step(self, value, epoch):  # type: ignore[no-untyped-def]
        events.append(("epoch", time.perf_counter(), float(value)))
        return original_step(self, value, epoch)

    tu.fit = fit
    allrank_main.fit = fit
    tu.compute_metrics = compute_metrics
    tu.EarlyStop.step = step

    sys.argv = ["allRank", *rest]
    started = time.perf_counter()
    allrank_main.run()
    total = time.perf_counter() - started

    epochs = []
    begin = None
    first_metrics = None
    for kind, t, value in events:
        if kind == "start":
            begin = t
        elif kind == "metrics" and first_metrics is None:
            first_metrics = t
        elif kind == "epoch" and begin is not None:
            epochs.append(
                {
                    "epoch": len(epochs) + 1,
                    "seconds": t - begin,
                    "train_seconds": (first_metrics or t) - begin,
                    "val_ndcg_10": value,
                }
            )
            begin, first_metrics = t, None
    scores_path = os.environ.get("ALLRANK_SCORES")
    if scores_path and captured:
        np.save(scores_path, validation_scores(captured["model"], captured["valid_dl"]))
    with open(args.out, "w") as fh:
        json.dump({"epochs": epochs, "total_seconds": total, "torch": torch.__version__}, fh)


if __name__ == "__main__":
    main()
