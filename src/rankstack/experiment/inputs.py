"""The files and folders a stage reads, and content fingerprints of them for cache keys.

A pipeline expression names a model or a saved ranker by its path only
(``cross_encoder(model='/models/ce')``, ``lambdamart(saved='ranker')``), so a model retrained
into the same folder would leave the expression, and a cache key built from it, unchanged.
:func:`input_digests` adds what the paths hold: the SHA-256 of each file, and of each folder
(over every file in it, with its relative path; hidden files and folders such as ``.git`` or
``.cache`` are left out). The parameters that may name a local file or folder are listed per
stage class in :data:`INPUT_PARAMS`; a value that is not an existing path (a hub name such as
``sentence-transformers/all-MiniLM-L6-v2``, a bundled template name) is keyed by its text in
the expression, as before. A learned ranker loaded from a folder (``Ranker.load``) records it
as ``saved_from_``. A precomputed run (``run(path=...)``) needs nothing here: the cache key
already hashes its content (:func:`rankstack.experiment.cache.run_hash`).

Each file is hashed once per process and state: the digest is remembered by the file's path,
size, modification and change times and inode, so a large model is read once however many
cache entries name it, and a file rewritten in place is read again. Nothing is remembered
across processes, where a modification time alone cannot be trusted.
"""

from __future__ import annotations

import hashlib
import logging
import os
from pathlib import Path

from rankstack.pipeline import Stage, iter_stages

logger = logging.getLogger(__name__)

#: stage class name -> parameters that may name a local file or folder the stage reads
#: (caches the stage writes itself, such as ``cache_dir`` or an LLM's response ``cache``, are
#: not inputs: they are keyed by the model's identity inside)
INPUT_PARAMS: dict[str, tuple[str, ...]] = {
    "BiEncoder": ("model",),
    "DenseFeatures": ("model", "vectors"),
    "CrossEncoder": ("model",),
    "Splade": ("model", "index"),
    "LLMRerank": ("model", "adapter", "template"),
}
#: an attribute naming the folder a stage was loaded from (``Ranker.load`` sets it)
SAVED_ATTRIBUTE = "saved_from_"

_FILE_DIGESTS: dict[tuple[str, int, int, int, int], str] = {}


def stage_inputs(stage: Stage) -> list[Path]:
    """The existing local files and folders that ``stage`` and the stages inside it read."""
    found: list[Path] = []
    for s in iter_stages(stage):
        if not type(s).__module__.startswith("rankstack."):
            continue
        values = [getattr(s, name, None) for name in INPUT_PARAMS.get(type(s).__name__, ())]
        values.append(getattr(s, SAVED_ATTRIBUTE, None))
        for value in values:
            if not isinstance(value, (str, os.PathLike)) or not os.fspath(value):
                continue
            path = Path(os.fspath(value)).expanduser()
            if path.exists() and path not in found:
                found.append(path)
    return found


def input_digests(stage: Stage) -> list[dict[str, str]] | None:
    """``[{"path", "sha256"}, ...]`` of every file or folder ``stage`` reads, sorted by path.

    None when one of them cannot be read (logged): such a stage is not cached, and running it
    reports the real problem.
    """
    out: dict[str, str] = {}
    for path in stage_inputs(stage):
        try:
            out[str(path)] = path_digest(path)
        except OSError as exc:
            logger.warning(
                "not caching a stage that reads %s: cannot fingerprint it (%s)", path, exc
            )
            return None
    return [{"path": p, "sha256": d} for p, d in sorted(out.items())]


def path_digest(path: str | os.PathLike[str]) -> str:
    """The SHA-256 (hex) of a file's bytes, or of a folder's files (relative paths and
    contents, hidden names left out)."""
    p = Path(path)
    if not p.is_dir():
        return file_digest(p)
    h = hashlib.sha256()
    for f in _folder_files(p):
        h.update(f.relative_to(p).as_posix().encode("utf-8"))
        h.update(b"\0")
        h.update(file_digest(f).encode("ascii"))
        h.update(b"\n")
    return h.hexdigest()


def file_digest(path: Path) -> str:
    """The SHA-256 of a file, remembered in this process by path, size, times and inode."""
    from rankstack.index._format import sha256_file

    st = path.stat()
    key = (str(path.resolve()), st.st_size, st.st_mtime_ns, st.st_ctime_ns, st.st_ino)
    digest = _FILE_DIGESTS.get(key)
    if digest is None:
        digest = sha256_file(path)
        _FILE_DIGESTS[key] = digest
    return digest


def _folder_files(folder: Path) -> list[Path]:
    """Every file under ``folder`` (links followed), none under a hidden name, sorted."""
    files: list[Path] = []
    seen: set[str] = set()
    for root, dirs, names in os.walk(folder, followlinks=True):
        real = os.path.realpath(root)
        if real in seen:  # a link back up the tree
            dirs[:] = []
            continue
        seen.add(real)
        dirs[:] = sorted(d for d in dirs if not d.startswith("."))
        files.extend(Path(root) / n for n in names if not n.startswith("."))
    return sorted(files, key=lambda f: f.relative_to(folder).as_posix())
