"""Folders of checksummed ``.npy`` arrays plus ``manifest.json``, written atomically.

The embedding cache and the vector index use the layout of the BM25 index
(:mod:`rankstack.index._format`: its array writer, reader and checksums), each under its own
format name, so one can never be opened as the other. A folder is written in a temporary
sibling and renamed into place; an existing folder is replaced only when it holds the same
format (or is empty). Loading checks every array's dtype, shape and size, and with
``verify=True`` (the default here) re-hashes the bytes, so a corrupt file is refused before
anything (faiss in particular) parses it.
"""

from __future__ import annotations

import contextlib
import json
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa

from rankstack.dense._fingerprint import string_buffers
from rankstack.exceptions import IndexFormatError
from rankstack.index import _format
from rankstack.io._files import replace_folder

MANIFEST = _format.MANIFEST


def _a(what: str) -> str:
    """``what`` with its indefinite article."""
    return ("an " if what[:1] in "aeiou" else "a ") + what


def _found_format(folder: Path) -> str | None:
    try:
        found = json.loads((folder / MANIFEST).read_text(encoding="utf-8")).get("format")
    except (OSError, ValueError, AttributeError):
        return None
    return str(found) if found is not None else None


@contextlib.contextmanager
def atomic_folder(target: Path, fmt: str, what: str) -> Iterator[Path]:
    """Yield a temporary folder beside ``target`` that replaces it on success.

    An existing ``target`` is replaced only if it is empty or a folder of format ``fmt``.
    """
    target = Path(target)
    if target.exists():
        if not target.is_dir():
            raise IndexFormatError(f"cannot write the {what} to {target}: a file is in the way")
        if any(target.iterdir()) and _found_format(target) != fmt:
            raise IndexFormatError(
                f"cannot write the {what} to {target}: the folder exists and is not {_a(what)}; "
                "choose another path or remove it"
            )
    with replace_folder(target) as tmp:
        yield tmp


def write_folder(
    target: Path,
    fmt: str,
    version: int,
    meta: Mapping[str, Any],
    arrays: Mapping[str, np.ndarray],
    what: str,
) -> None:
    """Write ``arrays`` and a manifest (format, version, ``meta``, checksums) atomically."""
    with atomic_folder(target, fmt, what) as tmp:
        entries = {name: _format.write_array(tmp, name, arr) for name, arr in arrays.items()}
        manifest = {"format": fmt, "version": version, **meta, "arrays": entries}
        _format.write_manifest(tmp, manifest)


def read_manifest(folder: Path, fmt: str, version: int, what: str, hint: str) -> dict[str, Any]:
    """The manifest of ``folder``, refusing a missing, foreign or other-version folder."""
    folder = Path(folder)
    if not folder.exists():
        raise IndexFormatError(f"{what} {folder} does not exist; {hint}")
    if not folder.is_dir():
        raise IndexFormatError(f"{what} {folder} is a file; {_a(what)} is a folder")
    path = folder / MANIFEST
    if not path.is_file():
        raise IndexFormatError(f"{folder} is not {_a(what)} (no {MANIFEST}); {hint}")
    try:
        manifest = json.loads(path.read_text(encoding="utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise IndexFormatError(
            f"{what} {folder}: {MANIFEST} is not valid JSON ({exc}); {hint}"
        ) from exc
    found = manifest.get("format") if isinstance(manifest, dict) else type(manifest).__name__
    if found != fmt:
        raise IndexFormatError(
            f"{folder} is not {_a(what)}: its manifest names format {found!r}, expected {fmt!r}"
        )
    if manifest.get("version") != version:
        raise IndexFormatError(
            f"{what} {folder} has format version {manifest.get('version')!r}; this rankstack "
            f"reads version {version}; {hint}"
        )
    if not isinstance(manifest.get("arrays"), dict):
        raise IndexFormatError(f"{what} {folder}: the manifest lists no arrays; {hint}")
    return dict(manifest)


def open_arrays(
    folder: Path,
    manifest: Mapping[str, Any],
    names: tuple[str, ...],
    *,
    what: str,
    hint: str,
    mmap: bool = True,
    verify: bool = True,
) -> dict[str, np.ndarray]:
    """Open the named arrays (checked against the manifest; re-hashed when ``verify``)."""
    entries = manifest["arrays"]
    missing = [n for n in names if n not in entries]
    if missing:
        raise IndexFormatError(f"{what} {folder}: the manifest lacks arrays {missing}; {hint}")
    out: dict[str, np.ndarray] = {}
    for name in names:
        spec = entries[name]
        try:
            if verify:
                path = Path(folder) / str(spec.get("file", f"{name}.npy"))
                if path.is_file() and _format.sha256_file(path) != spec.get("sha256"):
                    raise IndexFormatError(
                        f"{what} {folder}: {path.name} does not match its checksum (corrupt); "
                        f"{hint}"
                    )
            out[name] = _format.open_array(Path(folder), name, spec, mmap=mmap)
        except IndexFormatError as exc:
            msg = str(exc).replace(f"index {folder}", f"{what} {folder}")
            raise IndexFormatError(msg.replace(_format._REBUILD, hint)) from exc
    return out


def strings_to_arrays(arr: pa.Array) -> tuple[np.ndarray, np.ndarray]:
    """A string array as (int64 offsets from 0, uint8 bytes) for ``.npy`` storage."""
    offsets, data = string_buffers(arr)
    start = int(offsets[0])
    return offsets - start, np.ascontiguousarray(data[start : int(offsets[-1])])


def arrays_to_strings(offsets: np.ndarray, data: np.ndarray, what: str, folder: Path) -> pa.Array:
    """The inverse of :func:`strings_to_arrays` (a ``string`` array when it fits)."""
    offsets = np.asarray(offsets, dtype=np.int64)
    n = len(offsets) - 1
    bad = (
        n < 0
        or (n >= 0 and len(offsets) and (offsets[0] != 0 or offsets[-1] != len(data)))
        or bool(np.any(np.diff(offsets) < 0))
    )
    if bad:
        raise IndexFormatError(f"{what} {folder}: the stored ids are inconsistent (corrupt)")
    arr = pa.LargeStringArray.from_buffers(
        n, pa.py_buffer(np.ascontiguousarray(offsets)), pa.py_buffer(np.ascontiguousarray(data))
    )
    try:
        arr.validate(full=True)
    except pa.ArrowInvalid as exc:
        raise IndexFormatError(f"{what} {folder}: the stored ids are not valid UTF-8") from exc
    return arr.cast(pa.string()) if len(data) < 2**31 else arr
