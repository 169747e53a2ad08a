"""Parquet runs, qrels, queries and corpora (``pyarrow.parquet``).

Files written here carry ``rankstack.kind`` (``run``/``qrels``/``queries``/``corpus``) and
``rankstack.format_version`` in the schema metadata, checked on read. Parquet files from
elsewhere are read when their column names are recognised (PyTerrier's ``qid``/``docno``/
``score``/``label``/``query``, BEIR's ``query-id``/``corpus-id``/``_id``, ...).

Columns: runs ``qid, docno, score`` (+ ``features``, a fixed-size list of float32, with the
names in the metadata); qrels ``qid, docno, label``; queries ``qid, query`` (+ extra string
columns); corpus ``docno`` + one string column per field.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import IO, Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from rankstack.data import Corpus, Qrels, Queries, Run
from rankstack.exceptions import DataError, FormatError
from rankstack.io._checks import check_ids_present, check_unique, check_unique_pairs
from rankstack.io._files import PathLike, atomic_write, read_bytes

FORMAT_VERSION = 1
_KIND = b"rankstack.kind"
_VERSION = b"rankstack.format_version"
_EXTRA = b"rankstack.extra"

QID_NAMES = ("qid", "query_id", "query-id", "topic")
DOCID_NAMES = ("docno", "docid", "doc_id", "corpus-id", "_id", "id")
LABEL_NAMES = ("label", "relevance", "rel", "score")
TEXT_NAMES = ("query", "text", "title")


def _write(table: pa.Table, path: PathLike, kind: str, extra: dict[str, Any] | None = None) -> None:
    meta = {_KIND: kind.encode(), _VERSION: str(FORMAT_VERSION).encode()}
    if extra:
        meta[_EXTRA] = json.dumps(extra, default=str).encode()
    table = table.replace_schema_metadata(meta)
    with atomic_write(path, "wb") as fh:
        out: IO[bytes] = fh  # type: ignore[assignment]
        pq.write_table(table, out, compression="zstd")


def _read(path: PathLike, kind: str) -> tuple[pa.Table, dict[str, Any]]:
    data = read_bytes(path)
    if not data.startswith(b"PAR1"):
        raise FormatError("expected a Parquet file (magic bytes 'PAR1'), found other data", path)
    try:
        table = pq.read_table(pa.py_buffer(data))
    except (pa.ArrowInvalid, OSError) as exc:
        raise FormatError(f"cannot read the Parquet file: {exc}", path) from exc
    meta = table.schema.metadata or {}
    found = meta.get(_KIND)
    if found is not None and found.decode() != kind:
        raise FormatError(f"expected a {kind} Parquet file, found a {found.decode()} file", path)
    version = meta.get(_VERSION)
    if version is not None and int(version) > FORMAT_VERSION:
        raise FormatError(
            f"written by a newer rankstack (format version {int(version)}, this one reads up "
            f"to {FORMAT_VERSION}); upgrade rankstack",
            path,
        )
    extra = json.loads(meta[_EXTRA]) if _EXTRA in meta else {}
    return table, extra


def _column(
    table: pa.Table, names: Sequence[str], path: PathLike, what: str, *, skip: Sequence[str] = ()
) -> tuple[str, pa.Array]:
    for n in names:
        if n in table.column_names and n not in skip:
            col = table.column(n).combine_chunks()
            if col.null_count:
                raise FormatError(
                    f"column {n!r} ({what}) has {col.null_count} missing values", path
                )
            return n, col
    raise FormatError(
        f"expected a {what} column named one of {list(names)}; found {table.column_names}", path
    )


def _ids(col: pa.Array, path: PathLike, name: str) -> pa.Array:
    if pa.types.is_dictionary(col.type):
        col = col.cast(col.type.value_type)
    if pa.types.is_integer(col.type):
        return pc.cast(col, pa.string())
    if pa.types.is_string(col.type) or pa.types.is_large_string(col.type):
        return col
    raise FormatError(f"column {name!r} must hold strings or integers, found {col.type}", path)


def _rows(n: int) -> np.ndarray:
    """Data rows numbered from 1 (Parquet has no lines; errors give the row as 'line')."""
    return np.arange(1, n + 1, dtype=np.int64)


# ------------------------------------------------------------------------------ runs
def write_run_parquet(run: Run, path: PathLike) -> None:
    """Write a run (with its features and metadata), atomically."""
    cols: dict[str, Any] = {
        "qid": run.qid_column(),
        "docno": run.docids,
        "score": pa.array(run.scores),
    }
    if run.features is not None:
        width = run.features.shape[1]
        flat = pa.array(np.ascontiguousarray(run.features, dtype=np.float32).reshape(-1))
        cols["features"] = pa.FixedSizeListArray.from_arrays(flat, width)
    extra = {"feature_names": list(run.feature_names), "metadata": dict(run.metadata)}
    _write(pa.table(cols), path, "run", extra)


def read_run_parquet(path: PathLike, *, allow_duplicates: bool = False) -> Run:
    """A run from Parquet (``qid``, ``docno``, ``score`` and optional ``features``)."""
    table, extra = _read(path, "run")
    qn, qid = _column(table, QID_NAMES, path, "query id")
    dn, docid = _column(table, DOCID_NAMES, path, "doc id")
    _, score = _column(table, ("score",), path, "score")
    if not (pa.types.is_floating(score.type) or pa.types.is_integer(score.type)):
        raise FormatError(f"column 'score' must be numeric, found {score.type}", path)
    scores = pc.cast(score, pa.float64()).to_numpy(zero_copy_only=False)
    qid, docid = _ids(qid, path, qn), _ids(docid, path, dn)
    rows = _rows(len(scores))
    if np.isnan(scores).any():
        raise FormatError("a score is NaN", path, int(rows[np.isnan(scores)][0]))
    if not allow_duplicates:
        check_unique_pairs(qid, docid, rows, path, "a ranking lists each document once")
    feats = None
    names: list[str] | None = None
    if "features" in table.column_names:
        col = table.column("features").combine_chunks()
        if not pa.types.is_fixed_size_list(col.type):
            raise FormatError(
                f"column 'features' must be a fixed-size list, found {col.type}", path
            )
        width = col.type.list_size
        feats = col.flatten().to_numpy(zero_copy_only=False).astype(np.float32).reshape(-1, width)
        names = list(extra.get("feature_names") or [f"f{i}" for i in range(width)])
        if len(names) != width:
            raise FormatError(f"{width} feature columns but {len(names)} feature names", path)
    meta = extra.get("metadata") if isinstance(extra.get("metadata"), dict) else {}
    return Run.from_arrays(
        qid,
        docid,
        scores,
        features=feats,
        feature_names=names,
        metadata={**(meta or {}), "source": str(path)},
        allow_duplicates=allow_duplicates,
    )


# ----------------------------------------------------------------------------- qrels
def write_qrels_parquet(qrels: Qrels, path: PathLike) -> None:
    """Write qrels (``qid``, ``docno``, ``label``), atomically."""
    _write(qrels.to_arrow(), path, "qrels")


def read_qrels_parquet(path: PathLike) -> Qrels:
    """Qrels from Parquet; labels must be integers."""
    table, _ = _read(path, "qrels")
    qn, qid = _column(table, QID_NAMES, path, "query id")
    dn, docid = _column(table, DOCID_NAMES, path, "doc id")
    _, label = _column(table, LABEL_NAMES, path, "relevance label", skip=(dn,))
    if pa.types.is_floating(label.type):
        values = label.to_numpy(zero_copy_only=False)
        bad = ~np.isfinite(values) | (values != np.round(values))
        if bad.any():
            row = int(np.flatnonzero(bad)[0])
            raise FormatError(f"expected an integer label, found {values[row]}", path, row + 1)
        label = pc.cast(label, pa.int64())
    if not pa.types.is_integer(label.type):
        raise FormatError(f"the label column must be integer, found {label.type}", path)
    qid, docid = _ids(qid, path, qn), _ids(docid, path, dn)
    check_unique_pairs(qid, docid, _rows(len(qid)), path, "each pair is judged once")
    return Qrels.from_arrays(qid, docid, label.to_numpy(zero_copy_only=False))


# --------------------------------------------------------------------------- queries
def write_queries_parquet(queries: Queries, path: PathLike) -> None:
    """Write queries (``qid``, ``query`` and extra fields), atomically."""
    _write(queries.to_arrow(), path, "queries")


def read_queries_parquet(path: PathLike) -> Queries:
    """Queries from Parquet (``qid`` and ``query``/``text``; other string columns kept)."""
    table, _ = _read(path, "queries")
    qn, qid = _column(table, QID_NAMES, path, "query id")
    tn, text = _column(table, TEXT_NAMES, path, "query text")
    if not pa.types.is_string(text.type) and not pa.types.is_large_string(text.type):
        raise FormatError(f"column {tn!r} must hold strings, found {text.type}", path)
    qid = _ids(qid, path, qn)
    rows = _rows(len(qid))
    if len(qid) == 0:
        raise FormatError("expected at least one query, found none", path)
    check_ids_present(qid, rows, path, "query id")
    check_unique(qid, rows, path, "query id")
    extra = {
        n: table.column(n).combine_chunks()
        for n in table.column_names
        if n not in (qn, tn) and pa.types.is_string(table.schema.field(n).type)
    }
    return Queries.from_arrays(qid, pc.fill_null(text, ""), extra=extra)


# ---------------------------------------------------------------------------- corpus
def write_corpus_parquet(corpus: Corpus, path: PathLike) -> None:
    """Write a corpus (``docno`` and one column per field), atomically."""
    _write(corpus.to_arrow(), path, "corpus", {"text_field": corpus.text_field})


def read_corpus_parquet(path: PathLike) -> Corpus:
    """A corpus from Parquet: an id column and every string column as a field."""
    table, extra = _read(path, "corpus")
    dn, docid = _column(table, DOCID_NAMES, path, "doc id")
    docid = _ids(docid, path, dn)
    rows = _rows(len(docid))
    if len(docid) == 0:
        raise FormatError("expected at least one document, found none", path)
    check_ids_present(docid, rows, path, "doc id")
    check_unique(docid, rows, path, "doc id")
    fields = {
        n: pc.fill_null(table.column(n).combine_chunks(), "")
        for n in table.column_names
        if n != dn
        and (
            pa.types.is_string(table.schema.field(n).type)
            or pa.types.is_large_string(table.schema.field(n).type)
        )
    }
    if not fields:
        raise FormatError(f"expected at least one text column; found {table.column_names}", path)
    main = str(extra.get("text_field", "text"))
    if main not in fields:
        main = "text" if "text" in fields else next(iter(fields))
    try:
        corpus = Corpus.from_arrays(docid, fields=fields, text_field=main, check_unique=False)
    except DataError as exc:
        raise FormatError(str(exc), path) from exc
    return Corpus(corpus.docids, corpus.fields, corpus.text_field, {"source": str(path)})


__all__ = [
    "FORMAT_VERSION",
    "read_corpus_parquet",
    "read_qrels_parquet",
    "read_queries_parquet",
    "read_run_parquet",
    "write_corpus_parquet",
    "write_qrels_parquet",
    "write_queries_parquet",
    "write_run_parquet",
]
