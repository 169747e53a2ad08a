"""Building an :class:`~rankstack.index.Index` from a corpus, block by block.

The corpus is read in blocks of documents (a :class:`~rankstack.data.Corpus`, or any iterable
of ``Corpus`` batches for corpora larger than memory). Each block is analysed in one vectorised
pass per field (:meth:`Analyzer.analyze_batch`), its (doc, term) pairs are sorted once with
numpy and counted into forward postings; the blocks' forward postings are concatenated and
transposed into the inverted postings with scipy's linear-time CSR -> CSC conversion. Memory
grows with the postings, not with the text: a block's text is released once it is analysed.
"""

from __future__ import annotations

import logging
import re
import sys
import time
from collections.abc import Iterable, Iterator, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from contextlib import nullcontext
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from rankstack.data import Corpus
from rankstack.data._columns import concat_str
from rankstack.exceptions import DataError
from rankstack.index import _format
from rankstack.index.inverted import Index, strings_to_arrays
from rankstack.index.tokenizer import SplitTexts, Tokenizer

logger = logging.getLogger(__name__)

_FIELD_NAME = re.compile(r"^[A-Za-z0-9_.-]+$")


def resolve_fields(
    corpus_fields: Sequence[str],
    fields: Sequence[str] | Mapping[str, Sequence[str]] | None,
    multifield: bool,
) -> dict[str, list[str]]:
    """Index field name -> corpus fields joined into it.

    Flat (default): one field ``contents`` = the corpus fields joined with a space, title
    first (Pyserini's "flat" BEIR index). ``multifield``: one index field per corpus field.
    A mapping gives the layout explicitly, e.g. ``{"contents": ["title", "text"],
    "title": ["title"]}``.
    """
    if isinstance(fields, Mapping):
        spec = {str(k): [str(s) for s in v] for k, v in fields.items()}
    else:
        names = list(fields) if fields is not None else _title_first(corpus_fields)
        spec = {n: [n] for n in names} if multifield else {"contents": names}
    if not spec:
        raise DataError("no fields to index")
    for name, sources in spec.items():
        if not _FIELD_NAME.match(name):
            raise DataError(
                f"index field name {name!r} must use only letters, digits, '_', '.' and '-'"
            )
        missing = [s for s in sources if s not in corpus_fields]
        if missing or not sources:
            raise DataError(
                f"index field {name!r} needs corpus field(s) {missing or sources}; "
                f"the corpus has {list(corpus_fields)}"
            )
    return spec


def _title_first(names: Sequence[str]) -> list[str]:
    out = list(names)
    if "title" in out:
        out.remove("title")
        out.insert(0, "title")
    return out


class _FieldBlocks:
    """Forward postings of one field, accumulated block by block."""

    def __init__(self, positions: bool) -> None:
        self.positions = positions
        self.doclen: list[np.ndarray] = []
        self.counts: list[np.ndarray] = []
        self.terms: list[np.ndarray] = []
        self.tf: list[np.ndarray] = []
        self.pos: list[np.ndarray] = []

    def add(
        self, ids: np.ndarray, lengths: np.ndarray, positions: np.ndarray, n_terms: int
    ) -> None:
        n = len(lengths)
        doc = np.repeat(np.arange(n, dtype=np.int64), lengths)
        key = doc * max(n_terms, 1) + ids
        if self.positions:
            order = np.argsort(key, kind="stable")
            key = key[order]
            self.pos.append(positions[order])
        else:
            key = np.sort(key)
        if len(key):
            first = np.empty(len(key), dtype=bool)
            first[0] = True
            np.not_equal(key[1:], key[:-1], out=first[1:])
            starts = np.flatnonzero(first)
        else:
            starts = np.zeros(0, dtype=np.int64)
        tf = np.diff(np.append(starts, len(key)))
        ukey = key[starts]
        self.terms.append((ukey % max(n_terms, 1)).astype(np.int32))
        self.tf.append(tf.astype(np.int32))
        self.counts.append(np.bincount(ukey // max(n_terms, 1), minlength=n).astype(np.int64))
        self.doclen.append(lengths.astype(np.int32))

    def finish(self, n_terms: int) -> dict[str, np.ndarray]:
        import scipy.sparse as sp

        doclen = _concat(self.doclen, np.int32)
        counts = _concat(self.counts, np.int64)
        fwd_indptr = np.zeros(len(counts) + 1, dtype=np.int64)
        np.cumsum(counts, out=fwd_indptr[1:])
        fwd_terms = _concat(self.terms, np.int32)
        fwd_tf = _concat(self.tf, np.int32)
        self.terms, self.tf, self.counts = [], [], []
        tf_dtype = np.uint16 if (len(fwd_tf) == 0 or int(fwd_tf.max()) <= 0xFFFF) else np.int32
        csr = sp.csr_matrix((fwd_tf, fwd_terms, fwd_indptr), shape=(len(doclen), n_terms))
        csc = csr.tocsc()
        out = {
            "doclen": doclen,
            "inv_indptr": csc.indptr.astype(np.int64, copy=False),
            "inv_docs": csc.indices.astype(np.int32, copy=False),
            "inv_tf": csc.data.astype(tf_dtype, copy=False),
            "fwd_indptr": fwd_indptr,
            "fwd_terms": fwd_terms,
            "fwd_tf": fwd_tf.astype(tf_dtype, copy=False),
        }
        if self.positions:
            pos_indptr = np.zeros(len(fwd_terms) + 1, dtype=np.int64)
            np.cumsum(fwd_tf, out=pos_indptr[1:])
            out["pos_indptr"] = pos_indptr
            out["positions"] = _concat(self.pos, np.int32)
        return out


class _Done:
    """A finished job with the ``result()`` method of a future (no thread)."""

    def __init__(self, value: Any) -> None:
        self.value = value

    def result(self) -> Any:
        return self.value


def _concat(parts: list[np.ndarray], dtype: Any) -> np.ndarray:
    if not parts:
        return np.zeros(0, dtype=dtype)
    return np.concatenate(parts).astype(dtype, copy=False)


def _batches(corpus: Corpus | Iterable[Corpus], block_size: int) -> Iterator[Corpus]:
    if isinstance(corpus, Corpus):
        yield from corpus.batches(block_size)
        return
    for part in corpus:
        if not isinstance(part, Corpus):
            raise DataError(
                f"build_index expects a Corpus or an iterable of Corpus batches, found "
                f"{type(part).__name__}"
            )
        yield from part.batches(block_size)


def build_index(
    corpus: Corpus | Iterable[Corpus],
    path: str | Path | None = None,
    *,
    fields: Sequence[str] | Mapping[str, Sequence[str]] | None = None,
    multifield: bool = False,
    tokenizer: Tokenizer | None = None,
    positions: bool = False,
    block_size: int = 50_000,
    progress: bool | None = None,
    overwrite: bool = True,
    n_jobs: int = 1,
) -> Index:
    """Build an index; write it atomically to ``path`` (memory-mapped on return) or keep it
    in memory when ``path`` is None.

    Parameters
    ----------
    corpus:
        A :class:`~rankstack.data.Corpus` or an iterable of ``Corpus`` batches (streaming).
    fields, multifield:
        Which corpus fields to index and how (see :func:`resolve_fields`).
    tokenizer:
        Analysis settings (default :class:`Tokenizer`: Lucene's English analysis); stored in
        the index and reused for queries.
    positions:
        Also store token positions (for proximity features); about doubles the index size.
    block_size:
        Documents analysed at a time; bounds the transient memory of a block.
    progress:
        Show a progress bar (default: when stderr is a terminal).
    n_jobs:
        With 2 or more, a second thread splits the next block (Arrow, outside the GIL) while
        the current one is analysed.
    """
    tok = tokenizer or Tokenizer()
    analyzer = tok.analyzer()
    if block_size < 1:
        raise DataError(f"block_size must be >= 1, found {block_size}")
    total = len(corpus) if isinstance(corpus, Corpus) else None
    show = sys.stderr.isatty() if progress is None else progress
    spec: dict[str, list[str]] | None = None
    blocks: dict[str, _FieldBlocks] = {}
    docid_parts: list[pa.Array] = []
    n_docs = 0
    t0 = time.perf_counter()
    pool = ThreadPoolExecutor(max_workers=1) if n_jobs > 1 else None

    def split_block(batch: Corpus, spec: dict[str, list[str]]) -> dict[str, SplitTexts]:
        out = {}
        for name, sources in spec.items():
            missing = [s for s in sources if s not in batch.fields]
            if missing:
                raise DataError(f"a corpus batch lacks field(s) {missing}")
            out[name] = analyzer.split(batch.contents(sources))
        return out

    def schedule(batch: Corpus) -> Any:
        assert spec is not None
        if pool is None:
            return _Done(split_block(batch, spec))
        return pool.submit(split_block, batch, spec)

    try:
        with _progress(show, total) as advance:
            it = _batches(corpus, block_size)
            current = next(it, None)
            if current is not None:
                spec = resolve_fields(current.field_names, fields, multifield)
                blocks = {name: _FieldBlocks(positions) for name in spec}
                pending = schedule(current)
            while current is not None:
                upcoming = next(it, None)
                # Arrow work of the next block runs in the pool while this one is analysed
                upcoming_job = schedule(upcoming) if upcoming is not None else None
                for name, split in pending.result().items():
                    analyzed = analyzer.analyze_split(split, positions=positions)
                    blocks[name].add(
                        analyzed.ids, analyzed.lengths, analyzed.positions, len(analyzer.terms)
                    )
                docid_parts.append(current.docids)
                n_docs += len(current)
                advance(len(current))
                current, pending = upcoming, upcoming_job
    finally:
        if pool is not None:
            pool.shutdown(wait=True, cancel_futures=True)
    if spec is None:
        raise DataError("cannot build an index from an empty corpus")
    docids = concat_str(docid_parts)
    if len(pc.unique(docids)) != len(docids):
        raise DataError("build_index: doc ids must be unique across the whole corpus")
    n_terms = len(analyzer.terms)
    arrays: dict[str, np.ndarray] = {}
    field_meta: dict[str, Any] = {}
    for name, acc in blocks.items():
        field_arrays = acc.finish(n_terms)
        doclen = field_arrays["doclen"]
        n_tokens = int(doclen.sum(dtype=np.int64))
        doc_count = int(np.count_nonzero(doclen))
        field_meta[name] = {
            "sources": spec[name],
            "doc_count": doc_count,
            "n_tokens": n_tokens,
            "n_postings": len(field_arrays["inv_docs"]),
            "avgdl": n_tokens / doc_count if doc_count else 0.0,
            "max_doclen": int(doclen.max()) if len(doclen) else 0,
        }
        arrays.update({f"fields/{name}/{k}": v for k, v in field_arrays.items()})
    arrays["docids_data"], arrays["docids_offsets"] = strings_to_arrays(docids)
    arrays["vocab_data"], arrays["vocab_offsets"] = strings_to_arrays(
        pa.array(analyzer.terms, type=pa.large_string())
    )
    order = pc.sort_indices(docids).to_numpy()
    rank = np.empty(len(order), dtype=np.int32)
    rank[order] = np.arange(len(order), dtype=np.int32)
    arrays["docid_rank"] = rank
    from rankstack import __version__

    manifest: dict[str, Any] = {
        "format": _format.FORMAT_NAME,
        "version": _format.FORMAT_VERSION,
        "rankstack_version": __version__,
        "created": datetime.now(timezone.utc).isoformat(timespec="seconds"),
        "n_docs": n_docs,
        "n_terms": n_terms,
        "positions": positions,
        "tokenizer": tok.to_dict(),
        "fields": field_meta,
        "arrays": {},
    }
    logger.info(
        "indexed %d docs, %d terms, fields %s in %.1fs",
        n_docs,
        n_terms,
        list(spec),
        time.perf_counter() - t0,
    )
    if path is None:
        manifest["arrays"] = {
            k: {"dtype": v.dtype.str, "shape": list(v.shape)} for k, v in arrays.items()
        }
        return Index(arrays, manifest, None)
    write_index(path, arrays, manifest, overwrite=overwrite)
    return Index.load(path)


def write_index(
    path: str | Path,
    arrays: Mapping[str, np.ndarray],
    manifest: Mapping[str, Any],
    *,
    overwrite: bool = True,
) -> None:
    """Write arrays and manifest to ``path`` atomically (temporary folder + rename)."""
    meta = dict(manifest)
    with _format.atomic_folder(Path(path), overwrite=overwrite) as tmp:
        meta["arrays"] = {name: _format.write_array(tmp, name, arr) for name, arr in arrays.items()}
        _format.write_manifest(tmp, meta)


def _progress(show: bool, total: int | None) -> Any:
    """A context manager yielding ``advance(n_docs)``; a no-op when not shown."""
    if not show:
        return nullcontext(lambda n: None)
    from contextlib import contextmanager

    from rich.console import Console
    from rich.progress import (
        BarColumn,
        MofNCompleteColumn,
        Progress,
        TextColumn,
        TimeElapsedColumn,
        TimeRemainingColumn,
    )

    @contextmanager
    def bar() -> Iterator[Any]:
        columns = [
            TextColumn("indexing"),
            BarColumn(),
            MofNCompleteColumn(),
            TimeElapsedColumn(),
            TimeRemainingColumn(),
        ]
        # on stderr: stdout may carry a run or JSON (``--json``)
        with Progress(*columns, console=Console(stderr=True), transient=False) as prog:
            task = prog.add_task("index", total=total)
            yield lambda n: prog.advance(task, n)

    return bar()
