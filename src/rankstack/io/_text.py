"""Vectorised text output: JSON string quoting, float formatting and line joining with Arrow.

Writers build each output line as one Arrow string (``binary_join_element_wise``) ending in a
newline; the array's value buffer is then the file's content, written in one call.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import IO, TypeAlias

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from rankstack.io._files import PathLike, atomic_write

Piece: TypeAlias = "pa.Array | str"

_JSON_ESCAPES = [("\\", "\\\\"), ('"', '\\"'), ("\n", "\\n"), ("\r", "\\r"), ("\t", "\\t")]


def json_string(arr: pa.Array) -> pa.Array:
    """Each string as a JSON string literal (quotes included), UTF-8 kept as is."""
    out = arr
    if len(out) and pc.any(pc.match_substring_regex(out, r'["\\\x00-\x1f]')).as_py():
        for raw, escaped in _JSON_ESCAPES:
            out = pc.replace_substring(out, raw, escaped)
        others = pc.match_substring_regex(out, r"[\x00-\x1f]")
        if pc.any(others).as_py():
            for code in [*range(0, 9), 11, 12, *range(14, 32)]:
                out = pc.replace_substring(out, chr(code), f"\\u{code:04x}")
    return pc.binary_join_element_wise('"', out, '"', "")


def float_text(values: np.ndarray, *, json: bool = False) -> pa.Array:
    """Shortest text that reads back to the same float (Arrow's round-trip formatting).

    With ``json=True`` non-finite values become ``NaN``/``Infinity``/``-Infinity``, the
    spelling Python's :mod:`json` reads and writes.
    """
    arr = pa.array(values)
    text = pc.cast(arr, pa.string())
    if json and len(values) and not np.isfinite(values).all():
        text = pc.replace_substring(text, "-inf", "-Infinity")
        text = pc.replace_substring_regex(text, r"^inf$", "Infinity")
        text = pc.replace_substring(text, "nan", "NaN")
    return text


def int_text(values: np.ndarray) -> pa.Array:
    return pc.cast(pa.array(values), pa.string())


def join_lines(pieces: Sequence[Piece], *, skip_nulls: bool = False) -> pa.Array:
    """Concatenate columns and literal strings element-wise, each line ending in a newline.

    With ``skip_nulls`` a null piece is left out of its line (sparse output).
    """
    if not any(isinstance(p, (pa.Array, pa.ChunkedArray)) for p in pieces):
        raise ValueError("join_lines needs at least one column")
    args = [p if not isinstance(p, str) else pa.scalar(p, pa.string()) for p in pieces]
    args.append(pa.scalar("\n", pa.string()))
    joined = pc.binary_join_element_wise(
        *args, "", null_handling="skip" if skip_nulls else "emit_null"
    )
    if isinstance(joined, pa.ChunkedArray):
        joined = joined.combine_chunks()
    return joined


def lines_bytes(lines: pa.Array) -> bytes | memoryview:
    """The content of an array of newline-terminated strings, as one contiguous buffer."""
    if len(lines) == 0:
        return b""
    offsets_buf, data_buf = lines.buffers()[1], lines.buffers()[2]
    width = np.int64 if pa.types.is_large_string(lines.type) else np.int32
    offsets = np.frombuffer(offsets_buf, dtype=width)[lines.offset : lines.offset + len(lines) + 1]
    if data_buf is None:
        return b""
    return memoryview(data_buf)[int(offsets[0]) : int(offsets[-1])]


def write_lines(path: PathLike, chunks: Sequence[pa.Array], header: str | None = None) -> None:
    """Write ``header`` then each array of newline-terminated lines to ``path``, atomically."""
    with atomic_write(path, "wb") as fh:
        out: IO[bytes] = fh  # type: ignore[assignment]
        if header:
            out.write(header.encode("utf-8"))
        for chunk in chunks:
            out.write(lines_bytes(chunk))
