"""The dataset registry: names, files, canonical URLs and checksums, from ``registry.json``.

An entry lists *downloads* (one URL each, with the checksums its publisher or a byte-checked
mirror gives) and logical *files* (``corpus``, ``queries``, ``qrels/test``,
``fold1/train``...). A file may be found in the offline folder (``offline`` path relative to
``RANKSTACK_DATA``, with the sha256 and size of that copy) and/or inside a download
(``member``: its path in the extracted archive, or the downloaded file itself).
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from importlib import resources
from typing import Any

from rankstack.exceptions import DataError, DatasetNotFoundError

FORMAT_VERSION = 1
KINDS = ("beir", "cranfield", "letor")
CHECKSUMS = ("sha256", "md5", "git_sha1")


@dataclass(frozen=True)
class Download:
    """One file to download: its URL, checksums and whether it is an archive to extract."""

    key: str
    url: str
    sha256: str | None = None
    md5: str | None = None
    git_sha1: str | None = None
    size: int | None = None
    archive: str | None = None  # None, "zip" or "tar"

    @property
    def checksums(self) -> dict[str, str]:
        return {
            k: v
            for k, v in (("sha256", self.sha256), ("md5", self.md5), ("git_sha1", self.git_sha1))
            if v
        }


@dataclass(frozen=True)
class FileSpec:
    """A logical file of a dataset and the places it can come from."""

    key: str
    format: str
    offline: str | None = None
    sha256: str | None = None
    size: int | None = None
    offline_format: str | None = None
    download: str | None = None
    member: str | None = None
    group: str | None = None  # key of a LightGBM group-size file (LETOR without qid)

    def format_for(self, where: str) -> str:
        """The reader format of this file when found offline or in the cache."""
        return (self.offline_format or self.format) if where == "offline" else self.format


@dataclass(frozen=True)
class Entry:
    """One registered dataset."""

    name: str
    kind: str
    description: str
    splits: tuple[str, ...]
    files: Mapping[str, FileSpec]
    downloads: Mapping[str, Download] = field(default_factory=dict)
    sizes: Mapping[str, Any] = field(default_factory=dict)
    citation: str = ""
    homepage: str = ""
    license: str = ""
    mirror: str = ""


def _get(
    obj: Mapping[str, Any], key: str, kind: type, where: str, *, required: bool = False
) -> Any:
    """``obj[key]`` checked to be of ``kind`` (or absent/None when not required)."""
    value = obj.get(key)
    if value is None:
        if required:
            raise DataError(f"{where}: missing {key!r}")
        return None
    if not isinstance(value, kind) or (kind is int and isinstance(value, bool)):
        raise DataError(f"{where}: {key!r} must be a {kind.__name__}, found {value!r}")
    return value


def _mapping(value: Any, where: str) -> Mapping[str, Any]:
    if not isinstance(value, Mapping):
        raise DataError(f"{where}: expected an object, found {type(value).__name__}")
    return value


def _parse(name: str, spec: Mapping[str, Any]) -> Entry:
    """Validate one registry entry (a problem is a :class:`DataError` naming the entry)."""
    where = f"dataset {name!r}"
    spec = _mapping(spec, where)
    kind = _get(spec, "kind", str, where, required=True)
    if kind not in KINDS:
        raise DataError(f"{where}: kind must be one of {KINDS}, found {kind!r}")
    downloads: dict[str, Download] = {}
    for key, raw in _mapping(spec.get("downloads") or {}, f"{where} downloads").items():
        d = _mapping(raw, f"{where} download {key!r}")
        at = f"{where} download {key!r}"
        downloads[str(key)] = Download(
            key=str(key),
            url=_get(d, "url", str, at, required=True),
            sha256=_get(d, "sha256", str, at),
            md5=_get(d, "md5", str, at),
            git_sha1=_get(d, "git_sha1", str, at),
            size=_get(d, "size", int, at),
            archive=_get(d, "archive", str, at),
        )
    files: dict[str, FileSpec] = {}
    for key, raw in _mapping(spec.get("files"), f"{where} files").items():
        f = _mapping(raw, f"{where} file {key!r}")
        at = f"{where} file {key!r}"
        fmt = _get(f, "format", str, at) or _get(f, "offline_format", str, at)
        if not fmt:
            raise DataError(f"{at}: missing 'format'")
        files[str(key)] = FileSpec(
            key=str(key),
            format=fmt,
            offline=_get(f, "offline", str, at),
            sha256=_get(f, "sha256", str, at),
            size=_get(f, "size", int, at),
            offline_format=_get(f, "offline_format", str, at),
            download=_get(f, "download", str, at),
            member=_get(f, "member", str, at),
            group=_get(f, "group", str, at),
        )
    for fs in files.values():
        if fs.download is not None and fs.download not in downloads:
            raise DataError(f"{where}: file {fs.key!r} names unknown download {fs.download!r}")
        if fs.download is None and fs.offline is None:
            raise DataError(f"{where}: file {fs.key!r} has neither offline path nor download")
        if fs.download is not None and not downloads[fs.download].checksums:
            raise DataError(f"{where}: download {fs.download!r} has no checksum")
        if fs.group is not None and fs.group not in files:
            raise DataError(f"{where}: file {fs.key!r} names unknown group file {fs.group!r}")
    for dl in downloads.values():
        if dl.archive not in (None, "zip", "tar"):
            raise DataError(f"{where}: archive must be zip or tar, found {dl.archive!r}")
    splits = spec.get("splits") or []
    if not isinstance(splits, (list, tuple)) or not all(isinstance(x, str) for x in splits):
        raise DataError(f"{where}: 'splits' must be a list of strings, found {splits!r}")
    sizes = _mapping(spec.get("sizes") or {}, f"{where} sizes")
    return Entry(
        name=name,
        kind=kind,
        description=str(spec.get("description", "")),
        splits=tuple(x.lower() for x in splits),
        files=files,
        downloads=downloads,
        sizes=dict(sizes),
        citation=str(spec.get("citation", "")),
        homepage=str(spec.get("homepage", "")),
        license=str(spec.get("license", "")),
        mirror=str(spec.get("mirror", "")),
    )


_REGISTRY: dict[str, Entry] | None = None


def registry() -> dict[str, Entry]:
    """All registered datasets by name (the packaged ``registry.json`` plus :func:`register`)."""
    global _REGISTRY
    if _REGISTRY is None:
        text = resources.files("rankstack.datasets").joinpath("registry.json").read_text("utf-8")
        raw = json.loads(text)
        if int(raw.get("format_version", 0)) != FORMAT_VERSION:
            raise DataError(
                f"registry.json has format version {raw.get('format_version')}, "
                f"expected {FORMAT_VERSION}"
            )
        _REGISTRY = {name: _parse(name, spec) for name, spec in raw["datasets"].items()}
    return _REGISTRY


def register(name: str, spec: Mapping[str, Any]) -> Entry:
    """Add (or replace) a dataset entry at run time, e.g. a private collection or a mirror.

    ``spec`` has the layout of an entry of ``registry.json`` (see ``docs/datasets.md``).
    """
    entry = _parse(name.lower(), spec)
    registry()[entry.name] = entry
    return entry


def unregister(name: str) -> None:
    """Remove a dataset added with :func:`register` (or a packaged one, until restart)."""
    registry().pop(name.lower(), None)


def reset() -> None:
    """Forget run-time registrations; the packaged registry is read again on next use."""
    global _REGISTRY
    _REGISTRY = None


def resolve_name(name: str) -> tuple[Entry, str]:
    """Split ``beir/scifact/test`` into the entry ``beir/scifact`` and the rest ``test``.

    Names are case-insensitive; the longest registered prefix wins.
    """
    key = name.strip().strip("/").lower()
    entries = registry()
    parts = key.split("/")
    for cut in range(len(parts), 0, -1):
        prefix = "/".join(parts[:cut])
        if prefix in entries:
            return entries[prefix], "/".join(parts[cut:])
    raise DatasetNotFoundError(
        f"unknown dataset {name!r}; registered datasets: {', '.join(sorted(entries))} "
        "(a path to a file or folder also works where a dataset is expected)"
    )
