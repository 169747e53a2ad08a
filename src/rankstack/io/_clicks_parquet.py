"""Click logs as Parquet: one row per impression, written and read in row groups.

Columns: ``session`` (int64, 0-based, consecutive), ``qid`` (string), ``position`` (int32,
0-based display position), ``docno`` (string), ``click`` (uint8), then ``dwell`` (float32,
optional) and one column per display feature. Key-value metadata: ``rankstack.kind`` =
``clicks``, ``rankstack.format_version``, ``rankstack.clicks.metadata`` (JSON provenance),
``rankstack.clicks.columns`` (optional columns and dtypes) and, added to the footer when the
writer is closed, ``rankstack.clicks.end`` (session and impression counts and the content
SHA-256).
"""

from __future__ import annotations

import contextlib
import json
from collections.abc import Iterator
from typing import IO, Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from rankstack.data import ClickLog
from rankstack.data._columns import offsets_from_sizes
from rankstack.exceptions import FormatError
from rankstack.io._clicks_common import (
    CLICKS_FORMAT_VERSION,
    PQ_COLUMNS,
    PQ_END,
    PQ_FIXED,
    PQ_KIND,
    PQ_META,
    PQ_VERSION,
    dumps,
)
from rankstack.io._files import PathLike

QID_NAMES = ("qid", "query_id")
DOCID_NAMES = ("docno", "docid", "doc_id")
CLICK_NAMES = ("click", "clicks")


def table_of(log: ClickLog, first_session: int) -> pa.Table:
    """The impression rows of ``log``, sessions numbered from ``first_session``."""
    session = log.session_index + first_session
    cols: dict[str, Any] = {
        "session": pa.array(session, type=pa.int64()),
        "qid": log.session_qids.take(pa.array(log.session_index)),
        "position": pa.array(log.positions.astype(np.int32), type=pa.int32()),
        "docno": log.docids,
        "click": pa.array(log.clicks, type=pa.uint8()),
    }
    if log.dwell is not None:
        cols["dwell"] = pa.array(log.dwell, type=pa.float32())
    for key in sorted(log.display):
        if key in PQ_FIXED:
            raise FormatError(f"display feature name {key!r} is reserved in click logs")
        cols[key] = pa.array(np.asarray(log.display[key]))
    return pa.table(cols)


def schema_metadata(columns: dict[str, str], metadata: dict[str, Any]) -> dict[bytes, bytes]:
    return {
        PQ_KIND: b"clicks",
        PQ_VERSION: str(CLICKS_FORMAT_VERSION).encode(),
        PQ_META: dumps(metadata).encode("utf-8"),
        PQ_COLUMNS: dumps(columns).encode("utf-8"),
    }


def empty_table(columns: dict[str, str]) -> pa.Table:
    fields = [
        ("session", pa.int64()),
        ("qid", pa.string()),
        ("position", pa.int32()),
        ("docno", pa.string()),
        ("click", pa.uint8()),
    ]
    for key, dtype in columns.items():
        fields.append((key, pa.from_numpy_dtype(np.dtype(dtype))))
    return pa.schema(fields).empty_table()


class ParquetSink:
    """Appends row groups to an open file; ``close(end)`` writes the end marker in the footer."""

    def __init__(self, fh: IO[bytes], columns: dict[str, str], metadata: dict[str, Any]) -> None:
        self._fh = fh
        self._meta = schema_metadata(columns, metadata)
        self._columns = columns
        self._writer: pq.ParquetWriter | None = None
        self.sessions = 0

    def write(self, log: ClickLog, row_group_rows: int) -> None:
        table = table_of(log, self.sessions).replace_schema_metadata(self._meta)
        if self._writer is None:
            self._writer = pq.ParquetWriter(self._fh, table.schema, compression="zstd")
        elif not table.schema.equals(self._writer.schema, check_metadata=False):
            raise FormatError(
                f"a chunk has columns {table.schema.names}, the log started with "
                f"{self._writer.schema.names}"
            )
        self._writer.write_table(table, row_group_size=row_group_rows)
        self.sessions += len(log)

    def abort(self) -> None:
        """Close the Parquet writer of a file about to be deleted (keeps its finaliser quiet)."""
        if self._writer is not None:
            with contextlib.suppress(OSError, ValueError, pa.ArrowException):
                self._writer.close()
            self._writer = None

    def close(self, end: dict[str, Any]) -> None:
        if self._writer is None:
            table = empty_table(self._columns).replace_schema_metadata(self._meta)
            self._writer = pq.ParquetWriter(self._fh, table.schema, compression="zstd")
            self._writer.write_table(table)
        self._writer.add_key_value_metadata({PQ_END.decode(): dumps(end)})
        self._writer.close()


# ---------------------------------------------------------------------- reading
class ParquetSource:
    """A click-log Parquet file opened for streaming: metadata now, sessions by row group."""

    def __init__(self, path: PathLike) -> None:
        self.path = path
        try:
            self.file = pq.ParquetFile(path)
        except (pa.ArrowInvalid, OSError) as exc:
            raise FormatError(
                f"not a readable Parquet file ({exc}); a click log whose writer crashed has "
                "no footer and cannot be read",
                path,
            ) from exc
        kv = self.file.metadata.metadata or {}
        kind = kv.get(PQ_KIND)
        if kind is not None and kind != b"clicks":
            raise FormatError(
                f"expected a click-log Parquet file, found a {kind.decode()} file", path
            )
        version = kv.get(PQ_VERSION)
        if version is not None and int(version) > CLICKS_FORMAT_VERSION:
            raise FormatError(
                f"written by a newer rankstack (click-log format {int(version)}, this one reads "
                f"up to {CLICKS_FORMAT_VERSION}); upgrade rankstack",
                path,
            )
        self.metadata: dict[str, Any] = json.loads(kv[PQ_META]) if PQ_META in kv else {}
        self.end: Any = json.loads(kv[PQ_END]) if PQ_END in kv else None
        names = self.file.schema_arrow.names
        self.qid = _pick(names, QID_NAMES, path, "query id")
        self.docid = _pick(names, DOCID_NAMES, path, "doc id")
        self.click = _pick(names, CLICK_NAMES, path, "click")
        if "session" not in names:
            raise FormatError(
                f"expected a 'session' column (one row per impression, grouped by session); "
                f"found columns {names}",
                path,
            )
        taken = {"session", "position", self.qid, self.docid, self.click}
        schema = self.file.schema_arrow
        self.extra = [
            n
            for n in names
            if n not in taken
            and (
                pa.types.is_integer(schema.field(n).type)
                or pa.types.is_floating(schema.field(n).type)
                or pa.types.is_boolean(schema.field(n).type)
            )
        ]
        self.has_position = "position" in names

    def empty_log(self) -> ClickLog:
        """A log without sessions that has this file's optional columns."""
        schema = self.file.schema_arrow
        dwell = None
        display: dict[str, np.ndarray] = {}
        for name in self.extra:
            dtype = schema.field(name).type.to_pandas_dtype()
            if name == "dwell":
                dwell = np.zeros(0, dtype=np.float32)
            else:
                display[name] = np.zeros(0, dtype=dtype)
        return ClickLog(
            session_qids=pa.array([], type=pa.string()),
            offsets=np.zeros(1, dtype=np.int64),
            docids=pa.array([], type=pa.string()),
            clicks=np.zeros(0, dtype=np.uint8),
            dwell=dwell,
            display=display,
            metadata=self.metadata,
        )

    def row_groups(self) -> Iterator[tuple[int, pa.Table]]:
        """(first row number, table) for each row group."""
        row = 0
        cols = ["session", self.qid, self.docid, self.click, *self.extra]
        if self.has_position:
            cols.append("position")
        for i in range(self.file.num_row_groups):
            try:
                table = self.file.read_row_group(i, columns=cols)
            except (pa.ArrowInvalid, OSError) as exc:
                raise FormatError(
                    f"row group {i} cannot be read ({exc}); the file is corrupt", self.path
                ) from exc
            yield row, table
            row += table.num_rows


def _pick(names: list[str], options: tuple[str, ...], path: PathLike, what: str) -> str:
    for n in options:
        if n in names:
            return n
    raise FormatError(f"expected a {what} column named one of {list(options)}; found {names}", path)


def logs_of(source: ParquetSource, table: pa.Table, first_row: int) -> ClickLog:
    """Sessions of a table of whole sessions (rows grouped by session, in display order)."""
    path = source.path
    n = table.num_rows
    session = table.column("session").combine_chunks()
    if session.null_count:
        raise FormatError(f"row {first_row + 1}..: the 'session' column has nulls", path)
    change = np.ones(n, dtype=bool)
    if n > 1:
        change[1:] = np.asarray(
            pc.not_equal(session.slice(1), session.slice(0, n - 1)).to_numpy(zero_copy_only=False)
        )
    starts = np.flatnonzero(change)
    sizes = np.diff(np.append(starts, n)).astype(np.int64)
    offsets = offsets_from_sizes(sizes)
    if source.has_position:
        pos = table.column("position").combine_chunks().fill_null(-1).to_numpy(zero_copy_only=False)
        expect = np.arange(n, dtype=np.int64) - np.repeat(offsets[:-1], sizes)
        bad = np.flatnonzero(pos != expect)
        if len(bad):
            r = int(bad[0])
            raise FormatError(
                f"row {first_row + r + 1}: position {int(pos[r])}, expected {int(expect[r])} "
                "(rows of a session must be consecutive and in display order, positions from 0)",
                path,
            )
    qid_rows = table.column(source.qid).combine_chunks()
    if qid_rows.null_count:
        raise FormatError(f"rows {first_row + 1}..: the query id column has nulls", path)
    qid_rows = qid_rows.cast(pa.string())
    qids = qid_rows.take(pa.array(starts))
    same = pc.equal(qid_rows, qids.take(pa.array(np.repeat(np.arange(len(starts)), sizes))))
    if not pc.all(same).as_py():
        r = int(np.flatnonzero(~np.asarray(same.to_numpy(zero_copy_only=False)))[0])
        raise FormatError(f"row {first_row + r + 1}: the query id changes within a session", path)
    docids = table.column(source.docid).combine_chunks()
    if docids.null_count:
        raise FormatError(f"rows {first_row + 1}..: the doc id column has nulls", path)
    clicks_raw = table.column(source.click).combine_chunks()
    clicks = clicks_raw.cast(pa.int64()).fill_null(-1).to_numpy(zero_copy_only=False)
    bad_c = np.flatnonzero((clicks != 0) & (clicks != 1))
    if len(bad_c):
        r = int(bad_c[0])
        raise FormatError(
            f"row {first_row + r + 1}: click flags must be 0 or 1, found {int(clicks[r])}", path
        )
    dwell = None
    display: dict[str, np.ndarray] = {}
    for name in source.extra:
        col = table.column(name).combine_chunks()
        if name == "dwell":
            dwell = col.cast(pa.float32()).fill_null(np.nan).to_numpy(zero_copy_only=False)
        elif pa.types.is_floating(col.type):
            display[name] = col.fill_null(np.nan).to_numpy(zero_copy_only=False)
        else:
            if col.null_count:
                raise FormatError(
                    f"rows {first_row + 1}..: integer column {name!r} has nulls", path
                )
            display[name] = col.to_numpy(zero_copy_only=False)
    return ClickLog(
        session_qids=qids,
        offsets=offsets,
        docids=docids.cast(pa.string()),
        clicks=clicks.astype(np.uint8),
        dwell=dwell,
        display=display,
        metadata=source.metadata,
    )
