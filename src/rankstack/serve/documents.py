"""Document text for snippets: a corpus, looked up by doc id with a sorted-id binary search.

The index stores no text, so the service loads the corpus named by ``--corpus`` or, by
default, the ``dataset`` recorded in the saved pipeline's info (``rankstack pipeline fit``
records it). The text lives in Arrow arrays in each worker's memory; a lookup is one
vectorised :func:`numpy.searchsorted` over the sorted doc ids (no per-request hash table).
"""

from __future__ import annotations

import logging
import os
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pyarrow as pa

from rankstack.data import Corpus
from rankstack.data._columns import take_str, to_str_list

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class Documents:
    """Titles and texts of a corpus by doc id."""

    corpus: Corpus
    sorted_ids: np.ndarray
    order: np.ndarray
    source: str

    @classmethod
    def of(cls, corpus: Corpus, source: str) -> Documents:
        ids = np.asarray(to_str_list(corpus.docids), dtype=str)
        order = np.argsort(ids, kind="stable")
        return cls(corpus, ids[order], order, source)

    def __len__(self) -> int:
        return len(self.corpus)

    def rows(self, docids: list[str]) -> np.ndarray:
        """Corpus row of each doc id (-1 when the corpus lacks it)."""
        if not docids or not len(self.sorted_ids):
            return np.full(len(docids), -1, dtype=np.int64)
        want = np.asarray(docids, dtype=str)
        pos = np.minimum(np.searchsorted(self.sorted_ids, want), len(self.sorted_ids) - 1)
        found = self.sorted_ids[pos] == want
        return np.where(found, self.order[pos], -1).astype(np.int64)

    def texts(self, docids: list[str]) -> tuple[list[str], list[str]]:
        """``(titles, texts)`` of the documents (empty strings where absent)."""
        rows = self.rows(docids)
        ok = rows >= 0
        safe = np.where(ok, rows, 0)
        text = _column(self.corpus, self.corpus.text_field, safe, ok)
        title = (
            _column(self.corpus, "title", safe, ok)
            if "title" in self.corpus.fields and self.corpus.text_field != "title"
            else [""] * len(docids)
        )
        return title, text


def _column(corpus: Corpus, name: str, rows: np.ndarray, ok: np.ndarray) -> list[str]:
    if not len(corpus):
        return [""] * len(rows)
    values = to_str_list(take_str(corpus.field(name), rows))
    return [v if good and v is not None else "" for v, good in zip(values, ok.tolist())]


def stamp(spec: str) -> tuple[str, int, int] | None:
    """What identifies the content of a corpus file (path, size, mtime) for caching; ``None``
    for a dataset name (whose files do not change)."""
    path = Path(spec).expanduser()
    if not path.exists():
        return None
    st = os.stat(path)
    return (str(path.resolve()), st.st_size, st.st_mtime_ns)


def load_documents(spec: str) -> Documents:
    """A corpus by dataset name or path (see :func:`rankstack.datasets.load_corpus`)."""
    from rankstack.datasets import load_corpus

    corpus = load_corpus(spec)
    logger.info("loaded %d documents for snippets from %s", len(corpus), spec)
    return Documents.of(corpus, spec)


def empty_documents() -> Documents:
    corpus = Corpus.from_arrays(pa.array([], pa.string()), pa.array([], pa.string()))
    return Documents.of(corpus, "")
