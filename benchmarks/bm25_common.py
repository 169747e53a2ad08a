"""Helpers shared by the BM25 benchmarks (data loading, peers in subprocesses, evaluation).

Not a benchmark itself. The Pyserini peer runs in its own virtual environment (never a
rankstack dependency): set ``PYSERINI_PYTHON`` to its interpreter (default
``/work/.bench-venv/bin/python``); when it is missing the Pyserini rows are skipped with a note.
"""

from __future__ import annotations

import json
import os
import platform
import re
import subprocess
import sys
from datetime import datetime, timezone
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path
from typing import Any

import numpy as np

HERE = Path(__file__).resolve().parent
REPO = HERE.parent
PEER = HERE / "bm25_pyserini_peer.py"
DEFAULT_PYSERINI_PYTHON = "/work/.bench-venv/bin/python"


def data_dir() -> Path:
    env = os.environ.get("RANKSTACK_DATA")
    for cand in ([Path(env)] if env else []) + [REPO.parent / "shared" / "datasets"]:
        if (cand / "beir").is_dir():
            return cand
    raise SystemExit("datasets not found: set RANKSTACK_DATA=/work/shared/datasets")


def load_scifact() -> tuple[Any, Any, Any]:
    from rankstack.io import BeirFolder

    folder = BeirFolder.open(data_dir() / "beir" / "scifact")
    return folder.corpus(), folder.queries("test"), folder.qrels("test")


def load_scifact_all_queries() -> Any:
    from rankstack.io import BeirFolder

    return BeirFolder.open(data_dir() / "beir" / "scifact").queries()


def load_cranfield() -> tuple[Any, Any, Any]:
    from rankstack.io import read_cranfield_corpus, read_cranfield_qrels, read_cranfield_queries

    d = data_dir() / "cranfield"
    return (
        read_cranfield_corpus(d / "cran.all.1400"),
        read_cranfield_queries(d / "cran.qry"),
        read_cranfield_qrels(d / "cranqrel"),
    )


# ------------------------------------------------------------------------------ files
def _clean(text: str) -> str:
    return re.sub(r"\s+", " ", text).strip()


def write_corpus_jsonl(corpus: Any, path: Path) -> Path:
    """BEIR-style ``{"_id", "title", "text"}`` lines (title empty when the corpus has none)."""
    ids = corpus.docid_list()
    text = corpus.field(corpus.text_field).to_pylist()
    title = corpus.field("title").to_pylist() if "title" in corpus.fields else [""] * len(ids)
    with open(path, "w", encoding="utf-8") as fh:
        for d, ti, te in zip(ids, title, text):
            fh.write(json.dumps({"_id": d, "title": ti or "", "text": te or ""}) + "\n")
    return path


def write_queries_tsv(queries: Any, path: Path) -> Path:
    with open(path, "w", encoding="utf-8") as fh:
        for q, t in zip(queries.qid_list(), queries.text_list()):
            fh.write(f"{q}\t{_clean(t)}\n")
    return path


# ------------------------------------------------------------------------------ peers
def pyserini_python() -> str | None:
    path = os.environ.get("PYSERINI_PYTHON", DEFAULT_PYSERINI_PYTHON)
    return path if path and Path(path).exists() else None


def run_json(cmd: list[str], timeout: float | None = None) -> dict[str, Any]:
    """Run a worker command and parse the JSON object on its last stdout line."""
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout)
    if proc.returncode != 0:
        raise RuntimeError(f"{cmd[:4]} failed ({proc.returncode}):\n{proc.stderr[-3000:]}")
    lines = [ln for ln in proc.stdout.splitlines() if ln.startswith("{")]
    if not lines:
        raise RuntimeError(f"{cmd[:4]} printed no JSON:\n{proc.stdout[-2000:]}")
    out: dict[str, Any] = json.loads(lines[-1])
    return out


def pyserini(args: list[str], timeout: float | None = None) -> dict[str, Any]:
    py = pyserini_python()
    if py is None:
        raise RuntimeError("Pyserini venv not found (set PYSERINI_PYTHON)")
    return run_json([py, str(PEER), *args], timeout=timeout)


def peak_rss_mb() -> float:
    """This process's peak resident memory: ``VmHWM`` from /proc (``ru_maxrss`` survives
    ``exec`` on Linux, so a worker would inherit its parent's peak)."""
    try:
        with open("/proc/self/status", encoding="ascii") as fh:
            for line in fh:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1]) / 1024.0
    except OSError:
        pass
    import resource

    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0


# ------------------------------------------------------------------------------ evaluation
def evaluate(run: Any, qrels: Any) -> dict[str, float]:
    """nDCG@10, R@100 and MAP@1000 with pytrec_eval (trec_eval's definitions), averaged over
    the judged queries that the run contains."""
    import pytrec_eval

    qd: dict[str, dict[str, int]] = {}
    qids = qrels.qids.to_pylist()
    docids = qrels.docids.to_pylist()
    labels = qrels.labels.tolist()
    for i, q in enumerate(qids):
        lo, hi = int(qrels.offsets[i]), int(qrels.offsets[i + 1])
        qd[q] = dict(zip(docids[lo:hi], labels[lo:hi]))
    rd = {q: dict(zip(d.to_pylist(), s.tolist())) for q, d, s in run}
    res = pytrec_eval.RelevanceEvaluator(qd, {"ndcg_cut.10", "recall.100", "map"}).evaluate(rd)
    return {
        "ndcg@10": float(np.mean([v["ndcg_cut_10"] for v in res.values()])),
        "recall@100": float(np.mean([v["recall_100"] for v in res.values()])),
        "map": float(np.mean([v["map"] for v in res.values()])),
        "n_queries": len(res),
    }


# ------------------------------------------------------------------------------ provenance
def _version(name: str) -> str:
    try:
        return version(name)
    except PackageNotFoundError:
        return "absent"


def machine() -> dict[str, Any]:
    cpu = "unknown"
    try:
        out = subprocess.run(["lscpu"], capture_output=True, text=True).stdout
        for line in out.splitlines():
            if line.startswith("Model name"):
                cpu = line.split(":", 1)[1].strip()
    except OSError:
        pass
    mem = None
    try:
        with open("/proc/meminfo") as fh:
            mem = round(int(fh.readline().split()[1]) / 2**20, 1)
    except OSError:
        pass
    py = pyserini_python()
    return {
        "date": datetime.now(timezone.utc).strftime("%Y-%m-%d %H:%M UTC"),
        "cpu": cpu,
        "cores": os.cpu_count(),
        "memory_gib": mem,
        "python": platform.python_version(),
        "rankstack": _version("rankstack"),
        "numpy": _version("numpy"),
        "scipy": _version("scipy"),
        "pyarrow": _version("pyarrow"),
        "bm25s": _version("bm25s"),
        "rank_bm25": _version("rank-bm25"),
        "pytrec_eval": _version("pytrec-eval-terrier"),
        "pyserini": "0.22.1 (separate venv)" if py else "absent",
        "java": _java_version(),
        "load_average": os.getloadavg()[0] if hasattr(os, "getloadavg") else None,
    }


def _java_version() -> str:
    try:
        out = subprocess.run(["java", "-version"], capture_output=True, text=True).stderr
        return out.splitlines()[0] if out else "absent"
    except OSError:
        return "absent"


def table(rows: list[dict[str, Any]], columns: list[str]) -> str:
    """A markdown table of ``rows`` (missing values as ``-``)."""

    def fmt(v: Any) -> str:
        if v is None:
            return "-"
        if isinstance(v, float):
            return f"{v:.4f}" if abs(v) < 10 else f"{v:,.1f}"
        return str(v)

    out = ["| " + " | ".join(columns) + " |", "|" + "---|" * len(columns)]
    out += ["| " + " | ".join(fmt(r.get(c)) for c in columns) + " |" for r in rows]
    return "\n".join(out)


def log(msg: str) -> None:
    print(msg, file=sys.stderr, flush=True)
