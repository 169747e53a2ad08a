"""Storage precisions of document embeddings: float32, float16 and int8.

- ``float32``: stored as computed.
- ``float16``: IEEE half precision; the round trip changes a value ``x`` by at most
  ``|x| * 2**-11`` (half a unit in the last place of an 11-bit significand) for
  ``|x| >= 2**-14``, and by at most ``2**-25`` below that (subnormals). Values beyond
  65504 do not fit and are refused.
- ``int8``: symmetric linear quantisation with one scale per dimension (as in Jacob et al.,
  "Quantization and training of neural networks for efficient integer-arithmetic-only
  inference", CVPR 2018, with the zero point fixed at 0): ``scale_j = max_i |x_ij| / 127``,
  ``q_ij = round(x_ij / scale_j)`` in ``[-127, 127]`` and ``x_ij ~ q_ij * scale_j``. The error
  per value is at most ``scale_j / 2``; a dimension that is 0 everywhere keeps scale 1.
"""

from __future__ import annotations

import numpy as np

from rankstack.exceptions import DataError

DTYPES = ("float32", "float16", "int8")
_F16_MAX = float(np.finfo(np.float16).max)


def check_dtype(dtype: str) -> str:
    """``dtype`` if it is a storage precision we know, else a :class:`DataError`."""
    if dtype not in DTYPES:
        raise DataError(f"unknown embedding dtype {dtype!r}; choose one of {list(DTYPES)}")
    return dtype


def int8_scale(x: np.ndarray, floor: np.ndarray | None = None) -> np.ndarray:
    """Per-dimension scales ``max |x| / 127`` (at least ``floor`` when given; 1 for an
    all-zero dimension)."""
    m = np.abs(x).max(axis=0).astype(np.float32) if len(x) else np.zeros(x.shape[1], np.float32)
    scale = m / np.float32(127.0)
    if floor is not None:
        scale = np.maximum(scale, floor.astype(np.float32))
    return np.where(scale > 0, scale, np.float32(1.0)).astype(np.float32)


def encode(
    x: np.ndarray, dtype: str, scale: np.ndarray | None = None
) -> tuple[np.ndarray, np.ndarray | None]:
    """Float embeddings -> (stored codes, int8 scales or None).

    ``scale`` fixes the int8 scales (values beyond ``127 * scale`` are clipped); by default
    they are computed from ``x``.
    """
    check_dtype(dtype)
    x = np.asarray(x, dtype=np.float32)
    if not np.isfinite(x).all():
        raise DataError("embeddings hold NaN or infinite values; cannot store them")
    if dtype == "float32":
        return np.ascontiguousarray(x), None
    if dtype == "float16":
        big = float(np.abs(x).max(initial=0.0))
        if big > _F16_MAX:
            raise DataError(
                f"an embedding value ({big:g}) exceeds float16's range ({_F16_MAX:g}); "
                "store these embeddings as float32 or int8"
            )
        return x.astype(np.float16), None
    s = int8_scale(x) if scale is None else np.asarray(scale, dtype=np.float32)
    q = np.clip(np.rint(x / s), -127, 127).astype(np.int8)
    return q, s


def decode(codes: np.ndarray, dtype: str, scale: np.ndarray | None = None) -> np.ndarray:
    """Stored codes -> float32 embeddings."""
    check_dtype(dtype)
    if dtype == "int8":
        if scale is None:
            raise DataError("int8 embeddings need their per-dimension scales to be decoded")
        return np.asarray(codes, dtype=np.float32) * np.asarray(scale, dtype=np.float32)
    return np.asarray(codes, dtype=np.float32)


def round_trip(x: np.ndarray, dtype: str) -> np.ndarray:
    """``x`` as it reads back after being stored in ``dtype`` (float32)."""
    codes, scale = encode(x, dtype)
    return decode(codes, dtype, scale)
