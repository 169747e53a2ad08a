"""On-disk layout of an index: a folder of ``.npy`` arrays plus ``manifest.json``.

The manifest names the format and its version, the tokenizer settings, collection statistics,
and for every array its file, dtype, shape and sha256. Loading always checks that each file is
present and has the recorded dtype, shape and size (cheap); ``verify=True`` also re-hashes the
bytes. A folder is written in a temporary sibling, flushed to disk and renamed into place, so
readers never see a half-written index.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import logging
import os
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

import numpy as np

from rankstack.exceptions import IndexFormatError
from rankstack.io._files import replace_folder

logger = logging.getLogger(__name__)

FORMAT_NAME = "rankstack-index"
FORMAT_VERSION = 1
MANIFEST = "manifest.json"
_REBUILD = "rebuild it with `rankstack index` (or rankstack.index.build_index)"


def sha256_file(path: Path, chunk: int = 1 << 22) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as fh:
        while block := fh.read(chunk):
            h.update(block)
    return h.hexdigest()


def write_array(folder: Path, name: str, array: np.ndarray) -> dict[str, Any]:
    """Save ``array`` as ``folder/name.npy`` (flushed to disk); return its manifest entry."""
    arr = np.ascontiguousarray(array)
    file = f"{name}.npy"
    path = folder / file
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "wb") as fh:
        np.lib.format.write_array(fh, arr, allow_pickle=False)
        fh.flush()
        os.fsync(fh.fileno())
    return {
        "file": file,
        "dtype": arr.dtype.str,
        "shape": list(arr.shape),
        "sha256": sha256_file(path),
    }


def open_array(folder: Path, name: str, spec: Mapping[str, Any], mmap: bool = True) -> np.ndarray:
    """Open one array, checking it against its manifest entry; memory-mapped by default."""
    path = folder / str(spec.get("file", f"{name}.npy"))
    if not path.is_file():
        raise IndexFormatError(f"index {folder}: array file {path.name} is missing; {_REBUILD}")
    try:
        want_dtype = np.dtype(spec["dtype"])
        want_shape = tuple(int(s) for s in spec["shape"])
    except (KeyError, TypeError, ValueError) as exc:
        raise IndexFormatError(
            f"index {folder}: the manifest entry of {name!r} is malformed ({exc}); {_REBUILD}"
        ) from exc
    try:
        with open(path, "rb") as fh:
            version = np.lib.format.read_magic(fh)
            if version == (1, 0):
                shape, fortran, dtype = np.lib.format.read_array_header_1_0(fh)
            else:
                shape, fortran, dtype = np.lib.format.read_array_header_2_0(fh)
            offset = fh.tell()
    except (ValueError, OSError, EOFError) as exc:
        raise IndexFormatError(
            f"index {folder}: {path.name} is not a readable .npy file ({exc}); {_REBUILD}"
        ) from exc
    if dtype != want_dtype or tuple(shape) != want_shape or fortran:
        raise IndexFormatError(
            f"index {folder}: {path.name} holds {dtype}{list(shape)} but the manifest says "
            f"{want_dtype}{list(want_shape)}; {_REBUILD}"
        )
    nbytes = int(np.prod(want_shape, dtype=np.int64)) * want_dtype.itemsize
    size = path.stat().st_size
    if size != offset + nbytes:
        raise IndexFormatError(
            f"index {folder}: {path.name} has {size} bytes, expected {offset + nbytes} "
            f"(truncated or corrupt); {_REBUILD}"
        )
    if nbytes == 0:
        return np.zeros(want_shape, dtype=want_dtype)
    if mmap:
        return np.memmap(path, dtype=want_dtype, mode="r", offset=offset, shape=want_shape)
    with open(path, "rb") as fh:
        fh.seek(offset)
        return np.fromfile(fh, dtype=want_dtype, count=nbytes // want_dtype.itemsize).reshape(
            want_shape
        )


def read_manifest(folder: Path) -> dict[str, Any]:
    """The manifest of an index folder, refusing foreign, damaged or other-version folders."""
    if not folder.exists():
        raise IndexFormatError(f"index {folder} does not exist; build it with `rankstack index`")
    if not folder.is_dir():
        raise IndexFormatError(f"index {folder} is a file; an index is a folder")
    path = folder / MANIFEST
    if not path.is_file():
        raise IndexFormatError(f"{folder} is not a rankstack index (no {MANIFEST}); {_REBUILD}")
    try:
        manifest = json.loads(path.read_text(encoding="utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise IndexFormatError(
            f"index {folder}: {MANIFEST} is not valid JSON ({exc}); {_REBUILD}"
        ) from exc
    if not isinstance(manifest, dict) or manifest.get("format") != FORMAT_NAME:
        found = manifest.get("format") if isinstance(manifest, dict) else type(manifest).__name__
        raise IndexFormatError(
            f"{folder} is not a rankstack index: its manifest names format {found!r}, "
            f"expected {FORMAT_NAME!r}"
        )
    version = manifest.get("version")
    if version != FORMAT_VERSION:
        raise IndexFormatError(
            f"index {folder} has format version {version!r}; this rankstack reads version "
            f"{FORMAT_VERSION}; {_REBUILD}"
        )
    if not isinstance(manifest.get("arrays"), dict):
        raise IndexFormatError(f"index {folder}: the manifest lists no arrays; {_REBUILD}")
    return manifest


def verify_checksums(folder: Path, manifest: Mapping[str, Any]) -> None:
    """Re-hash every array file and compare with the manifest (reads the whole index)."""
    for name, spec in manifest["arrays"].items():
        path = folder / spec["file"]
        if not path.is_file():
            raise IndexFormatError(f"index {folder}: array file {path.name} is missing; {_REBUILD}")
        if sha256_file(path) != spec.get("sha256"):
            raise IndexFormatError(
                f"index {folder}: {path.name} ({name}) does not match its checksum (corrupt); "
                f"{_REBUILD}"
            )


def write_manifest(folder: Path, manifest: Mapping[str, Any]) -> None:
    path = folder / MANIFEST
    with open(path, "w", encoding="utf-8") as fh:
        json.dump(manifest, fh, indent=1, sort_keys=False)
        fh.write("\n")
        fh.flush()
        os.fsync(fh.fileno())


@contextlib.contextmanager
def atomic_folder(target: Path, *, overwrite: bool = True) -> Iterator[Path]:
    """Yield a temporary folder beside ``target``; on success it replaces ``target``.

    An existing ``target`` is replaced only if it is a rankstack index (or empty) and
    ``overwrite`` is true; anything else is refused rather than deleted.
    """
    target = Path(target)
    if target.exists():
        _check_replaceable(target, overwrite)
    with replace_folder(target) as tmp:
        yield tmp


def _check_replaceable(target: Path, overwrite: bool) -> None:
    if not target.is_dir():
        raise IndexFormatError(f"cannot write an index to {target}: a file is in the way")
    if not any(target.iterdir()):
        return
    try:
        found = json.loads((target / MANIFEST).read_text(encoding="utf-8")).get("format")
    except (OSError, ValueError, AttributeError):
        found = None
    if found != FORMAT_NAME:
        raise IndexFormatError(
            f"cannot write an index to {target}: the folder exists and is not a rankstack "
            "index; choose another path or remove it"
        )
    if not overwrite:
        raise IndexFormatError(f"an index already exists at {target} (overwrite=False)")
    logger.info("replacing the index at %s", target)
