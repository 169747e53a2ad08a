"""Vectorised helpers shared by the grouped data types (Run, Qrels): grouping, ordering, ids."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from rankstack.exceptions import DataError

StrArray = pa.Array  # a pyarrow string or large_string array


def as_str_array(values: Any, name: str) -> pa.Array:
    """Return ``values`` as one contiguous pyarrow string array (ids are always strings)."""
    if isinstance(values, pa.ChunkedArray):
        values = values.combine_chunks() if values.num_chunks != 1 else values.chunk(0)
    if isinstance(values, pa.Array):
        arr = values
    else:
        if isinstance(values, np.ndarray) and values.dtype.kind in "iuf":
            values = values.astype(str)
        try:
            arr = pa.array(values if not isinstance(values, str) else [values])
        except (pa.ArrowInvalid, pa.ArrowTypeError) as exc:
            raise DataError(f"{name}: expected a sequence of strings ({exc})") from exc
    if pa.types.is_dictionary(arr.type):
        arr = arr.cast(arr.type.value_type)
    if pa.types.is_integer(arr.type) or pa.types.is_floating(arr.type):
        arr = pc.cast(arr, pa.string())
    if not (pa.types.is_string(arr.type) or pa.types.is_large_string(arr.type)):
        if pa.types.is_null(arr.type):
            arr = arr.cast(pa.string())
        else:
            raise DataError(f"{name}: expected strings, found {arr.type}")
    if arr.null_count:
        raise DataError(f"{name}: {arr.null_count} missing (null) values; ids must be present")
    return arr


def group_codes(keys: pa.Array) -> tuple[pa.Array, np.ndarray]:
    """Unique keys in first-appearance order and each row's group code (int64)."""
    enc = pc.dictionary_encode(keys)
    if isinstance(enc, pa.ChunkedArray):
        enc = enc.combine_chunks()
    codes = enc.indices.to_numpy(zero_copy_only=False).astype(np.int64, copy=False)
    return enc.dictionary, codes


def offsets_from_sizes(sizes: np.ndarray) -> np.ndarray:
    """Query offsets (length n+1, starting at 0) from group sizes."""
    out = np.zeros(len(sizes) + 1, dtype=np.int64)
    np.cumsum(sizes, out=out[1:])
    return out


def row_group_index(offsets: np.ndarray) -> np.ndarray:
    """For each row, the index of the group it belongs to."""
    sizes = np.diff(offsets)
    return np.repeat(np.arange(len(sizes), dtype=np.int64), sizes)


def rank_desc_within_ties(docids: pa.Array, codes: np.ndarray, scores: np.ndarray) -> np.ndarray:
    """Order rows by group, then score descending, then doc id descending (trec_eval's order).

    trec_eval sorts a query's results by score and breaks ties by ``strcmp`` on the doc ids in
    reverse. Arrow's multi-key sort only compares doc ids on tied (group, score) pairs, so the
    common case costs little more than a numeric sort (0.7 s for 10^7 rows, 3x faster than
    ``np.lexsort``).
    """
    table = pa.table({"c": codes, "s": scores + 0.0, "d": docids})  # + 0.0 folds -0.0 into 0.0
    keys = [("c", "ascending"), ("s", "descending"), ("d", "descending")]
    order: np.ndarray = pc.sort_indices(table, sort_keys=keys).to_numpy()
    return order.astype(np.int64, copy=False)


def check_unique_pairs(codes: np.ndarray, docids: pa.Array, what: str) -> np.ndarray | None:
    """Return the row indices of repeated (group, doc id) pairs, or None when all are unique."""
    if len(codes) == 0:
        return None
    _, dcodes = group_codes(docids)
    key = codes * (int(dcodes.max()) + 1) + dcodes
    order = np.argsort(key, kind="stable")
    dup = np.flatnonzero(key[order][1:] == key[order][:-1])
    if len(dup) == 0:
        return None
    return np.sort(order[dup + 1])


def take_str(arr: pa.Array, idx: np.ndarray) -> pa.Array:
    """``arr.take(idx)`` returning a contiguous array."""
    out = arr.take(pa.array(idx, type=pa.int64()))
    return out.combine_chunks() if isinstance(out, pa.ChunkedArray) else out


def concat_str(arrays: Sequence[pa.Array]) -> pa.Array:
    """Concatenate string arrays, promoting to large_string when one of them is."""
    if not arrays:
        return pa.array([], type=pa.string())
    if any(pa.types.is_large_string(a.type) for a in arrays):
        arrays = [a.cast(pa.large_string()) for a in arrays]
    return pa.concat_arrays(list(arrays))


def to_str_list(arr: pa.Array | Iterable[str]) -> list[str]:
    """Python list of strings (for small arrays and messages only)."""
    if isinstance(arr, (pa.Array, pa.ChunkedArray)):
        return [str(x) for x in arr.to_pylist()]
    return [str(x) for x in arr]
