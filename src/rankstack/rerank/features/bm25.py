"""BM25 of one field, for every (query, document) pair of a run.

``bm25_{field}`` is the score the :class:`~rankstack.retrieve.BM25` stage gives the document
when it searches that field alone with the same parameters: the sum over the distinct query
terms ``t`` the document contains of ``qtf(t) * impact(t, d)``, where the impact is the
per-posting score of :mod:`rankstack.retrieve.scoring` (default: Lucene 9's
``BM25Similarity`` with ``k1 = 0.9, b = 0.4``, one-byte document lengths, float32
arithmetic; Robertson et al., "Okapi at TREC-3", 1994; Kamphuis et al., ECIR 2020).

To give the BM25 stage's scores bit for bit, the impacts are computed with the same float32
operations as :func:`rankstack.retrieve.scoring.lucene_impacts` (or
:func:`~rankstack.retrieve.scoring.impacts` for the other variants), only for the gathered
entries, and summed in float32 in ascending term order, as scipy's sparse product does.
"""

from __future__ import annotations

import numpy as np

from rankstack.rerank.features._context import Context
from rankstack.rerank.features._pairs import offsets_of, rank_in_group
from rankstack.retrieve.scoring import (
    DEFAULT_DELTA,
    byte_to_length,
    collection_stats,
    idf,
    length_to_byte,
    quantize_lengths,
    tf_part,
)


def entry_impacts(ctx: Context, name: str) -> np.ndarray:
    """BM25 impact (float32) of every entry that the document contains, 0 elsewhere."""
    s = ctx.settings
    f = ctx.field(name)
    p = ctx.pairs
    tf = ctx.tf(name)
    hit = np.flatnonzero(tf > 0)
    terms = p.e_term[hit]
    docs = p.doc[p.e_pair[hit]]
    out = np.zeros(p.n_entries, dtype=np.float32)
    if not len(hit):
        return out
    n_docs, avgdl = collection_stats(s.variant, f)
    quantize = (s.variant == "lucene") if s.quantize is None else s.quantize
    doclen = np.asarray(f.doclen[docs])
    if s.variant == "lucene":
        f32 = np.float32
        idf32 = idf("lucene", f.df[terms], n_docs).astype(f32)
        avgdl32 = f32(avgdl) if avgdl > 0 else f32(1.0)
        k1f, bf = f32(s.k1), f32(s.b)
        with np.errstate(divide="ignore"):
            if quantize:
                table = byte_to_length(np.arange(256)).astype(f32)
                cache = f32(1.0) / (k1f * ((f32(1.0) - bf) + bf * table / avgdl32))
                norm_inv = cache[length_to_byte(doclen)]
            else:
                norm_inv = f32(1.0) / (k1f * ((f32(1.0) - bf) + bf * doclen.astype(f32) / avgdl32))
        freq = tf[hit].astype(f32)
        out[hit] = idf32 - idf32 / (f32(1.0) + freq * norm_inv)
        return out
    delta = DEFAULT_DELTA.get(s.variant, 0.0) if s.delta is None else float(s.delta)
    if quantize:
        doclen = quantize_lengths(doclen)
    part = tf_part(s.variant, tf[hit], doclen, avgdl, s.k1, s.b, delta)
    out[hit] = (idf(s.variant, f.df[terms], n_docs) * part).astype(np.float32)
    return out


def bm25(ctx: Context, name: str) -> np.ndarray:
    """``bm25_{field}``: BM25 score of the pair on one field (float32, as the BM25 stage)."""
    p = ctx.pairs
    imp = entry_impacts(ctx, name)
    hit = np.flatnonzero(imp != 0)
    contrib = p.e_qtf[hit].astype(np.float32) * imp[hit]
    pair = p.e_pair[hit]
    # float32 accumulation in ascending term order: slot j of every pair at once
    slot = rank_in_group(offsets_of(pair, p.n_pairs))
    acc = np.zeros(p.n_pairs, dtype=np.float32)
    by_slot = np.argsort(slot, kind="stable")
    bounds = offsets_of(slot[by_slot], int(slot.max(initial=-1)) + 1)
    for j in range(len(bounds) - 1):
        sel = by_slot[bounds[j] : bounds[j + 1]]
        acc[pair[sel]] += contrib[sel]
    return acc
