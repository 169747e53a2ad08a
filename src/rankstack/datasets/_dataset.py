"""``Dataset``: one registered collection (or one split of it) with typed loaders."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from rankstack.data import Corpus, Qrels, Queries
from rankstack.datasets._registry import Entry, resolve_name
from rankstack.datasets._store import Found, locate, status
from rankstack.exceptions import DataError, DatasetNotFoundError
from rankstack.io import auto, beir, cranfield
from rankstack.io.letor import LetorData, read_letor


@dataclass(frozen=True)
class DatasetInfo:
    """What :func:`list_datasets` reports about one dataset.

    ``availability`` is ``"offline"`` (every file in ``RANKSTACK_DATA``), ``"cached"`` (every
    file offline or in the cache), ``"partial"`` (some files local, the rest to download) or
    ``"download"``; ``files`` gives the state of each file.
    """

    name: str
    kind: str
    splits: tuple[str, ...]
    sizes: dict[str, Any]
    description: str
    availability: str
    files: dict[str, str] = field(default_factory=dict)
    urls: tuple[str, ...] = ()

    @classmethod
    def of(cls, entry: Entry) -> DatasetInfo:
        states = {key: status(entry, spec) for key, spec in entry.files.items()}
        values = set(states.values())
        if values <= {"offline"}:
            availability = "offline"
        elif values <= {"offline", "cached"}:
            availability = "cached"
        elif values & {"offline", "cached"}:
            availability = "partial"
        else:
            availability = "download"
        return cls(
            name=entry.name,
            kind=entry.kind,
            splits=entry.splits,
            sizes=dict(entry.sizes),
            description=entry.description,
            availability=availability,
            files=states,
            urls=tuple(d.url for d in entry.downloads.values()),
        )


class Dataset:
    """A registered dataset, or one split of it (``beir/scifact/test``).

    Loaders read from the offline folder, the cache or a verified download (see
    :mod:`rankstack.datasets._store`); nothing is read until a loader is called.
    """

    def __init__(self, entry: Entry, rest: str = "") -> None:
        self.entry = entry
        rest = rest.strip("/").lower()
        self._prefix = ""
        self._split: str | None = None
        if rest:
            if rest in entry.splits:
                parts = rest.rsplit("/", 1)
                self._prefix = parts[0] if len(parts) == 2 else ""
                self._split = parts[-1]
            elif any(s.startswith(rest + "/") for s in entry.splits):
                self._prefix = rest
            else:
                raise DatasetNotFoundError(
                    f"{entry.name} has no split {rest!r}; its splits are "
                    f"{list(entry.splits) or 'none (use the name alone)'}"
                )

    @classmethod
    def named(cls, name: str) -> Dataset:
        entry, rest = resolve_name(name)
        return cls(entry, rest)

    # ------------------------------------------------------------------ description
    @property
    def name(self) -> str:
        parts = [self.entry.name, self._prefix, self._split or ""]
        return "/".join(p for p in parts if p)

    @property
    def kind(self) -> str:
        return self.entry.kind

    @property
    def splits(self) -> list[str]:
        """Split names usable with the loaders (relative to a fold for ``letor/mq2008/fold1``)."""
        if self._prefix:
            cut = len(self._prefix) + 1
            return [s[cut:] for s in self.entry.splits if s.startswith(self._prefix + "/")]
        return list(self.entry.splits)

    @property
    def split(self) -> str | None:
        """The split implied by the name (``test`` for ``beir/scifact/test``), if any."""
        return self._split

    @property
    def info(self) -> DatasetInfo:
        return DatasetInfo.of(self.entry)

    def __repr__(self) -> str:
        return f"Dataset({self.name!r}, splits={self.splits})"

    # ------------------------------------------------------------------ helpers
    def _full_split(self, split: str | None, *, required: bool) -> str | None:
        split = (split or self._split or "").strip("/").lower() or None
        if split is None:
            if not required:
                return None
            if len(self.splits) == 1:
                split = self.splits[0]
            elif not self.splits:
                return None
            else:
                raise DatasetNotFoundError(
                    f"{self.name}: name a split, one of {self.splits} "
                    f"(e.g. {self.name}/{self.splits[-1]})"
                )
        full = f"{self._prefix}/{split}" if self._prefix else split
        if full not in self.entry.splits:
            raise DatasetNotFoundError(
                f"{self.name} has no split {split!r}; its splits are "
                f"{self.splits or 'none (call without a split)'}"
            )
        return full

    def _locate(self, key: str) -> Found:
        if key not in self.entry.files:
            raise DatasetNotFoundError(f"{self.entry.name} has no file {key!r}")
        return locate(self.entry, key)

    def path(self, key: str) -> Path:
        """Local path of one registry file (``corpus``, ``qrels/test``...), fetched if needed."""
        return self._locate(key).path

    def _no(self, what: str) -> DataError:
        return DataError(
            f"{self.name} is a {self.kind} dataset and has no {what}"
            + ("; use .letor(split)" if self.kind == "letor" else "")
        )

    # ------------------------------------------------------------------ loaders
    def corpus(self) -> Corpus:
        """The documents (BEIR: ``title`` and ``text``; Cranfield: ``title`` and ``text``)."""
        if self.kind == "letor" or "corpus" not in self.entry.files:
            raise self._no("corpus (LETOR sets ship features, not documents)")
        found = self._locate("corpus")
        if self.kind == "beir" and found.format == "jsonl":
            return beir.read_beir_corpus(found.path)
        if found.format == "cranfield":
            return cranfield.read_cranfield_corpus(found.path)
        return auto.read_corpus_file(found.path, format=found.format)

    def queries(self, split: str | None = None) -> Queries:
        """Queries; with a split (given or implied by the name), those judged in that split."""
        if self.kind == "letor":
            raise self._no("query texts")
        full = self._full_split(split, required=False)
        if full is None:
            return self._read_queries(self._locate("queries"))
        own = f"queries/{full}"
        if own in self.entry.files and (
            status(self.entry, self.entry.files[own]) in ("offline", "cached")
            or "queries" not in self.entry.files
        ):
            return self._read_queries(self._locate(own))
        return beir.queries_in_qrels(self._read_queries(self._locate("queries")), self.qrels(full))

    @staticmethod
    def _read_queries(found: Found) -> Queries:
        if found.format == "cranfield":
            return cranfield.read_cranfield_queries(found.path)
        return auto.read_queries_file(found.path, format=found.format)

    def qrels(self, split: str | None = None) -> Qrels:
        """Judgements of a split (required when the dataset has several and none is implied)."""
        if self.kind == "letor":
            return self.letor(split).qrels
        full = self._full_split(split, required=True)
        found = self._locate("qrels" if full is None else f"qrels/{full}")
        if found.format == "cranfield":
            return cranfield.read_cranfield_qrels(found.path)
        return auto.read_qrels_file(found.path, format=found.format)

    def letor(self, split: str | None = None) -> LetorData:
        """A LETOR split (``fold1/train``; ``train`` for a fold-level name) as features + labels."""
        if self.kind != "letor":
            raise self._no("LETOR feature files")
        full = self._full_split(split, required=True)
        if full is None:  # pragma: no cover - LETOR entries always have splits
            raise self._no("splits")
        spec = self.entry.files[full]
        found = self._locate(full)
        group = self._locate(spec.group).path if spec.group else None
        n_features = self.entry.sizes.get("features")
        return read_letor(
            found.path,
            group_file=group,
            n_features=int(n_features) if n_features else None,
        )
