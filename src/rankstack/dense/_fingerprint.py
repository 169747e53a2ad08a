"""Per-document text fingerprints and the corpus version, computed without a per-document loop.

An embedding cache must know which documents changed since it was written. Each text gets a
128-bit fingerprint: every byte is mixed with its position inside the document by the
SplitMix64 finaliser (Steele, Lea and Flood, "Fast splittable pseudorandom number generators",
OOPSLA 2014), and the mixed values are combined per document by a wrapping sum and an XOR (two
independent 64-bit halves), both finalised with the length. Numpy does this over the Arrow data
buffer in chunks of whole documents, so the cost is a few vector operations per byte. This is a
change detector, not a cryptographic hash.

The corpus version is the SHA-256 of the document ids (bytes and lengths, in order) and the
fingerprints: equal versions mean the same ids, in the same order, with the same texts.
"""

from __future__ import annotations

import hashlib

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

_M1 = np.uint64(0xBF58476D1CE4E5B9)
_M2 = np.uint64(0x94D049BB133111EB)
_GOLDEN = np.uint64(0x9E3779B97F4A7C15)
_SEED2 = np.uint64(0xD6E8FEB86659FD93)
#: bytes mixed per numpy pass (bounds the temporary memory to ~16 x this)
CHUNK_BYTES = 1 << 23


def _mix(z: np.ndarray) -> np.ndarray:
    """SplitMix64's finaliser, elementwise on uint64 (wrapping arithmetic)."""
    z = (z ^ (z >> np.uint64(30))) * _M1
    z = (z ^ (z >> np.uint64(27))) * _M2
    return z ^ (z >> np.uint64(31))


def string_buffers(arr: pa.Array) -> tuple[np.ndarray, np.ndarray]:
    """(offsets, data) of a string array as numpy views: text ``i`` is
    ``data[offsets[i]:offsets[i+1]]`` (nulls read as empty strings)."""
    if isinstance(arr, pa.ChunkedArray):
        arr = arr.combine_chunks()
    if arr.null_count:
        arr = pc.fill_null(arr, "")
    if pa.types.is_string(arr.type):
        off_type: type[np.generic] = np.int32
    elif pa.types.is_large_string(arr.type):
        off_type = np.int64
    else:
        arr = arr.cast(pa.large_string())
        off_type = np.int64
    n = len(arr)
    bufs = arr.buffers()
    if n == 0 or bufs[1] is None:
        return np.zeros(n + 1, dtype=np.int64), np.zeros(0, dtype=np.uint8)
    offsets = np.frombuffer(bufs[1], dtype=off_type)[arr.offset : arr.offset + n + 1]
    data = (
        np.frombuffer(bufs[2], dtype=np.uint8)
        if bufs[2] is not None
        else np.zeros(0, dtype=np.uint8)
    )
    return offsets.astype(np.int64), data


def text_fingerprints(texts: pa.Array) -> np.ndarray:
    """A ``(n, 2)`` uint64 fingerprint of each text (see the module docstring)."""
    offsets, data = string_buffers(texts)
    n = len(offsets) - 1
    out = np.zeros((n, 2), dtype=np.uint64)
    if n == 0:
        return out
    lengths = np.diff(offsets)
    doc = 0
    with np.errstate(over="ignore"):
        while doc < n:
            # whole documents until the chunk holds CHUNK_BYTES (at least one document)
            limit = offsets[doc] + CHUNK_BYTES
            end = int(np.searchsorted(offsets, limit, side="right")) - 1
            end = min(max(end, doc + 1), n)
            lo, hi = int(offsets[doc]), int(offsets[end])
            lens = lengths[doc:end]
            nonempty = np.flatnonzero(lens > 0)
            if hi > lo:
                doc_of_byte = np.repeat(np.arange(end - doc), lens)
                pos = np.arange(lo, hi, dtype=np.int64) - offsets[doc:end][doc_of_byte]
                v = data[lo:hi].astype(np.uint64)
                v = _mix((v | (pos.astype(np.uint64) << np.uint64(8))) ^ _GOLDEN)
                starts = (offsets[doc:end][nonempty] - lo).astype(np.int64)
                out[doc + nonempty, 0] = np.add.reduceat(v, starts)
                out[doc + nonempty, 1] = np.bitwise_xor.reduceat(_mix(v ^ _SEED2), starts)
            doc = end
        ln = lengths.astype(np.uint64)
        out[:, 0] = _mix(out[:, 0] ^ _mix(ln + _GOLDEN))
        out[:, 1] = _mix(out[:, 1] + _mix(ln ^ _SEED2))
    return out


def corpus_version(docids: pa.Array, fingerprints: np.ndarray) -> str:
    """SHA-256 (hex) over the doc ids in order and the texts' fingerprints."""
    offsets, data = string_buffers(docids)
    h = hashlib.sha256()
    h.update(np.int64(len(offsets) - 1).tobytes())
    h.update(np.ascontiguousarray(np.diff(offsets), dtype="<i8").tobytes())
    h.update(np.ascontiguousarray(data[int(offsets[0]) : int(offsets[-1])]).tobytes())
    h.update(np.ascontiguousarray(fingerprints, dtype="<u8").tobytes())
    return h.hexdigest()
