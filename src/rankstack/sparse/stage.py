"""``Splade``: learned sparse retrieval over an :class:`~rankstack.sparse.ImpactIndex`.

Queries are encoded by the same masked-LM head as the documents
(:class:`~rankstack.sparse.SpladeEncoder`), and a document's score is the dot product of the
two sparse weight vectors: one sparse matrix product (queries x vocabulary) @ (vocabulary x
documents) plus a top-k per query, the search code BM25 uses
(:mod:`rankstack.retrieve._search`). Ties are broken by doc id as everywhere in rankstack.
"""

from __future__ import annotations

import logging
import os
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa

from rankstack.data import Corpus, Queries, Run
from rankstack.data._columns import take_str
from rankstack.exceptions import DataError, IndexFormatError
from rankstack.pipeline import Stage
from rankstack.retrieve import _search
from rankstack.sparse.encoder import SpladeEncoder
from rankstack.sparse.index import ImpactIndex

logger = logging.getLogger(__name__)


class Splade(Stage):
    """SPLADE retrieval (a first-stage :class:`~rankstack.pipeline.Stage`).

    Parameters
    ----------
    index:
        An :class:`ImpactIndex` or the folder of a saved one.
    model:
        The query encoder's model (folder, hub name or ``"splade-tiny"``); default: the model
        recorded in the index, whose identity is checked against the index's.
    k:
        Documents returned per query.
    max_length, batch_size:
        Query encoding settings.
    progress:
        Progress bar while encoding queries.
    name:
        Name of the stage in feature tables and run tags.
    """

    is_retriever = True

    def __init__(
        self,
        index: ImpactIndex | str | os.PathLike[str],
        model: Any = None,
        k: int = 1000,
        max_length: int = 64,
        batch_size: int = 32,
        progress: bool = False,
        name: str = "splade",
    ) -> None:
        if int(k) < 0:
            raise DataError(f"Splade: k must be >= 0, found {k}")
        self.index = index
        self.model = model
        self.k = int(k)
        self.max_length = int(max_length)
        self.batch_size = int(batch_size)
        self.progress = progress
        self.name = name
        self._index: ImpactIndex | None = index if isinstance(index, ImpactIndex) else None
        self._encoder: SpladeEncoder | None = None

    # ------------------------------------------------------------------ construction
    @classmethod
    def from_corpus(
        cls,
        corpus: Corpus,
        model: Any = "splade-tiny",
        *,
        path: str | os.PathLike[str] | None = None,
        quantize: bool = True,
        scale: float = 100.0,
        doc_max_length: int = 256,
        batch_size: int = 32,
        fields: list[str] | None = None,
        progress: bool = False,
        corpus_version: str | None = None,
        **params: Any,
    ) -> Splade:
        """Encode ``corpus`` (fields joined, title first), index it (saved when ``path``)."""
        index = build_impact_index(
            corpus,
            model,
            path=path,
            quantize=quantize,
            scale=scale,
            max_length=doc_max_length,
            batch_size=batch_size,
            fields=fields,
            progress=progress,
            corpus_version=corpus_version,
        )
        return cls._over(index, path, model, batch_size=batch_size, progress=progress, **params)

    @classmethod
    def _over(
        cls,
        index: ImpactIndex,
        path: str | os.PathLike[str] | None,
        model: Any,
        **params: Any,
    ) -> Splade:
        """The stage over an index in memory; a saved one is named by its folder, so the
        stage can be written back as a pipeline expression."""
        stage = cls(str(path) if path is not None else index, model=model, **params)
        stage._index = index
        if isinstance(model, SpladeEncoder):
            stage._encoder = model
        return stage

    @classmethod
    def cached(
        cls,
        corpus: Corpus,
        model: Any = "splade-tiny",
        *,
        cache_dir: str | os.PathLike[str] = "auto",
        quantize: bool = True,
        scale: float = 100.0,
        doc_max_length: int = 256,
        batch_size: int = 32,
        fields: list[str] | None = None,
        progress: bool = False,
        **params: Any,
    ) -> Splade:
        """The index of ``corpus`` read from the cache, or built once and saved there.

        ``cache_dir="auto"`` is ``RANKSTACK_HOME/splade/<model>-<key>``, the key hashing the
        model's weights, the corpus version (ids and texts) and the index settings, so a
        changed corpus, model or setting gets a new index and never a stale one; another
        folder is used as given (and must hold an index of this corpus, or nothing).
        """
        from rankstack.dense._fingerprint import corpus_version, text_fingerprints
        from rankstack.train.models import model_identity

        identity = model.identity if isinstance(model, SpladeEncoder) else model_identity(model)
        version = corpus_version(corpus.docids, text_fingerprints(corpus.contents(fields)))
        settings = {
            "quantize": bool(quantize),
            "scale": float(scale),
            "doc_max_length": int(doc_max_length),
            "fields": fields,
        }
        if str(cache_dir) == "auto":
            folder = default_index_dir(identity, version, settings)
        else:
            folder = Path(cache_dir)
        if (folder / "manifest.json").is_file():
            index = ImpactIndex.load(folder)
            if index.n_docs != len(corpus) or index.meta.get("corpus_version") not in (
                None,
                version,
            ):
                raise IndexFormatError(
                    f"Splade: the index in {folder} was built from another corpus "
                    f"({index.n_docs} documents, version {index.meta.get('corpus_version')}) "
                    f"than this one ({len(corpus)}, {version}); remove it or pick another folder"
                )
            logger.info("SPLADE index read from %s", folder)
            return cls._over(
                index, folder, model, batch_size=batch_size, progress=progress, **params
            )
        return cls.from_corpus(
            corpus,
            model,
            path=folder,
            quantize=quantize,
            scale=scale,
            doc_max_length=doc_max_length,
            batch_size=batch_size,
            fields=fields,
            progress=progress,
            corpus_version=version,
            **params,
        )

    # ------------------------------------------------------------------ state
    @property
    def index_(self) -> ImpactIndex:
        if self._index is None:
            self._index = ImpactIndex.load(Path(self.index))  # type: ignore[arg-type]
        return self._index

    @property
    def encoder_(self) -> SpladeEncoder:
        if self._encoder is None:
            recorded = self.index_.meta.get("model", {})
            model = self.model if self.model is not None else recorded.get("name")
            if model is None:
                raise DataError(
                    "Splade: the index records no model; pass model=... (the documents' encoder)"
                )
            enc = SpladeEncoder(
                model,
                max_length=self.max_length,
                batch_size=self.batch_size,
                progress=self.progress,
            )
            want = recorded.get("sha256")
            if want and enc.identity.get("sha256") and enc.identity["sha256"] != want:
                raise IndexFormatError(
                    f"Splade: the index was built with another model ({recorded.get('name')}, "
                    f"sha256 {want[:12]}...) than {enc.identity['name']} "
                    f"({enc.identity['sha256'][:12]}...); re-index with this model or use that one"
                )
            self._encoder = enc
        if self._encoder.vocab_size != self.index_.n_terms:
            raise IndexFormatError(
                f"Splade: the model's vocabulary has {self._encoder.vocab_size} terms but the "
                f"index has {self.index_.n_terms}: they do not belong together"
            )
        return self._encoder

    # ------------------------------------------------------------------ retrieval
    def search_weights(self, q: Any, k: int | None = None) -> _search.Hits:
        """Top-k hits (internal doc indices) for a (queries x vocabulary) weight matrix."""
        idx = self.index_
        kk = self.k if k is None else int(k)
        return _search.search(
            q.tocsr().astype(np.float32),
            idx.matrix(),
            kk,
            np.asarray(idx.docid_rank),
            idx.postings_per_term(),
        )

    def transform(self, queries: Queries, run: Run | None = None) -> Run:
        q = self.encoder_.encode(queries.texts, label="SPLADE queries")
        hits = self.search_weights(q)
        docids = take_str(self.index_.docids, hits.docs)
        if pa.types.is_large_string(docids.type):
            docids = docids.cast(pa.string())
        return Run(
            qids=queries.qids,
            offsets=hits.offsets,
            docids=docids,
            scores=hits.scores.astype(np.float64),
            metadata={"stage": self.name, "retriever": repr(self)},
        )

    def __repr__(self) -> str:
        where = self.index if not isinstance(self.index, ImpactIndex) else repr(self.index)
        return f"Splade({where}, k={self.k})"


def build_impact_index(
    corpus: Corpus,
    model: Any = "splade-tiny",
    *,
    path: str | os.PathLike[str] | None = None,
    quantize: bool = True,
    scale: float = 100.0,
    max_length: int = 256,
    batch_size: int = 32,
    fields: list[str] | None = None,
    progress: bool = False,
    corpus_version: str | None = None,
) -> ImpactIndex:
    """Encode every document of ``corpus`` with SPLADE and build (and save) its impact index
    (``corpus_version`` is recorded in its metadata when given)."""
    enc = (
        model
        if isinstance(model, SpladeEncoder)
        else SpladeEncoder(model, max_length=max_length, batch_size=batch_size, progress=progress)
    )
    weights = enc.encode(corpus.contents(fields), label="SPLADE documents")
    meta = {
        "model": enc.identity,
        "doc_max_length": enc.max_length,
        "fields": fields if fields is not None else corpus._default_order(),
        "weighting": "max over tokens of log1p(relu(logits)) (SPLADE-max)",
    }
    if corpus_version is not None:
        meta["corpus_version"] = corpus_version
    index = ImpactIndex.from_weights(
        weights, corpus.docids, quantize=quantize, scale=scale, meta=meta
    )
    if path is not None:
        index.save(path)
    logger.info("SPLADE index: %r", index)
    return index


def default_index_dir(
    identity: dict[str, str], version: str, settings: dict[str, Any] | None = None
) -> Path:
    """``RANKSTACK_HOME/splade/<model>-<key>``: one index per model, corpus version and
    settings (what :meth:`Splade.cached` uses with ``cache_dir="auto"``)."""
    import hashlib
    import json
    import re

    from rankstack.datasets import home_dir

    desc = json.dumps(
        [identity.get("name"), identity.get("sha256"), version, dict(settings or {})],
        sort_keys=True,
    )
    key = hashlib.sha256(desc.encode()).hexdigest()[:20]
    slug = re.sub(r"[^A-Za-z0-9._]+", "-", Path(str(identity.get("name"))).name).strip("-.")
    return Path(home_dir()) / "splade" / f"{slug[:48] or 'model'}-{key}"
