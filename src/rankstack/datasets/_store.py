"""Finding a dataset file: the offline folder, then the cache, then a verified download.

Resolution order for each file (``docs/datasets.md``):

1. ``RANKSTACK_DATA``: a folder laid out like the offline copy (``beir/scifact/corpus.jsonl.gz``,
   ``letor/mq2008/Fold1/train.txt.gz``, ``cranfield/cran.all.1400``). The size is always
   checked; the sha256 is checked once per process for files up to 64 MiB (a few
   milliseconds), larger files are trusted on size.
2. The cache, ``RANKSTACK_HOME`` (default ``~/.cache/rankstack``): files downloaded and verified
   earlier. A stamp written after verification and extraction marks a complete download.
3. A download from the registry URL, with a progress bar, to a temporary file that is renamed
   into the cache only after its checksums (sha256, md5 and/or git blob sha1) match; a mismatch
   deletes it and raises :class:`ChecksumError`. Archives are then extracted (zip, tar), with
   members that would land outside the cache refused. ``RANKSTACK_OFFLINE=1`` forbids this step.

When every place fails, :class:`DatasetNotFoundError` names each place looked at, the URL, and
how to provide the file.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import logging
import os
import shutil
import sys
import tarfile
import urllib.error
import urllib.request
import zipfile
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path, PurePosixPath
from typing import IO

from rankstack.datasets._registry import Download, Entry, FileSpec
from rankstack.exceptions import ChecksumError, DatasetNotFoundError, FormatError

logger = logging.getLogger(__name__)

VERIFY_LIMIT = 64 << 20  # offline files up to this size get a sha256 check
_CHUNK = 1 << 20
_verified: set[tuple[str, int, int]] = set()


def data_dir() -> Path | None:
    """The offline folder named by ``RANKSTACK_DATA``, or None."""
    value = os.environ.get("RANKSTACK_DATA")
    return Path(value).expanduser() if value else None


def home_dir() -> Path:
    """The cache folder: ``RANKSTACK_HOME``, default ``~/.cache/rankstack``."""
    value = os.environ.get("RANKSTACK_HOME")
    return Path(value).expanduser() if value else Path.home() / ".cache" / "rankstack"


def offline_mode() -> bool:
    """True when ``RANKSTACK_OFFLINE`` forbids downloads."""
    return os.environ.get("RANKSTACK_OFFLINE", "").strip().lower() in ("1", "true", "yes", "on")


def cache_dir(entry: Entry) -> Path:
    return home_dir() / "datasets" / entry.name


def _stamp(entry: Entry, dl: Download) -> Path:
    return cache_dir(entry) / f".{dl.key.replace('/', '_')}.verified"


def _cached_path(entry: Entry, spec: FileSpec) -> Path | None:
    if spec.download is None or spec.member is None:
        return None
    return cache_dir(entry) / PurePosixPath(spec.member)


# ------------------------------------------------------------------------ checksums
def digests(path: Path, names: list[str]) -> dict[str, str]:
    """Hex digests of a file (``sha256``, ``md5``, ``git_sha1`` = git's blob id)."""
    hashers: dict[str, hashlib._Hash] = {}
    for n in names:
        if n == "git_sha1":
            h = hashlib.sha1(usedforsecurity=False)
            h.update(b"blob %d\0" % path.stat().st_size)
            hashers[n] = h
        else:
            hashers[n] = hashlib.new(n, usedforsecurity=False)
    with open(path, "rb") as fh:
        while chunk := fh.read(_CHUNK):
            for h in hashers.values():
                h.update(chunk)
    return {n: h.hexdigest() for n, h in hashers.items()}


def verify(path: Path, expected: dict[str, str], source: str) -> None:
    """Raise :class:`ChecksumError` when a digest of ``path`` differs from ``expected``."""
    found = digests(path, sorted(expected))
    for name, want in sorted(expected.items()):
        if found[name] != want.lower():
            raise ChecksumError(
                f"{path}: {name} is {found[name]}, the registry expects {want} (from {source}); "
                "the file is corrupt, truncated or a different version"
            )


def _check_offline(path: Path, spec: FileSpec) -> None:
    st = path.stat()
    if spec.size is not None and st.st_size != spec.size:
        raise ChecksumError(
            f"{path}: {st.st_size} bytes, the registry expects {spec.size}; "
            "the offline copy is truncated or a different version"
        )
    key = (str(path), st.st_size, st.st_mtime_ns)
    if spec.sha256 and st.st_size <= VERIFY_LIMIT and key not in _verified:
        verify(path, {"sha256": spec.sha256}, "the offline folder's SHA256SUMS")
        _verified.add(key)


# ------------------------------------------------------------------------ locating
@dataclass(frozen=True)
class Found:
    """Where a file was found: ``"offline"``, ``"cached"`` or ``"downloaded"``."""

    path: Path
    where: str
    format: str


def status(entry: Entry, spec: FileSpec) -> str:
    """``"offline"``, ``"cached"`` or ``"download"`` for one file, without reading it."""
    base = data_dir()
    if spec.offline and base is not None and (base / spec.offline).is_file():
        return "offline"
    cached = _cached_path(entry, spec)
    if (
        cached is not None
        and spec.download is not None
        and cached.is_file()
        and _stamp(entry, entry.downloads[spec.download]).is_file()
    ):
        return "cached"
    return "download" if spec.download is not None else "missing"


def locate(entry: Entry, key: str, *, download: bool = True) -> Found:
    """The local path of file ``key`` of ``entry``, downloading it when allowed and needed."""
    spec = entry.files[key]
    looked: list[str] = []
    base = data_dir()
    if spec.offline:
        if base is None:
            looked.append(f"RANKSTACK_DATA is not set (it would hold {spec.offline})")
        else:
            p = base / spec.offline
            if p.is_file():
                _check_offline(p, spec)
                return Found(p, "offline", spec.format_for("offline"))
            looked.append(f"{p} (RANKSTACK_DATA): absent")
    elif base is not None:
        looked.append(f"RANKSTACK_DATA ({base}): the offline layout has no copy of {key}")
    else:
        looked.append("RANKSTACK_DATA: not set")
    cached = _cached_path(entry, spec)
    dl = entry.downloads.get(spec.download) if spec.download else None
    if cached is not None and dl is not None:
        if cached.is_file() and _stamp(entry, dl).is_file():
            return Found(cached, "cached", spec.format)
        looked.append(f"{cached} (cache, RANKSTACK_HOME): absent")
    if dl is None:
        raise DatasetNotFoundError(
            f"{entry.name}: {key} is only distributed offline and was not found; looked at: "
            + "; ".join(looked)
            + f". Set RANKSTACK_DATA to a folder holding {spec.offline}."
        )
    problem = None
    if not download:
        problem = "downloads were not allowed (download=False)"
    elif offline_mode():
        problem = "downloads are off (RANKSTACK_OFFLINE is set)"
    else:
        try:
            fetch_download(entry, dl)
        except _DownloadFailed as exc:
            problem = f"the download failed: {exc}"
        else:
            if cached is not None and cached.is_file():
                return Found(cached, "downloaded", spec.format)
            problem = f"the download has no member {spec.member!r}"
    hint = f"set RANKSTACK_DATA to a folder holding {spec.offline}, or " if spec.offline else ""
    raise DatasetNotFoundError(
        f"{entry.name}: {key} is not available; looked at: {'; '.join(looked)}; "
        f"download {dl.url}: {problem}. To provide it, {hint}go online and run "
        f"'rankstack datasets fetch {entry.name}' (or put the verified file at {cached})."
    )


# ------------------------------------------------------------------------ downloading
class _DownloadFailed(Exception):
    """Network or file-system trouble while downloading (not a checksum mismatch)."""


def fetch_download(entry: Entry, dl: Download, *, force: bool = False) -> Path:
    """Download ``dl`` into the cache, verify it, extract it; returns the cache folder."""
    target_dir = cache_dir(entry)
    stamp = _stamp(entry, dl)
    if stamp.is_file() and not force:
        return target_dir
    if dl.archive is None:
        spec = next((f for f in entry.files.values() if f.download == dl.key and f.member), None)
        member = spec.member if spec is not None and spec.member else dl.key
        target = target_dir / PurePosixPath(member)
    else:
        target = home_dir() / "downloads" / entry.name / dl.key
    _download(dl, target)
    if dl.archive == "zip":
        _extract_zip(target, target_dir)
    elif dl.archive == "tar":
        _extract_tar(target, target_dir)
    stamp.parent.mkdir(parents=True, exist_ok=True)
    stamp.write_text(json.dumps({"url": dl.url, **dl.checksums}) + "\n")
    logger.info("%s: %s downloaded, verified and stored under %s", entry.name, dl.key, target_dir)
    return target_dir


def _download(dl: Download, target: Path) -> None:
    target.parent.mkdir(parents=True, exist_ok=True)
    tmp = target.with_name(f".{target.name}.{os.getpid()}.part")
    try:
        request = urllib.request.Request(dl.url, headers={"User-Agent": "rankstack"})
        with urllib.request.urlopen(request, timeout=60) as resp, open(tmp, "wb") as out:
            total = int(resp.headers.get("Content-Length") or dl.size or 0)
            with _progress(dl.key, total) as advance:
                while chunk := resp.read(_CHUNK):
                    out.write(chunk)
                    advance(len(chunk))
    except (urllib.error.URLError, OSError, ValueError) as exc:
        with contextlib.suppress(OSError):
            tmp.unlink()
        raise _DownloadFailed(f"{dl.url}: {getattr(exc, 'reason', exc)}") from exc
    try:
        if dl.size is not None and tmp.stat().st_size != dl.size:
            raise ChecksumError(
                f"{dl.url}: downloaded {tmp.stat().st_size} bytes, the registry expects "
                f"{dl.size}; the file was deleted"
            )
        verify(tmp, dl.checksums, dl.url)
    except ChecksumError:
        tmp.unlink()
        raise
    os.replace(tmp, target)


@contextlib.contextmanager
def _progress(label: str, total: int) -> Iterator[Callable[[int], None]]:
    """A rich progress bar on stderr (silent when stderr is not a terminal)."""
    from rich.console import Console
    from rich.progress import (
        BarColumn,
        DownloadColumn,
        Progress,
        TextColumn,
        TransferSpeedColumn,
    )

    console = Console(stderr=True)
    with Progress(
        TextColumn("[bold]{task.description}"),
        BarColumn(),
        DownloadColumn(),
        TransferSpeedColumn(),
        console=console,
        transient=True,
        disable=not sys.stderr.isatty(),
    ) as bar:
        task = bar.add_task(label, total=total or None)
        yield lambda n: bar.advance(task, n)


def _safe_target(root: Path, name: str, archive: Path) -> Path:
    rel = PurePosixPath(name)
    if rel.is_absolute() or ".." in rel.parts or not rel.parts:
        raise FormatError(f"refusing archive member {name!r} (outside the target folder)", archive)
    return root / rel


def _write_member(src: IO[bytes], dest: Path) -> None:
    dest.parent.mkdir(parents=True, exist_ok=True)
    tmp = dest.with_name(f".{dest.name}.{os.getpid()}.part")
    with open(tmp, "wb") as out:
        shutil.copyfileobj(src, out, _CHUNK)
    os.replace(tmp, dest)


def _extract_zip(archive: Path, root: Path) -> None:
    try:
        with zipfile.ZipFile(archive) as zf:
            for info in zf.infolist():
                if info.is_dir():
                    continue
                dest = _safe_target(root, info.filename, archive)
                with zf.open(info) as src:
                    _write_member(src, dest)
    except (zipfile.BadZipFile, OSError) as exc:
        raise FormatError(f"cannot extract the zip: {exc}", archive) from exc


def _extract_tar(archive: Path, root: Path) -> None:
    try:
        with tarfile.open(archive, "r:*") as tf:
            for member in tf.getmembers():
                if not member.isfile():
                    continue  # links, devices and folders are not extracted
                dest = _safe_target(root, member.name, archive)
                src = tf.extractfile(member)
                if src is not None:
                    with src:
                        _write_member(src, dest)
    except (tarfile.TarError, OSError) as exc:
        raise FormatError(f"cannot extract the tar archive: {exc}", archive) from exc
