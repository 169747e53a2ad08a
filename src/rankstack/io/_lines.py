"""Whole files as Arrow arrays of lines, built without a Python loop over the lines.

Line ``i`` of the array is line ``i + 1`` of the file, blank lines included, so an error found
by a vectorised check maps straight back to a 1-based line number for :class:`FormatError`.
"""

from __future__ import annotations

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from rankstack.exceptions import FormatError
from rankstack.io._files import PathLike, check_not_binary, decode_text

_BOM = b"\xef\xbb\xbf"


def strip_bom(data: bytes) -> bytes:
    """Drop a UTF-8 byte-order mark, which some editors put at the start of text files."""
    return data[len(_BOM) :] if data.startswith(_BOM) else data


def split_lines(data: bytes, path: PathLike | None, *, allow_nul: bool = False) -> pa.Array:
    """One string per line of ``data`` (UTF-8), without line ends (``\\n``, ``\\r\\n``).

    The array is a view of ``data`` cut at the newlines (found with numpy); the buffer is
    checked for UTF-8 by Arrow first. Invalid UTF-8 or NUL bytes raise :class:`FormatError` naming
    the line.
    """
    data = strip_bom(data)
    if not allow_nul:
        check_not_binary(data, path)
    if not data:
        return pa.array([], type=pa.string())
    buf = np.frombuffer(data, dtype=np.uint8)
    ends = np.flatnonzero(buf == 10) + 1
    if len(ends) == 0 or ends[-1] != len(data):
        ends = np.append(ends, len(data))
    large = len(data) >= 2**31 - 1
    offsets = np.zeros(len(ends) + 1, dtype=np.int64 if large else np.int32)
    offsets[1:] = ends
    arr = pa.Array.from_buffers(
        pa.large_string() if large else pa.string(),
        len(ends),
        [None, pa.py_buffer(offsets), pa.py_buffer(data)],
    )
    check_utf8(data, path)
    return pc.utf8_rtrim(arr, characters="\r\n")


def check_utf8(data: bytes, path: PathLike | None) -> None:
    """Raise :class:`FormatError` naming the line of the first invalid UTF-8 byte.

    Arrow's SIMD validator over the whole buffer (no copy, no Python string), so parsers
    that skip validation themselves (Arrow's JSON reader keeps bad bytes in strings) can be
    used on checked input.
    """
    if not data:
        return
    large = len(data) >= 2**31 - 1
    offsets = np.array([0, len(data)], dtype=np.int64 if large else np.int32)
    arr = pa.Array.from_buffers(
        pa.large_string() if large else pa.string(),
        1,
        [None, pa.py_buffer(offsets), pa.py_buffer(data)],
    )
    try:
        arr.validate(full=True)
    except pa.ArrowInvalid as exc:
        decode_text(data, path)  # raises FormatError naming the line
        raise FormatError(f"expected UTF-8 text ({exc})", path) from exc


def blank_mask(lines: pa.Array) -> np.ndarray:
    """True for lines that hold only whitespace."""
    stripped = pc.utf8_trim_whitespace(lines)
    return np.asarray(pc.equal(pc.utf8_length(stripped), 0).to_numpy(zero_copy_only=False))


def show(line: str | None, limit: int = 120) -> str:
    """A line as it goes into an error message: quoted, shortened."""
    text = "" if line is None else line
    return repr(text if len(text) <= limit else text[: limit - 3] + "...")


def record_lines(data: bytes, path: PathLike | None) -> np.ndarray:
    """1-based line numbers of the non-blank lines (records) of a text file."""
    lines = split_lines(data, path)
    if len(lines) == 0:
        return np.zeros(0, dtype=np.int64)
    return np.flatnonzero(~blank_mask(lines)) + 1
