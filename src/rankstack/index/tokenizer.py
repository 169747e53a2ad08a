"""Text analysis: tokenise, lowercase, drop possessives and stopwords, stem.

The default :class:`Tokenizer` aims at the analysis chain of Lucene's ``EnglishAnalyzer`` as
Anserini and Pyserini use it (``StandardTokenizer`` -> ``EnglishPossessiveFilter`` ->
``LowerCaseFilter`` -> ``StopFilter`` with Lucene's 33 English stopwords -> ``PorterStemFilter``),
so that an index built here sees the same terms as a Lucene index. The tokenizer is a regular
expression approximating Unicode word breaks; :mod:`rankstack.index._unicode` lists where it
differs from Lucene.

Batches are analysed without a per-token Python loop: Arrow splits the texts at whitespace and
dictionary-encodes the pieces; the regular expression, possessive filter, stopword test and
stemmer then run once per *unique* piece and *unique* token, and numpy expands the results back
to every occurrence. A tokenizer's settings are stored in the index and reused for queries.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from rankstack.exceptions import DataError
from rankstack.index import stopwords as _stopwords
from rankstack.index._stem import make_stemmer
from rankstack.index._unicode import lucene_token_regex

logger = logging.getLogger(__name__)

#: token id of a token that the analysis drops (stopword, too short, no letter or digit)
DROPPED = -1
#: token id of a query token whose term is not in a fixed vocabulary
UNKNOWN = -2

_SMALL_BATCH = 8  # up to this many ASCII texts are analysed in Python (see _analyze_small)
# ASCII characters that Python's str.split() treats as whitespace but Unicode does not
_ODD_ASCII = re.compile("[\x1c-\x1f]")

_POSSESSIVES = ("'s", "’s", "＇s")
_LUCENE_MAX_TOKEN = 255  # StandardTokenizer.DEFAULT_MAX_TOKEN_LENGTH


@dataclass(frozen=True)
class Tokenizer:
    """Settings of the analysis chain (a value object; cheap to create and compare).

    Parameters
    ----------
    lowercase:
        Lowercase tokens (Lucene's ``LowerCaseFilter``).
    stopwords:
        ``"lucene"`` (default, 33 words), ``"snowball"`` (174 words), ``"none"``/``None``, a
        path to a file with one word per line, or the words themselves. Words are compared
        after lowercasing and possessive removal, before stemming.
    stemmer:
        ``"porter"`` (Lucene's ``PorterStemFilter``, default), ``"english"`` (Snowball
        Porter2) or any PyStemmer algorithm name; ``None`` for no stemming.
    possessive:
        Strip a trailing ``'s`` (Lucene's ``EnglishPossessiveFilter``).
    min_length:
        Drop tokens shorter than this (before stemming); 1 keeps everything, as Lucene.
    max_length:
        Split longer tokens into pieces of this length, as ``StandardTokenizer`` does at 255.
    pattern:
        A regular expression whose matches are the tokens; ``None`` for the Lucene-like
        default. Tokens never span whitespace.
    """

    lowercase: bool = True
    stopwords: str | tuple[str, ...] | None = "lucene"
    stemmer: str | None = "porter"
    possessive: bool = True
    min_length: int = 1
    max_length: int = _LUCENE_MAX_TOKEN
    pattern: str | None = None
    _stopword_set: frozenset[str] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        spec: Any = self.stopwords
        if isinstance(spec, (list, set, frozenset)):
            spec = tuple(sorted(spec))
            object.__setattr__(self, "stopwords", spec)
        _, words = _stopwords.resolve(spec)
        object.__setattr__(self, "_stopword_set", words)
        if self.min_length < 1 or self.max_length < self.min_length:
            raise DataError(
                f"Tokenizer: need 1 <= min_length <= max_length, found "
                f"{self.min_length} and {self.max_length}"
            )
        if self.pattern is not None:
            try:
                re.compile(self.pattern)
            except re.error as exc:
                raise DataError(
                    f"Tokenizer: invalid token pattern {self.pattern!r}: {exc}"
                ) from exc
        make_stemmer(self.stemmer)  # validates the name

    # -------------------------------------------------------------------- persistence
    def to_dict(self) -> dict[str, Any]:
        """JSON-ready settings; stopwords from a file are stored as the word list."""
        stop: Any = self.stopwords
        if isinstance(stop, str) and stop.lower() not in _stopwords.NAMED:
            stop = sorted(self._stopword_set)
        elif isinstance(stop, tuple):
            stop = list(stop)
        return {
            "lowercase": self.lowercase,
            "stopwords": stop,
            "stemmer": self.stemmer,
            "possessive": self.possessive,
            "min_length": self.min_length,
            "max_length": self.max_length,
            "pattern": self.pattern,
        }

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> Tokenizer:
        stop = d.get("stopwords", "lucene")
        return cls(
            lowercase=bool(d.get("lowercase", True)),
            stopwords=tuple(stop) if isinstance(stop, list) else stop,
            stemmer=d.get("stemmer", "porter"),
            possessive=bool(d.get("possessive", True)),
            min_length=int(d.get("min_length", 1)),
            max_length=int(d.get("max_length", _LUCENE_MAX_TOKEN)),
            pattern=d.get("pattern"),
        )

    # -------------------------------------------------------------------- analysis
    def analyzer(self, vocabulary: Mapping[str, int] | None = None) -> Analyzer:
        """A stateful analyser; with ``vocabulary`` it maps into that fixed vocabulary."""
        return Analyzer(self, vocabulary)

    def analyze(self, text: str) -> list[str]:
        """The terms of one text, in order (for inspection and tests)."""
        an = self.analyzer()
        batch = an.analyze_batch([text])
        return [an.terms[i] for i in batch.ids.tolist()]

    @property
    def stopword_set(self) -> frozenset[str]:
        return self._stopword_set


@dataclass(frozen=True)
class AnalyzedBatch:
    """Terms of a batch of texts: ``ids[offsets[i]:offsets[i+1]]`` are text ``i``'s term ids.

    ``positions`` gives each kept token's position in its text, counting dropped tokens
    (stopwords), as Lucene's position increments do. ``n_unknown`` counts tokens whose term
    is missing from a fixed vocabulary (query analysis); they are not in ``ids``.
    """

    ids: np.ndarray
    offsets: np.ndarray
    positions: np.ndarray
    n_unknown: np.ndarray

    @property
    def lengths(self) -> np.ndarray:
        return np.diff(self.offsets)


@dataclass(frozen=True)
class SplitTexts:
    """Stage one of the analysis (stateless, Arrow only; safe to run in another thread):
    the texts split at whitespace into pieces, dictionary-encoded."""

    n_texts: int
    n_pieces: np.ndarray
    codes: np.ndarray
    pieces: pa.Array


class Analyzer:
    """Runs a :class:`Tokenizer` over batches, caching the analysis of each unique token.

    Without a vocabulary it assigns new term ids in order of first appearance (index
    building); with one it maps to that vocabulary and reports unknown terms (queries).
    """

    def __init__(self, tokenizer: Tokenizer, vocabulary: Mapping[str, int] | None = None) -> None:
        self.tokenizer = tokenizer
        self._fixed = vocabulary is not None
        # a fixed vocabulary is only read, never copied or grown
        self.vocab: Mapping[str, int] = {} if vocabulary is None else vocabulary
        self.terms: list[str] = []
        # every raw token seen so far, and its term id (or DROPPED / UNKNOWN)
        self._known = pa.array([], type=pa.large_string())
        self._known_ids = np.zeros(0, dtype=np.int64)
        # small-batch caches (see _analyze_small): piece -> term ids, token -> term id
        self._piece_ids: dict[str, tuple[int, ...]] = {}
        self._token_cache: dict[str, int] = {}
        self._findall = re.compile(tokenizer.pattern).findall if tokenizer.pattern else None
        self._stem: Callable[[list[str]], list[str]] | None = make_stemmer(tokenizer.stemmer)
        self._stop = pa.array(sorted(tokenizer.stopword_set), type=pa.string())

    # ------------------------------------------------------------------ stage one
    def split(self, texts: pa.Array | pa.ChunkedArray | Sequence[str]) -> SplitTexts:
        """Lowercase, split at whitespace and dictionary-encode the pieces (vectorised)."""
        arr = _as_string_array(texts)
        if self.tokenizer.lowercase:
            arr = pc.utf8_lower(arr)
        lists = pc.utf8_split_whitespace(arr)
        n_pieces = pc.fill_null(pc.list_value_length(lists), 0).to_numpy(zero_copy_only=False)
        enc = pc.dictionary_encode(pc.list_flatten(lists))
        if isinstance(enc, pa.ChunkedArray):
            enc = enc.combine_chunks()
        codes = enc.indices.to_numpy(zero_copy_only=False).astype(np.int64, copy=False)
        return SplitTexts(len(arr), n_pieces.astype(np.int64), codes, enc.dictionary)

    # ------------------------------------------------------------------ stage two
    def _split_tokens(self, pieces: pa.Array) -> tuple[np.ndarray, pa.Array]:
        """Tokens of each unique piece: the count per piece, and all tokens in piece order.

        A piece of ASCII letters and digits is one token (most pieces); only the others run
        through the regular expression.
        """
        max_len = self.tokenizer.max_length
        n = len(pieces)
        if self._findall is None and n > 256:
            fast = pc.and_(pc.string_is_ascii(pieces), pc.utf8_is_alnum(pieces))
            fast = pc.and_(fast, pc.less_equal(pc.utf8_length(pieces), max_len))
            fast_np = fast.to_numpy(zero_copy_only=False)
        elif self._findall is None:  # few pieces (queries): Python beats a dozen Arrow calls
            fast_np = np.fromiter(
                (p.isascii() and p.isalnum() and len(p) <= max_len for p in pieces.to_pylist()),
                dtype=bool,
                count=n,
            )
        else:
            fast_np = np.zeros(n, dtype=bool)
        findall = self._findall or lucene_token_regex().findall
        slow_idx = np.flatnonzero(~fast_np)
        slow_counts: list[int] = []
        slow: list[str] = []
        for piece in pieces.take(pa.array(slow_idx, type=pa.int64())).to_pylist():
            toks = findall(piece)
            if len(piece) > max_len:
                toks = [t[j : j + max_len] for t in toks for j in range(0, len(t), max_len)]
            slow_counts.append(len(toks))
            slow.extend(toks)
        counts = np.ones(n, dtype=np.int64)
        counts[slow_idx] = slow_counts
        fast_tokens = pieces.filter(pa.array(fast_np)).cast(pa.large_string())
        if not len(slow_idx):
            return counts, fast_tokens
        tokens = pa.concat_arrays([fast_tokens, pa.array(slow, type=pa.large_string())])
        if len(slow_idx) == n:
            return counts, tokens
        # back to piece order, so that new terms get ids in order of first appearance
        piece_of = np.concatenate([np.flatnonzero(fast_np), np.repeat(slow_idx, slow_counts)])
        order = np.argsort(piece_of, kind="stable")
        return counts, tokens.take(pa.array(order, type=pa.int64()))

    def _token_ids(self, tokens: pa.Array) -> np.ndarray:
        """Term id of each token (``DROPPED``/``UNKNOWN`` when it has none).

        Tokens seen before are looked up in Arrow hash tables, never one by one in Python;
        unseen ones are analysed once, in order of first appearance.
        """
        n_known = len(self._known)
        if n_known:
            pos = pc.index_in(tokens, value_set=self._known)
            new_mask = pc.is_null(pos)
            out = pc.fill_null(pos, 0).to_numpy(zero_copy_only=False).astype(np.int64)
        else:
            new_mask = pa.array(np.ones(len(tokens), dtype=bool))
            out = np.zeros(len(tokens), dtype=np.int64)
        new_np = new_mask.to_numpy(zero_copy_only=False)
        if new_np.any():
            unseen = tokens.filter(new_mask)
            new = pc.unique(unseen)
            ids_new = self._analyze_new(new.to_pylist())
            pos_new = pc.index_in(unseen, value_set=new).to_numpy(zero_copy_only=False)
            out[new_np] = n_known + pos_new.astype(np.int64)
            self._known = pa.concat_arrays([self._known, new.cast(pa.large_string())])
            self._known_ids = np.concatenate([self._known_ids, ids_new])
        return self._known_ids[out]

    def _analyze_new(self, tokens: list[str]) -> np.ndarray:
        """Possessive, length, stopword and content filters (vectorised), then stemming;
        returns the term id of each token."""
        tk = self.tokenizer
        arr = pa.array(tokens, type=pa.string())
        if tk.possessive:
            arr = pc.replace_substring_regex(arr, pattern="['’＇][sS]$", replacement="")
        drop = pc.less(pc.utf8_length(arr), tk.min_length)
        if len(self._stop):
            drop = pc.or_(drop, pc.is_in(arr, value_set=self._stop))
        content = pc.match_substring_regex(arr, pattern=r"[^\p{Pc}\p{M}\p{Cf}]")
        drop = pc.or_(drop, pc.invert(content)).to_numpy(zero_copy_only=False)
        kept = arr.filter(pa.array(~drop)).to_pylist()
        stems = self._stem(kept) if self._stem is not None and kept else kept
        vocab = self.vocab
        grow = not self._fixed and isinstance(vocab, dict)
        ids = np.full(len(tokens), DROPPED, dtype=np.int64)
        kept_ids: list[int] = []
        for term in stems:
            tid = vocab.get(term)
            if tid is None:
                if grow:
                    tid = len(self.terms)
                    vocab[term] = tid  # type: ignore[index]
                    self.terms.append(term)
                else:
                    tid = UNKNOWN
            kept_ids.append(tid)
        ids[~drop] = kept_ids
        return ids

    def analyze_batch(self, texts: pa.Array | pa.ChunkedArray | Sequence[str]) -> AnalyzedBatch:
        """Analyse many texts at once (missing texts count as empty)."""
        if len(texts) <= _SMALL_BATCH:
            small = texts.to_pylist() if isinstance(texts, (pa.Array, pa.ChunkedArray)) else texts
            if all(t is None or (t.isascii() and not _ODD_ASCII.search(t)) for t in small):
                return self._analyze_small(list(small))
        return self.analyze_split(self.split(texts))

    def _analyze_small(self, texts: list[str | None]) -> AnalyzedBatch:
        """A few ASCII texts (typically one query), analysed in Python with dict caches: for
        ASCII, ``str.lower``/``str.split`` equal Arrow's kernels and the filters below equal
        the vectorised ones in :meth:`_analyze_new` (a test checks both paths agree); a dozen
        Arrow calls would cost more than the work."""
        ids: list[int] = []
        positions: list[int] = []
        offsets = [0]
        n_unknown: list[int] = []
        cache = self._piece_ids
        lower = self.tokenizer.lowercase
        for text in texts:
            pos = unknown = 0
            for piece in ((text or "").lower() if lower else (text or "")).split():
                seq = cache.get(piece)
                if seq is None:
                    seq = cache[piece] = self._piece_seq(piece)
                for tid in seq:
                    if tid >= 0:
                        ids.append(tid)
                        positions.append(pos)
                    elif tid == UNKNOWN:
                        unknown += 1
                    pos += 1
            offsets.append(len(ids))
            n_unknown.append(unknown)
        return AnalyzedBatch(
            np.array(ids, dtype=np.int32),
            np.array(offsets, dtype=np.int64),
            np.array(positions, dtype=np.int32),
            np.array(n_unknown, dtype=np.int64),
        )

    def _piece_seq(self, piece: str) -> tuple[int, ...]:
        """Term ids (or DROPPED / UNKNOWN) of the tokens of one ASCII piece."""
        max_len = self.tokenizer.max_length
        if self._findall is None and piece.isalnum() and len(piece) <= max_len:
            toks = [piece]
        else:
            toks = (self._findall or lucene_token_regex().findall)(piece)
            if len(piece) > max_len:
                toks = [t[j : j + max_len] for t in toks for j in range(0, len(t), max_len)]
        out = []
        for tok in toks:
            tid = self._token_cache.get(tok)
            if tid is None:
                tid = self._token_cache[tok] = self._ascii_token_id(tok)
            out.append(tid)
        return tuple(out)

    def _ascii_token_id(self, tok: str) -> int:
        """:meth:`_analyze_new` for one ASCII token, in Python."""
        tk = self.tokenizer
        t = tok
        if tk.possessive and t[-2:] in ("'s", "'S"):
            t = t[:-2]
        if len(t) < tk.min_length or t in tk.stopword_set or not t.strip("_"):
            return DROPPED
        term = self._stem([t])[0] if self._stem is not None else t
        tid = self.vocab.get(term)
        if tid is None:
            if self._fixed or not isinstance(self.vocab, dict):
                return UNKNOWN
            tid = len(self.terms)
            self.vocab[term] = tid
            self.terms.append(term)
        return tid

    def analyze_split(self, split: SplitTexts, *, positions: bool = True) -> AnalyzedBatch:
        """Stage two of :meth:`analyze_batch`, on the output of :meth:`split`
        (``positions=False`` skips computing token positions)."""
        n = split.n_texts
        codes = split.codes
        counts, tokens = self._split_tokens(split.pieces)
        piece_start = _exclusive_cumsum(counts)
        tok_ids = self._token_ids(tokens)
        # expand unique pieces back to every occurrence, in text order
        occ_len = counts[codes]
        tok_ids = tok_ids[_ranges(piece_start[codes], occ_len)]
        # tokens per text
        tok_cum = np.concatenate([[0], np.cumsum(occ_len)])
        piece_off = np.concatenate([[0], np.cumsum(split.n_pieces)])
        text_tok = tok_cum[piece_off]
        text_len = np.diff(text_tok)
        keep = tok_ids >= 0
        kept_cum = np.concatenate([[0], np.cumsum(keep)])
        offsets = kept_cum[text_tok].astype(np.int64)
        if self._fixed:
            unknown_cum = np.concatenate([[0], np.cumsum(tok_ids == UNKNOWN)])
            n_unknown = np.diff(unknown_cum[text_tok])
        else:
            n_unknown = np.zeros(n, dtype=np.int64)
        ids = tok_ids[keep].astype(np.int32)
        if positions:
            pos = np.arange(len(tok_ids), dtype=np.int64) - np.repeat(text_tok[:-1], text_len)
            pos32 = pos[keep].astype(np.int32)
        else:
            pos32 = np.zeros(0, dtype=np.int32)
        if len(offsets) != n + 1:  # pragma: no cover - internal consistency
            raise DataError("analysis produced inconsistent offsets")
        return AnalyzedBatch(ids, offsets, pos32, n_unknown)


def _as_string_array(texts: pa.Array | pa.ChunkedArray | Iterable[str]) -> pa.Array:
    if isinstance(texts, pa.ChunkedArray):
        texts = texts.combine_chunks()
    if not isinstance(texts, pa.Array):
        texts = pa.array(list(texts), type=pa.string())
    if pa.types.is_dictionary(texts.type):
        texts = texts.cast(texts.type.value_type)
    if not (pa.types.is_string(texts.type) or pa.types.is_large_string(texts.type)):
        raise DataError(f"expected texts as strings, found {texts.type}")
    return texts


def _exclusive_cumsum(x: np.ndarray) -> np.ndarray:
    out = np.zeros(len(x), dtype=np.int64)
    if len(x) > 1:
        np.cumsum(x[:-1], out=out[1:])
    return out


def _ranges(starts: np.ndarray, lengths: np.ndarray) -> np.ndarray:
    """Concatenation of ``arange(s, s + n)`` for each (s, n), without a Python loop."""
    total = int(lengths.sum())
    if total == 0:
        return np.zeros(0, dtype=np.int64)
    shift = np.repeat(starts - _exclusive_cumsum(lengths), lengths)
    return shift + np.arange(total, dtype=np.int64)
