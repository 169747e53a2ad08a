"""Named datasets and splits, found offline, in the cache, or downloaded and verified.

>>> from rankstack import datasets
>>> ds = datasets.load("beir/scifact/test")        # doctest: +SKIP
>>> corpus, queries, qrels = ds.corpus(), ds.queries(), ds.qrels()  # doctest: +SKIP
>>> datasets.load_qrels("cranfield")               # doctest: +SKIP
>>> datasets.load("letor/mq2008/fold1").letor("train")  # doctest: +SKIP

Environment: ``RANKSTACK_DATA`` (offline folder), ``RANKSTACK_HOME`` (cache, default
``~/.cache/rankstack``), ``RANKSTACK_OFFLINE=1`` (never download). See ``docs/datasets.md``.
"""

from __future__ import annotations

from pathlib import Path

from rankstack.data import Corpus, Qrels, Queries
from rankstack.datasets._dataset import Dataset, DatasetInfo
from rankstack.datasets._registry import register, registry, resolve_name, unregister
from rankstack.datasets._store import data_dir, fetch_download, home_dir, locate, offline_mode
from rankstack.exceptions import DatasetNotFoundError
from rankstack.io import auto

__all__ = [
    "Dataset",
    "DatasetInfo",
    "data_dir",
    "fetch",
    "home_dir",
    "list_datasets",
    "load",
    "load_corpus",
    "load_qrels",
    "load_queries",
    "offline_mode",
    "register",
    "unregister",
]


def load(name: str) -> Dataset:
    """A registered dataset by name: ``beir/scifact``, ``beir/scifact/test``, ``cranfield``,
    ``letor/mq2008/fold1/train``... (case-insensitive). Raises :class:`DatasetNotFoundError`
    for an unknown name or split.
    """
    return Dataset.named(name)


def list_datasets() -> list[DatasetInfo]:
    """Every registered dataset with its splits, sizes and local availability."""
    return [DatasetInfo.of(e) for _, e in sorted(registry().items())]


def _is_name(spec: str) -> bool:
    try:
        resolve_name(spec)
    except DatasetNotFoundError:
        return False
    return True


def _as_path(spec: str | Path, kind: str) -> Path:
    p = Path(spec).expanduser()
    if p.exists():
        return p
    raise DatasetNotFoundError(
        f"{str(spec)!r} is neither a registered dataset ({', '.join(sorted(registry()))}) "
        f"nor an existing {kind} file or folder"
    )


def load_corpus(spec: str | Path) -> Corpus:
    """A corpus from a registry name or a path (BEIR folder or zip, JSONL, TSV, Parquet,
    ``cran.all.1400``). A registered name wins over a same-named relative path; write
    ``./name`` for the path.
    """
    if isinstance(spec, str) and _is_name(spec):
        return load(spec).corpus()
    return auto.read_corpus_file(_as_path(spec, "corpus"))


def load_queries(spec: str | Path) -> Queries:
    """Queries from a registry name (a split name gives that split's queries) or a path."""
    if isinstance(spec, str) and _is_name(spec):
        return load(spec).queries()
    return auto.read_queries_file(_as_path(spec, "queries"))


def load_qrels(spec: str | Path) -> Qrels:
    """Qrels from a registry name (with a split when there are several) or a path (TREC,
    BEIR TSV or folder (test split), JSONL, Parquet, ``cranqrel``, LETOR)."""
    if isinstance(spec, str) and _is_name(spec):
        return load(spec).qrels()
    return auto.read_qrels_file(_as_path(spec, "qrels"))


def fetch(name: str, *, force: bool = False) -> dict[str, str]:
    """Make every file of a dataset local: offline copies are verified, the rest downloaded
    and verified into the cache. Returns each file's state (``offline``, ``cached``,
    ``downloaded``). Raises :class:`DatasetNotFoundError` naming the places looked at when a
    file can be neither found nor downloaded.
    """
    entry, _ = resolve_name(name)
    if force:
        for dl in entry.downloads.values():
            fetch_download(entry, dl, force=True)
    return {key: locate(entry, key).where for key in entry.files}
