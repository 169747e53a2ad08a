"""Phrase and proximity features from token positions, on the main field.

Positions count every token of the text, stopwords included, for documents and queries
alike (Lucene's position increments), so a query ``effect of aspirin`` matches the phrase
``effect <any word> aspirin``. Query terms are the analysed, distinct terms; lengths are in
token positions, ``last - first + 1``.

- ``phrase_count``: occurrences of the whole query as an exact phrase (every analysed query
  token at its relative position); 0 if the query has a word absent from the index (it can
  occur nowhere) or no token at all. A one-token query's phrase count is its term frequency.
- ``phrase_match``: 1 if ``phrase_count > 0`` else 0.
- ``bigram_count``: occurrences, summed over each pair of consecutive analysed query tokens,
  of the two terms at the same relative distance as in the query (an ordered window as in
  Metzler and Croft's sequential dependence model, SIGIR 2005; words the analysis dropped
  between them match any token).
- ``span_unordered``: MinCover of Tao and Zhai (SIGIR 2007), the length of the shortest
  window of the document that contains every distinct query term the document contains at
  least once; 1 when one query term matches, 0 when none does.
- ``span_ordered``: the shortest window that contains those same terms in the order of their
  first occurrence in the query; 0 when no query term matches or the matched terms never
  occur in query order.

T. Tao and C. Zhai, "An Exploration of Proximity Measures in Information Retrieval", SIGIR
2007; D. Metzler and W. B. Croft, "A Markov Random Field Model for Term Dependencies", SIGIR
2005.

All five are computed for all pairs at once: the positions of every matched (pair, query
term) are gathered into one sorted key array (``entry * span + position``), and each step of
a phrase or window walk is one ``searchsorted`` over all live candidates; the Python loops
run over query-token or query-term indices, never over pairs.
"""

from __future__ import annotations

import numpy as np

from rankstack.rerank.features._context import Context
from rankstack.rerank.features._pairs import offsets_of, ranges, reduce_sorted

_FAR = np.int64(1) << np.int64(60)


def _window_counts(
    ctx: Context, run_pair: np.ndarray, run_tok: np.ndarray, run_len: np.ndarray
) -> np.ndarray:
    """Per pair, the occurrences of token runs: run ``r`` is query tokens
    ``run_tok[r] : run_tok[r] + run_len[r]`` (global token indices) of pair ``run_pair[r]``,
    matched at their relative query positions."""
    p = ctx.pairs
    q = ctx.queries
    occ = ctx.occurrences()
    e0 = p.offsets[run_pair] + q.tok_slot[run_tok]
    n0 = occ.end[e0] - occ.start[e0]
    cand = ranges(occ.start[e0], n0)
    c_run = np.repeat(np.arange(len(run_pair), dtype=np.int64), n0)
    c_pos = occ.pos[cand]
    max_len = int(run_len.max(initial=0))
    for i in range(1, max_len):
        live = run_len[c_run] > i
        c_run_i = c_run[live]
        tok = run_tok[c_run_i] + i
        e = p.offsets[run_pair[c_run_i]] + q.tok_slot[tok]
        at = c_pos[live] + q.tok_pos[tok] - q.tok_pos[run_tok[c_run_i]]
        ok = np.ones(len(c_run), dtype=bool)
        ok[live] = occ.contains(e, at)
        c_run, c_pos = c_run[ok], c_pos[ok]
    return np.bincount(run_pair[c_run], minlength=p.n_pairs).astype(np.float64)


def phrase_count(ctx: Context, name: str | None = None) -> np.ndarray:
    """``phrase_count``: exact occurrences of the whole analysed query."""

    def make() -> np.ndarray:
        p = ctx.pairs
        q = ctx.queries
        n_tok = np.diff(q.tok_offsets)
        ok = (n_tok[p.query] > 0) & (q.n_unknown[p.query] == 0)
        pairs = np.flatnonzero(ok)
        return _window_counts(ctx, pairs, q.tok_offsets[p.query[pairs]], n_tok[p.query[pairs]])

    out: np.ndarray = ctx.memo("phrase_count", make)
    return out


def phrase_match(ctx: Context, name: str | None = None) -> np.ndarray:
    """``phrase_match``: whether the whole analysed query occurs as a phrase."""
    return (phrase_count(ctx) > 0).astype(np.float64)


def bigram_count(ctx: Context, name: str | None = None) -> np.ndarray:
    """``bigram_count``: ordered occurrences of consecutive query-token pairs."""
    p = ctx.pairs
    q = ctx.queries
    n_bi = np.maximum(np.diff(q.tok_offsets) - 1, 0)[p.query]
    run_pair = np.repeat(np.arange(p.n_pairs, dtype=np.int64), n_bi)
    run_tok = ranges(q.tok_offsets[p.query], n_bi)
    return _window_counts(ctx, run_pair, run_tok, np.full(len(run_pair), 2, dtype=np.int64))


def span_unordered(ctx: Context, name: str | None = None) -> np.ndarray:
    """``span_unordered``: MinCover, the shortest window holding every matched query term."""
    p = ctx.pairs
    occ = ctx.occurrences()
    o_pair = p.e_pair[occ.entry]
    n_terms = np.diff(p.offsets)
    matched = occ.end > occ.start
    # the window starting at an occurrence ends at the latest of the other matched terms'
    # next occurrences; the best window starts at some occurrence
    end = occ.pos.copy()
    o_n = n_terms[o_pair]
    by_n = np.argsort(-o_n, kind="stable")
    desc = o_n[by_n]
    for j in range(int(o_n.max(initial=0))):
        sel = by_n[: _count_above(desc, j)]
        e = p.offsets[o_pair[sel]] + j
        keep = matched[e]
        sel, e = sel[keep], e[keep]
        found, nxt = occ.next_at_or_after(e, occ.pos[sel])
        end[sel] = np.where(found, np.maximum(end[sel], nxt), _FAR)
    span = (end - occ.pos + 1).astype(np.float64)
    return reduce_sorted(np.minimum, span, o_pair, p.n_pairs)


def _count_above(desc: np.ndarray, j: int) -> int:
    """Number of leading entries of the descending array ``desc`` that are ``> j``."""
    return int(np.searchsorted(-desc, -j, side="left"))


def span_ordered(ctx: Context, name: str | None = None) -> np.ndarray:
    """``span_ordered``: the shortest window holding the matched query terms in query order."""
    p = ctx.pairs
    q = ctx.queries
    occ = ctx.occurrences()
    m = np.flatnonzero(occ.end > occ.start)
    chain = m[np.lexsort((q.order[p.e_qterm[m]], p.e_pair[m]))]
    chain_off = offsets_of(p.e_pair[chain], p.n_pairs)
    chain_len = np.diff(chain_off)
    has = np.flatnonzero(chain_len > 0)
    e0 = chain[chain_off[has]]
    n0 = occ.end[e0] - occ.start[e0]
    c_pair = np.repeat(has, n0)
    start = occ.pos[ranges(occ.start[e0], n0)]
    cur = start.copy()
    for k in range(1, int(chain_len.max(initial=0))):
        live = chain_len[c_pair] > k
        e = chain[chain_off[c_pair[live]] + k]
        found, nxt = occ.next_at_or_after(e, cur[live] + 1)
        ok = np.ones(len(c_pair), dtype=bool)
        ok[live] = found
        cur[live] = np.where(found, nxt, cur[live])
        c_pair, start, cur = c_pair[ok], start[ok], cur[ok]
    return reduce_sorted(np.minimum, (cur - start + 1).astype(np.float64), c_pair, p.n_pairs)
