"""NeuralRanker vs allRank: time per epoch and to convergence on MQ2008 Fold1, same model and loss.

Both tools train the same architecture (the MLP ``features -> 64 -> 32 -> 1`` with ReLU and
dropout, and/or the context-aware transformer: a linear projection to ``d_model``, pre-norm
encoder blocks over the documents of a query, a final layer norm and a linear score) with
the same loss, Adam and learning rate, batch size (queries), torch thread count and early
stopping patience, on the same files (MQ2008 Fold1 ``train.txt``/``vali.txt``, features as
shipped: rankstack's normalisation is off so both see identical inputs), in the same run.

allRank runs unchanged through its own ``allrank.main`` in a separate virtual environment
(``--allrank-python``, default ``$ALLRANK_PYTHON`` or ``/work/.allrank-venv/bin/python``);
``_allrank_driver.py`` only wraps three of its functions with timers. allRank pads every
training list to its ``slate_length`` (here the longest MQ2008 list, 121, so nothing is
sub-sampled) and evaluates the training and validation sets after each epoch; rankstack
packs lists into length buckets once and evaluates the validation set with trec_eval's
nDCG@10. We report both the whole epoch as each tool runs it and the gradient pass alone.

Quality is compared on the validation set with two nDCG@10 definitions: trec_eval's
(``rankstack.evaluate``; queries without relevant documents score 0) and allRank's (its
``ndcg`` metric: such queries score 1). allRank keeps the last epoch's weights; rankstack
restores the best epoch's.

Setting up allRank (it pins torch<=1.8; we reuse torch 2.13.0 and install it without deps)::

    python3 -m venv /work/.allrank-venv
    /work/.allrank-venv/bin/pip install torch==2.13.0     # the CPU wheel
    /work/.allrank-venv/bin/pip install --no-deps allRank
    /work/.allrank-venv/bin/pip install scikit-learn pandas attrs flatten_dict tensorboardX \
        gcsfs "setuptools<81"
    # allRank imports only torchvision.transforms.Compose; no CPU torchvision wheel matches
    # torch 2.13.0+cpu, so give it a 10-line stand-in:
    python benchmarks/ltr_neural_speed.py --shim-torchvision

Usage::

    python benchmarks/ltr_neural_speed.py [--quick] [--json] [--models mlp,context]
        [--loss listnet] [--threads 1] [--epochs 100] [--patience 10]
"""

from __future__ import annotations

import argparse
import gzip
import json
import os
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np

REPO = Path(__file__).resolve().parents[1]
DRIVER = Path(__file__).resolve().parent / "_allrank_driver.py"

# our loss name -> (allRank loss name, its args)
ALLRANK_LOSSES: dict[str, tuple[str, dict[str, Any]]] = {
    "listnet": ("listNet", {}),
    "listmle": ("listMLE", {}),
    "ranknet": ("rankNet", {}),
    "neuralndcg": ("neuralNDCG", {}),
    "approxndcg": ("approxNDCGLoss", {}),
    "lambdaloss": ("lambdaLoss", {"weighing_scheme": "ndcgLoss2PP_scheme", "mu": 10.0}),
}

SIZES = {
    "mlp": {"hidden": (64, 32), "dropout": 0.1},
    "context": {"d_model": 64, "n_heads": 4, "n_layers": 2, "dim_feedforward": 128, "dropout": 0.1},
}

TORCHVISION_SHIM = {
    "__init__.py": '"""Stand-in: allRank imports only transforms.Compose."""\n'
    "from torchvision import transforms  # noqa: F401\n",
    "transforms.py": "class Compose:\n"
    '    """Apply callables in sequence (torchvision.transforms.Compose)."""\n\n'
    "    def __init__(self, transforms):\n"
    "        self.transforms = transforms\n\n"
    "    def __call__(self, x):\n"
    "        for t in self.transforms:\n"
    "            x = t(x)\n"
    "        return x\n",
}


def data_dir(arg: str | None) -> Path | None:
    if arg:
        return Path(arg)
    root = os.environ.get("RANKSTACK_DATA") or str(REPO.parent / "shared" / "datasets")
    folder = Path(root) / "letor" / "mq2008" / "Fold1"
    return folder if folder.is_dir() else None


def plain_copy(folder: Path, out: Path) -> None:
    """``train.txt``/``vali.txt`` uncompressed in ``out`` (allRank reads ``{role}.txt``)."""
    out.mkdir(parents=True, exist_ok=True)
    for role in ("train", "vali"):
        gz, txt = folder / f"{role}.txt.gz", folder / f"{role}.txt"
        if gz.exists():
            with gzip.open(gz, "rb") as src, open(out / f"{role}.txt", "wb") as dst:
                shutil.copyfileobj(src, dst)
        else:
            shutil.copyfile(txt, out / f"{role}.txt")


def file_order(path: Path) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """``(qid, docid, label)`` of every line of a LETOR file, in file order."""
    qids, docids, labels = [], [], []
    pattern = re.compile(r"^(\S+)\s+qid:(\S+).*?docid\s*=\s*(\S+)")
    for line in path.read_text().splitlines():
        m = pattern.match(line)
        if m:
            labels.append(int(float(m.group(1))))
            qids.append(m.group(2))
            docids.append(m.group(3))
    return np.array(qids), np.array(docids), np.array(labels)


def allrank_ndcg10(qid: np.ndarray, label: np.ndarray, score: np.ndarray) -> float:
    """allRank's ``ndcg`` at 10: gain 2^y - 1, log2 discount, 1.0 for queries with IDCG 0."""
    _, q = np.unique(qid, return_inverse=True)
    order = np.lexsort((-score, q))
    ideal = np.lexsort((-label, q))
    starts = np.searchsorted(q[order], np.arange(q.max() + 1))
    rank = np.arange(len(q)) - np.repeat(starts, np.bincount(q))

    def dcg(o: np.ndarray) -> np.ndarray:
        gain = (2.0 ** label[o] - 1) / np.log2(rank + 2.0) * (rank < 10)
        return np.bincount(q[o], weights=gain)

    d, i = dcg(order), dcg(ideal)
    return float(np.where(i > 0, d / np.where(i > 0, i, 1), 1.0).mean())


def trec_ndcg10(qid: np.ndarray, docid: np.ndarray, label: np.ndarray, score: np.ndarray) -> float:
    from rankstack.data import Qrels, Run
    from rankstack.evaluate import evaluate

    run = Run.from_arrays(qid, docid, score)
    qrels = Qrels.from_arrays(qid, docid, label)
    return evaluate(run, qrels, ["nDCG@10"])["nDCG@10"]


# ---------------------------------------------------------------------------------- ours
def run_ours(plain: Path, model: str, loss: str, args: argparse.Namespace) -> dict[str, Any]:
    import torch

    from rankstack.io import read_letor
    from rankstack.ltr.neural import NeuralRanker

    torch.set_num_threads(args.threads)
    train, vali = read_letor(plain / "train.txt"), read_letor(plain / "vali.txt")
    ranker = NeuralRanker(
        model=model,
        **SIZES[model],
        loss=loss,
        lr=args.lr,
        batch_size=args.batch_size,
        epochs=args.epochs,
        early_stopping=args.patience,
        normalize="none",
        n_threads=args.threads,
        progress=False,
        seed=args.seed,
    )
    started = time.perf_counter()
    ranker.fit(train, vali)
    total = time.perf_counter() - started
    hist = ranker.history_ or []
    qid, docid, label = file_order(plain / "vali.txt")
    by_key = dict(
        zip(
            zip(vali.run.qid_column().to_pylist(), vali.run.docids.to_pylist()),
            ranker.predict(vali.run).tolist(),
        )
    )
    score = np.array([by_key[(q, d)] for q, d in zip(qid, docid)])
    best = int(ranker.best_epoch_ or len(hist))
    return {
        "tool": "rankstack",
        "epochs": [
            {
                "epoch": h["epoch"],
                "seconds": h["seconds"],
                "train_seconds": h["train_seconds"],
                "val": h["nDCG@10"],
            }
            for h in hist
        ],
        "best_epoch": best,
        "total_seconds": total,
        "ndcg10_trec": trec_ndcg10(qid, docid, label, score),
        "ndcg10_allrank": allrank_ndcg10(qid, label, score),
        "model_kept": f"best epoch ({best})",
    }


# ---------------------------------------------------------------------------------- allRank
def allrank_config(plain: Path, model: str, loss: str, args: argparse.Namespace) -> dict[str, Any]:
    s = SIZES[model]
    if model == "mlp":
        fc = {"sizes": list(s["hidden"]), "input_norm": False, "activation": "ReLU"}
        fc["dropout"] = s["dropout"]
        transformer = None
    else:
        fc = {"sizes": [s["d_model"]], "input_norm": False, "activation": None, "dropout": 0.0}
        transformer = {
            "N": s["n_layers"],
            "d_ff": s["dim_feedforward"],
            "h": s["n_heads"],
            "positional_encoding": None,
            "dropout": s["dropout"],
        }
    name, loss_args = ALLRANK_LOSSES[loss]
    return {
        "model": {
            "fc_model": fc,
            "transformer": transformer,
            "post_model": {"output_activation": None, "d_output": 1},
        },
        "data": {
            "path": str(plain),
            "validation_ds_role": "vali",
            "num_workers": 0,
            "batch_size": args.batch_size,
            "slate_length": args.slate_length,
        },
        "optimizer": {"name": "Adam", "args": {"lr": args.lr}},
        "lr_scheduler": {"name": None, "args": {}},
        # allRank stops when epoch - best_epoch > patience: patience - 1 stops after the same
        # number of epochs without improvement as rankstack's early_stopping=patience
        "training": {
            "epochs": args.epochs,
            "early_stopping_patience": max(args.patience - 1, 0),
            "gradient_clipping_norm": None,
        },
        "val_metric": "ndcg_10",
        "metrics": ["ndcg_10"],
        "loss": {"name": name, "args": loss_args},
        "expected_metrics": {},
    }


def run_allrank(
    plain: Path, model: str, loss: str, args: argparse.Namespace, work: Path
) -> dict[str, Any]:
    config = allrank_config(plain, model, loss, args)
    cfg_path = work / f"allrank-{model}-{loss}.json"
    cfg_path.write_text(json.dumps(config, indent=1))
    out = work / f"allrank-{model}-{loss}-times.json"
    scores = work / f"allrank-{model}-{loss}-scores.npy"
    env = {
        **os.environ,
        "OMP_NUM_THREADS": str(args.threads),
        "MKL_NUM_THREADS": str(args.threads),
        "ALLRANK_SCORES": str(scores),
    }
    cmd = [
        args.allrank_python,
        str(DRIVER),
        "--threads",
        str(args.threads),
        "--out",
        str(out),
        "--",
        "--job-dir",
        str(work / "jobs"),
        "--run-id",
        f"{model}-{loss}-{time.time_ns()}",
        "--config-file-name",
        str(cfg_path),
    ]
    started = time.perf_counter()
    proc = subprocess.run(cmd, capture_output=True, text=True, env=env)
    wall = time.perf_counter() - started
    if proc.returncode != 0:
        raise RuntimeError(f"allRank failed ({proc.returncode}):\n{proc.stderr[-3000:]}")
    result = json.loads(out.read_text())
    epochs = [
        {
            "epoch": e["epoch"],
            "seconds": e["seconds"],
            "train_seconds": e["train_seconds"],
            "val": e["val_ndcg_10"],
        }
        for e in result["epochs"]
    ]
    best = max(epochs, key=lambda e: e["val"])["epoch"] if epochs else 0
    row: dict[str, Any] = {
        "tool": "allRank",
        "epochs": epochs,
        "best_epoch": best,
        "total_seconds": result["total_seconds"],
        "process_seconds": wall,
        "model_kept": f"last epoch ({len(epochs)})",
    }
    if scores.exists():
        qid, docid, label = file_order(plain / "vali.txt")
        score = np.load(scores)
        row["ndcg10_trec"] = trec_ndcg10(qid, docid, label, score)
        row["ndcg10_allrank"] = allrank_ndcg10(qid, label, score)
    return row


def summarise(row: dict[str, Any]) -> dict[str, Any]:
    ep = row["epochs"]
    # the first epoch includes one-off warm-up (allocations, lazy init): leave it out
    steady = ep[1:] or ep
    best = row["best_epoch"]
    return {
        "tool": row["tool"],
        "epochs_run": len(ep),
        "best_epoch": best,
        "epoch_s": statistics.median(e["seconds"] for e in steady),
        "train_pass_s": statistics.median(e["train_seconds"] for e in steady),
        "to_best_s": sum(e["seconds"] for e in ep[:best]),
        "total_s": row["total_seconds"],
        "best_val_own_metric": max(e["val"] for e in ep) if ep else None,
        "ndcg10_trec": row.get("ndcg10_trec"),
        "ndcg10_allrank": row.get("ndcg10_allrank"),
        "model_kept": row["model_kept"],
    }


def shim_torchvision(python: str) -> None:
    site = subprocess.run(
        [python, "-c", "import site; print(site.getsitepackages()[0])"],
        capture_output=True,
        text=True,
        check=True,
    ).stdout.strip()
    folder = Path(site) / "torchvision"
    folder.mkdir(exist_ok=True)
    for name, text in TORCHVISION_SHIM.items():
        (folder / name).write_text(text)
    print(f"wrote a torchvision stand-in to {folder}")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--quick", action="store_true", help="5 epochs, no early stopping, MLP only")
    ap.add_argument("--json", action="store_true")
    ap.add_argument("--data", help="folder with train.txt(.gz) and vali.txt(.gz)")
    ap.add_argument(
        "--allrank-python",
        default=os.environ.get("ALLRANK_PYTHON", "/work/.allrank-venv/bin/python"),
    )
    ap.add_argument("--shim-torchvision", action="store_true")
    ap.add_argument("--models", default="mlp,context")
    ap.add_argument("--loss", default="listnet", choices=sorted(ALLRANK_LOSSES))
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--epochs", type=int, default=100)
    ap.add_argument("--patience", type=int, default=10)
    ap.add_argument("--batch-size", type=int, default=64)
    ap.add_argument("--slate-length", type=int, default=121)
    ap.add_argument("--lr", type=float, default=1e-3)
    ap.add_argument("--seed", type=int, default=0)
    args = ap.parse_args()
    if args.shim_torchvision:
        shim_torchvision(args.allrank_python)
        return
    if args.quick:
        args.epochs, args.patience, args.models = 5, 10_000, "mlp"
    folder = data_dir(args.data)
    if folder is None:
        print("MQ2008 Fold1 not found (set RANKSTACK_DATA or --data); skipping", file=sys.stderr)
        return
    have_allrank = Path(args.allrank_python).exists()
    if not have_allrank:
        print(
            f"no allRank environment at {args.allrank_python} (set ALLRANK_PYTHON); "
            "timing rankstack only",
            file=sys.stderr,
        )
    results = []
    with tempfile.TemporaryDirectory(prefix="ltr-neural-speed-") as tmp:
        work = Path(tmp)
        plain = work / "data"
        plain_copy(folder, plain)
        for model in args.models.split(","):
            rows = [run_ours(plain, model, args.loss, args)]
            if have_allrank:
                rows.append(run_allrank(plain, model, args.loss, args, work))
            for r in rows:
                results.append({"model": model, "loss": args.loss, **summarise(r), "raw": r})
    settings = {
        k: getattr(args, k)
        for k in ("threads", "epochs", "patience", "batch_size", "slate_length", "lr", "loss")
    }
    if args.json:
        print(json.dumps({"settings": settings, "results": results}, indent=1))
        return
    print(f"settings: {settings}")
    head = (
        f"{'model':8} {'tool':10} {'epochs':>6} {'best':>5} {'epoch s':>8} {'grad s':>8} "
        f"{'to best s':>9} {'total s':>8} {'nDCG@10 trec':>12} {'nDCG@10 allRank':>15}"
    )
    print(head)
    for r in results:

        def f(v: float | None, w: int) -> str:
            return f"{v:{w}.4f}" if v is not None else " " * (w - 1) + "-"

        print(
            f"{r['model']:8} {r['tool']:10} {r['epochs_run']:>6} {r['best_epoch']:>5} "
            f"{r['epoch_s']:8.3f} {r['train_pass_s']:8.3f} {r['to_best_s']:9.2f} "
            f"{r['total_s']:8.2f} {f(r['ndcg10_trec'], 12)} {f(r['ndcg10_allrank'], 15)}"
        )
    by_model: dict[str, dict[str, Any]] = {}
    for r in results:
        by_model.setdefault(r["model"], {})[r["tool"]] = r
    for model, tools in by_model.items():
        if "allRank" in tools:
            ours, theirs = tools["rankstack"], tools["allRank"]
            print(
                f"{model}: rankstack epoch = {ours['epoch_s'] / theirs['epoch_s']:.2f} x allRank's "
                f"(gradient pass {ours['train_pass_s'] / theirs['train_pass_s']:.2f} x)"
            )


if __name__ == "__main__":
    main()
