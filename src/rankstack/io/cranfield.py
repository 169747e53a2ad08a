"""Cranfield in its SMART/Glasgow layout (``cran.all.1400``, ``cran.qry``, ``cranqrel``).

Documents are records opened by ``.I <id>`` with fields ``.T`` (title), ``.A`` (authors),
``.B`` (bibliography) and ``.W`` (abstract), each marker alone on its line and the field's
text on the following lines. A field given twice in one record (documents 576 and 578 have two
``.W``) is concatenated, as ir_datasets does.

Queries (``cran.qry``) are ``.I <n>`` / ``.W`` records. The ``.I`` numbers (001..365) are
*not* the ids used by ``cranqrel``: the judgements number queries 1..225 in file order, so
query ids here are ``"1"``..``"225"`` in file order and the ``.I`` number is kept in the extra
field ``original_id``.

``cranqrel`` holds ``query doc code`` lines. Cleverdon's codes (``cranqrel.readme``) run
from 1 = "a complete answer to the question" to 4 = "of minimum interest" (5 = "no interest"
is not in the file), so *lower is more relevant*; each query also has exactly one ``-1`` line,
which is not a grade in the readme. :func:`read_cranfield_qrels` maps codes to gains where
higher is more relevant (``grades="relevance"``: 1→4, 2→3, 3→2, 4→1, -1 and 5→0, so the
``-1`` document counts as judged non-relevant). ``grades="raw"`` keeps the file's codes, which
is what ir_datasets (``cranfield``) returns; nDCG computed on raw codes treats "minimum
interest" as the best grade. ``grades="binary"`` gives 1 for codes 1..4 and 0 otherwise;
measures that only ask "relevant or not" (MAP, P@k, recall) are the same under all three.
"""

from __future__ import annotations

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from rankstack.data import Corpus, Qrels, Queries
from rankstack.exceptions import DataError, FormatError
from rankstack.io._checks import check_unique, check_unique_pairs, warn_empty_texts
from rankstack.io._columns import is_int, read_columns
from rankstack.io._files import PathLike, read_bytes
from rankstack.io._lines import record_lines, show, split_lines

DOC_FIELDS = {"T": "title", "A": "author", "B": "bib", "W": "text"}
GRADINGS = ("relevance", "raw", "binary")

_MARKER_RE = r"^\.(?P<code>[ITABW])(?:\s+(?P<arg>.*?))?\s*$"


def _records(
    data: bytes, path: PathLike, allowed: str
) -> tuple[pa.Array, np.ndarray, dict[str, pa.Array]]:
    """Split SMART-style records: ids, their line numbers, and the text of each field."""
    lines = split_lines(data, path)
    parts = pc.extract_regex(lines, _MARKER_RE)
    code = pc.struct_field(parts, 0)
    arg = pc.struct_field(parts, 1)
    is_marker = code.is_valid().to_numpy(zero_copy_only=False)
    is_id = pc.fill_null(pc.equal(code, "I"), False).to_numpy(zero_copy_only=False)
    n_lines = len(lines)
    marker_rows = np.flatnonzero(is_marker)
    bad = [c for c in pc.unique(code.drop_null()).to_pylist() if c != "I" and c not in allowed]
    if bad:
        hit = pc.fill_null(pc.equal(code, bad[0]), False).to_numpy(zero_copy_only=False)
        row = int(np.flatnonzero(hit)[0])
        raise FormatError(
            f"unexpected field marker '.{bad[0]}' (expected .I or one of "
            f"{', '.join('.' + a for a in allowed)})",
            path,
            row + 1,
        )
    blank = pc.equal(pc.utf8_length(pc.utf8_trim_whitespace(lines)), 0).to_numpy(
        zero_copy_only=False
    )
    first_id = int(np.flatnonzero(is_id)[0]) if is_id.any() else n_lines
    stray = np.flatnonzero(~blank[:first_id])
    if len(stray) or not is_id.any():
        row = int(stray[0]) if len(stray) else 0
        found = lines[row].as_py() if n_lines else ""
        raise FormatError(f"expected a record start '.I <id>', found {show(found)}", path, row + 1)
    id_rows = np.flatnonzero(is_id)
    ids = pc.utf8_trim_whitespace(pc.fill_null(arg.take(pa.array(id_rows)), ""))
    empty = pc.equal(pc.utf8_length(ids), 0).to_numpy(zero_copy_only=False)
    if empty.any():
        raise FormatError("'.I' needs an id", path, int(id_rows[np.flatnonzero(empty)[0]]) + 1)
    # record and field of every line, carried forward from the last marker
    record = np.cumsum(is_id) - 1
    last_marker = np.maximum.accumulate(np.where(is_marker, np.arange(n_lines), -1))
    codes = pc.fill_null(code, "").to_numpy(zero_copy_only=False)
    field_of = np.where(last_marker >= 0, codes[np.maximum(last_marker, 0)], "")
    content = ~is_marker & (record >= 0)
    has_arg = pc.fill_null(pc.greater(pc.utf8_length(arg), 0), False).to_numpy(zero_copy_only=False)
    texts: dict[str, pa.Array] = {}
    n_rec = len(id_rows)
    for letter in allowed:
        rows = np.flatnonzero(content & (field_of == letter))
        # a marker line may carry text after it (".T title"), which belongs to the field
        inline = marker_rows[(codes[marker_rows] == letter) & has_arg[marker_rows]]
        if len(inline):
            rows = np.sort(np.concatenate([rows, inline]))
        texts[letter] = _join_by_record(lines, arg, rows, inline, record, n_rec)
    text_under_id = np.flatnonzero(content & (field_of == "I") & ~blank)
    if len(text_under_id):
        row = int(text_under_id[0])
        raise FormatError(
            f"expected a field marker ({', '.join('.' + a for a in allowed)}) after '.I', "
            f"found {show(lines[row].as_py())}",
            path,
            row + 1,
        )
    return ids, id_rows + 1, texts


def _join_by_record(
    lines: pa.Array,
    arg: pa.Array,
    rows: np.ndarray,
    inline: np.ndarray,
    record: np.ndarray,
    n_rec: int,
) -> pa.Array:
    """Join the given lines with newlines per record ("" for records without them)."""
    if len(rows) == 0:
        return pa.array([""] * n_rec, pa.string())
    values = lines.take(pa.array(rows))
    if len(inline):
        is_inline = np.isin(rows, inline)
        values = pc.if_else(pa.array(is_inline), arg.take(pa.array(rows)), values)
    rec = record[rows]
    starts = np.concatenate([[0], np.flatnonzero(rec[1:] != rec[:-1]) + 1, [len(rows)]])
    grouped = pa.ListArray.from_arrays(pa.array(starts.astype(np.int32)), values)
    joined = pc.utf8_trim_whitespace(pc.binary_join(grouped, "\n"))
    where = np.full(n_rec, -1, dtype=np.int64)
    where[rec[starts[:-1]]] = np.arange(len(starts) - 1)
    return pc.fill_null(joined.take(pa.array(where, mask=where < 0)), "")


def read_cranfield_corpus(path: PathLike, *, fields: tuple[str, ...] = ("title", "text")) -> Corpus:
    """``cran.all.1400``: documents with ``title`` and ``text`` (and ``author``, ``bib`` if asked).

    The default fields match ir_datasets' ``default_text`` (title + abstract); authors and
    bibliographic notes are kept out of the index unless named in ``fields``.
    """
    unknown = [f for f in fields if f not in DOC_FIELDS.values()]
    if unknown or not fields:
        raise DataError(f"Cranfield fields are {list(DOC_FIELDS.values())}, found {list(fields)}")
    ids, line_no, texts = _records(read_bytes(path), path, "TABW")
    check_unique(ids, line_no, path, "doc id")
    by_name = {DOC_FIELDS[k]: v for k, v in texts.items()}
    cols = {f: by_name[f] for f in fields}
    main = "text" if "text" in cols else fields[0]
    corpus = Corpus.from_arrays(ids, fields=cols, text_field=main, check_unique=False)
    return Corpus(corpus.docids, corpus.fields, corpus.text_field, {"source": str(path)})


def read_cranfield_queries(path: PathLike) -> Queries:
    """``cran.qry``: query ids ``"1"``..``"225"`` in file order (the ids cranqrel uses).

    The ``.I`` number of each query is kept in ``extra["original_id"]``.
    """
    original, line_no, texts = _records(read_bytes(path), path, "W")
    check_unique(original, line_no, path, "query number (.I)")
    qids = pc.cast(pa.array(np.arange(1, len(original) + 1)), pa.string())
    warn_empty_texts(texts["W"], qids, path, "queries")
    return Queries.from_arrays(qids, texts["W"], extra={"original_id": original})


def _check_cranqrel_line(cols: list[str]) -> str | None:
    if len(cols) != 3:
        return f"expected 3 columns 'query doc code', found {len(cols)}"
    if not is_int(cols[2]):
        return f"expected an integer relevance code in column 3, found {cols[2]!r}"
    return None


def read_cranfield_qrels(path: PathLike, *, grades: str = "relevance") -> Qrels:
    """``cranqrel`` with codes mapped so that a higher label is more relevant (see module doc).

    Parameters
    ----------
    grades:
        ``"relevance"`` (default): 1→4, 2→3, 3→2, 4→1, 5 and -1→0. ``"raw"``: the file's
        codes (ir_datasets' labels). ``"binary"``: 1..4→1, else 0.
    """
    if grades not in GRADINGS:
        raise DataError(f"grades must be one of {GRADINGS}, found {grades!r}")
    data = read_bytes(path)
    table = read_columns(
        data, path, ("qid", "docid", "code"), {"code": pa.int64()}, _check_cranqrel_line
    )
    codes = table.column("code").to_numpy()
    line_no = record_lines(data, path)
    known = np.isin(codes, [-1, 1, 2, 3, 4, 5])
    if grades != "raw" and not known.all():
        row = int(np.flatnonzero(~known)[0])
        raise FormatError(
            f"unknown Cranfield relevance code {codes[row]} (expected 1..5 or -1; "
            "read with grades='raw' to keep it)",
            path,
            int(line_no[row]),
        )
    if grades == "relevance":
        labels = np.where((codes >= 1) & (codes <= 4), 5 - codes, 0)
    elif grades == "binary":
        labels = ((codes >= 1) & (codes <= 4)).astype(np.int64)
    else:
        labels = codes
    qid = table.column("qid").combine_chunks()
    docid = table.column("docid").combine_chunks()
    check_unique_pairs(qid, docid, line_no, path, "each pair is judged once")
    return Qrels.from_arrays(qid, docid, labels)


__all__ = ["read_cranfield_corpus", "read_cranfield_qrels", "read_cranfield_queries"]
