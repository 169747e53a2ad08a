"""Vectorised checks on parsed columns that turn problems into :class:`FormatError` with lines.

Each reader parses a file into columns plus the 1-based line number of every record; these
checks find the first offending record without a Python loop and name its line.
"""

from __future__ import annotations

import logging

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from rankstack.data._columns import group_codes
from rankstack.exceptions import FormatError
from rankstack.io._files import PathLike

logger = logging.getLogger(__name__)


def check_ids_present(ids: pa.Array, line_no: np.ndarray, path: PathLike | None, what: str) -> None:
    """Ids must be non-empty (and not only blanks): an empty id cannot be written or looked up."""
    if len(ids) == 0:
        return
    empty = pc.equal(pc.utf8_length(pc.utf8_trim_whitespace(ids)), 0)
    if pc.any(empty).as_py():
        row = int(np.flatnonzero(empty.to_numpy(zero_copy_only=False))[0])
        raise FormatError(f"the {what} is empty; every record needs one", path, int(line_no[row]))


def check_unique(ids: pa.Array, line_no: np.ndarray, path: PathLike | None, what: str) -> None:
    """Each id once: a repeat names the line of its first appearance and its own line."""
    if len(ids) == 0:
        return
    uniq, codes = group_codes(ids)
    if len(uniq) == len(ids):
        return
    _, first = np.unique(codes, return_index=True)
    repeats = np.flatnonzero(first[codes] != np.arange(len(codes)))
    row = int(repeats[0])
    earlier = int(line_no[first[codes[row]]])
    raise FormatError(
        f"{what} {ids[row].as_py()!r} appears again (first at line {earlier}); {what}s must be "
        "unique",
        path,
        int(line_no[row]),
    )


def check_unique_pairs(
    groups: pa.Array, ids: pa.Array, line_no: np.ndarray, path: PathLike | None, what: str
) -> None:
    """Each (query, document) pair once, e.g. a document listed twice in one ranking."""
    if len(ids) == 0:
        return
    _, gcodes = group_codes(groups)
    _, dcodes = group_codes(ids)
    key = gcodes * (int(dcodes.max()) + 1) + dcodes
    _, first, inverse = np.unique(key, return_index=True, return_inverse=True)
    repeats = np.flatnonzero(first[inverse] != np.arange(len(key)))
    if len(repeats) == 0:
        return
    row = int(repeats[0])
    earlier = int(line_no[first[inverse[row]]])
    raise FormatError(
        f"doc id {ids[row].as_py()!r} is listed again for query {groups[row].as_py()!r} (first "
        f"at line {earlier}); {what}",
        path,
        int(line_no[row]),
    )


def check_finite(values: np.ndarray, line_no: np.ndarray, path: PathLike | None, what: str) -> None:
    """No NaN (nor infinity) in a numeric column."""
    bad = ~np.isfinite(values)
    if bad.any():
        row = int(np.flatnonzero(bad)[0])
        raise FormatError(
            f"the {what} is {values[row]}; expected a finite number", path, int(line_no[row])
        )


def warn_empty_texts(texts: pa.Array, ids: pa.Array, path: PathLike | None, what: str) -> None:
    """Log (once per file) how many records have empty text; they are kept."""
    if len(texts) == 0:
        return
    empty = pc.equal(pc.utf8_length(pc.utf8_trim_whitespace(texts)), 0)
    n = int(pc.sum(empty).as_py() or 0)
    if n:
        examples = ids.filter(empty).slice(0, 3).to_pylist()
        logger.warning("%s: %d %s with empty text kept (e.g. %s)", path, n, what, examples)


_FLOAT_RE = r"^[+-]?(\d+\.?\d*|\.\d+)([eE][+-]?\d+)?$|^[+-]?(nan|inf|infinity)$"
_INT_RE = r"^-?\d+$"


def parse_numbers(
    texts: pa.Array,
    line_no: np.ndarray,
    path: PathLike | None,
    what: str,
    *,
    integer: bool = False,
) -> np.ndarray:
    """Parse a string column as float64 (or int64); a bad entry raises naming its line."""
    target = pa.int64() if integer else pa.float64()
    try:
        out: np.ndarray = pc.cast(texts, target).to_numpy(zero_copy_only=False)
        return out
    except (pa.ArrowInvalid, pa.ArrowNotImplementedError):
        pass
    ok = pc.match_substring_regex(texts, _INT_RE if integer else _FLOAT_RE, ignore_case=True)
    bad = np.flatnonzero(~ok.to_numpy(zero_copy_only=False))
    if len(bad) == 0:  # the pattern is looser than Arrow somewhere: find it the slow way
        for row, value in enumerate(texts.to_pylist()):
            try:
                pc.cast(pa.array([value]), target)
            except (pa.ArrowInvalid, pa.ArrowNotImplementedError):
                bad = np.array([row])
                break
    row = int(bad[0]) if len(bad) else 0
    kind = "an integer" if integer else "a number"
    raise FormatError(
        f"expected {kind} for the {what}, found {texts[row].as_py()!r}", path, int(line_no[row])
    )
