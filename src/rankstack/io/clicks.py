"""Click logs on disk: JSON Lines for exchange, Parquet for volume, both streamable.

- **JSONL** (``.jsonl``, ``.jsonl.gz``...): a header line, one session per line
  (``{"qid": ..., "docids": [...], "clicks": [0, 1, ...], "dwell": [...]?, "<feature>": [...]?}``)
  and an end line. See :mod:`rankstack.io._clicks_jsonl`.
- **Parquet** (``.parquet``): one row per impression (``session, qid, position, docno, click``,
  ``dwell``?, display features), written in row groups of whole sessions. See
  :mod:`rankstack.io._clicks_parquet`.

Every file is written to a temporary name beside the target and renamed when the writer is
closed, and ends with an **end marker** (the JSONL ``_end`` line, the Parquet footer key
``rankstack.clicks.end``) holding the session and impression counts and a content SHA-256
(:func:`content_checksum`). A reader refuses a file without a valid marker, a log left
half-written by a crash or a foreign file, unless ``allow_incomplete=True``; a marker that does
not match the content (truncated, edited) is always an error. The format is specified in
``docs/clicks.md``.

Validation (:func:`validate_clicks`, run by the readers): an empty displayed list, a list
longer than the declared ``k`` (argument, or ``k`` in the log's metadata), click vectors of
another length than the list (clicks on positions not shown) and query ids outside a given
query set raise :class:`~rankstack.exceptions.FormatError` naming the file and line (JSONL) or
row (Parquet). Sessions without clicks are valid; :mod:`rankstack.ultr.stats` counts them.
"""

from __future__ import annotations

import contextlib
import dataclasses
import gzip
import json
import logging
import os
import re
from collections.abc import Iterable, Iterator
from pathlib import Path
from types import TracebackType
from typing import IO, Any, Literal

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from rankstack.data import ClickLog
from rankstack.exceptions import DataError, FormatError
from rankstack.io._clicks_common import (
    CLICKS_FORMAT_VERSION,
    JSONL_HEADER_KEY,
    ContentHasher,
    check_end,
    columns_of,
    content_checksum,
    jsonable,
)
from rankstack.io._clicks_jsonl import (
    end_line,
    header_line,
    iter_blocks,
    open_stream,
    parse_block,
    session_lines,
)
from rankstack.io._clicks_parquet import ParquetSink, ParquetSource, logs_of
from rankstack.io._files import PathLike, compression_of, temp_file_beside

logger = logging.getLogger(__name__)

__all__ = [
    "CLICKS_FORMAT_VERSION",
    "ClickLogWriter",
    "click_log_format",
    "content_checksum",
    "iter_click_chunks",
    "read_click_metadata",
    "read_clicks",
    "validate_clicks",
    "write_clicks",
]

ClickFormat = Literal["jsonl", "parquet"]
#: sessions per chunk when streaming a log by default
DEFAULT_CHUNK_SESSIONS = 100_000
#: sessions per Parquet row group by default (about 300,000 rows at k = 10: a reader holds
#: one row group, so smaller groups keep streaming memory low)
DEFAULT_ROW_GROUP_SESSIONS = 1 << 15
_JSONL_BLOCK = 8 << 20  # decompressed bytes parsed at a time (8 MB: lower memory, no slower)
_PARQUET_SUFFIXES = (".parquet", ".pq")
_JSONL_SUFFIXES = (".jsonl", ".ndjson", ".json")
_END_RE = re.compile(rb'\s*\{\s*"_end"')
_HEADER_RE = re.compile(rb'\s*\{\s*"_rankstack_clicks"')


def click_log_format(path: PathLike, *, reading: bool = False) -> ClickFormat:
    """``"parquet"`` or ``"jsonl"`` from the name (and, when reading, the magic bytes)."""
    p = Path(path)
    name = p.name.lower()
    for comp in (".gz", ".bz2", ".xz"):
        if name.endswith(comp):
            name = name[: -len(comp)]
    if name.endswith(_PARQUET_SUFFIXES):
        return "parquet"
    if name.endswith(_JSONL_SUFFIXES):
        return "jsonl"
    if reading and p.is_file():
        with open(p, "rb") as fh:
            if fh.read(4) == b"PAR1":
                return "parquet"
        return "jsonl"
    raise FormatError(
        "cannot tell the click-log format from the name: use .parquet, .jsonl or .jsonl.gz", p
    )


# ---------------------------------------------------------------------- validation
def _known_qids(queries: Any) -> pa.Array:
    """Query ids from Queries, a Run, LetorData, or an iterable of ids."""
    for attr in ("qids",):
        if hasattr(queries, attr):
            return pa.array(getattr(queries, attr)).cast(pa.string())
    run = getattr(queries, "run", None)
    if run is not None and hasattr(run, "qids"):
        return pa.array(run.qids).cast(pa.string())
    if isinstance(queries, (pa.Array, pa.ChunkedArray)):
        return queries.cast(pa.string())
    if isinstance(queries, Iterable):
        return pa.array([str(q) for q in queries], type=pa.string())
    raise DataError(f"expected queries (Queries, Run, LetorData or ids), found {type(queries)}")


def validate_clicks(
    log: ClickLog,
    *,
    k: int | None = None,
    queries: Any = None,
    path: PathLike | None = None,
    lines: np.ndarray | None = None,
    first_row: int = 0,
) -> None:
    """Check the displayed lists and query ids of a click log.

    Raises :class:`FormatError` (with ``path`` and the session's 1-based line when ``lines``
    gives one per session) or :class:`DataError` for an in-memory log, for: an empty displayed
    list; a list longer than ``k`` (the declared list length, default ``log.metadata["k"]``);
    a query id not among ``queries`` (:class:`~rankstack.data.Queries`, a run, a LETOR set or
    an iterable of ids). Sessions with no click are valid.
    """
    declared = k if k is not None else log.metadata.get("k")

    def fail(session: int, message: str) -> Exception:
        if lines is not None:
            return FormatError(message, path, int(lines[session]))
        where = f"session {first_row + session}"
        if path is not None:
            return FormatError(f"{where}: {message}", path)
        return DataError(f"click log, {where}: {message}")

    sizes = log.sizes
    empty = np.flatnonzero(sizes == 0)
    if len(empty):
        raise fail(
            int(empty[0]),
            f"the displayed list is empty ({len(empty)} such sessions in this chunk); a session "
            "shows at least one document",
        )
    if declared is not None:
        long = np.flatnonzero(sizes > int(declared))
        if len(long):
            s = int(long[0])
            raise fail(
                s,
                f"the session shows {int(sizes[s])} documents, more than the declared k="
                f"{int(declared)} ({len(long)} such sessions in this chunk)",
            )
    if queries is not None and len(log):
        known = _known_qids(queries)
        unknown = np.flatnonzero(
            ~np.asarray(pc.is_in(log.session_qids, value_set=known).to_numpy(zero_copy_only=False))
        )
        if len(unknown):
            s = int(unknown[0])
            distinct = len(pc.unique(log.session_qids.take(pa.array(unknown))))
            raise fail(
                s,
                f"query id {log.session_qids[s].as_py()!r} is not among the {len(known)} known "
                f"queries ({len(unknown)} sessions in this chunk, {distinct} distinct unknown "
                "ids)",
            )


# ---------------------------------------------------------------------- writing
class ClickLogWriter:
    """Write a click log chunk by chunk; the file appears, complete, only on :meth:`close`.

    Use as a context manager: on an exception the temporary file is removed and no log (nor a
    partial one) appears at ``path``; an existing file there is left untouched.

    Parameters
    ----------
    path:
        ``.parquet`` or ``.jsonl`` (``.jsonl.gz`` compressed).
    metadata:
        Provenance stored in the file (click model, parameters, propensities...). Default: the
        metadata of the first chunk written.
    row_group_sessions:
        Parquet: the most sessions per row group (row groups hold whole sessions).
    """

    def __init__(
        self,
        path: PathLike,
        *,
        metadata: dict[str, Any] | None = None,
        row_group_sessions: int = DEFAULT_ROW_GROUP_SESSIONS,
    ) -> None:
        self.path = Path(path)
        self.format = click_log_format(self.path)
        self.metadata = None if metadata is None else jsonable(metadata)
        self.row_group_sessions = row_group_sessions
        self._hasher = ContentHasher()
        self._columns: dict[str, str] | None = None
        self._tmp = temp_file_beside(self.path)
        raw: IO[bytes] = open(self._tmp, "wb")  # noqa: SIM115
        self._raw = raw
        self._out: IO[bytes] = raw
        if self.format == "jsonl" and self.path.name.lower().endswith(".gz"):
            self._out = gzip.GzipFile(fileobj=raw, mode="wb", compresslevel=1, mtime=0)  # type: ignore[assignment]
        self._sink: ParquetSink | None = None
        self._closed = False

    @property
    def sessions(self) -> int:
        """Sessions written so far."""
        return self._hasher.sessions

    @property
    def impressions(self) -> int:
        return self._hasher.impressions

    def _start(self, log: ClickLog | None) -> None:
        self._columns = columns_of(log) if log is not None else {}
        if self.metadata is None:
            self.metadata = jsonable(dict(log.metadata)) if log is not None else {}
        meta = self.metadata or {}
        if self.format == "jsonl":
            self._out.write(header_line(self._columns, meta))
        else:
            self._sink = ParquetSink(self._out, self._columns, meta)

    def write(self, log: ClickLog) -> None:
        """Append the sessions of ``log`` (its optional columns must match the first chunk's)."""
        if self._closed:
            raise DataError("ClickLogWriter: write() after close()")
        if self._columns is None:
            self._start(log)
        elif columns_of(log) != self._columns:
            raise DataError(
                f"ClickLogWriter: a chunk has optional columns {columns_of(log)}, the log started "
                f"with {self._columns}"
            )
        if len(log) == 0:
            return
        if (log.sizes == 0).any():
            validate_clicks(log, first_row=self.sessions)
        self._hasher.update(log)
        if self.format == "jsonl":
            self._out.write(session_lines(log))
        else:
            assert self._sink is not None
            step = max(1, self.row_group_sessions)
            for start in range(0, len(log), step):
                part = log.slice_sessions(start, start + step)
                self._sink.write(part, row_group_rows=max(1, part.n_impressions))

    def close(self) -> Path:
        """Write the end marker and move the finished file into place; returns the path."""
        if self._closed:
            return self.path
        try:
            if self._columns is None:
                self._start(None)
            end = self._hasher.end_record()
            if self.format == "jsonl":
                self._out.write(end_line(end))
            else:
                assert self._sink is not None
                self._sink.close(end)
            if self._out is not self._raw:
                self._out.close()
            self._raw.close()
            os.replace(self._tmp, self.path)
        except BaseException:
            self.abort()
            raise
        self._closed = True
        logger.info("wrote %d sessions to %s", self.sessions, self.path)
        return self.path

    def abort(self) -> None:
        """Drop the temporary file; nothing appears at ``path``."""
        self._closed = True
        if self._sink is not None:
            self._sink.abort()
        with contextlib.suppress(Exception):
            if self._out is not self._raw:
                self._out.close()
        with contextlib.suppress(Exception):
            self._raw.close()
        with contextlib.suppress(OSError):
            os.unlink(self._tmp)

    def __enter__(self) -> ClickLogWriter:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        if exc_type is None:
            self.close()
        else:
            self.abort()


def write_clicks(
    log: ClickLog,
    path: PathLike,
    *,
    metadata: dict[str, Any] | None = None,
    row_group_sessions: int = DEFAULT_ROW_GROUP_SESSIONS,
) -> Path:
    """Write a whole log atomically (``.parquet`` or ``.jsonl``/``.jsonl.gz``); returns the path."""
    with ClickLogWriter(
        path,
        metadata=metadata if metadata is not None else dict(log.metadata),
        row_group_sessions=row_group_sessions,
    ) as writer:
        writer.write(log)
    return Path(path)


# ---------------------------------------------------------------------- reading
def read_click_metadata(path: PathLike) -> dict[str, Any]:
    """The provenance stored in a click log (cheap: the JSONL header or the Parquet footer)."""
    if click_log_format(path, reading=True) == "parquet":
        return ParquetSource(path).metadata
    head, _ = _jsonl_header(path)
    meta = head.get("metadata") if head else None
    return dict(meta) if isinstance(meta, dict) else {}


def _incomplete(problem: str, path: PathLike, allow_incomplete: bool) -> None:
    if allow_incomplete:
        logger.warning("%s: %s; reading it as is (allow_incomplete)", path, problem)
        return
    raise FormatError(
        f"{problem}. Refusing to read it as complete; pass allow_incomplete=True "
        "(--allow-incomplete) to read the sessions it holds",
        path,
    )


def _jsonl_tail_has_end(path: PathLike) -> bool | None:
    """Uncompressed files: whether the last non-blank line is an end marker (None: unknown)."""
    p = Path(path)
    if not p.is_file() or compression_of(p) is not None:
        return None
    size = p.stat().st_size
    with open(p, "rb") as fh:
        fh.seek(max(0, size - 4096))
        tail = fh.read()
    lines = [ln for ln in tail.splitlines() if ln.strip()]
    return bool(lines) and _END_RE.match(lines[-1]) is not None


def _jsonl_header(path: PathLike) -> tuple[dict[str, Any] | None, int | None]:
    """The header object of a JSONL log and its line, read from the first non-blank line."""
    with open_stream(path) as fh:
        num = 0
        for raw in fh:
            num += 1
            if not raw.strip():
                continue
            if not _HEADER_RE.match(raw):
                return None, None
            try:
                obj = json.loads(raw)
            except ValueError as exc:
                raise FormatError(f"a malformed header line ({exc})", path, num) from exc
            head = obj.get(JSONL_HEADER_KEY) if isinstance(obj, dict) else None
            if not isinstance(head, dict) or head.get("version") is None:
                raise FormatError("a malformed header line", path, num)
            if int(head["version"]) > CLICKS_FORMAT_VERSION:
                raise FormatError(
                    f"written by a newer rankstack (click-log format {head['version']}, this "
                    f"one reads up to {CLICKS_FORMAT_VERSION}); upgrade rankstack",
                    path,
                    num,
                )
            return head, num
    return None, None


def _iter_jsonl(
    path: PathLike, allow_incomplete: bool, k: int | None, queries: Any
) -> Iterator[ClickLog]:
    if _jsonl_tail_has_end(path) is False:
        _incomplete(
            "the log has no end marker: it was not finalised (a writer that crashed or was "
            "killed) or was written by another tool",
            path,
            allow_incomplete,
        )
        allow_incomplete = True
    head, head_line = _jsonl_header(path)
    metadata: dict[str, Any] = dict(head.get("metadata") or {}) if head else {}
    columns: dict[str, str] | None = (
        {str(c): str(t) for c, t in dict(head.get("columns") or {}).items()} if head else None
    )
    declared_k = k if k is not None else metadata.get("k")
    hasher = ContentHasher()
    end: Any = None
    end_line_no: int | None = None
    for data, first_line in iter_blocks(path, _JSONL_BLOCK):
        try:
            block = parse_block(data, first_line, path, columns)
        except FormatError as exc:
            cut_short = not data.endswith(b"\n") and exc.line == first_line + data.count(b"\n")
            if not (allow_incomplete and cut_short and end is None):
                raise
            logger.warning("%s: dropping the last line, cut short (%s)", path, exc.reason)
            block = parse_block(data[: data.rfind(b"\n") + 1], first_line, path, columns)
        if block.header is not None and block.header_line != head_line:
            raise FormatError("a header line that is not the first line", path, block.header_line)
        if end is not None and (block.log is not None or block.end is not None):
            raise FormatError(
                f"data after the end marker of line {end_line_no} (two logs concatenated?)",
                path,
                int(block.lines[0]) if len(block.lines) else block.end_line,
            )
        if block.extra_after_end is not None:
            raise FormatError(
                f"data after the end marker of line {block.end_line} (two logs concatenated?)",
                path,
                block.extra_after_end,
            )
        if block.end is not None:
            end, end_line_no = block.end, block.end_line
        if block.log is None:
            continue
        if columns is None:
            columns = block.columns
        log = dataclasses.replace(block.log, metadata=metadata)
        validate_clicks(log, k=declared_k, queries=queries, path=path, lines=block.lines)
        hasher.update(log)
        yield log
    problem = check_end(end, hasher)
    if problem is not None:
        if end is None:
            _incomplete(problem, path, allow_incomplete)
        else:
            raise FormatError(problem, path, end_line_no)


def _iter_parquet(
    path: PathLike, allow_incomplete: bool, k: int | None, queries: Any
) -> Iterator[ClickLog]:
    source = ParquetSource(path)
    if source.end is None:
        _incomplete(
            "the log has no end marker in its footer: it was not finalised by "
            "ClickLogWriter or was written by another tool",
            path,
            allow_incomplete,
        )
    declared_k = k if k is not None else source.metadata.get("k")
    hasher = ContentHasher()
    pending: pa.Table | None = None
    pending_row = 0
    for first_row, table in source.row_groups():
        if pending is not None:
            table = pa.concat_tables([pending, table])
            first_row = pending_row
        n = table.num_rows
        if n == 0:
            pending = None
            continue
        # rows of the last session may continue in the next row group: hold them back
        session = table.column("session")
        other = pc.not_equal(session, session[n - 1])
        if isinstance(other, pa.ChunkedArray):
            other = other.combine_chunks()
        differs = np.flatnonzero(np.asarray(other.fill_null(True).to_numpy(zero_copy_only=False)))
        tail_start = int(differs[-1]) + 1 if len(differs) else 0
        whole, pending = table.slice(0, tail_start), table.slice(tail_start)
        pending_row = first_row + tail_start
        if whole.num_rows:
            log = logs_of(source, whole, first_row)
            validate_clicks(log, k=declared_k, queries=queries, path=path, first_row=first_row)
            hasher.update(log)
            yield log
    if pending is not None and pending.num_rows:
        log = logs_of(source, pending, pending_row)
        validate_clicks(log, k=declared_k, queries=queries, path=path, first_row=pending_row)
        hasher.update(log)
        yield log
    if source.end is not None:
        problem = check_end(source.end, hasher)
        if problem is not None:
            raise FormatError(problem, path)


def _rechunk(logs: Iterator[ClickLog], size: int) -> Iterator[ClickLog]:
    buf: list[ClickLog] = []
    held = 0
    for log in logs:
        if len(log) == 0:
            continue
        buf.append(log)
        held += len(log)
        while held >= size:
            merged = buf[0] if len(buf) == 1 else ClickLog.concat(buf)
            yield merged.slice_sessions(0, size)
            rest = merged.slice_sessions(size, len(merged))
            buf = [rest] if len(rest) else []
            held = len(rest)
    if held:
        yield buf[0] if len(buf) == 1 else ClickLog.concat(buf)


def iter_click_chunks(
    path: PathLike,
    sessions_per_chunk: int = DEFAULT_CHUNK_SESSIONS,
    *,
    allow_incomplete: bool = False,
    k: int | None = None,
    queries: Any = None,
) -> Iterator[ClickLog]:
    """Stream a click log in chunks of ``sessions_per_chunk`` sessions (the last may be shorter).

    Memory holds one chunk (plus one Parquet row group or 8 MB of JSONL text), never the
    whole log. The end marker of Parquet and uncompressed JSONL files is checked before the
    first chunk; a compressed JSONL stream can only be checked at its end, so the
    :class:`FormatError` for a missing or wrong marker comes after the chunks read so far.
    """
    if sessions_per_chunk < 1:
        raise DataError(f"sessions_per_chunk must be >= 1, found {sessions_per_chunk}")
    fmt = click_log_format(path, reading=True)
    inner = (_iter_parquet if fmt == "parquet" else _iter_jsonl)(path, allow_incomplete, k, queries)
    return _rechunk(inner, sessions_per_chunk)


def _empty_log(path: PathLike, fmt: ClickFormat) -> ClickLog:
    """A log without sessions carrying the file's metadata and optional columns."""
    if fmt == "parquet":
        return ParquetSource(path).empty_log()
    head, _ = _jsonl_header(path)
    meta = head.get("metadata") if head else None
    cols = dict(head.get("columns") or {}) if head else {}
    return ClickLog(
        session_qids=pa.array([], type=pa.string()),
        offsets=np.zeros(1, dtype=np.int64),
        docids=pa.array([], type=pa.string()),
        clicks=np.zeros(0, dtype=np.uint8),
        dwell=np.zeros(0, dtype=np.float32) if "dwell" in cols else None,
        display={k: np.zeros(0, dtype=np.dtype(v)) for k, v in cols.items() if k != "dwell"},
        metadata=dict(meta) if isinstance(meta, dict) else {},
    )


def read_clicks(
    path: PathLike,
    *,
    allow_incomplete: bool = False,
    k: int | None = None,
    queries: Any = None,
) -> ClickLog:
    """Read a whole click log (``.parquet``, ``.jsonl``, ``.jsonl.gz``...), validated.

    Raises :class:`FormatError` for a file without a valid end marker (unless
    ``allow_incomplete``), a marker that does not match the content, malformed sessions, lists
    longer than ``k`` (default: ``k`` from the log's metadata) and query ids not in
    ``queries``. See :func:`validate_clicks`.
    """
    fmt = click_log_format(path, reading=True)
    inner = (_iter_parquet if fmt == "parquet" else _iter_jsonl)(path, allow_incomplete, k, queries)
    chunks = list(inner)
    if not chunks:
        return _empty_log(path, fmt)
    log = chunks[0] if len(chunks) == 1 else ClickLog.concat(chunks)
    return log
