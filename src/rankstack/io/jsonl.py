"""JSON Lines queries, corpora, runs and qrels (one JSON object per line).

Accepted keys (the first present wins):

- queries: id ``qid`` | ``_id`` | ``query_id`` | ``id``; text ``text`` | ``query``
- corpus: id ``docid`` | ``_id`` | ``docno`` | ``doc_id`` | ``id``; every string field of the
  first record becomes a corpus field (BEIR: ``title``, ``text``; Pyserini: ``contents``)
- runs: ``qid`` | ``query_id``, ``docno`` | ``docid`` | ``doc_id``, ``score`` (``rank`` ignored)
- qrels: ``qid`` | ``query_id``, ``docno`` | ``docid`` | ``doc_id``,
  ``label`` | ``relevance`` | ``score``

Other keys (BEIR's ``metadata``) are ignored. Files may be gzip/bz2/xz-compressed.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Sequence

import numpy as np
import pyarrow as pa

from rankstack.data import Corpus, Qrels, Queries, Run
from rankstack.exceptions import DataError, FormatError
from rankstack.io._checks import (
    check_finite,
    check_ids_present,
    check_unique,
    check_unique_pairs,
    warn_empty_texts,
)
from rankstack.io._files import PathLike, read_bytes
from rankstack.io._jsonl import Field, read_jsonl
from rankstack.io._lines import strip_bom
from rankstack.io._text import float_text, int_text, join_lines, json_string, write_lines

logger = logging.getLogger(__name__)

QUERY_ID_KEYS = ("qid", "_id", "query_id", "id")
QUERY_TEXT_KEYS = ("text", "query")
DOC_ID_KEYS = ("docid", "_id", "docno", "doc_id", "id")
MAIN_TEXT_KEYS = ("text", "contents", "body", "abstract")
RUN_QID_KEYS = ("qid", "query_id")
RUN_DOCID_KEYS = ("docno", "docid", "doc_id")
LABEL_KEYS = ("label", "relevance", "score")


def queries_from_columns(
    ids: pa.Array, texts: pa.Array, line_no: np.ndarray, path: PathLike | None
) -> Queries:
    """Validated :class:`Queries`: ids present and unique; empty texts warned about, kept."""
    if len(ids) == 0:
        raise FormatError("expected at least one query, found none (empty file?)", path)
    check_ids_present(ids, line_no, path, "query id")
    check_unique(ids, line_no, path, "query id")
    warn_empty_texts(texts, ids, path, "queries")
    return Queries.from_arrays(ids, texts)


def corpus_from_columns(
    ids: pa.Array,
    fields: dict[str, pa.Array],
    line_no: np.ndarray,
    path: PathLike | None,
    text_field: str = "text",
) -> Corpus:
    """Validated :class:`Corpus`: at least one document, ids present and unique."""
    if len(ids) == 0:
        raise FormatError("expected at least one document, found none (empty file?)", path)
    check_ids_present(ids, line_no, path, "doc id")
    check_unique(ids, line_no, path, "doc id")
    corpus = Corpus.from_arrays(ids, fields=fields, text_field=text_field, check_unique=False)
    return Corpus(corpus.docids, corpus.fields, corpus.text_field, {"source": str(path)})


def read_queries_jsonl(path: PathLike, *, data: bytes | None = None) -> Queries:
    """Queries from JSON Lines (BEIR ``queries.jsonl`` and similar).

    Raises :class:`FormatError` for a line that is not a JSON object, a missing id or text,
    a repeated id, or an empty file.
    """
    raw = read_bytes(path) if data is None else data
    fields = [
        Field("qid", QUERY_ID_KEYS, "id"),
        Field("text", QUERY_TEXT_KEYS, "str"),
    ]
    cols, line_no = read_jsonl(raw, path, fields)
    return queries_from_columns(cols["qid"], cols["text"], line_no, path)


def read_corpus_jsonl(
    path: PathLike,
    *,
    fields: Sequence[str] | None = None,
    data: bytes | None = None,
) -> Corpus:
    """A corpus from JSON Lines (BEIR ``corpus.jsonl``, Pyserini ``{"id", "contents"}``...).

    ``fields`` names the text fields to keep; by default every string-valued key of the first
    record except the id. The main field (``text``, else ``contents``, ``body``...) is
    required on every line; other fields may be missing (empty string).
    """
    raw = read_bytes(path) if data is None else data
    id_key, names = _sniff_corpus_keys(raw, fields)
    main = next((n for n in MAIN_TEXT_KEYS if n in names), names[0])
    specs = [Field("docid", (id_key, *[k for k in DOC_ID_KEYS if k != id_key]), "id")]
    specs += [Field(n, (n,), "str", required=(n == main)) for n in names]
    cols, line_no = read_jsonl(raw, path, specs)
    docids = cols.pop("docid")
    return corpus_from_columns(docids, cols, line_no, path, text_field=main)


def _sniff_corpus_keys(data: bytes, fields: Sequence[str] | None) -> tuple[str, list[str]]:
    """The id key and text fields, from the first non-blank line (errors come later)."""
    first: dict[str, object] = {}
    head = strip_bom(data[: 1 << 20])
    for line in head.splitlines():
        if line.strip():
            try:
                obj = json.loads(line)
            except ValueError:
                break
            if isinstance(obj, dict):
                first = obj
            break
    id_key = next((k for k in DOC_ID_KEYS if k in first), "_id")
    if fields is not None:
        names = list(fields)
    else:
        names = [k for k, v in first.items() if isinstance(v, str) and k not in DOC_ID_KEYS]
        if not names:
            names = ["text"]
    if not names:
        raise DataError("read_corpus_jsonl: give at least one field")
    return id_key, names


def read_run_jsonl(path: PathLike, *, allow_duplicates: bool = False) -> Run:
    """A run from JSON Lines ``{"qid", "docno", "score"}``; order is by score, as for TREC."""
    raw = read_bytes(path)
    fields = [
        Field("qid", RUN_QID_KEYS, "id"),
        Field("docno", RUN_DOCID_KEYS, "id"),
        Field("score", ("score",), "float"),
    ]
    cols, line_no = read_jsonl(raw, path, fields)
    scores = cols["score"].to_numpy(zero_copy_only=False)
    if np.isnan(scores).any():
        row = int(np.flatnonzero(np.isnan(scores))[0])
        raise FormatError("the score is NaN; expected a number", path, int(line_no[row]))
    if not allow_duplicates:
        check_unique_pairs(
            cols["qid"],
            cols["docno"],
            line_no,
            path,
            "a ranking lists each document once",
        )
    return Run.from_arrays(
        cols["qid"],
        cols["docno"],
        scores,
        metadata={"source": str(path)},
        allow_duplicates=allow_duplicates,
    )


def read_qrels_jsonl(path: PathLike) -> Qrels:
    """Qrels from JSON Lines ``{"qid", "docno", "label"}`` (integer grades)."""
    raw = read_bytes(path)
    fields = [
        Field("qid", RUN_QID_KEYS, "id"),
        Field("docno", RUN_DOCID_KEYS, "id"),
        Field("label", LABEL_KEYS, "float"),
    ]
    cols, line_no = read_jsonl(raw, path, fields)
    labels = cols["label"].to_numpy(zero_copy_only=False)
    check_finite(labels, line_no, path, "relevance label")
    bad = labels != np.round(labels)
    if bad.any():
        row = int(np.flatnonzero(bad)[0])
        raise FormatError(
            f"expected an integer relevance label, found {labels[row]}", path, int(line_no[row])
        )
    check_unique_pairs(cols["qid"], cols["docno"], line_no, path, "each pair is judged once")
    return Qrels.from_arrays(cols["qid"], cols["docno"], labels.astype(np.int64))


# ---------------------------------------------------------------------------- writers
def write_queries_jsonl(queries: Queries, path: PathLike, *, id_key: str = "_id") -> None:
    """``{"_id": ..., "text": ...}`` per query (BEIR's layout), atomically."""
    if len(queries) == 0:
        write_lines(path, [])
        return
    lines = join_lines(
        [
            f'{{"{id_key}": ',
            json_string(queries.qids),
            ', "text": ',
            json_string(queries.texts),
            "}",
        ]
    )
    write_lines(path, [lines])


def write_corpus_jsonl(corpus: Corpus, path: PathLike, *, id_key: str = "_id") -> None:
    """``{"_id": ..., "title": ..., "text": ...}`` per document (every field), atomically."""
    pieces: list[pa.Array | str] = [f'{{"{id_key}": ', json_string(corpus.docids)]
    for name in corpus._default_order():
        pieces += [f", {json.dumps(name)}: ", json_string(corpus.fields[name])]
    pieces.append("}")
    write_lines(path, [join_lines(pieces)] if len(corpus) else [])


def write_run_jsonl(run: Run, path: PathLike) -> None:
    """``{"qid", "docno", "rank", "score"}`` per row (rank 1-based), atomically.

    Scores use the shortest text that reads back to the same float64; non-finite scores are
    written as ``Infinity``/``-Infinity``, as Python's :mod:`json` does.
    """
    if len(run) == 0:
        write_lines(path, [])
        return
    lines = join_lines(
        [
            '{"qid": ',
            json_string(run.qid_column()),
            ', "docno": ',
            json_string(run.docids),
            ', "rank": ',
            int_text(run.ranks + 1),
            ', "score": ',
            float_text(run.scores, json=True),
            "}",
        ]
    )
    write_lines(path, [lines])


def write_qrels_jsonl(qrels: Qrels, path: PathLike) -> None:
    """``{"qid", "docno", "label"}`` per judgement, atomically."""
    if len(qrels) == 0:
        write_lines(path, [])
        return
    lines = join_lines(
        [
            '{"qid": ',
            json_string(qrels.qid_column()),
            ', "docno": ',
            json_string(qrels.docids),
            ', "label": ',
            int_text(qrels.labels),
            "}",
        ]
    )
    write_lines(path, [lines])


__all__ = [
    "read_corpus_jsonl",
    "read_qrels_jsonl",
    "read_queries_jsonl",
    "read_run_jsonl",
    "write_corpus_jsonl",
    "write_qrels_jsonl",
    "write_queries_jsonl",
    "write_run_jsonl",
]
