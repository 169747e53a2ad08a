"""BM25 variants as small pure functions over postings (one impact per posting).

Definitions follow Table 1 of C. Kamphuis, A. P. de Vries, L. Boytsov and J. Lin, "Which BM25
Do You Mean? A Large-Scale Reproducibility Study of Scoring Variants", ECIR 2020. With
``N`` documents, document frequency ``df``, term frequency ``tf``, document length ``L_d`` and
mean length ``L_avg``, and ``B = 1 - b + b * L_d / L_avg``:

===========  =====================================  =============================================
variant      idf                                    term-frequency part
===========  =====================================  =============================================
robertson    log((N - df + 0.5) / (df + 0.5))       tf / (k1 * B + tf)                     (eq. 1)
lucene       log(1 + (N - df + 0.5) / (df + 0.5))   tf / (k1 * B + tf), L_d lossy (1 byte)  (eq. 2)
atire        log(N / df)                            (k1 + 1) tf / (k1 * B + tf)            (eq. 4)
bm25l        log((N + 1) / (df + 0.5))              (k1 + 1)(c + delta) / (k1 + c + delta),
                                                    c = tf / B  (Lv & Zhai, CIKM 2011)     (eq. 5)
bm25+        log((N + 1) / df)                      (k1 + 1) tf / (k1 * B + tf) + delta
                                                    (Lv & Zhai, CIKM 2011)                 (eq. 6)
===========  =====================================  =============================================

A document's score is the sum over the query terms it contains (weighted by the query term's
weight, its count by default), as in Lucene and in Lv & Zhai's definitions; rank_bm25 and
bm25s also add the ``tf = 0`` value of BM25L/BM25+ for query terms a document lacks.

Choices where the table leaves room:

- ``robertson``'s idf is clipped at 0 (it is negative for ``df > N/2``), as bm25s does, so no
  matching term lowers a score below that of a document that lacks it.
- ``lucene`` follows Lucene 9's ``BM25Similarity`` exactly: ``N`` and ``L_avg`` count only
  documents that have the field (``docCount``), the length is the one-byte
  ``SmallFloat.intToByte4`` code decoded back (``quantize=True``), and scores are computed in
  float32 in Lucene's operation order. The other variants use all documents for ``N`` and
  ``L_avg`` (as bm25s and rank_bm25) and exact lengths.
"""

from __future__ import annotations

import numpy as np

from rankstack.exceptions import DataError
from rankstack.index.inverted import FieldIndex

VARIANTS = ("lucene", "robertson", "atire", "bm25l", "bm25+")
DEFAULT_DELTA = {"bm25l": 0.5, "bm25+": 1.0}


def check_variant(variant: str) -> str:
    v = variant.lower()
    if v not in VARIANTS:
        raise DataError(f"unknown BM25 variant {variant!r}; expected one of {list(VARIANTS)}")
    return v


# ---------------------------------------------------------------------------- Lucene norms
def _long_to_int4(i: np.ndarray) -> np.ndarray:
    """Lucene ``SmallFloat.longToInt4``: 4 significant bits, float-like (vectorised)."""
    i = i.astype(np.int64)
    num_bits = np.frexp(i.astype(np.float64))[1].astype(np.int64)  # exact bit length below 2**53
    shift = np.maximum(num_bits - 4, 0)
    encoded = ((i >> shift) & 0x07) | ((shift + 1) << 3)
    return np.where(num_bits < 4, i, encoded)


def _int4_to_long(i: np.ndarray) -> np.ndarray:
    bits = i & 0x07
    shift = (i >> 3) - 1
    return np.where(shift == -1, bits, (bits | 0x08) << np.maximum(shift, 0))


_MAX_INT4 = int(_long_to_int4(np.array([2**31 - 1]))[0])
_NUM_FREE_VALUES = 255 - _MAX_INT4  # 24: lengths below this are stored exactly


def length_to_byte(length: np.ndarray) -> np.ndarray:
    """Lucene ``SmallFloat.intToByte4``: a document length as one unsigned byte (0-255)."""
    n = np.asarray(length, dtype=np.int64)
    if (n < 0).any():
        raise DataError("document lengths must be >= 0")
    return np.where(
        n < _NUM_FREE_VALUES, n, _NUM_FREE_VALUES + _long_to_int4(n - _NUM_FREE_VALUES)
    ).astype(np.uint8)


def byte_to_length(code: np.ndarray) -> np.ndarray:
    """Lucene ``SmallFloat.byte4ToInt``: the length a norm byte stands for."""
    c = np.asarray(code, dtype=np.int64)
    return np.where(c < _NUM_FREE_VALUES, c, _NUM_FREE_VALUES + _int4_to_long(c - _NUM_FREE_VALUES))


def quantize_lengths(length: np.ndarray) -> np.ndarray:
    """Lengths as Lucene sees them after the one-byte round trip."""
    return byte_to_length(length_to_byte(length))


# ---------------------------------------------------------------------------- idf
def idf(variant: str, df: np.ndarray, n_docs: int) -> np.ndarray:
    """Inverse document frequency of each term (float64; 0 for terms with ``df = 0``)."""
    v = check_variant(variant)
    d = np.asarray(df, dtype=np.float64)
    n = float(n_docs)
    present = d > 0
    d_safe = np.where(present, d, 1.0)
    with np.errstate(divide="ignore"):
        if v == "lucene":
            out = np.log(1.0 + (n - d_safe + 0.5) / (d_safe + 0.5))
        elif v == "robertson":
            out = np.log(np.maximum((n - d_safe + 0.5) / (d_safe + 0.5), 1.0))
        elif v == "atire":
            out = np.log(n / d_safe)
        elif v == "bm25l":
            out = np.log((n + 1.0) / (d_safe + 0.5))
        else:  # bm25+
            out = np.log((n + 1.0) / d_safe)
    return np.where(present, out, 0.0)


# ---------------------------------------------------------------------------- tf part
def tf_part(
    variant: str,
    tf: np.ndarray,
    doclen: np.ndarray,
    avgdl: float,
    k1: float,
    b: float,
    delta: float = 0.0,
) -> np.ndarray:
    """The term-frequency factor of each posting (float64), per the module table."""
    v = check_variant(variant)
    t = np.asarray(tf, dtype=np.float64)
    norm = 1.0 - b + b * np.asarray(doclen, dtype=np.float64) / (avgdl if avgdl > 0 else 1.0)
    if v in ("lucene", "robertson"):
        return t / (k1 * norm + t)
    if v == "atire":
        return (k1 + 1.0) * t / (k1 * norm + t)
    if v == "bm25l":
        c = t / norm
        return (k1 + 1.0) * (c + delta) / (k1 + c + delta)
    return (k1 + 1.0) * t / (k1 * norm + t) + delta  # bm25+


def collection_stats(variant: str, field: FieldIndex) -> tuple[int, float]:
    """``(N, L_avg)`` of a field as the variant counts them (see the module docstring)."""
    if check_variant(variant) == "lucene":
        return field.doc_count, field.avgdl
    n = field.n_docs
    return n, (field.n_tokens / n if n else 0.0)


def lucene_impacts(field: FieldIndex, k1: float, b: float, quantize: bool = True) -> np.ndarray:
    """Lucene 9 ``BM25Similarity`` score of every posting, in float32 and Lucene's order.

    ``idf = (float) log(1 + (docCount - df + 0.5) / (df + 0.5))`` (double, then float);
    ``normInverse = 1f / (k1 * ((1 - b) + b * length / avgdl))`` per norm byte;
    ``score = idf - idf / (1f + freq * normInverse)``.
    """
    f32 = np.float32
    n_docs, avgdl = collection_stats("lucene", field)
    idf32 = idf("lucene", field.df, n_docs).astype(f32)
    avgdl32 = f32(avgdl) if avgdl > 0 else f32(1.0)
    k1f, bf = f32(k1), f32(b)
    with np.errstate(divide="ignore"):  # k1 = 0 gives 1/0 = inf, as in Java: score = idf
        if quantize:
            table = byte_to_length(np.arange(256)).astype(f32)
            cache = f32(1.0) / (k1f * ((f32(1.0) - bf) + bf * table / avgdl32))
            norm_inv = cache[length_to_byte(field.doclen)]
        else:
            lengths = np.asarray(field.doclen).astype(f32)
            norm_inv = f32(1.0) / (k1f * ((f32(1.0) - bf) + bf * lengths / avgdl32))
    weight = np.repeat(idf32, field.df)
    freq = np.asarray(field.inv_tf).astype(f32)
    ni = norm_inv[np.asarray(field.inv_docs)]
    out: np.ndarray = weight - weight / (f32(1.0) + freq * ni)
    return out


def impacts(
    field: FieldIndex,
    variant: str = "lucene",
    k1: float = 0.9,
    b: float = 0.4,
    delta: float | None = None,
    quantize: bool | None = None,
) -> np.ndarray:
    """Score contribution of every posting of ``field`` (float32, aligned with ``inv_docs``).

    ``quantize`` (default: on for ``lucene``, off otherwise) rounds document lengths through
    Lucene's one-byte norm encoding.
    """
    v = check_variant(variant)
    if k1 < 0 or not 0.0 <= b <= 1.0:
        raise DataError(f"BM25 needs k1 >= 0 and 0 <= b <= 1, found k1={k1}, b={b}")
    q = (v == "lucene") if quantize is None else quantize
    if v == "lucene":
        return lucene_impacts(field, k1, b, q)
    n_docs, avgdl = collection_stats(v, field)
    d = DEFAULT_DELTA.get(v, 0.0) if delta is None else float(delta)
    doclen = np.asarray(field.doclen)
    if q:
        doclen = quantize_lengths(doclen)
    term_idf = idf(v, field.df, n_docs)
    part = tf_part(v, field.inv_tf, doclen[np.asarray(field.inv_docs)], avgdl, k1, b, d)
    out: np.ndarray = (np.repeat(term_idf, field.df) * part).astype(np.float32)
    return out


def absent_term_score(
    variant: str, field: FieldIndex, k1: float = 0.9, delta: float | None = None
) -> np.ndarray:
    """Per term, the ``tf = 0`` value that rank_bm25 and bm25s add for BM25L and BM25+
    when a document lacks the term (0 for the other variants); for comparisons only."""
    v = check_variant(variant)
    n_docs, _ = collection_stats(v, field)
    d = DEFAULT_DELTA.get(v, 0.0) if delta is None else float(delta)
    term_idf = idf(v, field.df, n_docs)
    if v == "bm25l":
        return term_idf * (k1 + 1.0) * d / (k1 + d)
    if v == "bm25+":
        return term_idf * d
    return np.zeros_like(term_idf)
