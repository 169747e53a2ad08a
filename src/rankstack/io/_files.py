"""Opening files transparently (plain, gzip, zip) and writing them atomically."""

from __future__ import annotations

import bz2
import contextlib
import gzip
import io
import json
import lzma
import os
import shutil
import tempfile
import zipfile
import zlib
from collections.abc import Iterator
from pathlib import Path
from typing import IO, Any

from rankstack.exceptions import FormatError

PathLike = str | os.PathLike[str]

_MAGIC = {
    b"\x1f\x8b": "gzip",
    b"PK": "zip",
    b"BZ": "bz2",
    b"\xfd7": "xz",
}
# Full signatures: two bytes alone would take a text file starting "PK..." or "BZ..." (a
# query id) for an archive.
_SIGNATURES = (
    (b"\x1f\x8b", "gzip"),
    (b"PK\x03\x04", "zip"),
    (b"PK\x05\x06", "zip"),  # an empty zip
    (b"BZh", "bz2"),
    (b"\xfd7zXZ\x00", "xz"),
)


# what corrupt or truncated archives raise (bz2 raises ValueError, zlib its own error, zip
# NotImplementedError/RuntimeError for unsupported or encrypted members)
_DECOMPRESS_ERRORS = (
    OSError,
    EOFError,
    ValueError,
    zlib.error,
    lzma.LZMAError,
    zipfile.BadZipFile,
    NotImplementedError,
    RuntimeError,
)


def _kind_of(head: bytes) -> str | None:
    return next((kind for sig, kind in _SIGNATURES if head.startswith(sig)), None)


def _split_zip_member(path: Path) -> tuple[Path, str | None]:
    """``archive.zip/inner/file.txt`` -> (archive.zip, inner/file.txt)."""
    if path.exists():
        return path, None
    for parent in path.parents:
        if parent.suffix.lower() == ".zip" and parent.is_file():
            return parent, str(path.relative_to(parent)).replace(os.sep, "/")
    return path, None


def compression_of(path: Path) -> str | None:
    """Detect compression by magic bytes (not by the file name, which may lie)."""
    with open(path, "rb") as fh:
        head = fh.read(8)
    return _kind_of(head)


def read_bytes(path: PathLike, member: str | None = None) -> bytes:
    """The decompressed bytes of a plain, gzip, bz2, xz or zip file.

    A zip must hold one file unless ``member`` names one (or the path goes through the zip:
    ``data.zip/qrels/test.tsv``).
    """
    p, inner = _split_zip_member(Path(path))
    member = member or inner
    if not p.exists():
        raise FormatError("file not found", p)
    if p.is_dir():
        raise FormatError("expected a file, found a folder", p)
    kind = compression_of(p)
    try:
        if kind == "gzip":
            with gzip.open(p, "rb") as fh:
                return fh.read()
        if kind == "bz2":
            return bz2.decompress(p.read_bytes())
        if kind == "xz":
            return lzma.decompress(p.read_bytes())
        if kind == "zip":
            with zipfile.ZipFile(p) as zf:
                names = [n for n in zf.namelist() if not n.endswith("/")]
                if member is None:
                    if len(names) != 1:
                        raise FormatError(
                            f"the zip holds {len(names)} files; name one as ARCHIVE.zip/MEMBER "
                            f"(members: {names[:10]})",
                            p,
                        )
                    member = names[0]
                if member not in names:
                    raise FormatError(
                        f"the zip has no member {member!r} (members: {names[:10]})", p
                    )
                return zf.read(member)
    except FormatError:
        raise
    except _DECOMPRESS_ERRORS as exc:
        raise FormatError(f"cannot decompress ({kind}): {exc}", p) from exc
    return p.read_bytes()


def decompress_bytes(data: bytes, path: PathLike | None = None) -> bytes:
    """Decompress in-memory gzip/bz2/xz data (recognised by magic bytes); other data as is.

    For files that arrive as bytes rather than paths, e.g. a ``.jsonl.gz`` inside a zip.
    """
    kind = _kind_of(data[:8])
    try:
        if kind == "gzip":
            return gzip.decompress(data)
        if kind == "bz2":
            return bz2.decompress(data)
        if kind == "xz":
            return lzma.decompress(data)
    except _DECOMPRESS_ERRORS as exc:
        raise FormatError(f"cannot decompress ({kind}): {exc}", path) from exc
    return data


def decode_text(data: bytes, path: PathLike | None) -> str:
    """UTF-8 text (a BOM is dropped); bad bytes raise :class:`FormatError` with the line."""
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as exc:
        line = data.count(b"\n", 0, exc.start) + 1
        raise FormatError(
            f"expected UTF-8 text, found byte 0x{data[exc.start]:02x} that is not valid UTF-8"
            " (is this a binary file or another encoding?)",
            path,
            line,
        ) from exc
    if text.startswith("\ufeff"):
        text = text[1:]
    return text


def read_text(path: PathLike, member: str | None = None) -> str:
    return decode_text(read_bytes(path, member), path)


def iter_lines(path: PathLike) -> Iterator[tuple[int, str]]:
    """(1-based line number, line without its end-of-line) for each line of a text file."""
    text = read_text(path)
    yield from enumerate(text.splitlines(), start=1)


def check_not_binary(data: bytes, path: PathLike | None) -> None:
    """Refuse data with NUL bytes early: it is not a text format we read."""
    pos = data.find(b"\x00", 0, 1 << 20)
    if pos >= 0:
        line = data.count(b"\n", 0, pos) + 1
        raise FormatError("expected text, found a NUL byte (binary data?)", path, line)


def _umask() -> int:
    """The process's umask, read without changing it where /proc allows (thread-safe)."""
    with contextlib.suppress(OSError, ValueError):
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("Umask:"):
                return int(line.split()[1], 8)
    mask = os.umask(0)
    os.umask(mask)
    return mask


def temp_file_beside(target: Path) -> Path:
    """An empty temporary file next to ``target`` (same filesystem, so a rename is atomic).

    ``mkstemp`` creates files readable by their owner only; the file gets the mode an
    ordinary ``open`` would give (0666 minus the umask), so what is renamed into place is
    readable by whoever could read any other file the user writes.
    """
    target.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{target.name}.", suffix=".tmp", dir=target.parent)
    os.close(fd)
    os.chmod(tmp, 0o666 & ~_umask())
    return Path(tmp)


def fsync_dir(path: Path) -> None:
    """Flush a folder's entries to disk (best effort: not every platform opens folders)."""
    with contextlib.suppress(OSError):
        fd = os.open(path, os.O_RDONLY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)


@contextlib.contextmanager
def replace_folder(target: Path) -> Iterator[Path]:
    """Yield an empty temporary folder beside ``target``; on success it replaces ``target``.

    The folder is written in full, flushed, then swapped in by renames, so a reader sees the
    old folder or the new one, never a mix; on an exception the temporary folder is removed
    and ``target`` is untouched. The folder gets an ordinary mode (0777 minus the umask;
    ``mkdtemp`` alone would make it owner-only). Callers check beforehand that an existing
    ``target`` may be replaced.
    """
    target = Path(target)
    parent = target.parent
    parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{target.name}.", suffix=".tmp", dir=parent))
    try:
        os.chmod(tmp, 0o777 & ~_umask())
        yield tmp
        fsync_dir(tmp)
        if target.exists():
            old = Path(tempfile.mkdtemp(prefix=f".{target.name}.", suffix=".old", dir=parent))
            os.rmdir(old)
            os.replace(target, old)
            os.replace(tmp, target)
            shutil.rmtree(old, ignore_errors=True)
        else:
            os.replace(tmp, target)
        fsync_dir(parent)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise


@contextlib.contextmanager
def atomic_write(path: PathLike, mode: str = "wb") -> Iterator[IO[bytes] | IO[str]]:
    """Write to a temporary file beside ``path`` and rename it into place on success.

    A crash or an exception leaves any previous file untouched and no partial file behind.
    Paths ending in ``.gz`` are gzip-compressed.
    """
    target = Path(path)
    tmp = temp_file_beside(target)
    try:
        raw: IO[bytes] = (
            gzip.open(tmp, "wb", compresslevel=6)  # type: ignore[assignment]  # noqa: SIM115
            if target.suffix == ".gz"
            else open(tmp, "wb")  # noqa: SIM115
        )
        with raw:
            if "b" in mode:
                yield raw
            else:
                text = io.TextIOWrapper(raw, encoding="utf-8", newline="\n")
                yield text
                text.flush()
                text.detach()  # leave closing the raw file to its ``with``
        os.replace(tmp, target)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        raise


def read_versioned_json(
    path: Path,
    *,
    fmt: str,
    version: int,
    keys: tuple[str, ...],
    error: type[Exception],
    what: str,
) -> dict[str, Any]:
    """A JSON description file checked for its ``format`` tag, ``version`` and ``keys``.

    Every problem raises ``error`` naming the file: unreadable or corrupt JSON, a foreign
    file (``format`` is not ``fmt``), another format version, a missing key. ``what`` names
    the thing described ("model", "checkpoint") in the messages.
    """
    try:
        config = json.loads(path.read_text(encoding="utf-8"))
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise error(f"{path}: not valid JSON ({exc}); the {what} is corrupt") from exc
    if not isinstance(config, dict) or config.get("format") != fmt:
        raise error(f"{path}: not a rankstack {what} description")
    if config.get("version") != version:
        raise error(
            f"{path}: {what} format version {config.get('version')!r}, this rankstack reads "
            f"version {version}; re-create it or use the matching rankstack version"
        )
    for key in keys:
        if key not in config:
            raise error(f"{path}: the key {key!r} is missing")
    return config
