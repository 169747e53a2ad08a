"""Token-level parity of rankstack's default analyzer with Lucene's EnglishAnalyzer (as Pyserini
0.22.1 / Anserini use it) on whole corpora: BEIR SciFact and Cranfield.

    RANKSTACK_DATA=/work/shared/datasets .venv/bin/python benchmarks/bm25_analyzer.py [--json]
    .venv/bin/python benchmarks/bm25_analyzer.py --fixture tests/index/data/lucene_analyzer.json

For each document both analyzers produce the term sequence of ``title + " " + text``; the
script reports the share of documents whose sequences are identical and the most frequent
differing terms, and the analysis speed of both. ``--fixture`` regenerates the test fixture:
Lucene's output on hand-picked edge cases and on 3,125 SciFact words (every word where
Lucene's Porter stemmer departs from Snowball's ``porter``, plus 3,000 sampled ones).
``--quick`` analyses Cranfield only. Needs the Pyserini venv (``PYSERINI_PYTHON``).
"""

from __future__ import annotations

import argparse
import json
import random
import re
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

import bm25_common as common

EDGE_CASES = [
    "The dog's U.S.A. don't 3.14 1,000 foo_bar p53 abc-def e.g. x:y",
    "running ran Connection’s naïve 東京大学 ÉCOLE cats",
    "© ® ™ ☆ ★ ☺ 🙂 emoji👍 test",
    "m² CO₂ H₂O ¼ ½ x³ 10:30 a.1 1.a 1.2.3 a'b'c 'quoted' trailing' ___ _foo foo_",
    "cafe\u0301 shrink\u00adwrap \u200eleft \u200bzero work\u200bers",
    "नमस्ते दुनिया Привет мир Γειά σου κόσμε مرحبا بالعالم שלום עולם",
    "ひらがな カタカナ 한국어 텍스트 ไทยภาษา",
    "TNF-α IL-1β β-catenin Ca2+ pH7.4 5'-UTR 3′-end",
    "James' book the students' papers it's isn't O'Neil's",
    "e-mail user@example.com http://example.com/path?q=1 #hashtag @mention",
    "1990s 2000's 1st 2nd 3rd 4th 100km/h 50% $100 €50 +1 -1 1e-5 0.5mg/kg",
    "Mr. Smith vs. Mrs. Jones et al. i.e. approx. fig. 3a",
    "AND OR NOT the THE The a an",
    "x" * 300,
    "a\tb\nc\r\nd  e",
    "ABC123def 123abc abc123 A1B2C3",
    "semi;colon comma,separated 1;2 1,2,3 a,b",
    "…ellipsis—dash–endash «guillemets» „quotes“",
]


def lucene_analyze(texts: list[str], work: Path) -> tuple[list[list[str]], float]:
    src, dst = work / "texts.jsonl", work / "tokens.jsonl"
    src.write_text("".join(json.dumps(t) + "\n" for t in texts), encoding="utf-8")
    t0 = time.perf_counter()
    common.pyserini(["analyze", "--texts", str(src), "--out", str(dst)])
    secs = time.perf_counter() - t0
    with open(dst, encoding="utf-8") as fh:
        return [json.loads(line) for line in fh], secs


def ours_analyze(texts: list[str]) -> tuple[list[list[str]], float]:
    from rankstack.index import Tokenizer

    t0 = time.perf_counter()
    an = Tokenizer().analyzer()
    batch = an.analyze_batch(texts)
    secs = time.perf_counter() - t0
    terms = an.terms
    ids = batch.ids.tolist()
    off = batch.offsets.tolist()
    return [[terms[i] for i in ids[off[j] : off[j + 1]]] for j in range(len(texts))], secs


def compare(name: str, texts: list[str], work: Path) -> dict[str, Any]:
    lucene, lucene_s = lucene_analyze(texts, work)
    ours, ours_s = ours_analyze(texts)
    diff = Counter()
    same = 0
    for a, b in zip(ours, lucene):
        if a == b:
            same += 1
            continue
        ca, cb = Counter(a), Counter(b)
        diff.update({f"ours:{k}": v for k, v in (ca - cb).items()})
        diff.update({f"lucene:{k}": v for k, v in (cb - ca).items()})
    return {
        "corpus": name,
        "docs": len(texts),
        "identical_docs": same,
        "identical_share": same / len(texts),
        "tokens_ours": sum(map(len, ours)),
        "tokens_lucene": sum(map(len, lucene)),
        "top_differences": diff.most_common(10),
        "ours_seconds": ours_s,
        "lucene_seconds_incl_jvm": lucene_s,
    }


def fixture(path: Path, work: Path) -> None:
    import Stemmer

    corpus, _, _ = common.load_scifact()
    words = set()
    for text in corpus.contents().to_pylist():
        words.update(re.findall(r"[a-z]+", text.lower()))
    from rankstack.index import LUCENE_STOPWORDS

    words_l = sorted(w for w in words if w not in LUCENE_STOPWORDS)
    analysed, _ = lucene_analyze(words_l, work)
    snowball = Stemmer.Stemmer("porter")
    diff, same = [], []
    for w, toks in zip(words_l, analysed):
        if len(toks) == 1:
            (diff if toks[0] != snowball.stemWord(w) else same).append((w, toks[0]))
    pick = sorted(diff + random.Random(0).sample(same, 3000))
    cases, _ = lucene_analyze(EDGE_CASES, work)
    out = {
        "cases": [{"text": t, "lucene": c} for t, c in zip(EDGE_CASES, cases)],
        "porter": pick,
    }
    path.write_text(json.dumps(out, ensure_ascii=False, indent=0), encoding="utf-8")
    common.log(f"wrote {path}: {len(diff)} Porter departures, {len(pick)} words")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    ap.add_argument("--quick", action="store_true", help="Cranfield only")
    ap.add_argument("--json", action="store_true")
    ap.add_argument("--fixture", type=Path, help="regenerate the tokenizer test fixture here")
    args = ap.parse_args()
    if common.pyserini_python() is None:
        raise SystemExit("needs the Pyserini venv (set PYSERINI_PYTHON)")
    with tempfile.TemporaryDirectory(prefix="bm25-analyzer-") as tmp:
        work = Path(tmp)
        if args.fixture:
            fixture(args.fixture, work)
            return
        rows = []
        loaders = [("Cranfield", common.load_cranfield)]
        if not args.quick:
            loaders.insert(0, ("SciFact", common.load_scifact))
        for name, loader in loaders:
            corpus = loader()[0]
            rows.append(compare(name, corpus.contents().to_pylist(), work))
    if args.json:
        print(json.dumps({"machine": common.machine(), "rows": rows}, indent=1))
        return
    for r in rows:
        print(
            f"{r['corpus']}: {r['identical_docs']}/{r['docs']} documents identical "
            f"({100 * r['identical_share']:.2f} %), tokens {r['tokens_ours']} vs "
            f"{r['tokens_lucene']}; differences {r['top_differences']}; "
            f"{r['ours_seconds']:.2f} s vs Lucene {r['lucene_seconds_incl_jvm']:.2f} s (with JVM)"
        )


if __name__ == "__main__":
    main()
