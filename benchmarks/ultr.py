"""Unbiased learning to rank on MQ2008 with simulated PBM clicks: test nDCG@10 of every learner
and the propensity estimates next to the true ones.

Protocol (the standard one of Joachims et al. 2017 and Ai et al. 2018, as ULTRA runs it):

- for each fold, a production ranker (a linear model trained on the labels of 1% of the
  training queries, :class:`rankstack.ultr.ProductionRanker`) shows the top 10 of every
  training query; ``--sessions`` sessions draw a query uniformly and click by the
  position-based model: examination ``(1/rank)^eta``, click on an examined document with
  probability ``0.1 + 0.9 (2^y - 1) / 3`` (:func:`rankstack.ultr.simulate_clicks`);
- every learner trains on the clicks of ``train`` (features from the fold's train file),
  selects its epoch / boosting round on ``vali``'s true labels (ULTRA's offline protocol), and
  is evaluated once on ``test``: nDCG@10 in trec_eval's definition
  (:func:`rankstack.evaluate.evaluate`) and in LETOR 4.0's (``LETOR:NDCG@10``);
- learners, with the library's default parameters and no tuning: naive, IPW with the true
  propensities, regression-EM and DLA on the NeuralRanker's MLP; naive, IPW, regression-EM
  and LightGBM's position-debiased lambdarank on LambdaMART; the full-information ranker
  (the same base trained on the true labels of every document);
- propensity estimates: DLA's and regression-EM's (from the training log), and from
  randomised interventions (swap-1-k and RandPair logs of the same size simulated over the
  same production ranker, :func:`rankstack.ultr.simulate_interventions`, estimated by
  :func:`rankstack.ultr.estimate_from_interventions`); and, as a diagnostic only, the EM
  iteration for ``θ`` with the relevance fixed at the truth (``rem-true-relevance``: the
  click probability of each shown document's label), which checks regression-EM's E- and
  M-steps on the same clicks apart from its relevance model.

"Gap recovered" is ``(learner - naive) / (full - naive)`` on the same base, from the means
over folds. Training time is the click-log join and aggregation plus the fit, per learner.

``--production-rankers K`` (default 1: the protocol above) is a variant in which the log
spans ``K`` production rankers, each a linear model trained like the one above on its own
random 1% of the training queries (seeds ``fold``, ``1000 + fold``, ``2000 + fold``...; the
first is the single ranker of the default protocol), and each session is served by one of
them drawn uniformly (:class:`rankstack.ultr.MixtureSimulator`). The same (query, doc) is
then shown at several positions, which is what the learned propensity estimators need; the
propensities harvested from the log itself (:func:`rankstack.ultr.estimate_from_interventions`,
no randomisation) are reported as ``harvest``. The swap and RandPair logs stay over the first
ranker.

Usage: ``python benchmarks/ultr.py [--quick] [--json] [--folds 1-5] [--etas 0.5,1,2]
[--sessions 100000,1000000] [--learners rem,dla,...] [--production-rankers 1]
[--plot OUT.png]`` (``--learners``: a subset of the learners; naive and lm-naive always run,
for the gap). ``--quick``: fold 1, 10^5 sessions, the three etas (35 s on the 2-core machine
at low load before regression-EM ran to convergence; the issue asks under 10 minutes).
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import platform
import sys
import time
import warnings
from pathlib import Path
from typing import Any

import numpy as np

REPO = Path(__file__).resolve().parents[1]
if "RANKSTACK_DATA" not in os.environ and (REPO.parent / "shared" / "datasets").is_dir():
    os.environ["RANKSTACK_DATA"] = str(REPO.parent / "shared" / "datasets")

from rankstack import datasets  # noqa: E402
from rankstack.io.letor import LetorData  # noqa: E402
from rankstack.ltr.base import Ranker  # noqa: E402
from rankstack.ltr.cv import evaluate_scores, parse_folds  # noqa: E402
from rankstack.ultr import (  # noqa: E402
    ClickSimulator,
    MixtureSimulator,
    ProductionRanker,
    Propensities,
    UnbiasedRanker,
    estimate_from_interventions,
    fit_full_information,
    join_clicks,
    simulate_clicks,
    simulate_interventions,
)
from rankstack.ultr.click_models import make_click_model  # noqa: E402

#: (name, base, method); every one runs with the library's defaults
LEARNERS = [
    ("naive", "neural", "naive"),
    ("ipw", "neural", "ipw"),
    ("rem", "neural", "rem"),
    ("dla", "neural", "dla"),
    ("lm-naive", "lambdamart", "naive"),
    ("lm-ipw", "lambdamart", "ipw"),
    ("lm-rem", "lambdamart", "rem"),
    ("lgbm-position", "lambdamart", "lgbm_position"),
    ("lm-dla", "lambdamart", "dla"),
]
FULL = [("full", "neural"), ("lm-full", "lambdamart")]
MEASURES = ["nDCG@10"]
K = 10


def base_params(base: str) -> dict[str, Any]:
    return {"progress": False} if base == "neural" else {}


def evaluate(model: Ranker, data: LetorData) -> dict[str, float]:
    scores = model.predict(data.run)
    values = evaluate_scores(data, scores, MEASURES, letor_eval=True)
    return {"nDCG@10": values["nDCG@10"], "LETOR:NDCG@10": values["LETOR:NDCG@10"]}


def em_true_relevance(lists: Any, labels: np.ndarray, iterations: int = 1000) -> np.ndarray:
    """Diagnostic: regression-EM's E-step and M-step for ``θ`` (Wang et al. 2018) with the
    relevance fixed at the truth, ``0.1 + 0.9 (2^y − 1)/3`` of each shown document's label."""
    counts = lists.by_position()
    n, c, pos = counts.shown, np.minimum(counts.clicks, counts.shown), counts.positions
    y = labels[counts.rows]
    gamma = 0.1 + 0.9 * (2.0**y - 1) / (2.0 ** max(int(labels.max()), 1) - 1)
    k = counts.n_positions
    theta = np.full(k, 0.5)
    shown = np.bincount(pos, weights=n, minlength=k)
    for _ in range(iterations):
        t = theta[pos]
        examined = c + (n - c) * t * (1 - gamma) / np.maximum(1 - t * gamma, 1e-12)
        new = np.bincount(pos, weights=examined, minlength=k) / np.maximum(shown, 1e-12)
        if np.max(np.abs(new - theta)) < 1e-12:
            theta = new
            break
        theta = new
    return np.asarray(theta / theta[0])


def run_setting(
    fold: int,
    sets: dict[str, LetorData],
    eta: float,
    sessions: int,
    full: dict[str, dict[str, float]],
    learners: list[tuple[str, str, str]] = LEARNERS,
    rankers: int = 1,
) -> dict[str, Any]:
    train, valid, test = sets["train"], sets["vali"], sets["test"]
    production = ProductionRanker("linear", fraction=0.01, seed=fold).fit(train)
    simulator = {"production": production, "k": K}
    started = time.perf_counter()
    if rankers == 1:
        log = simulate_clicks(train, "pbm", eta=eta, sessions=sessions, seed=fold, **simulator)
    else:
        log = mixture_log(train, production, fold, eta, sessions, rankers)
    simulate_s = time.perf_counter() - started
    started = time.perf_counter()
    lists = join_clicks(log, train).by_list()
    aggregate_s = time.perf_counter() - started
    truth = Propensities.pbm(eta, K)
    out: dict[str, Any] = {
        "fold": fold,
        "eta": eta,
        "sessions": sessions,
        "production_rankers": rankers,
        "clicks": int(log.clicks.sum()),
        "distinct_lists": len(lists),
        "simulate_seconds": simulate_s,
        "join_aggregate_seconds": aggregate_s,
        "learners": {},
        "propensities": {"true": [float(v) for v in truth.values]},
    }
    for name, base, method in learners:
        model = UnbiasedRanker(
            base=base,
            method=method,
            params=base_params(base),
            propensities="log" if method == "ipw" else None,
            seed=fold,
        )
        t0 = time.perf_counter()
        model.fit(lists, train, valid)
        fit_s = time.perf_counter() - t0
        out["learners"][name] = {
            **evaluate(model, test),
            "fit_seconds": fit_s,
            "train_seconds": fit_s + aggregate_s,
        }
        props = model.propensities_
        if props is not None and method in ("rem", "dla"):
            out["propensities"][name] = [float(v) for v in props.values]
        logging.info("fold %d eta %s n %d %s: %s", fold, eta, sessions, name, out["learners"][name])
    out["learners"].update(full)
    out["propensities"]["rem-true-relevance"] = [
        float(v) for v in em_true_relevance(lists, train.labels)
    ]
    if rankers > 1:
        harvest = estimate_from_interventions(log, method="harvest", n_positions=K)
        out["propensities"]["harvest"] = [float(v) for v in harvest.values]
    for kind in ("swap", "randpair"):
        t0 = time.perf_counter()
        ilog = simulate_interventions(
            train, kind, sessions=sessions, seed=1000 + fold, eta=eta, **simulator
        )
        est = estimate_from_interventions(ilog, method=kind, n_positions=K)
        out["propensities"][kind] = [float(v) for v in est.values]
        out.setdefault("intervention_seconds", {})[kind] = time.perf_counter() - t0
    out["max_relative_error"] = {
        name: float(np.nanmax(np.abs(np.asarray(v) / truth.values - 1)))
        for name, v in out["propensities"].items()
        if name != "true"
    }
    return out


def mixture_log(
    train: LetorData,
    production: ProductionRanker,
    fold: int,
    eta: float,
    sessions: int,
    n_rankers: int,
) -> Any:
    """The clicks of ``sessions`` sessions each served by one of ``n_rankers`` production
    rankers (``production`` and more on their own 1% of the queries) drawn uniformly."""
    rankers = [production] + [
        ProductionRanker("linear", fraction=0.01, seed=1000 * j + fold).fit(train)
        for j in range(1, n_rankers)
    ]
    sims = [
        ClickSimulator(train, make_click_model("pbm", eta=eta), k=K, production=p, seed=fold)
        for p in rankers
    ]
    return MixtureSimulator(sims).simulate(sessions)


def summarise(results: list[dict[str, Any]]) -> list[dict[str, Any]]:
    rows = []
    keys = sorted({(r["eta"], r["sessions"]) for r in results})
    for eta, sessions in keys:
        group = [r for r in results if r["eta"] == eta and r["sessions"] == sessions]
        names = list(group[0]["learners"])
        mean = {
            n: {
                m: float(np.mean([r["learners"][n][m] for r in group]))
                for m in ("nDCG@10", "LETOR:NDCG@10")
            }
            for n in names
        }
        gap = {}
        for n in names:
            full, naive = (
                ("lm-full", "lm-naive")
                if n.startswith(("lm-", "lgbm"))
                else (
                    "full",
                    "naive",
                )
            )
            denom = mean[full]["nDCG@10"] - mean[naive]["nDCG@10"]
            gap[n] = (
                float((mean[n]["nDCG@10"] - mean[naive]["nDCG@10"]) / denom)
                if abs(denom) > 1e-12
                else None
            )
        props = {
            name: np.mean([r["propensities"][name] for r in group], axis=0).tolist()
            for name in group[0]["propensities"]
        }
        train_s = {
            n: float(np.mean([r["learners"][n]["train_seconds"] for r in group]))
            for n in names
            if "train_seconds" in group[0]["learners"][n]
        }
        rows.append(
            {
                "eta": eta,
                "sessions": sessions,
                "folds": [r["fold"] for r in group],
                "mean": mean,
                "gap_recovered": gap,
                "propensities": props,
                "max_relative_error": {
                    n: float(np.max([r["max_relative_error"][n] for r in group]))
                    for n in group[0]["max_relative_error"]
                },
                "train_seconds": train_s,
                "train_seconds_per_million_sessions": {
                    n: s * 1e6 / sessions for n, s in train_s.items()
                },
            }
        )
    return rows


def print_table(summary: list[dict[str, Any]]) -> None:
    for row in summary:
        print(
            f"\neta={row['eta']} sessions={row['sessions']:,} folds={row['folds']} "
            "(test nDCG@10 mean over folds; LETOR's NDCG@10; gap recovered; train s)"
        )
        for name, values in row["mean"].items():
            gap = row["gap_recovered"].get(name)
            secs = row["train_seconds"].get(name)
            print(
                f"  {name:14s} {values['nDCG@10']:.4f}  {values['LETOR:NDCG@10']:.4f}  "
                f"{'' if gap is None else f'{gap:7.0%}':>7s}  "
                f"{'' if secs is None else f'{secs:6.1f}'}"
            )
        print("  propensities p_k/p_1 (mean over folds) and max relative error over folds:")
        for name, values in row["propensities"].items():
            err = row["max_relative_error"].get(name)
            shown = " ".join(f"{v:.3f}" for v in values)
            print(f"    {name:9s} {shown}" + ("" if err is None else f"   max err {err:.1%}"))


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--json", action="store_true")
    parser.add_argument("--folds", default=None)
    parser.add_argument("--etas", default="0.5,1,2")
    parser.add_argument("--sessions", default=None)
    parser.add_argument("--plot", default=None, help="plot the propensities of eta=1 (PNG)")
    parser.add_argument("--learners", default=None, help="comma-separated subset of learners")
    parser.add_argument(
        "--production-rankers",
        type=int,
        default=1,
        help="production rankers the log spans, one drawn per session (default 1: the protocol)",
    )
    parser.add_argument("-v", "--verbose", action="store_true")
    args = parser.parse_args()
    logging.basicConfig(level=logging.INFO if args.verbose else logging.WARNING)
    warnings.simplefilter("ignore")
    folds = parse_folds(args.folds or ("1" if args.quick else "1-5"), [1, 2, 3, 4, 5])
    etas = [float(e) for e in args.etas.split(",")]
    sizes = [
        int(float(s))
        for s in (args.sessions or ("100000" if args.quick else "100000,1000000")).split(",")
    ]
    learners = LEARNERS
    if args.learners:
        wanted = set(args.learners.split(",")) | {"naive", "lm-naive"}
        unknown = wanted - {name for name, _, _ in LEARNERS}
        if unknown:
            parser.error(f"unknown learners {sorted(unknown)}")
        learners = [entry for entry in LEARNERS if entry[0] in wanted]
    if args.production_rankers < 1:
        parser.error("--production-rankers must be >= 1")
    started = time.perf_counter()
    load_start = list(os.getloadavg())
    results = []
    for fold in folds:
        ds = datasets.load(f"letor/mq2008/fold{fold}")
        sets = {s: ds.letor(s) for s in ("train", "vali", "test")}
        full = {}
        for name, base in FULL:
            t0 = time.perf_counter()
            model = fit_full_information(
                sets["train"], sets["vali"], base=base, params=base_params(base), seed=fold
            )
            full[name] = {**evaluate(model, sets["test"]), "fit_seconds": time.perf_counter() - t0}
        for eta in etas:
            for n in sizes:
                results.append(
                    run_setting(fold, sets, eta, n, full, learners, args.production_rankers)
                )
                if not args.json:
                    print(f"fold {fold} eta {eta} sessions {n:,} done", file=sys.stderr)
    summary = summarise(results)
    report = {
        "benchmark": "ultr",
        "quick": args.quick,
        "dataset": "letor/mq2008",
        "folds": folds,
        "etas": etas,
        "sessions": sizes,
        "learners": [name for name, _, _ in learners],
        "k": K,
        "click_model": "pbm, examination (1/rank)^eta, click 0.1 + 0.9 (2^y-1)/3",
        "production": "linear model on 1% of the training queries (seed = fold)"
        if args.production_rankers == 1
        else f"{args.production_rankers} linear models, each on its own 1% of the training "
        "queries (seeds fold, 1000 + fold, ...), one drawn uniformly per session",
        "production_rankers": args.production_rankers,
        "seconds": time.perf_counter() - started,
        "machine": {
            "python": platform.python_version(),
            "cpus": os.cpu_count(),
            "load_average_start": load_start,
            "load_average_end": list(os.getloadavg()),
        },
        "versions": _versions(),
        "summary": summary,
        "results": results,
    }
    if args.plot:
        _plot(summary, args.plot)
    if args.json:
        json.dump(report, sys.stdout, indent=1)
        sys.stdout.write("\n")
    else:
        print_table(summary)
        print(f"\ntotal {report['seconds']:.0f} s")
    return 0


def _plot(summary: list[dict[str, Any]], path: str) -> None:
    from rankstack.ultr import plot_propensities

    for row in summary:
        if row["eta"] != 1.0:
            continue
        truth = np.asarray(row["propensities"]["true"])
        estimates = {
            name: Propensities.from_values(v, method=name)
            for name, v in row["propensities"].items()
            if name != "true"
        }
        plot_propensities(
            estimates,
            Path(path).with_name(f"{Path(path).stem}-{row['sessions']}{Path(path).suffix}"),
            truth=truth,
            title=f"MQ2008, PBM eta=1, {row['sessions']:,} sessions (mean over folds)",
        )


def _versions() -> dict[str, str]:
    out = {}
    for name in ("numpy", "torch", "lightgbm", "pyarrow"):
        try:
            out[name] = __import__(name).__version__
        except ImportError:
            out[name] = "absent"
    return out


if __name__ == "__main__":
    sys.exit(main())
