"""What the JSONL and Parquet click-log files share: names, the content checksum, metadata.

The checksum is defined over the *content* of a log, not over the bytes of one file, so a
JSONL file and a Parquet file holding the same sessions carry the same ``sha256``, and a
chunked write and a one-shot write agree. Each column is hashed as its own stream (SHA-256,
FIPS 180-4): session sizes as int64, query ids and doc ids as int64 lengths plus their UTF-8
bytes, clicks as uint8, dwell as float32, each display feature as its own dtype, all
little-endian. Streams do not depend on chunk boundaries, so a reader can verify a log chunk by
chunk. The file's checksum is the SHA-256 of the names and digests of the streams.
"""

from __future__ import annotations

import hashlib
import json
import math
from collections.abc import Mapping
from typing import Any

import numpy as np
import pyarrow as pa

from rankstack.data import ClickLog

#: format version written into every click-log file, checked on read
CLICKS_FORMAT_VERSION = 1
#: first JSONL line: ``{"_rankstack_clicks": {"version": 1, "columns": {...}, "metadata": {...}}}``
JSONL_HEADER_KEY = "_rankstack_clicks"
#: last JSONL line: ``{"_end": {"sessions": N, "impressions": M, "sha256": "..."}}``
JSONL_END_KEY = "_end"
#: Parquet key-value metadata
PQ_KIND = b"rankstack.kind"
PQ_VERSION = b"rankstack.format_version"
PQ_META = b"rankstack.clicks.metadata"
PQ_COLUMNS = b"rankstack.clicks.columns"
PQ_END = b"rankstack.clicks.end"
#: Parquet columns with a fixed meaning; any other numeric column is a display feature
PQ_FIXED = ("session", "qid", "position", "docno", "click", "dwell")
#: JSONL keys with a fixed meaning; any other key holding a list is a display feature
JSONL_FIXED = ("qid", "docids", "clicks", "dwell")


def _le(values: np.ndarray, dtype: Any) -> bytes:
    arr = np.ascontiguousarray(values, dtype=np.dtype(dtype).newbyteorder("<"))
    return arr.tobytes()


def str_parts(arr: pa.Array) -> tuple[np.ndarray, memoryview]:
    """Lengths (int64) and the contiguous UTF-8 bytes of a string array, without copying."""
    if isinstance(arr, pa.ChunkedArray):
        arr = arr.combine_chunks()
    n = len(arr)
    width = np.int64 if pa.types.is_large_string(arr.type) else np.int32
    bufs = arr.buffers()
    if n == 0 or bufs[1] is None:
        return np.zeros(0, dtype=np.int64), memoryview(b"")
    offsets = np.frombuffer(bufs[1], dtype=width)[arr.offset : arr.offset + n + 1]
    data = memoryview(bufs[2]) if bufs[2] is not None else memoryview(b"")
    return np.diff(offsets).astype(np.int64), data[int(offsets[0]) : int(offsets[-1])]


class ContentHasher:
    """Incremental content checksum of a click log (see the module docstring)."""

    def __init__(self) -> None:
        self._streams: dict[str, Any] = {}
        self.sessions = 0
        self.impressions = 0

    def _update(self, name: str, data: bytes | memoryview) -> None:
        h = self._streams.get(name)
        if h is None:
            h = self._streams[name] = hashlib.sha256()
        h.update(data)

    def update(self, log: ClickLog) -> None:
        self.sessions += len(log)
        self.impressions += log.n_impressions
        self._update("sizes", _le(log.sizes, np.int64))
        for name, arr in (("qid", log.session_qids), ("docid", log.docids)):
            lengths, data = str_parts(arr)
            self._update(name + ".len", _le(lengths, np.int64))
            self._update(name, data)
        self._update("click", _le(log.clicks, np.uint8))
        if log.dwell is not None:
            self._update("dwell", _le(log.dwell, np.float32))
        for key in sorted(log.display):
            col = np.asarray(log.display[key])
            self._update(f"display.{key}.{col.dtype.str.lstrip('<>|=')}", _le(col, col.dtype))

    def hexdigest(self) -> str:
        total = hashlib.sha256()
        for name in sorted(self._streams):
            total.update(name.encode() + b"\x00" + self._streams[name].digest())
        return total.hexdigest()

    def end_record(self) -> dict[str, Any]:
        return {
            "sessions": self.sessions,
            "impressions": self.impressions,
            "sha256": self.hexdigest(),
        }


def content_checksum(log: ClickLog) -> str:
    """The content SHA-256 that a click-log file holding exactly ``log`` carries."""
    h = ContentHasher()
    h.update(log)
    return h.hexdigest()


def columns_of(log: ClickLog) -> dict[str, str]:
    """Optional columns of a log and their numpy dtypes (``{"dwell": "float32", ...}``)."""
    cols: dict[str, str] = {}
    if log.dwell is not None:
        cols["dwell"] = "float32"
    for key in sorted(log.display):
        cols[key] = np.asarray(log.display[key]).dtype.name
    return cols


def jsonable(value: Any) -> Any:
    """Metadata as plain JSON (numpy scalars and arrays become numbers and lists)."""
    if isinstance(value, Mapping):
        return {str(k): jsonable(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [jsonable(v) for v in value]
    if isinstance(value, np.ndarray):
        return jsonable(value.tolist())
    if isinstance(value, np.integer):
        return int(value)
    if isinstance(value, np.floating):
        value = float(value)
    if isinstance(value, float) and not math.isfinite(value):
        return str(value)
    if value is None or isinstance(value, (bool, int, float, str)):
        return value
    return str(value)


def dumps(value: Any) -> str:
    return json.dumps(jsonable(value), ensure_ascii=False, separators=(",", ":"))


def check_end(end: Any, hasher: ContentHasher) -> str | None:
    """Compare a file's end record with what was read; returns a problem or None."""
    if end is None:
        return (
            "the log has no end marker: it was not finalised (a writer that crashed or was "
            "killed) or was written by another tool"
        )
    if not isinstance(end, dict) or not {"sessions", "impressions", "sha256"} <= set(end):
        return f"the end marker is malformed: {str(end)[:200]}"
    if end["sessions"] != hasher.sessions or end["impressions"] != hasher.impressions:
        return (
            f"the end marker declares {end['sessions']} sessions and {end['impressions']} "
            f"impressions, the file holds {hasher.sessions} and {hasher.impressions}: it is "
            "truncated or was edited"
        )
    if end["sha256"] != hasher.hexdigest():
        return "the content checksum does not match the end marker: the file was modified"
    return None
