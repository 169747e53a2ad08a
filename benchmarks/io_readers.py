"""Reader speed: rankstack's JSONL and LETOR parsers against the usual ways to read them.

Cases (each peer reads the same bytes in the same run; best of ``--repeat`` wall times):

- ``scifact-corpus``: BEIR SciFact ``corpus.jsonl.gz`` (5,183 docs, real data).
- ``jsonl-corpus-N``: a synthetic BEIR-style corpus of N documents (1,000,000; 100,000 with
  ``--quick``), uncompressed, about 300 bytes a line.
- ``mq2008-fold1-train``: LETOR 4.0 MQ2008 Fold1 ``train.txt`` (9,630 lines, 46 features),
  decompressed to a temporary file first so that every peer reads plain text.
- ``lightgbm-rank-train``: LightGBM's lambdarank example (LibSVM + ``.query``).

Peers: ``json.loads`` per line (what BEIR's ``GenericDataLoader`` does), ``orjson.loads`` per
line, ``pandas.read_json(lines=True)``; for LETOR, LightGBM's and XGBoost's C++ LibSVM
parsers (``lgb.Dataset(path).construct()``, ``xgb.DMatrix(path + "?format=libsvm")``) and a
plain Python split loop. Peers that are not installed are skipped.

Usage: ``python benchmarks/io_readers.py [--quick] [--json] [--repeat K]``; the data folder is
``RANKSTACK_DATA`` or ``../shared/datasets``.
"""

from __future__ import annotations

import argparse
import gzip
import json
import os
import platform
import random
import shutil
import string
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from rankstack.io import read_corpus_jsonl, read_letor

REPO = Path(__file__).resolve().parents[1]


def data_dir() -> Path:
    env = os.environ.get("RANKSTACK_DATA")
    return Path(env) if env else (REPO.parent / "shared" / "datasets").resolve()


def best_time(fn: Callable[[], Any], repeat: int) -> tuple[float, Any]:
    best, out = float("inf"), None
    for _ in range(repeat):
        start = time.perf_counter()
        out = fn()
        best = min(best, time.perf_counter() - start)
    return best, out


# ----------------------------------------------------------------------- JSONL peers
def json_loop(path: Path) -> int:
    opener = gzip.open if path.suffix == ".gz" else open
    docs = {}
    with opener(path, "rt", encoding="utf-8") as fh:
        for line in fh:
            obj = json.loads(line)
            docs[obj["_id"]] = {"title": obj.get("title"), "text": obj.get("text")}
    return len(docs)


def orjson_loop(path: Path) -> int:
    import orjson

    opener = gzip.open if path.suffix == ".gz" else open
    docs = {}
    with opener(path, "rb") as fh:
        for line in fh:
            obj = orjson.loads(line)
            docs[obj["_id"]] = {"title": obj.get("title"), "text": obj.get("text")}
    return len(docs)


def pandas_read(path: Path) -> int:
    import pandas as pd

    df = pd.read_json(path, lines=True, dtype={"_id": str})
    return len(df)


def synthetic_corpus(path: Path, n: int) -> None:
    rng = random.Random(0)
    words = ["".join(rng.choices(string.ascii_lowercase, k=rng.randint(3, 9))) for _ in range(5000)]
    with open(path, "w", encoding="utf-8") as fh:
        for i in range(n):
            title = " ".join(rng.choices(words, k=6))
            text = " ".join(rng.choices(words, k=40))
            fh.write(json.dumps({"_id": f"doc{i}", "title": title, "text": text, "metadata": {}}))
            fh.write("\n")


# ----------------------------------------------------------------------- LETOR peers
def python_letor(path: Path) -> int:
    rows = 0
    with open(path, encoding="utf-8") as fh:
        for line in fh:
            body = line.split("#", 1)[0].split()
            if not body:
                continue
            start = 2 if len(body) > 1 and body[1].startswith("qid:") else 1
            dict((int(i), float(v)) for i, v in (t.split(":") for t in body[start:]))
            rows += 1
    return rows


def lightgbm_read(path: Path) -> int:
    import lightgbm as lgb

    ds = lgb.Dataset(str(path), params={"verbose": -1}, free_raw_data=False).construct()
    return int(ds.num_data())


def xgboost_read(path: Path) -> int:
    import xgboost as xgb

    return int(xgb.DMatrix(f"{path}?format=libsvm").num_row())


def jsonl_peers(p: Path) -> dict[str, Callable[[], Any]]:
    peers: dict[str, Callable[[], Any]] = {
        "rankstack read_corpus_jsonl": lambda: read_corpus_jsonl(p),
        "json.loads loop (BEIR loader)": lambda: json_loop(p),
    }
    if available("orjson"):
        peers["orjson.loads loop"] = lambda: orjson_loop(p)
    if available("pandas"):
        peers["pandas.read_json(lines=True)"] = lambda: pandas_read(p)
    return peers


def letor_peers(p: Path) -> dict[str, Callable[[], Any]]:
    peers: dict[str, Callable[[], Any]] = {"rankstack read_letor": lambda: read_letor(p)}
    if available("lightgbm"):
        peers["lightgbm Dataset.construct"] = lambda: lightgbm_read(p)
    if available("xgboost"):
        peers["xgboost DMatrix(libsvm)"] = lambda: xgboost_read(p)
    peers["python split loop"] = lambda: python_letor(p)
    return peers


def size(out: Any) -> int:
    return out if isinstance(out, int) else len(out)


def available(module: str) -> bool:
    try:
        __import__(module)
    except ImportError:
        return False
    return True


def versions() -> dict[str, str]:
    out = {"python": platform.python_version()}
    for mod in ("rankstack", "numpy", "pyarrow", "pandas", "orjson", "lightgbm", "xgboost"):
        if available(mod):
            out[mod] = str(__import__(mod).__version__)
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--quick", action="store_true", help="100k synthetic docs instead of 1M")
    ap.add_argument("--json", action="store_true", help="print results as JSON")
    ap.add_argument("--repeat", type=int, default=3, help="best of K runs (default 3)")
    args = ap.parse_args()
    data = data_dir()
    n_synth = 100_000 if args.quick else 1_000_000
    results: list[dict[str, Any]] = []

    def run(case: str, peers: dict[str, Callable[[], Any]], count: Callable[[Any], int]) -> None:
        for name, fn in peers.items():
            try:
                seconds, out = best_time(fn, args.repeat)
            except Exception as exc:  # a peer that cannot read this format is reported, not fatal
                reason = f"{type(exc).__name__}: {str(exc).splitlines()[0][:80]}"
                results.append({"case": case, "reader": name, "seconds": None, "error": reason})
                if not args.json:
                    print(f"{case:<24} {name:<34}      n/a  ({reason})", flush=True)
                continue
            results.append({"case": case, "reader": name, "seconds": seconds, "items": count(out)})
            if not args.json:
                print(f"{case:<24} {name:<34} {seconds:8.3f} s  ({count(out):,} items)", flush=True)

    tmp = Path(tempfile.mkdtemp(prefix="rankstack-bench-"))
    try:
        scifact = data / "beir/scifact/corpus.jsonl.gz"
        if scifact.exists():
            run("scifact-corpus", jsonl_peers(scifact), size)
        synth = tmp / "corpus.jsonl"
        synthetic_corpus(synth, n_synth)
        run(f"jsonl-corpus-{n_synth // 1000}k", jsonl_peers(synth), size)

        mq = data / "letor/mq2008/Fold1/train.txt.gz"
        if mq.exists():
            plain = tmp / "train.txt"
            plain.write_bytes(gzip.decompress(mq.read_bytes()))
            run("mq2008-fold1-train", letor_peers(plain), size)
        lgb_dir = data / "lightgbm-lambdarank"
        if (lgb_dir / "rank.train").exists():
            shutil.copy(lgb_dir / "rank.train", tmp / "rank.train")
            shutil.copy(lgb_dir / "rank.train.query", tmp / "rank.train.query")
            run("lightgbm-rank-train", letor_peers(tmp / "rank.train"), size)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    if args.json:
        print(json.dumps({"versions": versions(), "results": results}, indent=1))
    else:
        print(json.dumps(versions()))


if __name__ == "__main__":
    main()
