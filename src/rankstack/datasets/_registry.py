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


def _parse(name: str, spec: Mapping[str, Any]) -> Entry:
    """Validate one registry entry (a problem is a :class:`DataError` naming the entry)."""
    try:
        kind = str(spec["kind"])
        if kind not in KINDS:
            raise DataError(f"dataset {name!r}: kind must be one of {KINDS}, found {kind!r}")
        downloads = {
            k: Download(
                key=k,
                url=str(d["url"]),
                sha256=d.get("sha256"),
                md5=d.get("md5"),
                git_sha1=d.get("git_sha1"),
                size=d.get("size"),
                archive=d.get("archive"),
            )
            for k, d in dict(spec.get("downloads", {})).items()
        }
        files = {
            k: FileSpec(
                key=k,
                format=str(f.get("format") or f.get("offline_format")),
                offline=f.get("offline"),
                sha256=f.get("sha256"),
                size=f.get("size"),
                offline_format=f.get("offline_format"),
                download=f.get("download"),
                member=f.get("member"),
                group=f.get("group"),
            )
            for k, f in dict(spec["files"]).items()
        }
    except (KeyError, TypeError, AttributeError) as exc:
        raise DataError(f"dataset {name!r}: malformed registry entry ({exc!r})") from exc
    for f in files.values():
        if f.download is not None and f.download not in downloads:
            raise DataError(
                f"dataset {name!r}: file {f.key!r} names unknown download {f.download!r}"
            )
        if f.download is None and f.offline is None:
            raise DataError(
                f"dataset {name!r}: file {f.key!r} has neither offline path nor download"
            )
        if f.download is not None and not downloads[f.download].checksums:
            raise DataError(f"dataset {name!r}: download {f.download!r} has no checksum")
    for d in downloads.values():
        if d.archive not in (None, "zip", "tar"):
            raise DataError(f"dataset {name!r}: archive must be zip or tar, found {d.archive!r}")
    return Entry(
        name=name,
        kind=kind,
        description=str(spec.get("description", "")),
        splits=tuple(str(s).lower() for s in spec.get("splits", ())),
        files=files,
        downloads=downloads,
        sizes=dict(spec.get("sizes", {})),
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
