"""Why regression-EM's propensities miss on MQ2008: identification and misspecification checks.

On one fold and bias severity, with the protocol of ``benchmarks/ultr.py`` (linear production
ranker on 1% of the training queries, PBM clicks, top 10):

1. how many shown (query, doc) pairs appear at more than one position;
2. EM for ``theta`` with the relevance fixed at the truth (the click probability of each
   shown document's label): the E- and M-steps of Wang et al. 2018 on these clicks;
3. standard EM with one relevance parameter per (query, doc) pair, from two starting points:
   the propensities it ends at and their log-likelihoods;
4. direct maximum likelihood of ``P(click) = theta_k sigmoid(f(x))`` (no EM; Adam, full
   batch) with ``f`` linear and with the neural base's 64-32 MLP, ``theta`` free or held at
   the truth: the propensities and the log-likelihoods.

If the model with ``theta`` free fits the clicks better than with the true ``theta``, the
maximum-likelihood estimate itself is off: misspecification, not an EM defect.

``--production-rankers K`` runs the checks on a log that spans ``K`` production rankers, one
drawn per session (``benchmarks/ultr.py --production-rankers``); ``--skip-mle`` leaves out
the direct maximum-likelihood fits (4, the slow part).

Usage: ``python benchmarks/ultr_identification.py [--fold 1] [--eta 1] [--sessions 1000000]
[--steps 4000] [--production-rankers 1] [--skip-mle] [--json]``.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np

REPO = Path(__file__).resolve().parents[1]
if "RANKSTACK_DATA" not in os.environ and (REPO.parent / "shared" / "datasets").is_dir():
    os.environ["RANKSTACK_DATA"] = str(REPO.parent / "shared" / "datasets")

import torch  # noqa: E402

from rankstack import datasets  # noqa: E402
from rankstack.ltr.preprocessing import FeatureNormalizer  # noqa: E402
from rankstack.ultr import (  # noqa: E402
    ClickSimulator,
    MixtureSimulator,
    ProductionRanker,
    Propensities,
    join_clicks,
    simulate_clicks,
)
from rankstack.ultr.click_models import make_click_model  # noqa: E402

K = 10


def log_likelihood(theta: np.ndarray, gamma: np.ndarray, n: Any, c: Any, pos: Any) -> float:
    p = np.clip(theta[pos] * gamma, 1e-12, 1 - 1e-12)
    return float((c * np.log(p) + (n - c) * np.log1p(-p)).sum())


def em(
    n: np.ndarray,
    c: np.ndarray,
    pos: np.ndarray,
    gamma: np.ndarray | None,
    init: float,
    iterations: int,
    pair: np.ndarray | None = None,
) -> tuple[np.ndarray, float]:
    """EM for theta; ``gamma`` fixed (given) or one free parameter per pair (None; ``pair``:
    the pair of each (pair, position) entry, default one pair per entry)."""
    theta = np.full(K, init)
    g = np.full(len(n), 0.5) if gamma is None else gamma
    shown = np.bincount(pos, weights=n, minlength=K)
    group = np.arange(len(n)) if pair is None else pair
    pair_shown = np.bincount(group, weights=n)
    for _ in range(iterations):
        t = theta[pos]
        denom = np.maximum(1 - t * g, 1e-12)
        examined = c + (n - c) * t * (1 - g) / denom
        relevant = c + (n - c) * (1 - t) * g / denom
        theta = np.bincount(pos, weights=examined, minlength=K) / shown
        if gamma is None:
            g = np.clip(np.bincount(group, weights=relevant) / pair_shown, 1e-9, 1 - 1e-9)[group]
    return theta / theta[0], log_likelihood(theta, g, n, c, pos)


def direct_mle(
    x: np.ndarray,
    n: np.ndarray,
    c: np.ndarray,
    pos: np.ndarray,
    hidden: list[int],
    truth: np.ndarray | None,
    steps: int,
) -> tuple[np.ndarray, float]:
    """Maximum likelihood of theta_k sigmoid(f(x)); ``truth`` given: theta held there."""
    torch.manual_seed(0)
    layers: list[torch.nn.Module] = []
    d = x.shape[1]
    for h in hidden:
        layers += [torch.nn.Linear(d, h), torch.nn.ReLU()]
        d = h
    f = torch.nn.Sequential(*layers, torch.nn.Linear(d, 1)).double()
    z = torch.zeros(K, dtype=torch.float64, requires_grad=True)
    params = list(f.parameters()) + ([] if truth is not None else [z])
    opt = torch.optim.Adam(params, lr=0.01)
    xt = torch.from_numpy(x.astype(np.float64))
    nt, ct, pt = torch.from_numpy(n), torch.from_numpy(c), torch.from_numpy(pos)

    def theta_now() -> torch.Tensor:
        return torch.from_numpy(truth) if truth is not None else torch.sigmoid(z + 3.0)

    for _ in range(steps):
        p = (theta_now()[pt] * torch.sigmoid(f(xt)[:, 0])).clamp(1e-12, 1 - 1e-12)
        loss = -(ct * torch.log(p) + (nt - ct) * torch.log1p(-p)).sum() / nt.sum()
        opt.zero_grad()
        loss.backward()  # type: ignore[no-untyped-call]
        opt.step()
    with torch.no_grad():
        theta = theta_now().numpy().copy()
        gamma = torch.sigmoid(f(xt)[:, 0]).numpy()
    return theta / theta[0], log_likelihood(theta, gamma, n, c, pos)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--fold", type=int, default=1)
    parser.add_argument("--eta", type=float, default=1.0)
    parser.add_argument("--sessions", type=int, default=1_000_000)
    parser.add_argument("--steps", type=int, default=4000)
    parser.add_argument("--production-rankers", type=int, default=1)
    parser.add_argument("--skip-mle", action="store_true")
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()
    if args.production_rankers < 1:
        parser.error("--production-rankers must be >= 1")
    torch.set_num_threads(1)
    started = time.perf_counter()
    fold = datasets.load(f"letor/mq2008/fold{args.fold}")
    train = fold.letor("train")
    production = ProductionRanker("linear", fraction=0.01, seed=args.fold).fit(train)
    if args.production_rankers == 1:
        log = simulate_clicks(
            train,
            "pbm",
            eta=args.eta,
            sessions=args.sessions,
            seed=args.fold,
            production=production,
            k=K,
        )
    else:  # as benchmarks/ultr.py --production-rankers
        rankers = [production] + [
            ProductionRanker("linear", fraction=0.01, seed=1000 * j + args.fold).fit(train)
            for j in range(1, args.production_rankers)
        ]
        sims = [
            ClickSimulator(
                train, make_click_model("pbm", eta=args.eta), k=K, production=p, seed=args.fold
            )
            for p in rankers
        ]
        log = MixtureSimulator(sims).simulate(args.sessions)
    lists = join_clicks(log, train).by_list()
    counts_lists = len(lists)
    counts = lists.by_position()
    n, pos = counts.shown, counts.positions
    c = np.minimum(counts.clicks, n)
    truth = Propensities.pbm(args.eta, K).values
    labels = train.labels[counts.rows]
    gamma = 0.1 + 0.9 * (2.0**labels - 1) / 3.0
    _, pair, per_pair = np.unique(counts.rows, return_inverse=True, return_counts=True)
    out: dict[str, Any] = {
        "fold": args.fold,
        "eta": args.eta,
        "sessions": args.sessions,
        "production_rankers": args.production_rankers,
        "distinct_lists": int(counts_lists),
        "true": truth.tolist(),
        "shown_pairs": len(per_pair),
        "pairs_at_several_positions": int((per_pair > 1).sum()),
        "log_likelihood_truth": log_likelihood(truth, gamma, n, c, pos),
    }
    est, ll = em(n, c, pos, gamma, 0.5, 1000)
    out["em_true_relevance"] = {"propensities": est.tolist(), "log_likelihood": ll}
    for init in (0.5, 0.9):
        est, ll = em(n, c, pos, None, init, 2000, pair=pair)
        out[f"em_per_pair_init_{init}"] = {"propensities": est.tolist(), "log_likelihood": ll}
    normalizer = FeatureNormalizer.from_spec("zscore").fit(train.run)
    x = normalizer.transform_matrix(train.features, train.run.offsets)[counts.rows]
    for name, hidden in () if args.skip_mle else (("linear", []), ("mlp_64_32", [64, 32])):
        free, ll_free = direct_mle(x, n, c, pos, hidden, None, args.steps)
        _, ll_fixed = direct_mle(x, n, c, pos, hidden, truth, args.steps)
        out[f"mle_{name}"] = {
            "propensities": free.tolist(),
            "max_relative_error": float(np.max(np.abs(free / truth - 1))),
            "log_likelihood_theta_free": ll_free,
            "log_likelihood_theta_true": ll_fixed,
        }
    out["seconds"] = time.perf_counter() - started
    if args.json:
        json.dump(out, sys.stdout, indent=1)
        sys.stdout.write("\n")
        return 0
    print(
        f"fold {args.fold}, eta {args.eta}, {args.sessions:,} sessions, "
        f"{args.production_rankers} production ranker(s), {counts_lists} distinct lists"
    )
    print(
        f"shown (query, doc) pairs: {out['shown_pairs']}, at several positions: "
        f"{out['pairs_at_several_positions']}"
    )
    for key, value in out.items():
        if isinstance(value, dict):
            props = " ".join(f"{v:.3f}" for v in value["propensities"])
            rest = {
                k: round(v, 4 if k == "max_relative_error" else 1)
                for k, v in value.items()
                if k != "propensities"
            }
            print(f"  {key:24s} {props}  {rest}")
    print(f"  true propensities         {' '.join(f'{v:.3f}' for v in truth)}")
    print(f"total {out['seconds']:.0f} s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
