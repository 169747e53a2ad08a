"""A straightforward per-pair Python implementation of every feature (the test oracle).

One (query, document) pair at a time, with plain Python arithmetic over the document's term
vector and positions (read with the index's per-document accessors) and textbook per-pair
algorithms for the spans. Used by the tests to check :class:`rankstack.rerank.Features` and
by ``benchmarks/features_speed.py`` as the per-pair baseline. Not vectorised on purpose.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from rankstack.data import Corpus, Queries, Run
from rankstack.index import FieldIndex, Index
from rankstack.retrieve.scoring import byte_to_length, length_to_byte


@dataclass(frozen=True)
class Params:
    k1: float = 0.9
    b: float = 0.4
    mu: float = 2000.0
    jm_lambda: float = 0.1


@dataclass
class QueryInfo:
    tokens: list[int]  # known term ids in query order
    positions: list[int]
    n_unknown: int

    @property
    def qtf(self) -> dict[int, int]:
        out: dict[int, int] = {}
        for t in self.tokens:
            out[t] = out.get(t, 0) + 1
        return out

    @property
    def distinct_in_order(self) -> list[int]:
        return list(dict.fromkeys(self.tokens))

    @property
    def length(self) -> int:
        return len(self.tokens) + self.n_unknown


def analyze(index: Index, text: str) -> QueryInfo:
    b = index.analyze_queries([text])
    return QueryInfo([int(x) for x in b.ids], [int(x) for x in b.positions], int(b.n_unknown[0]))


def doc_vector(f: FieldIndex, doc: int) -> tuple[dict[int, int], dict[int, list[int]] | None]:
    terms, tfs = f.doc_terms(doc)
    tf = {int(t): int(c) for t, c in zip(terms, tfs)}
    pos = None
    if f.positions is not None:
        pos = {int(t): [int(x) for x in p] for t, p in zip(terms, f.doc_positions(doc))}
    return tf, pos


def lucene_idf(df: int, n: int) -> float:
    return math.log(1.0 + (n - df + 0.5) / (df + 0.5))


def bm25(f: FieldIndex, q: QueryInfo, tf: dict[int, int], doc: int, p: Params) -> float:
    n, avgdl = f.doc_count, f.avgdl
    length = float(byte_to_length(length_to_byte(np.array([int(f.doclen[doc])])))[0])
    score = 0.0
    for t, c in q.qtf.items():
        if t in tf:
            norm = p.k1 * (1 - p.b + p.b * length / avgdl)
            score += c * lucene_idf(int(f.df[t]), n) * tf[t] / (norm + tf[t])
    return score


def tfidf(f: FieldIndex, q: QueryInfo, tf: dict[int, int]) -> float:
    n = f.doc_count
    qw = {}
    for t, c in q.qtf.items():
        df = int(f.df[t])
        qw[t] = (1 + math.log(c)) * math.log(n / df) if df > 0 else 0.0
    qn = math.sqrt(sum(w * w for w in qw.values()))
    dn = math.sqrt(sum((1 + math.log(c)) ** 2 for c in tf.values()))
    if qn == 0 or dn == 0:
        return 0.0
    return sum(qw[t] * (1 + math.log(tf[t])) for t in qw if t in tf) / (qn * dn)


def lm(f: FieldIndex, q: QueryInfo, tf: dict[int, int], dl: int, p: Params, kind: str) -> float:
    total = f.n_tokens
    score = 0.0
    for t, c in q.qtf.items():
        cf = int(f.cf[t])
        if cf == 0 or total == 0:
            continue
        pc = cf / total
        x = tf.get(t, 0)
        if kind == "dirichlet":
            pd = (x + p.mu * pc) / (dl + p.mu)
        else:
            pd = (1 - p.jm_lambda) * (x / dl if dl else 0.0) + p.jm_lambda * pc
        score += c * math.log(pd)
    return score


def phrase_count(q: QueryInfo, pos: dict[int, list[int]]) -> int:
    if q.n_unknown or not q.tokens:
        return 0
    first = q.tokens[0]
    count = 0
    for start in pos.get(first, []):
        if all(
            start + q.positions[i] - q.positions[0] in pos.get(q.tokens[i], [])
            for i in range(1, len(q.tokens))
        ):
            count += 1
    return count


def bigram_count(q: QueryInfo, pos: dict[int, list[int]]) -> int:
    count = 0
    for i in range(len(q.tokens) - 1):
        a, b = q.tokens[i], q.tokens[i + 1]
        gap = q.positions[i + 1] - q.positions[i]
        bpos = set(pos.get(b, []))
        count += sum(1 for x in pos.get(a, []) if x + gap in bpos)
    return count


def span_unordered(q: QueryInfo, pos: dict[int, list[int]]) -> int:
    """MinCover with the textbook sliding window over the merged occurrences."""
    matched = [t for t in q.distinct_in_order if pos.get(t)]
    if not matched:
        return 0
    occ = sorted((x, t) for t in matched for x in pos[t])
    need = len(matched)
    have: dict[int, int] = {}
    best = math.inf
    left = 0
    for right in range(len(occ)):
        have[occ[right][1]] = have.get(occ[right][1], 0) + 1
        while len(have) == need:
            best = min(best, occ[right][0] - occ[left][0] + 1)
            t = occ[left][1]
            have[t] -= 1
            if have[t] == 0:
                del have[t]
            left += 1
    return int(best)


def span_ordered(q: QueryInfo, pos: dict[int, list[int]]) -> int:
    """From each occurrence of the first matched term, take the earliest next term each time."""
    matched = [t for t in q.distinct_in_order if pos.get(t)]
    if not matched:
        return 0
    best = math.inf
    for start in pos[matched[0]]:
        cur = start
        for t in matched[1:]:
            nxt = [x for x in pos[t] if x > cur]
            if not nxt:
                cur = -1
                break
            cur = min(nxt)
        if cur >= 0:
            best = min(best, cur - start + 1)
    return 0 if best == math.inf else int(best)


def pair_features(
    index: Index,
    q: QueryInfo,
    doc: int,
    fields: Sequence[str],
    main: str,
    p: Params,
    score: float,
    rank: int,
) -> dict[str, float]:
    out: dict[str, float] = {}
    main_tf: dict[int, int] = {}
    main_pos: dict[int, list[int]] | None = None
    for name in fields:
        f = index.field(name)
        tf, pos = doc_vector(f, doc)
        dl = int(f.doclen[doc])
        out[f"bm25_{name}"] = bm25(f, q, tf, doc, p)
        out[f"tfidf_{name}"] = tfidf(f, q, tf)
        out[f"lm_dirichlet_{name}"] = lm(f, q, tf, dl, p, "dirichlet")
        out[f"lm_jm_{name}"] = lm(f, q, tf, dl, p, "jm")
        matched = sum(c for t, c in q.qtf.items() if t in tf)
        out[f"coverage_{name}"] = matched / q.length if q.length else 0.0
        out[f"dl_{name}"] = float(dl)
        if name == main:
            main_tf, main_pos = tf, pos
    if main not in fields:
        main_tf, main_pos = doc_vector(index.field(main), doc)
    f = index.field(main)
    idfs = [lucene_idf(int(f.df[t]), f.doc_count) for t in q.qtf if t in main_tf]
    out["idf_sum"] = sum(idfs)
    out["idf_max"] = max(idfs, default=0.0)
    out["idf_mean"] = sum(idfs) / len(idfs) if idfs else 0.0
    out["qlen"] = float(q.length)
    if main_pos is not None:
        out["phrase_count"] = float(phrase_count(q, main_pos))
        out["phrase_match"] = float(out["phrase_count"] > 0)
        out["bigram_count"] = float(bigram_count(q, main_pos))
        out["span_unordered"] = float(span_unordered(q, main_pos))
        out["span_ordered"] = float(span_ordered(q, main_pos))
    out["score"] = score
    out["rank"] = float(rank)
    return out


#: index layout with the three fields of the issue: whole document, title, body
THREE_FIELDS = {"contents": ["title", "text"], "title": ["title"], "text": ["text"]}


def all_pairs(queries: Queries, corpus: Corpus, seed: int = 0) -> Run:
    """Every (query, document) pair with random first-stage scores (a test run)."""
    rng = np.random.default_rng(seed)
    qids = [q for q in queries.qid_list() for _ in range(len(corpus))]
    docids = corpus.docid_list() * len(queries)
    return Run.from_arrays(qids, docids, rng.random(len(qids)))


def reference_features(
    index: Index,
    queries: Queries,
    run: Run,
    fields: Sequence[str] | None = None,
    main: str = "contents",
    params: Params | None = None,
    limit: int | None = None,
) -> dict[str, np.ndarray]:
    """Every feature of the first ``limit`` rows of ``run`` (all rows by default), per pair."""
    p = params or Params()
    names = list(fields) if fields is not None else index.field_names
    text = dict(zip(queries.qid_list(), queries.text_list()))
    docmap = {d: i for i, d in enumerate(index.docids.to_pylist())}
    analysed: dict[str, QueryInfo] = {}
    rows: list[dict[str, float]] = []
    ranks = run.ranks
    qids = run.qid_column().to_pylist()
    docids = run.docids.to_pylist()
    n = len(run) if limit is None else min(limit, len(run))
    for r in range(n):
        qid = qids[r]
        if qid not in analysed:
            analysed[qid] = analyze(index, text[qid])
        rows.append(
            pair_features(
                index,
                analysed[qid],
                docmap[docids[r]],
                names,
                main,
                p,
                float(run.scores[r]),
                int(ranks[r]) + 1,
            )
        )
    keys: list[Any] = list(rows[0]) if rows else []
    return {k: np.array([row[k] for row in rows], dtype=np.float64) for k in keys}
