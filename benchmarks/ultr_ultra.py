"""Side by side with the ULTRA toolkit (PyTorch port) on MQ2008 with simulated PBM clicks.

    python benchmarks/ultr_ultra.py [--quick] [--json] [--folds 1] [--eta 1] [--steps 10000]
        [--learners naive,ipw,rem,dla]
        [--ultra /work/ultra/ULTRA_pytorch] [--ultra-python /work/ultra/venv/bin/python]

ULTRA (ULTR-Community/ULTRA_pytorch; Tran, Yang and Ai 2021, *ULTRA: An Unbiased Learning To
Rank Algorithm Toolbox*, CIKM) is not on PyPI: point ``--ultra`` at a checkout and
``--ultra-python`` at a Python with its requirements (torch, six, tensorboard). Per fold:

1. the same displayed lists: rankstack's production ranker (a linear model on the labels of 1%
   of the training queries, seed = fold, exactly as ``benchmarks/ultr.py``) ranks every
   training query, and its top 10 in display order is written as ULTRA's ``train.txt``
   (libsvm, the line order is ULTRA's initial list); ``valid.txt`` / ``test.txt`` hold the
   fold's full lists with their true labels;
2. the same click model: ULTRA's ``position_biased_model`` JSON with ``exam_prob`` =
   ``(1/r)^eta`` and ``click_prob`` = ``0.1 + 0.9 (2^y - 1)/3`` for labels 0, 1, 2 (the values
   ``rankstack.ultr.simulate_clicks`` uses); IPW gets the true propensities as ``IPW_list``;
3. ULTRA's own training loop (``main.py``, its offline setting files: DNN 512-256-128, batch
   256, ``ClickSimulationFeed``, validation nDCG@10 every 50 steps, best checkpoint kept) for
   ``--steps`` steps per learner (naive, IPW, regression-EM, DLA), then ``--test_only``;
   ULTRA's test ranking is scored here with rankstack's trec_eval nDCG@10 over all test
   queries (queries ULTRA drops for having no relevant document score 0 in both);
4. rankstack's learners on a log of ``steps x 256`` sessions from the same lists and click
   model (``benchmarks/ultr.py``'s settings), and the full-information rankers.

ULTRA draws fresh clicks for every batch (its ``ClickSimulationFeed``), so the two do not see
the same click draws: same lists, same click model, about the same number of sessions. ULTRA
also removes training queries whose displayed list has no relevant document (its
``remove_invalid_data``); rankstack keeps them (their clicks are noise).

Needs ``RANKSTACK_DATA`` (or ``../shared/datasets``).
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np

REPO = Path(__file__).resolve().parents[1]
if "RANKSTACK_DATA" not in os.environ and (REPO.parent / "shared" / "datasets").is_dir():
    os.environ["RANKSTACK_DATA"] = str(REPO.parent / "shared" / "datasets")

from rankstack import datasets  # noqa: E402
from rankstack.io.letor import LetorData  # noqa: E402
from rankstack.ltr.cv import evaluate_scores, parse_folds  # noqa: E402
from rankstack.ultr import (  # noqa: E402
    ClickSimulator,
    ProductionRanker,
    UnbiasedRanker,
    fit_full_information,
    join_clicks,
    make_click_model,
    simulate_clicks,
)

K = 10
BATCH = 256
#: ULTRA learner name -> (its learning_algorithm class, rankstack's method)
LEARNERS = {
    "naive": ("ultra.learning_algorithm.NavieAlgorithm", "naive"),
    "ipw": ("ultra.learning_algorithm.IPWrank", "ipw"),
    "rem": ("ultra.learning_algorithm.RegressionEM", "rem"),
    "dla": ("ultra.learning_algorithm.DLA", "dla"),
}

#: Two shims for torch 2.x, nothing else changed in ULTRA's code path: its feeds build index
#: arrays as float32, which torch refuses as indices (cast to int64), and naive / IPW /
#: regression-EM call ``clip_grad_value_`` on label tensors that have no gradient, which recent
#: torch rejects (a no-op there, so skipped)
RUNNER = """
import runpy, sys
import numpy as np
import torch
_clip = torch.nn.utils.clip_grad_value_
def clip_grad_value_(parameters, clip_value, foreach=None):
    ps = [parameters] if isinstance(parameters, torch.Tensor) else list(parameters)
    ps = [p for p in ps if p.grad is not None]
    if ps:
        _clip(ps, clip_value)
torch.nn.utils.clip_grad_value_ = clip_grad_value_
sys.path.insert(0, sys.argv[1])
from ultra.learning_algorithm import base_algorithm
orig = base_algorithm.BaseAlgorithm.create_input_feed
def create_input_feed(self, input_feed, list_size):
    fixed = dict(input_feed)
    for name in self.docid_inputs_name[:list_size]:
        fixed[name] = np.asarray(input_feed[name]).astype(np.int64)
    return orig(self, fixed, list_size)
base_algorithm.BaseAlgorithm.create_input_feed = create_input_feed
sys.argv = [sys.argv[1] + "/main.py"] + sys.argv[2:]
runpy.run_path(sys.argv[0], run_name="__main__")
"""


def libsvm_lines(data: LetorData, rows: np.ndarray, qids: list[str]) -> list[str]:
    """``label qid:Q 1:v ...`` for the given rows of ``data`` (qids: one per row)."""
    feats = data.features[rows]
    labels = np.asarray(data.labels)[rows]
    idx = [f"{j + 1}:" for j in range(feats.shape[1])]
    out = []
    for label, qid, vec in zip(labels.tolist(), qids, feats.tolist(), strict=True):
        body = " ".join(f"{i}{v:.6g}" for i, v in zip(idx, vec, strict=True))
        out.append(f"{int(label)} qid:{qid} {body}")
    return out


def write_ultra_data(
    root: Path, sim: ClickSimulator, valid: LetorData, test: LetorData, eta: float
) -> dict[str, Path]:
    """ULTRA's data folder, click model and IPW files for one fold."""
    train = sim.data
    n_features = train.features.shape[1]
    max_label = int(max(np.max(train.labels), np.max(valid.labels), np.max(test.labels)))
    (root / "data").mkdir(parents=True)
    (root / "data" / "settings.json").write_text(
        json.dumps({"feature_size": n_features, "max_label": float(max_label)})
    )
    shown = sim.rows[sim.mask]
    qids = np.repeat(np.asarray(sim.qids.to_pylist(), dtype=object), sim.mask.sum(axis=1))
    split_rows = {
        "train": (train, shown, [str(q) for q in qids]),
        "valid": (valid, np.arange(len(valid.run)), _row_qids(valid)),
        "test": (test, np.arange(len(test.run)), _row_qids(test)),
    }
    for name, (data, rows, q) in split_rows.items():
        (root / "data" / name).mkdir()
        lines = libsvm_lines(data, rows, q)
        (root / "data" / name / f"{name}.txt").write_text("\n".join(lines) + "\n")
    ranks = np.arange(1, K + 1, dtype=np.float64)
    exam = (1.0 / ranks) ** eta
    labels = np.arange(max_label + 1)
    click = 0.1 + 0.9 * (2.0**labels - 1) / (2.0**max_label - 1)
    click_model = {
        "model_name": "position_biased_model",
        "eta": eta,
        "click_prob": click.tolist(),
        "exam_prob": exam.tolist(),
    }
    (root / "click_model.json").write_text(json.dumps(click_model))
    (root / "ipw.json").write_text(json.dumps({"IPW_list": (exam[0] / exam).tolist()}))
    (root / "runner.py").write_text(RUNNER)
    return {"data": root / "data", "click": root / "click_model.json", "ipw": root / "ipw.json"}


def _row_qids(data: LetorData) -> list[str]:
    run = data.run
    return [str(q) for q in np.repeat(np.asarray(run.qids.to_pylist(), dtype=object), run.sizes)]


def run_ultra(
    ultra: Path, python: str, root: Path, files: dict[str, Path], learner: str, steps: int
) -> dict[str, Any]:
    """Train and test one ULTRA learner; its test scores per test row, and the seconds."""
    algo = LEARNERS[learner][0]
    hparams = f"propensity_estimator_json={files['ipw']}" if learner == "ipw" else ""
    settings = {
        "train_input_feed": "ultra.input_layer.ClickSimulationFeed",
        "train_input_hparams": f"click_model_json={files['click']}",
        "valid_input_feed": "ultra.input_layer.DirectLabelFeed",
        "valid_input_hparams": "",
        "test_input_feed": "ultra.input_layer.DirectLabelFeed",
        "test_input_hparams": "",
        "ranking_model": "ultra.ranking_model.DNN",
        "ranking_model_hparams": "hidden_layer_sizes=[512, 256, 128]",
        "learning_algorithm": algo,
        "learning_algorithm_hparams": hparams,
        "metrics": ["ndcg"],
        "metrics_topn": [10],
        "objective_metric": "ndcg_10",
    }
    setting_file = root / f"{learner}_settings.json"
    setting_file.write_text(json.dumps(settings))
    model_dir, out_dir = root / f"{learner}_model", root / f"{learner}_out"
    common = [
        f"--data_dir={files['data']}/",
        f"--model_dir={model_dir}/",
        f"--output_dir={out_dir}/",
        f"--setting_file={setting_file}",
        f"--batch_size={BATCH}",
        f"--selection_bias_cutoff={K}",
    ]
    runner = [python, str(root / "runner.py"), str(ultra)]
    env = {**os.environ, "PYTHONHASHSEED": "0"}
    t0 = time.perf_counter()
    train = subprocess.run(
        [*runner, *common, f"--max_train_iteration={steps}"],
        cwd=ultra,
        capture_output=True,
        text=True,
        env=env,
    )
    train_s = time.perf_counter() - t0
    if train.returncode != 0:
        return {"error": train.stderr[-2000:], "train_seconds": train_s}
    test = subprocess.run(
        [*runner, *common, "--test_only=True"], cwd=ultra, capture_output=True, text=True, env=env
    )
    if test.returncode != 0:
        return {"error": test.stderr[-2000:], "train_seconds": train_s}
    valid_best = [ln for ln in train.stdout.splitlines() if ln.startswith("Save model, valid")]
    ultra_eval = [ln for ln in test.stdout.splitlines() if "eval:" in ln]
    return {
        "ranklist": out_dir / "test.ranklist",
        "train_seconds": train_s,
        "ultra_valid_best": valid_best[-1] if valid_best else None,
        "ultra_test_eval": ultra_eval[-1].strip() if ultra_eval else None,
    }


def ranklist_scores(path: Path, test: LetorData) -> np.ndarray:
    """Per test row, ULTRA's score (its ranklist names rows ``test_<qid>_<line>``); rows of
    queries ULTRA dropped (no relevant document) get 0."""
    scores = np.zeros(len(test.run))
    for line in path.read_text().splitlines():
        parts = line.split()
        row = int(parts[2].rsplit("_", 1)[1])
        scores[row] = float(parts[4].removeprefix("tensor(").rstrip(")"))
    return scores


def evaluate(scores: np.ndarray, test: LetorData) -> float:
    return float(evaluate_scores(test, scores, ["nDCG@10"])["nDCG@10"])


def run_fold(fold: int, eta: float, steps: int, args: argparse.Namespace) -> dict[str, Any]:
    ds = datasets.load(f"letor/mq2008/fold{fold}")
    train, valid, test = (ds.letor(s) for s in ("train", "vali", "test"))
    production = ProductionRanker("linear", fraction=0.01, seed=fold).fit(train)
    sim = ClickSimulator(train, make_click_model("pbm", eta=eta), k=K, production=production)
    sessions = steps * BATCH
    out: dict[str, Any] = {"fold": fold, "eta": eta, "steps": steps, "sessions": sessions}
    results: dict[str, Any] = {}
    log = simulate_clicks(
        train, "pbm", eta=eta, sessions=sessions, seed=fold, production=production
    )
    lists = join_clicks(log, train).by_list()
    chosen = {name: LEARNERS[name] for name in args.learners}
    for learner, (_, method) in chosen.items():
        model = UnbiasedRanker(
            base="neural",
            method=method,
            params={"progress": False},
            propensities="log" if method == "ipw" else None,
            seed=fold,
        )
        t0 = time.perf_counter()
        model.fit(lists, train, valid)
        fit_s = time.perf_counter() - t0
        results[f"rankstack-{learner}"] = {
            "nDCG@10": evaluate(model.predict(test.run), test),
            "train_seconds": fit_s,
        }
    full = fit_full_information(train, valid, base="neural", params={"progress": False}, seed=fold)
    results["rankstack-full"] = {"nDCG@10": evaluate(full.predict(test.run), test)}
    with tempfile.TemporaryDirectory(prefix="ultra-mq2008-") as tmp:
        root = Path(tmp)
        files = write_ultra_data(root, sim, valid, test, eta)
        for learner in chosen:
            r = run_ultra(Path(args.ultra), args.ultra_python, root, files, learner, steps)
            if "error" in r:
                results[f"ULTRA-{learner}"] = {"error": r["error"]}
                print(f"ULTRA {learner} failed:\n{r['error']}", file=sys.stderr)
                continue
            scores = ranklist_scores(r.pop("ranklist"), test)
            results[f"ULTRA-{learner}"] = {"nDCG@10": evaluate(scores, test), **r}
            print(f"fold {fold} ULTRA {learner}: {results[f'ULTRA-{learner}']}", file=sys.stderr)
    out["results"] = results
    return out


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="fold 1, 2,000 steps")
    parser.add_argument("--json", action="store_true")
    parser.add_argument("--folds", default=None)
    parser.add_argument("--eta", type=float, default=1.0)
    parser.add_argument("--steps", type=int, default=None, help="ULTRA steps (default 10,000)")
    parser.add_argument(
        "--learners", default=",".join(LEARNERS), help="comma-separated: naive,ipw,rem,dla"
    )
    parser.add_argument("--ultra", default=os.environ.get("ULTRA_DIR", "/work/ultra/ULTRA_pytorch"))
    parser.add_argument(
        "--ultra-python", default=os.environ.get("ULTRA_PYTHON", "/work/ultra/venv/bin/python")
    )
    args = parser.parse_args()
    args.learners = [x.strip() for x in args.learners.split(",") if x.strip()]
    unknown = sorted(set(args.learners) - set(LEARNERS))
    if unknown:
        print(f"unknown learner(s) {unknown}; choose from {list(LEARNERS)}", file=sys.stderr)
        return 2
    if not (Path(args.ultra) / "main.py").is_file():
        print(f"no ULTRA checkout at {args.ultra} (pass --ultra)", file=sys.stderr)
        return 2
    folds = parse_folds(args.folds or "1", [1, 2, 3, 4, 5])
    steps = args.steps or (2000 if args.quick else 10_000)
    started = time.perf_counter()
    load_start = list(os.getloadavg())
    runs = [run_fold(f, args.eta, steps, args) for f in folds]
    names = list(runs[0]["results"])
    mean = {
        n: float(np.mean([r["results"][n].get("nDCG@10", np.nan) for r in runs])) for n in names
    }
    report = {
        "benchmark": "ultr_ultra",
        "dataset": "letor/mq2008",
        "folds": folds,
        "eta": args.eta,
        "steps": steps,
        "batch": BATCH,
        "mean_nDCG@10": mean,
        "runs": runs,
        "seconds": time.perf_counter() - started,
        "machine": {
            "python": platform.python_version(),
            "cpus": os.cpu_count(),
            "load_average_start": load_start,
            "load_average_end": list(os.getloadavg()),
        },
        "ultra": _ultra_version(Path(args.ultra)),
    }
    if args.json:
        json.dump(report, sys.stdout, indent=1, default=str)
        sys.stdout.write("\n")
    else:
        print(f"MQ2008 folds {folds}, PBM eta={args.eta}, {steps} ULTRA steps x {BATCH} lists")
        for n, v in mean.items():
            print(f"  {n:18s} {v:.4f}")
        print(f"total {report['seconds']:.0f} s")
    return 0


def _ultra_version(path: Path) -> str:
    try:
        return subprocess.run(
            ["git", "-C", str(path), "rev-parse", "HEAD"], capture_output=True, text=True
        ).stdout.strip()
    except OSError:
        return "unknown"


if __name__ == "__main__":
    sys.exit(main())
