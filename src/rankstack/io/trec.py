"""TREC run files (``qid Q0 docid rank score tag``) and qrels (``qid iter docid grade``)."""

from __future__ import annotations

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.csv as pacsv

from rankstack.data import Qrels, Run
from rankstack.exceptions import DataError, FormatError
from rankstack.io._columns import is_float, is_int, read_columns
from rankstack.io._files import PathLike, atomic_write, read_bytes

RUN_COLUMNS = ("qid", "q0", "docid", "rank", "score", "tag")
QRELS_COLUMNS = ("qid", "iter", "docid", "label")


def _check_run_line(cols: list[str]) -> str | None:
    if len(cols) != 6:
        return f"expected 6 columns 'qid Q0 docid rank score tag', found {len(cols)}"
    if not is_float(cols[4]):
        return f"expected a numeric score in column 5, found {cols[4]!r}"
    if cols[4].strip().lower() in ("nan", "+nan", "-nan"):
        return "the score in column 5 is NaN"
    return None


def read_run(path: PathLike, *, allow_duplicates: bool = False) -> Run:
    """Read a TREC run; ranks in the file are ignored, as trec_eval ignores them.

    Rows are ordered by score with ties broken by descending doc id (trec_eval's order). A doc
    id listed twice for a query raises :class:`FormatError` naming both lines (trec_eval
    refuses such runs too).
    """
    data = read_bytes(path)
    table = read_columns(
        data,
        path,
        RUN_COLUMNS,
        {"score": pa.float64(), "rank": pa.string()},
        _check_run_line,
    )
    scores = table.column("score").to_numpy()
    if np.isnan(scores).any():
        bad = int(np.flatnonzero(np.isnan(scores))[0])
        raise FormatError(f"score is NaN (data row {bad + 1})", path, _line_of_row(data, bad))
    tag = table.column("tag")
    meta = {"tag": tag[0].as_py()} if len(tag) else {}
    try:
        return Run.from_arrays(
            table.column("qid"),
            table.column("docid"),
            scores,
            metadata={**meta, "source": str(path)},
            allow_duplicates=allow_duplicates,
        )
    except DataError as exc:
        raise _locate_duplicate(exc, table, data, path) from exc


def _locate_duplicate(exc: DataError, table: pa.Table, data: bytes, path: PathLike) -> FormatError:
    q = table.column("qid").combine_chunks()
    d = table.column("docid").combine_chunks()
    key = pc.binary_join_element_wise(q, d, "\x00")
    counts = pc.value_counts(key)
    dup = counts.filter(pc.greater(counts.field("counts"), 1))
    if len(dup) == 0:
        return FormatError(str(exc), path)
    first = dup.field("values")[0]
    rows = np.flatnonzero(pc.equal(key, first).to_numpy(zero_copy_only=False))
    qid, docid = first.as_py().split("\x00", 1)
    lines = [_line_of_row(data, int(r)) for r in rows[:2]]
    return FormatError(
        f"doc id {docid!r} is listed more than once for query {qid!r} (also at line {lines[0]});"
        " each document may appear once per query",
        path,
        lines[-1],
    )


def _line_of_row(data: bytes, row: int) -> int:
    """1-based line number of the ``row``-th non-blank line (error path only)."""
    seen = -1
    for number, line in enumerate(data.splitlines(), start=1):
        if line.strip():
            seen += 1
            if seen == row:
                return number
    return seen + 1


def write_run(run: Run, path: PathLike, tag: str | None = None) -> None:
    """Write ``qid Q0 docid rank score tag`` lines (rank 1-based), atomically.

    Scores are written with the shortest repr that reads back to the same float64, so a run
    written and read again is bit-identical.
    """
    tag = tag or str(run.metadata.get("tag", "rankstack"))
    if not tag or any(c.isspace() for c in tag):
        raise DataError(f"a run tag must be one word without spaces, found {tag!r}")
    n = len(run)
    table = pa.table(
        {
            "qid": run.qid_column(),
            "q0": pa.array(np.full(n, "Q0", dtype=object), pa.string()),
            "docid": run.docids,
            "rank": pa.array(run.ranks + 1),
            "score": pc.cast(pa.array(run.scores), pa.string()),
            "tag": pa.array(np.full(n, tag, dtype=object), pa.string()),
        }
    )
    _check_ids_writable(run.docids, "doc id")
    _check_ids_writable(run.qids, "query id")
    _write_table(table, path)


def _check_ids_writable(ids: pa.Array, what: str) -> None:
    if len(ids) and pc.any(pc.match_substring_regex(ids, r"\s|^$")).as_py():
        bad = ids.filter(pc.match_substring_regex(ids, r"\s|^$"))[0].as_py()
        raise DataError(f"cannot write a {what} with whitespace or empty in a TREC file: {bad!r}")


def _write_table(table: pa.Table, path: PathLike) -> None:
    with atomic_write(path, "wb") as fh:
        if len(table):
            pacsv.write_csv(
                table,
                fh,
                write_options=pacsv.WriteOptions(
                    include_header=False, delimiter=" ", quoting_style="none"
                ),
            )


def _check_qrels_line(cols: list[str]) -> str | None:
    if len(cols) != 4:
        return f"expected 4 columns 'qid iter docid grade', found {len(cols)}"
    if not is_int(cols[3]):
        return f"expected an integer relevance grade in column 4, found {cols[3]!r}"
    return None


def read_qrels(path: PathLike, *, on_duplicate: str = "raise") -> Qrels:
    """Read TREC qrels; grades are integers and may be negative."""
    data = read_bytes(path)
    table = read_columns(data, path, QRELS_COLUMNS, {"label": pa.int64()}, _check_qrels_line)
    try:
        return Qrels.from_arrays(
            table.column("qid"),
            table.column("docid"),
            table.column("label").to_numpy(),
            on_duplicate=on_duplicate,
        )
    except DataError as exc:
        raise FormatError(str(exc), path) from exc


def write_qrels(qrels: Qrels, path: PathLike) -> None:
    """Write ``qid 0 docid grade`` lines, atomically."""
    n = len(qrels)
    table = pa.table(
        {
            "qid": qrels.qid_column(),
            "iter": pa.array(np.full(n, "0", dtype=object), pa.string()),
            "docid": qrels.docids,
            "label": pa.array(qrels.labels),
        }
    )
    _write_table(table, path)
