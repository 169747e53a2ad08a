"""Tab-separated queries and corpora.

- Queries: ``qid<TAB>text`` per line, the layout of Anserini's topic files
  (``topics.beir-v1.0.0-nfcorpus.test.tsv.gz``) and of MS MARCO's ``queries.*.tsv``. Text runs
  to the end of the line and may hold further tabs.
- Corpus: ``docid<TAB>text`` (MS MARCO's ``collection.tsv``) or ``docid<TAB>title<TAB>text``.

A first line naming the columns (``qid<TAB>text``, ``docid<TAB>title<TAB>text``...) is read as
a header. Blank lines are skipped; CRLF line ends are accepted.
"""

from __future__ import annotations

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from rankstack.data import Corpus, Queries
from rankstack.exceptions import DataError, FormatError
from rankstack.io._files import PathLike, read_bytes
from rankstack.io._lines import blank_mask, show, split_lines
from rankstack.io._text import join_lines, write_lines
from rankstack.io.jsonl import DOC_ID_KEYS, QUERY_ID_KEYS, corpus_from_columns, queries_from_columns

_QUERY_HEADER_TEXT = {"text", "query", "title"}


def _split(
    lines: pa.Array, line_no: np.ndarray, n_cols: int, path: PathLike | None, layout: str
) -> list[pa.Array]:
    """Split each line at its first ``n_cols - 1`` tabs; every line must have ``n_cols`` parts."""
    parts = pc.split_pattern(lines, "\t", max_splits=n_cols - 1)
    counts = pc.list_value_length(parts).to_numpy(zero_copy_only=False)
    bad = counts != n_cols
    if bad.any():
        row = int(np.flatnonzero(bad)[0])
        raise FormatError(
            f"expected {n_cols} tab-separated columns '{layout}', found {counts[row]}: "
            f"{show(lines[row].as_py())}",
            path,
            int(line_no[row]),
        )
    flat = pc.list_flatten(parts)
    idx = np.arange(len(lines), dtype=np.int64) * n_cols
    return [flat.take(pa.array(idx + j)) for j in range(n_cols)]


def _records(data: bytes, path: PathLike | None) -> tuple[pa.Array, np.ndarray]:
    lines = split_lines(data, path)
    if len(lines) == 0:
        return lines, np.zeros(0, dtype=np.int64)
    keep = ~blank_mask(lines)
    return lines.filter(pa.array(keep)), np.flatnonzero(keep) + 1


def read_queries_tsv(path: PathLike, *, data: bytes | None = None) -> Queries:
    """Queries from ``qid<TAB>text`` lines (Anserini topics, MS MARCO queries).

    Raises :class:`FormatError` for a line without a tab, an empty id, a repeated id or an
    empty file; queries with empty text are kept with a logged warning.
    """
    raw = read_bytes(path) if data is None else data
    lines, line_no = _records(raw, path)
    if len(lines):
        head = lines[0].as_py().split("\t")
        if (
            len(head) == 2
            and head[0].strip().lower() in QUERY_ID_KEYS
            and head[1].strip().lower() in _QUERY_HEADER_TEXT
        ):
            lines, line_no = lines.slice(1), line_no[1:]
    if len(lines) == 0:
        empty = pa.array([], pa.string())
        return queries_from_columns(empty, empty, line_no, path)
    qid, text = _split(lines, line_no, 2, path, "qid<TAB>text")
    return queries_from_columns(pc.utf8_trim_whitespace(qid), text, line_no, path)


def read_corpus_tsv(path: PathLike, *, data: bytes | None = None) -> Corpus:
    """A corpus from ``docid<TAB>text`` or ``docid<TAB>title<TAB>text`` lines.

    A header line names the fields (its first column must be ``docid``, ``docno``, ``_id``,
    ``doc_id`` or ``id``); without one, 2 columns are ``docid, text`` and 3 are
    ``docid, title, text``.
    """
    raw = read_bytes(path) if data is None else data
    lines, line_no = _records(raw, path)
    if len(lines) == 0:
        raise FormatError("expected at least one document, found none (empty file?)", path)
    head = lines[0].as_py().split("\t")
    if head[0].strip().lower() in DOC_ID_KEYS and len(head) >= 2:
        names = [h.strip() for h in head[1:]]
        if len(set(names)) != len(names) or any(not n for n in names):
            raise FormatError(f"the header names a field twice or not at all: {head}", path, 1)
        lines, line_no = lines.slice(1), line_no[1:]
    else:
        n = len(head)
        if n == 2:
            names = ["text"]
        elif n == 3:
            names = ["title", "text"]
        else:
            raise FormatError(
                "expected 'docid<TAB>text' or 'docid<TAB>title<TAB>text' (or a header line "
                f"naming the columns), found {n} columns: {show(lines[0].as_py())}",
                path,
                int(line_no[0]),
            )
    if len(lines) == 0:
        raise FormatError("expected at least one document after the header, found none", path)
    layout = "<TAB>".join(["docid", *names])
    cols = _split(lines, line_no, 1 + len(names), path, layout)
    fields = dict(zip(names, cols[1:]))
    main = "text" if "text" in fields else names[-1]
    return corpus_from_columns(pc.utf8_trim_whitespace(cols[0]), fields, line_no, path, main)


def _check_writable(arr: pa.Array, ids: pa.Array, what: str) -> None:
    bad = pc.match_substring_regex(arr, r"[\t\n\r]")
    if len(arr) and pc.any(bad).as_py():
        first = ids.filter(bad)[0].as_py()
        raise DataError(
            f"cannot write a {what} holding a tab or newline to a TSV file (record {first!r}); "
            "write JSONL instead"
        )


def write_queries_tsv(queries: Queries, path: PathLike) -> None:
    """``qid<TAB>text`` per query, no header (Anserini's topic layout), atomically."""
    _check_writable(queries.qids, queries.qids, "query id")
    _check_writable(queries.texts, queries.qids, "query text")
    lines = [join_lines([queries.qids, "\t", queries.texts])] if len(queries) else []
    write_lines(path, lines)


def write_corpus_tsv(corpus: Corpus, path: PathLike) -> None:
    """``docid<TAB>field...`` with a header line naming the fields, atomically."""
    names = corpus._default_order()
    _check_writable(corpus.docids, corpus.docids, "doc id")
    for n in names:
        _check_writable(corpus.fields[n], corpus.docids, f"{n!r} field")
    pieces: list[pa.Array | str] = [corpus.docids]
    for n in names:
        pieces += ["\t", corpus.fields[n]]
    header = "\t".join(["docid", *names]) + "\n"
    write_lines(path, [join_lines(pieces)] if len(corpus) else [], header=header)


__all__ = ["read_corpus_tsv", "read_queries_tsv", "write_corpus_tsv", "write_queries_tsv"]
