"""Click logs as JSON Lines: one session per line, a header line and an end-marker line.

::

    {"_rankstack_clicks": {"version": 1, "columns": {"dwell": "float32"}, "metadata": {...}}}
    {"qid": "10032", "docids": ["d3", "d1"], "clicks": [0, 1], "dwell": [null, 31.5]}
    {"_end": {"sessions": 1, "impressions": 2, "sha256": "..."}}

Lines are built with Arrow string kernels (no loop over sessions) and parsed with Arrow's JSON
reader; a block Arrow refuses (an integer query id, a syntax error) is parsed again line by
line with :mod:`json`, which either accepts it or names the bad line.
"""

from __future__ import annotations

import bz2
import gzip
import json
import lzma
import re
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.json as pajson

from rankstack.data import ClickLog
from rankstack.data._columns import offsets_from_sizes
from rankstack.exceptions import DataError, FormatError
from rankstack.io._clicks_common import (
    CLICKS_FORMAT_VERSION,
    JSONL_END_KEY,
    JSONL_FIXED,
    JSONL_HEADER_KEY,
    dumps,
)
from rankstack.io._files import PathLike, compression_of, read_bytes
from rankstack.io._lines import blank_mask, check_utf8, show, split_lines, strip_bom
from rankstack.io._text import float_text, int_text, join_lines, json_string, lines_bytes

_SPECIAL = re.compile(r'^\s*\{\s*"_(rankstack_clicks|end)"')
_SPECIAL_ARROW = r'^\s*\{\s*"_(rankstack_clicks|end)"'


# ---------------------------------------------------------------------- writing
def header_line(columns: dict[str, str], metadata: dict[str, Any]) -> bytes:
    head = {"version": CLICKS_FORMAT_VERSION, "columns": columns, "metadata": metadata}
    return (dumps({JSONL_HEADER_KEY: head}) + "\n").encode("utf-8")


def end_line(end: dict[str, Any]) -> bytes:
    return (dumps({JSONL_END_KEY: end}) + "\n").encode("utf-8")


def _number_text(values: np.ndarray, what: str) -> pa.Array:
    if values.dtype.kind == "b":
        return int_text(values.astype(np.uint8))
    if values.dtype.kind in "iu":
        return int_text(values)
    if values.dtype.kind != "f":
        raise DataError(f"click log column {what!r}: expected numbers, found dtype {values.dtype}")
    if np.isinf(values).any():
        raise DataError(f"click log column {what!r}: values must be finite or NaN (unknown)")
    text = float_text(values)
    nan = np.isnan(values)
    if nan.any():
        text = pc.if_else(pa.array(nan), pa.scalar("null"), text)
    return text


def session_lines(log: ClickLog) -> bytes | memoryview:
    """The JSON lines of every session of ``log`` (one contiguous buffer)."""
    if len(log) == 0:
        return b""
    offsets = pa.array(log.offsets, type=pa.int64())

    def as_list(values: pa.Array) -> pa.Array:
        joined = pc.binary_join(pa.LargeListArray.from_arrays(offsets, values), ",")
        return pc.binary_join_element_wise("[", joined, "]", "")

    pieces: list[Any] = [
        '{"qid":',
        json_string(log.session_qids),
        ',"docids":',
        as_list(json_string(log.docids)),
        ',"clicks":',
        as_list(int_text(log.clicks)),
    ]
    if log.dwell is not None:
        pieces += [',"dwell":', as_list(_number_text(log.dwell, "dwell"))]
    for key in sorted(log.display):
        if key in JSONL_FIXED or key.startswith("_"):
            raise DataError(f"display feature name {key!r} is reserved in click logs")
        pieces += [f",{json.dumps(key)}:", as_list(_number_text(log.display[key], key))]
    pieces.append("}")
    return lines_bytes(join_lines(pieces))


# ---------------------------------------------------------------------- reading blocks
def open_stream(path: PathLike) -> IO[bytes]:
    """A decompressing binary stream over a plain, gzip, bz2 or xz file."""
    p = Path(path)
    if not p.exists():
        raise FormatError("file not found", p)
    if p.is_dir():
        raise FormatError("expected a file, found a folder", p)
    kind = compression_of(p)
    if kind == "gzip":
        return gzip.open(p, "rb")  # type: ignore[return-value]
    if kind == "bz2":
        return bz2.open(p, "rb")
    if kind == "xz":
        return lzma.open(p, "rb")
    if kind == "zip":
        import io

        return io.BytesIO(read_bytes(p))
    return open(p, "rb")


def iter_blocks(path: PathLike, block_size: int) -> Iterator[tuple[bytes, int]]:
    """Blocks of whole lines of the decompressed file and the 1-based number of their first line.

    The last block may end without a newline (a final line cut short by a crash, or a file
    that simply lacks the last newline).
    """
    line = 1
    rest = b""
    first = True
    try:
        with open_stream(path) as fh:
            while True:
                data = fh.read(block_size)
                if not data:
                    break
                buf = rest + data
                if first:
                    buf = strip_bom(buf)
                    first = False
                cut = buf.rfind(b"\n") + 1
                if cut == 0:
                    rest = buf
                    continue
                block, rest = buf[:cut], buf[cut:]
                yield block, line
                line += block.count(b"\n")
    except (OSError, EOFError, lzma.LZMAError) as exc:
        raise FormatError(
            f"cannot read the file (truncated or corrupt archive?): {exc}", path
        ) from exc
    if rest:
        yield rest, line


@dataclass
class Block:
    """Sessions parsed from one block, with the 1-based line of each session."""

    log: ClickLog | None
    lines: np.ndarray
    header: dict[str, Any] | None = None
    header_line: int | None = None
    end: Any = None
    end_line: int | None = None
    extra_after_end: int | None = None
    columns: dict[str, str] = field(default_factory=dict)


def parse_block(
    data: bytes, first_line: int, path: PathLike | None, columns: dict[str, str] | None
) -> Block:
    """Parse one block of whole lines; ``columns`` fixes the optional columns (None: infer)."""
    check_utf8(data, path)
    if b"\x00" in data:
        pos = data.find(b"\x00")
        raise FormatError(
            "expected text, found a NUL byte (binary data? a Parquet log must be named .parquet)",
            path,
            first_line + data.count(b"\n", 0, pos),
        )
    lines = split_lines(data, path)
    nonblank = ~blank_mask(lines) if len(lines) else np.zeros(0, dtype=bool)
    special = (
        np.asarray(pc.match_substring_regex(lines, _SPECIAL_ARROW).to_numpy(zero_copy_only=False))
        if len(lines)
        else np.zeros(0, dtype=bool)
    )
    block = Block(log=None, lines=np.zeros(0, dtype=np.int64))
    for idx in np.flatnonzero(special).tolist():
        num = first_line + idx
        text = lines[idx].as_py()
        try:
            obj = json.loads(text)
        except ValueError as exc:
            raise FormatError(
                f"a malformed header or end line ({exc}): {show(text)}", path, num
            ) from exc
        if not isinstance(obj, dict) or len(obj) != 1:
            raise FormatError(f"a malformed header or end line: {show(text)}", path, num)
        if JSONL_HEADER_KEY in obj:
            if block.header is not None:
                raise FormatError("a second header line", path, num)
            block.header, block.header_line = obj[JSONL_HEADER_KEY], num
        else:
            if block.end is not None:
                raise FormatError("a second end marker", path, num)
            block.end, block.end_line = obj[JSONL_END_KEY], num
    records = nonblank & ~special
    rec_idx = np.flatnonzero(records)
    if block.end_line is not None:
        after = rec_idx[rec_idx + first_line > block.end_line]
        if len(after):
            block.extra_after_end = int(after[0]) + first_line
    if len(rec_idx) == 0:
        return block
    block.lines = rec_idx.astype(np.int64) + first_line
    body = lines_bytes(join_lines([lines.filter(pa.array(records))]))
    want = _schema(columns)
    table = _arrow_parse(bytes(body), want, infer=columns is None)
    if table is None or table.num_rows != len(rec_idx):
        table = _python_parse(lines, rec_idx, first_line, path, columns)
    if columns is None:
        columns = _infer_columns(table)
    block.columns = columns
    block.log = _to_log(table, columns, block.lines, path)
    return block


def _list_type(dtype: str) -> pa.DataType:
    kind = np.dtype(dtype).kind
    return pa.list_(pa.int64() if kind in "iub" else pa.float64())


def _schema(columns: dict[str, str] | None) -> pa.Schema:
    fields = [
        ("qid", pa.string()),
        ("docids", pa.list_(pa.string())),
        ("clicks", pa.list_(pa.int64())),
    ]
    for key, dtype in (columns or {}).items():
        fields.append((key, _list_type(dtype)))
    return pa.schema(fields)


def _arrow_parse(body: bytes, schema: pa.Schema, *, infer: bool) -> pa.Table | None:
    block = 1 << 20
    for _ in range(2):
        try:
            return pajson.read_json(
                pa.BufferReader(body),
                read_options=pajson.ReadOptions(block_size=block, use_threads=True),
                parse_options=pajson.ParseOptions(
                    explicit_schema=schema,
                    unexpected_field_behavior="infer" if infer else "ignore",
                ),
            )
        except (pa.ArrowInvalid, pa.ArrowTypeError, pa.ArrowNotImplementedError) as exc:
            if "straddl" not in str(exc) or block > 1 << 20:
                return None
            ends = np.flatnonzero(np.frombuffer(body, dtype=np.uint8) == 10)
            block = max(block, 2 * int(np.diff(ends, prepend=-1).max(initial=len(body))) + 64)
    return None


def _infer_columns(table: pa.Table) -> dict[str, str]:
    """Optional list columns found in a file without a header (dwell, display features)."""
    cols: dict[str, str] = {}
    for name in table.column_names:
        if name in ("qid", "docids", "clicks") or name.startswith("_"):
            continue
        typ = table.schema.field(name).type
        if not pa.types.is_list(typ):
            continue  # a per-session scalar (a session id...): not a per-impression column
        value = typ.value_type
        if pa.types.is_integer(value) or pa.types.is_boolean(value):
            cols[name] = "int64"
        elif pa.types.is_floating(value) or pa.types.is_null(value):
            cols[name] = "float64"
    if "dwell" in cols:
        cols["dwell"] = "float32"
    return cols


def _python_parse(
    lines: pa.Array,
    rec_idx: np.ndarray,
    first_line: int,
    path: PathLike | None,
    columns: dict[str, str] | None,
) -> pa.Table:
    """The line-by-line authority: accepts integer query ids, names the first bad line."""
    texts = lines.to_pylist()
    qids: list[str] = []
    docids: list[list[str]] = []
    clicks: list[list[int]] = []
    extra: dict[str, list[Any]] = {k: [] for k in (columns or {})}
    for idx in rec_idx.tolist():
        num = first_line + idx
        text = texts[idx]
        try:
            obj = json.loads(text)
        except (ValueError, RecursionError) as exc:
            raise FormatError(
                f"expected one JSON object per line ({exc}); found: {show(text)}", path, num
            ) from exc
        if not isinstance(obj, dict):
            raise FormatError(
                f"expected a JSON object with 'qid', 'docids' and 'clicks', found a JSON "
                f"{type(obj).__name__}: {show(text)}",
                path,
                num,
            )
        for key in ("qid", "docids", "clicks"):
            if obj.get(key) is None:
                raise FormatError(
                    f'missing key {key!r} (a session is {{"qid": ..., "docids": [...], '
                    f'"clicks": [...]}}); found: {show(text)}',
                    path,
                    num,
                )
        q = obj["qid"]
        if isinstance(q, bool) or not isinstance(q, (str, int)):
            raise FormatError(f"'qid' must be a string or an integer, found {q!r}", path, num)
        d, c = obj["docids"], obj["clicks"]
        if not isinstance(d, list) or not all(
            isinstance(x, (str, int)) and not isinstance(x, bool) for x in d
        ):
            raise FormatError(
                f"'docids' must be a list of strings, found: {show(str(d))}", path, num
            )
        if not isinstance(c, list) or not all(
            isinstance(x, (int, bool)) and int(x) in (0, 1) for x in c
        ):
            raise FormatError(
                f"'clicks' must be a list of 0/1 flags, found: {show(str(c))}", path, num
            )
        qids.append(str(q))
        docids.append([str(x) for x in d])
        clicks.append([int(x) for x in c])
        if columns is None:
            for key, value in obj.items():
                if key not in ("qid", "docids", "clicks") and isinstance(value, list):
                    extra.setdefault(key, [None] * (len(qids) - 1))
        for key in extra:
            value = obj.get(key)
            if value is not None and (
                not isinstance(value, list)
                or not all(
                    v is None or (isinstance(v, (int, float)) and not isinstance(v, bool))
                    for v in value
                )
            ):
                raise FormatError(
                    f"{key!r} must be a list of numbers, found: {show(str(value))}", path, num
                )
            extra[key].append(value)
    cols: dict[str, Any] = {
        "qid": pa.array(qids, type=pa.string()),
        "docids": pa.array(docids, type=pa.list_(pa.string())),
        "clicks": pa.array(clicks, type=pa.list_(pa.int64())),
    }
    for key, values in extra.items():
        if columns is not None:
            typ = _list_type(columns[key])
        else:
            flat = [v for vs in values if vs for v in vs if v is not None]
            ints = all(isinstance(v, int) for v in flat) and key != "dwell"
            typ = pa.list_(pa.int64() if ints else pa.float64())
        cols[key] = pa.array(values, type=typ)
    return pa.table(cols)


def _list_column(table: pa.Table, name: str) -> pa.Array:
    col = table.column(name)
    return col.combine_chunks() if isinstance(col, pa.ChunkedArray) else col


def _to_log(
    table: pa.Table, columns: dict[str, str], lines: np.ndarray, path: PathLike | None
) -> ClickLog:
    def fail(row: int, message: str) -> FormatError:
        return FormatError(message, path, int(lines[row]))

    qid = _list_column(table, "qid")
    for name in ("qid", "docids", "clicks"):
        col = _list_column(table, name)
        if col.null_count:
            row = int(np.flatnonzero(col.is_null().to_numpy(zero_copy_only=False))[0])
            raise fail(row, f"missing key {name!r} (each session needs 'qid', 'docids', 'clicks')")
    docs = _list_column(table, "docids")
    clicks = _list_column(table, "clicks")
    sizes = pc.list_value_length(docs).to_numpy(zero_copy_only=False).astype(np.int64)
    n_clicks = pc.list_value_length(clicks).to_numpy(zero_copy_only=False).astype(np.int64)
    bad = np.flatnonzero(sizes != n_clicks)
    if len(bad):
        r = int(bad[0])
        what = (
            "clicks on positions that were not shown"
            if n_clicks[r] > sizes[r]
            else "too few click flags"
        )
        raise fail(
            r, f"the session shows {sizes[r]} documents but has {n_clicks[r]} click flags ({what})"
        )
    flat_docs = docs.flatten()
    if flat_docs.null_count:
        row = int(
            np.searchsorted(
                offsets_from_sizes(sizes),
                np.flatnonzero(flat_docs.is_null().to_numpy(zero_copy_only=False))[0],
                side="right",
            )
            - 1
        )
        raise fail(row, "a doc id is null")
    flat_clicks = clicks.flatten()
    click_values = flat_clicks.fill_null(-1).to_numpy(zero_copy_only=False)
    bad_c = np.flatnonzero((click_values != 0) & (click_values != 1))
    offsets = offsets_from_sizes(sizes)
    if len(bad_c):
        row = int(np.searchsorted(offsets, bad_c[0], side="right") - 1)
        raise fail(row, f"click flags must be 0 or 1, found {int(click_values[bad_c[0]])}")
    dwell = None
    display: dict[str, np.ndarray] = {}
    for key, dtype in columns.items():
        if key not in table.column_names:
            values = np.full(len(flat_docs), np.nan if np.dtype(dtype).kind == "f" else 0)
        else:
            col = _list_column(table, key)
            lengths = pc.list_value_length(col).fill_null(-1).to_numpy(zero_copy_only=False)
            wrong = np.flatnonzero((lengths != sizes) & (lengths != -1))
            if len(wrong):
                r = int(wrong[0])
                raise fail(r, f"{key!r} has {lengths[r]} values for {sizes[r]} documents shown")
            missing = np.repeat(lengths == -1, sizes)  # sessions without this column
            flat = col.flatten()
            if np.dtype(dtype).kind == "f":
                values = np.full(len(flat_docs), np.nan)
                values[~missing] = (
                    flat.cast(pa.float64()).fill_null(np.nan).to_numpy(zero_copy_only=False)
                )
            else:
                if flat.null_count or missing.any():
                    row = int(np.flatnonzero(lengths == -1)[0]) if missing.any() else 0
                    raise fail(row, f"{key!r} is an integer column with missing values")
                values = flat.to_numpy(zero_copy_only=False)
        if key == "dwell":
            dwell = np.asarray(values, dtype=np.float32)
        else:
            display[key] = np.asarray(values).astype(np.dtype(dtype), copy=False)
    return ClickLog(
        session_qids=qid.cast(pa.string()) if not pa.types.is_string(qid.type) else qid,
        offsets=offsets,
        docids=flat_docs.cast(pa.string()) if not pa.types.is_string(flat_docs.type) else flat_docs,
        clicks=click_values.astype(np.uint8),
        dwell=dwell,
        display=display,
    )
