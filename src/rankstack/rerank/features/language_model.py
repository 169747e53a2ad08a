"""Query-likelihood language-model scores of one field (Zhai and Lafferty, SIGIR 2001).

Both features are the log-likelihood of the query under the document's smoothed unigram
model, ``sum_t qtf(t) * log p(t | d)`` over the distinct query terms, with the collection
model ``p(t | C) = cf(t) / |C|`` (``cf`` the term's occurrences in the field, ``|C|`` the
field's tokens):

- ``lm_dirichlet_{field}``: ``p(t | d) = (tf + mu * p(t | C)) / (|d| + mu)`` (``mu = 2000``);
- ``lm_jm_{field}``: ``p(t | d) = (1 - lambda) * tf / |d| + lambda * p(t | C)``
  (``lambda = 0.1``, the weight of the collection model; ``tf / |d| = 0`` for an empty
  document).

Terms absent from the collection: a query term that never occurs in the field
(``cf = 0``, including words absent from the index vocabulary) has ``p(t | C) = 0``, so its
probability would be 0 in every document that lacks it and the score ``-inf``. Such terms
are left out of the sum: such a term cannot occur in any document of the field, so it would
add the same ``-inf`` to every score and carry no information about the document. Documents
without any query term get a finite (negative) score from the background model, never NaN;
a query with no term in the field scores 0.

C. Zhai and J. Lafferty, "A Study of Smoothing Methods for Language Models Applied to Ad Hoc
Information Retrieval", SIGIR 2001.
"""

from __future__ import annotations

import numpy as np

from rankstack.rerank.features._context import Context


def _background(ctx: Context, name: str) -> np.ndarray:
    """``p(t | C)`` of every entry's term in field ``name`` (0 for terms absent from it)."""
    f = ctx.field(name)
    total = f.n_tokens
    if total == 0:
        return np.zeros(ctx.pairs.n_entries)
    return np.asarray(f.cf[ctx.pairs.e_term], dtype=np.float64) / total


def lm_dirichlet(ctx: Context, name: str) -> np.ndarray:
    """``lm_dirichlet_{field}``: log query likelihood with Dirichlet smoothing."""
    mu = ctx.settings.mu
    pc = _background(ctx, name)
    keep = np.flatnonzero(pc > 0)
    p = ctx.pairs
    tf = ctx.tf(name)[keep]
    dl = ctx.doclen(name)[p.e_pair[keep]]
    logp = np.log((tf + mu * pc[keep]) / (dl + mu))
    return np.bincount(p.e_pair[keep], weights=p.e_qtf[keep] * logp, minlength=p.n_pairs)


def lm_jm(ctx: Context, name: str) -> np.ndarray:
    """``lm_jm_{field}``: log query likelihood with Jelinek-Mercer smoothing."""
    lam = ctx.settings.jm_lambda
    pc = _background(ctx, name)
    keep = np.flatnonzero(pc > 0)
    p = ctx.pairs
    tf = ctx.tf(name)[keep]
    dl = ctx.doclen(name)[p.e_pair[keep]]
    ml = np.divide(tf, dl, out=np.zeros(len(keep)), where=dl > 0)
    logp = np.log((1.0 - lam) * ml + lam * pc[keep])
    return np.bincount(p.e_pair[keep], weights=p.e_qtf[keep] * logp, minlength=p.n_pairs)
