"""Deterministic synthetic corpora with a Zipfian vocabulary, for scaling benchmarks.

Words are pronounceable letter strings (consonant-vowel syllables), distinct by construction,
so every engine's tokenizer sees the same words. Word ``r`` (0-based rank) is drawn with
probability proportional to ``1 / (r + 1) ** s`` (Zipf's law, ``s = 1.07`` by default, close to
English text), document lengths follow a log-normal law (mean about 90 words), and queries
draw 2-6 distinct words from the ranks 50..50,000 (topical words, not the most common ones).
The same seed gives the same corpus on every machine (numpy's PCG64).

    python benchmarks/_synthetic.py 100000 /tmp/syn100k      # writes corpus.jsonl + queries.tsv
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

_CONSONANTS = "bcdfghjklmnprstvz"
_VOWELS = "aeiou"
SYLLABLES = [c + v for c in _CONSONANTS for v in _VOWELS]  # 85


def word_list(n: int) -> list[str]:
    """``n`` distinct words: rank r written in base 85 with syllables, at least 2 syllables."""
    base = len(SYLLABLES)
    words = []
    for r in range(n):
        x = r + base  # at least two syllables
        parts = []
        while x:
            x, d = divmod(x, base)
            parts.append(SYLLABLES[d])
        words.append("".join(reversed(parts)))
    return words


def zipf_probabilities(vocab_size: int, s: float = 1.07) -> np.ndarray:
    p = 1.0 / np.arange(1, vocab_size + 1, dtype=np.float64) ** s
    return p / p.sum()


def synthetic_texts(
    n_docs: int,
    *,
    vocab_size: int = 500_000,
    mean_len: float = 90.0,
    s: float = 1.07,
    seed: int = 0,
    words: list[str] | None = None,
) -> tuple[pa.Array, pa.Array]:
    """Doc ids and texts (pyarrow string arrays) of a synthetic corpus."""
    rng = np.random.default_rng(seed)
    sigma = 0.6
    mu = np.log(mean_len) - sigma**2 / 2
    lengths = np.maximum(1, rng.lognormal(mu, sigma, size=n_docs).astype(np.int64))
    cdf = np.cumsum(zipf_probabilities(vocab_size, s))
    vocab = pa.array(words or word_list(vocab_size), pa.string())
    texts = []
    ids = pc.cast(pa.array(np.arange(n_docs)), pa.string())
    step = 100_000
    for lo in range(0, n_docs, step):
        ln = lengths[lo : lo + step]
        draws = np.searchsorted(cdf, rng.random(int(ln.sum())), side="right")
        draws = np.minimum(draws, vocab_size - 1)
        offsets = np.zeros(len(ln) + 1, dtype=np.int32)
        np.cumsum(ln, out=offsets[1:])
        lists = pa.ListArray.from_arrays(pa.array(offsets), vocab.take(pa.array(draws)))
        texts.append(pc.binary_join(lists, " "))
    return pc.binary_join_element_wise("doc", ids, ""), pa.concat_arrays(texts)


def synthetic_queries(
    n_queries: int, *, vocab_size: int = 500_000, seed: int = 1, words: list[str] | None = None
) -> tuple[list[str], list[str]]:
    """Query ids and texts: 2-6 distinct words from ranks 50..min(50,000, vocab)."""
    rng = np.random.default_rng(seed)
    vocab = words or word_list(vocab_size)
    hi = min(50_000, vocab_size)
    qids, texts = [], []
    for i in range(n_queries):
        n = int(rng.integers(2, 7))
        ranks = rng.choice(np.arange(50, hi), size=n, replace=False)
        qids.append(f"q{i}")
        texts.append(" ".join(vocab[int(r)] for r in ranks))
    return qids, texts


def write(n_docs: int, folder: Path, n_queries: int = 1000, seed: int = 0) -> tuple[Path, Path]:
    """Write ``corpus.jsonl`` (BEIR layout: _id, title, text) and ``queries.tsv``."""
    folder.mkdir(parents=True, exist_ok=True)
    vocab_size = 500_000
    words = word_list(vocab_size)
    ids, texts = synthetic_texts(n_docs, vocab_size=vocab_size, seed=seed, words=words)
    corpus = folder / "corpus.jsonl"
    with open(corpus, "w", encoding="utf-8") as fh:
        for d, t in zip(ids.to_pylist(), texts.to_pylist()):
            fh.write(json.dumps({"_id": d, "title": "", "text": t}) + "\n")
    qids, qtexts = synthetic_queries(n_queries, vocab_size=vocab_size, seed=seed + 1, words=words)
    queries = folder / "queries.tsv"
    with open(queries, "w", encoding="utf-8") as fh:
        for q, t in zip(qids, qtexts):
            fh.write(f"{q}\t{t}\n")
    return corpus, queries


if __name__ == "__main__":
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    ap.add_argument("n_docs", type=int)
    ap.add_argument("folder", type=Path)
    ap.add_argument("--queries", type=int, default=1000)
    ap.add_argument("--seed", type=int, default=0)
    args = ap.parse_args()
    c, q = write(args.n_docs, args.folder, args.queries, args.seed)
    print(c, q)
