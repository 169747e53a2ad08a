"""Reading selected fields of a JSON Lines file into Arrow columns.

The fast path is ``pyarrow.json.read_json`` (C++, multi-threaded) with an explicit schema that
keeps only the wanted fields and ignores the rest (BEIR's nested ``metadata`` is never parsed
into columns). When Arrow refuses the file, or its row count does not match the non-blank
line count (two objects on one line), a line-by-line pass with :mod:`json` either names the
bad line or, for valid input Arrow is stricter about (an integer id, a ``NaN``), builds the
columns itself.
"""

from __future__ import annotations

import io
import json
import math
import re
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.json as pajson

from rankstack.exceptions import FormatError
from rankstack.io._files import PathLike, check_not_binary
from rankstack.io._lines import blank_mask, check_utf8, show, split_lines, strip_bom

_NON_BLANK = re.compile(rb"\S")
#: a line whose first non-blank character does not open an object. Arrow 26 crashes the
#: process (SIGSEGV) on a file of top-level ``null`` values and reads a ``null`` line among
#: objects as an empty record, so such data never reaches Arrow: the line-by-line path names
#: the line instead.
_NOT_AN_OBJECT = re.compile(rb"(?m)^[ \t\r]*[^{ \t\r\n]")


@dataclass(frozen=True)
class Field:
    """One wanted field: its output name, accepted keys (first found wins) and type."""

    name: str
    keys: tuple[str, ...]
    kind: str = "str"  # "str" | "id" (str or int) | "float" | "int"
    required: bool = True

    @property
    def arrow_type(self) -> pa.DataType:
        return {"float": pa.float64(), "int": pa.int64()}.get(self.kind, pa.string())


def expected(fields: Sequence[Field]) -> str:
    """Human description of the wanted keys, for error messages."""
    parts = []
    for f in fields:
        keys = " or ".join(repr(k) for k in f.keys)
        parts.append(keys + ("" if f.required else " (optional)"))
    return "a JSON object with " + ", ".join(parts)


def _json_kind(value: Any) -> str:
    """How a parsed JSON value is called in JSON's own words (``null``, not ``NoneType``)."""
    kinds = {type(None): "null", bool: "a boolean", int: "a number", float: "a number"}
    kinds.update({str: "a string", list: "an array", dict: "an object"})
    return kinds.get(type(value), "a JSON value")


def read_jsonl(
    data: bytes, path: PathLike | None, fields: Sequence[Field]
) -> tuple[dict[str, pa.Array], np.ndarray]:
    """Columns named by ``fields`` and the 1-based line number of each record.

    Optional fields that are absent or null become empty strings (text) or NaN (numbers).
    """
    data = strip_bom(data)
    check_not_binary(data, path)
    check_utf8(data, path)
    n_lines = data.count(b"\n") + (0 if data.endswith(b"\n") or not data else 1)
    arrow_safe = _NON_BLANK.search(data) and not _NOT_AN_OBJECT.search(data)
    table = _arrow_read(data, fields) if arrow_safe else None
    lines: pa.Array | None = None
    if table is not None and table.num_rows == n_lines:
        line_no = np.arange(1, n_lines + 1, dtype=np.int64)  # one record per line, no blanks
    else:
        lines = split_lines(data, path)
        line_no = np.flatnonzero(~blank_mask(lines)) + 1 if len(lines) else np.zeros(0, np.int64)
        if len(line_no) == 0:
            return {f.name: pa.array([], type=f.arrow_type) for f in fields}, line_no
        if table is None or table.num_rows != len(line_no):
            return _python_read(lines, line_no, path, fields), line_no
    out: dict[str, pa.Array] = {}
    for f in fields:
        col = _pick_key(table, f)
        if col.null_count:
            if f.required:
                row = int(np.flatnonzero(col.is_null().to_numpy(zero_copy_only=False))[0])
                num = int(line_no[row])
                if lines is None:
                    lines = split_lines(data, path)
                raise FormatError(
                    f"missing required key {' or '.join(map(repr, f.keys))} (expected "
                    f"{expected(fields)}); found: {show(lines[num - 1].as_py())}",
                    path,
                    num,
                )
            col = pc.fill_null(col, "" if f.kind in ("str", "id") else float("nan"))
        out[f.name] = col
    return out, line_no


def _pick_key(table: pa.Table, f: Field) -> pa.Array:
    """The first of a field's keys present in a row (coalesced across alternative keys)."""
    present = [k for k in f.keys if k in table.column_names]
    used = [k for k in present if table.column(k).null_count < table.num_rows] or present[:1]
    cols = [table.column(k).combine_chunks() for k in used]
    if len(cols) == 1:
        return cols[0]
    return pc.coalesce(*cols)


def _arrow_read(data: bytes, fields: Sequence[Field]) -> pa.Table | None:
    """Arrow's parse, or None when Arrow refuses the data (the slow path then explains)."""
    schema = pa.schema([(k, f.arrow_type) for f in fields for k in f.keys])
    block = 1 << 20
    for _ in range(2):
        try:
            return pajson.read_json(
                io.BytesIO(data),
                read_options=pajson.ReadOptions(block_size=block),
                parse_options=pajson.ParseOptions(
                    explicit_schema=schema, unexpected_field_behavior="ignore"
                ),
            )
        except (pa.ArrowInvalid, pa.ArrowTypeError, UnicodeDecodeError) as exc:
            if "straddl" not in str(exc) or block > 1 << 20:
                return None
            # a line longer than the block: retry with blocks that hold the longest line
            ends = np.flatnonzero(np.frombuffer(data, dtype=np.uint8) == 10)
            longest = int(np.diff(ends, prepend=-1).max(initial=len(data)))
            block = max(block, 2 * longest + 64)
    return None


def _python_read(
    lines: pa.Array, line_no: np.ndarray, path: PathLike | None, fields: Sequence[Field]
) -> dict[str, pa.Array]:
    """Line-by-line pass: the authority on what a valid line is (slow, rarely taken)."""
    values: dict[str, list[Any]] = {f.name: [] for f in fields}
    texts = lines.to_pylist()
    for num in line_no.tolist():
        line = texts[num - 1]
        try:
            obj = json.loads(line, object_pairs_hook=_no_duplicate_keys)
        except (ValueError, RecursionError) as exc:
            raise FormatError(
                f"expected one JSON object per line ({exc}); found: {show(line)}", path, num
            ) from exc
        if not isinstance(obj, dict):
            raise FormatError(
                f"expected {expected(fields)}, found {_json_kind(obj)}: {show(line)}",
                path,
                num,
            )
        for f in fields:
            values[f.name].append(_value(obj, f, fields, path, num, line))
    return {f.name: pa.array(values[f.name], type=f.arrow_type) for f in fields}


def _no_duplicate_keys(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    obj = dict(pairs)
    if len(obj) != len(pairs):
        seen: set[str] = set()
        dup = next(k for k, _ in pairs if k in seen or seen.add(k))  # type: ignore[func-returns-value]
        raise ValueError(f"key {dup!r} appears twice in one object")
    return obj


def _value(
    obj: dict[str, Any],
    f: Field,
    fields: Sequence[Field],
    path: PathLike | None,
    num: int,
    line: str,
) -> Any:
    key = next((k for k in f.keys if obj.get(k) is not None), None)
    if key is None:
        if f.required:
            raise FormatError(
                f"missing required key {' or '.join(map(repr, f.keys))} (expected "
                f"{expected(fields)}); found: {show(line)}",
                path,
                num,
            )
        return "" if f.kind in ("str", "id") else math.nan
    v = obj[key]
    ok: bool
    if f.kind == "float":
        ok = isinstance(v, (int, float)) and not isinstance(v, bool)
        if ok:
            v = float(v)
    elif f.kind == "int":
        ok = isinstance(v, int) and not isinstance(v, bool)
        if not ok and isinstance(v, float) and v.is_integer():
            v, ok = int(v), True
    elif f.kind == "id":
        ok = isinstance(v, str) or (isinstance(v, int) and not isinstance(v, bool))
        v = str(v)
    else:
        ok = isinstance(v, str)
    if not ok:
        want = {"float": "a number", "int": "an integer", "id": "a string or integer"}
        raise FormatError(
            f"key {key!r} must be {want.get(f.kind, 'a string')}, "
            f"found {json.dumps(obj[key])[:60]}",
            path,
            num,
        )
    if isinstance(v, str):
        try:
            v.encode("utf-8")
        except UnicodeEncodeError as exc:
            raise FormatError(
                f"key {key!r} holds an unpaired UTF-16 surrogate escape ({exc.reason})", path, num
            ) from exc
    return v
