"""Vectorised parsing of whitespace-separated column files (TREC runs, qrels, TSV).

The fast path hands the whole buffer to Arrow's CSV reader (C++, multi-threaded). Anything it
refuses is re-checked line by line in Python, only to produce an error that names the line and
what was expected; valid input never takes the slow path.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence

import pyarrow as pa
import pyarrow.csv as pacsv

from rankstack.exceptions import FormatError
from rankstack.io._files import PathLike, check_not_binary, decode_text

_NON_BLANK = re.compile(rb"\S")
_OTHER_BLANKS = bytes.maketrans(b"\t\r\f\v", b"    ")


def normalise_whitespace(data: bytes) -> bytes:
    """Collapse runs of blanks to one space, trim each line, drop CRs.

    Uses only ``bytes.find``/``replace``/``translate`` (memchr speed): a regex over a 500 MB run
    file takes half a minute, these take a second, and well-formed files skip the work.
    """
    irregular = (
        any(c in data for c in (b"\t", b"\r", b"  ", b"\n ", b" \n", b"\f", b"\v"))
        or data[:1] == b" "
        or data[-1:] == b" "
    )
    if not irregular:
        return data
    data = data.translate(_OTHER_BLANKS)
    while b"  " in data:
        data = data.replace(b"    ", b" ").replace(b"  ", b" ")
    data = data.replace(b"\n ", b"\n").replace(b" \n", b"\n")
    return data.strip(b" ")


LineCheck = Callable[[list[str]], str | None]


def find_bad_line(
    data: bytes, path: PathLike | None, check: LineCheck, *, sep: str | None = None
) -> FormatError | None:
    """Slow path: the first line that ``check`` rejects (returns an error message)."""
    text = decode_text(data, path)
    for number, line in enumerate(text.splitlines(), start=1):
        if not line.strip():
            continue
        cols = line.split(sep) if sep else line.split()
        problem = check(cols)
        if problem:
            shown = line if len(line) <= 120 else line[:117] + "..."
            return FormatError(f"{problem}; found: {shown!r}", path, number)
    return None


def read_columns(
    data: bytes,
    path: PathLike | None,
    names: Sequence[str],
    types: dict[str, pa.DataType],
    check: LineCheck,
    *,
    whitespace: bool = True,
    delimiter: str = " ",
    skip_rows: int = 0,
) -> pa.Table:
    """Parse ``data`` into a table with the given column names and types.

    ``check`` validates one split line and returns a message, or None when the line is fine; it
    is only called when Arrow refuses the buffer, to locate and explain the problem.
    """
    check_not_binary(data, path)
    if _NON_BLANK.search(data) is None:
        return pa.table({n: pa.array([], type=types.get(n, pa.string())) for n in names})
    # Tabs and other blanks are cheap to detect; double or edge spaces show up as a column
    # count that Arrow refuses, so well-formed files are parsed once, without a copy.
    needs_norm = whitespace and any(c in data for c in (b"\t", b"\f", b"\v"))
    body = normalise_whitespace(data) if needs_norm else data
    attempts = [body] if needs_norm or not whitespace else [body, None]
    error: Exception | None = None
    for attempt in attempts:
        if attempt is None:
            attempt = normalise_whitespace(data)
            if attempt == data:
                break
        try:
            return _arrow_read(attempt, names, types, delimiter, skip_rows)
        except (pa.ArrowInvalid, pa.ArrowTypeError, UnicodeDecodeError) as exc:
            error = exc
    err = find_bad_line(
        data if skip_rows == 0 else _drop_lines(data, skip_rows),
        path,
        check,
        sep=None if whitespace else delimiter,
    )
    if err is not None:
        if skip_rows and err.line is not None:
            err = FormatError(err.reason, path, err.line + skip_rows)
        raise err from error
    raise FormatError(f"cannot parse: {error}", path) from error


def _arrow_read(
    body: bytes,
    names: Sequence[str],
    types: dict[str, pa.DataType],
    delimiter: str,
    skip_rows: int,
) -> pa.Table:
    return pacsv.read_csv(
        pa.py_buffer(body),
        read_options=pacsv.ReadOptions(column_names=list(names), skip_rows=skip_rows),
        parse_options=pacsv.ParseOptions(
            delimiter=delimiter, quote_char=False, escape_char=False, ignore_empty_lines=True
        ),
        convert_options=pacsv.ConvertOptions(
            column_types={n: types.get(n, pa.string()) for n in names},
            strings_can_be_null=False,
            quoted_strings_can_be_null=False,
            null_values=[],
            check_utf8=True,
        ),
    )


def _drop_lines(data: bytes, n: int) -> bytes:
    for _ in range(n):
        pos = data.find(b"\n")
        data = b"" if pos < 0 else data[pos + 1 :]
    return data


def is_float(text: str) -> bool:
    try:
        float(text)
    except ValueError:
        return False
    return True


def is_int(text: str) -> bool:
    try:
        int(text)
    except ValueError:
        return False
    return True
