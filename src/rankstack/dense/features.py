"""``DenseFeatures``: bi-encoder query-document features appended to a run's feature matrix.

A learned re-ranker over lexical features (:class:`rankstack.rerank.Features`) sees only term
statistics; this stage adds what a bi-encoder thinks of each candidate, so the ranker can weigh
the two (the setting of hybrid learning to rank: Nogueira et al., "Multi-stage document ranking
with BERT", 2019; Lin, Nogueira and Yates, *Pretrained Transformers for Text Ranking*, 2021,
section 3.2.4 on feeding neural scores to a feature-based ranker). Features, for each candidate
``d`` of query ``q`` (``name`` prefixes every feature, ``dense`` by default):

- ``{name}_score``: ``e(q) . e(d)``, the inner product of the query and document embeddings
  (their cosine with ``normalize=True``): the score :class:`~rankstack.dense.BiEncoder` gives;
- ``{name}_score_minmax``: that score min-max normalised over the query's candidates in the
  run (1 when they are all equal), a per-query scale a tree can split on;
- ``{name}_rank``: the candidate's rank among the query's candidates by that score (1 = best,
  ties by doc id descending as trec_eval);
- ``{name}_retrieval_rank``: the document's rank in the bi-encoder's own ranking of the whole
  corpus (its first-stage rank; ``depth + 1`` when not in the top ``depth``).

Everything goes through a :class:`~rankstack.dense.BiEncoder` built from the same parameters:
document embeddings come from (and go to) its on-disk cache, tied to the model's identity, and
a saved vector index of another model is refused. Scores are computed for all rows at once
(a gather and a row-wise dot product in blocks); the retrieval ranks are one top-``depth``
search per query and one sorted-key lookup, never a loop over pairs.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow.compute as pc

from rankstack.data import Corpus, Queries, Run
from rankstack.data._columns import rank_desc_within_ties, take_str, to_str_list
from rankstack.dense.encoder import RESCORE_BLOCK, BiEncoder
from rankstack.dense.vector_index import VectorIndex
from rankstack.exceptions import DataError, IndexFormatError
from rankstack.pipeline import Stage, require_run

logger = logging.getLogger(__name__)

#: feature key -> one-line description (names are ``{name}_{key}``)
DENSE_FEATURES: dict[str, str] = {
    "score": "bi-encoder score: inner product of query and document embeddings (cosine)",
    "score_minmax": "bi-encoder score min-max normalised over the query's candidates",
    "rank": "rank by bi-encoder score among the query's candidates (1 = best)",
    "retrieval_rank": "rank in the bi-encoder's ranking of the whole corpus (depth + 1 beyond)",
}
#: feature sets a request may name
DENSE_SETS: dict[str, tuple[str, ...]] = {"default": tuple(DENSE_FEATURES)}


def dense_feature_keys(features: str | Sequence[str]) -> list[str]:
    """The feature keys a request names, in request order without repeats.

    Raises :class:`DataError` for an unknown name, listing the valid ones.
    """
    items = [features] if isinstance(features, str) else list(features)
    out: list[str] = []
    for item in items:
        if not isinstance(item, str):
            raise DataError(f"dense feature names are strings, found {item!r}")
        keys = DENSE_SETS.get(item, (item,))
        for key in keys:
            if key not in DENSE_FEATURES:
                valid = [*DENSE_SETS, *DENSE_FEATURES]
                raise DataError(f"unknown dense feature {item!r}; valid names: {valid}")
            if key not in out:
                out.append(key)
    return out


class DenseFeatures(Stage):
    """Bi-encoder features for every candidate of a run (a re-ranking-side stage).

    ``transform(queries, run)`` returns the same rows, in the same order, with the feature
    matrix extended: features the run already carries are kept and the new ones appended (a
    name already taken gets a ``_2``, ``_3``... suffix). Use it after or beside the lexical
    features: ``bm25 % 100 >> (Features(index) ** DenseFeatures(model, corpus=corpus))``.

    Parameters
    ----------
    model:
        As :class:`~rankstack.dense.BiEncoder`: a model folder, a hub name or a loaded
        ``SentenceTransformer``.
    corpus:
        The documents (embedded once, cached under ``cache_dir``). Either this or ``vectors``.
    vectors:
        Instead of the corpus: a :class:`~rankstack.dense.VectorIndex` (or the folder of a saved
        one) holding the document embeddings, as a saved pipeline stores them; an index built
        by another model or with other encoding settings is refused.
    features:
        ``"default"`` (all four) or a list of ``score``, ``score_minmax``, ``rank``,
        ``retrieval_rank``.
    depth:
        How deep ``retrieval_rank`` looks in the bi-encoder's ranking of the corpus.
    batch_size, normalize, query_prefix, doc_prefix, cache_dir, dtype, index_kind,
    index_params, fields, device, progress, rebuild:
        As :class:`~rankstack.dense.BiEncoder` (the index is what ``retrieval_rank`` searches).
    name:
        Prefix of the feature names.
    """

    def __init__(
        self,
        model: Any,
        corpus: Corpus | None = None,
        vectors: VectorIndex | str | Path | None = None,
        features: str | Sequence[str] = "default",
        depth: int = 1000,
        batch_size: int = 64,
        normalize: bool = True,
        query_prefix: str = "",
        doc_prefix: str = "",
        cache_dir: str | Path | None = None,
        dtype: str = "float32",
        index_kind: str = "exact",
        index_params: dict[str, Any] | None = None,
        fields: Sequence[str] | None = None,
        device: str = "cpu",
        progress: bool | None = None,
        rebuild: bool = False,
        name: str = "dense",
    ) -> None:
        self.model = model
        self.corpus = corpus
        self.vectors = vectors
        self.features = features if isinstance(features, str) else list(features)
        self.depth = int(depth)
        self.batch_size = int(batch_size)
        self.normalize = bool(normalize)
        self.query_prefix = query_prefix
        self.doc_prefix = doc_prefix
        self.cache_dir = cache_dir
        self.dtype = dtype
        self.index_kind = index_kind
        self.index_params = dict(index_params) if index_params else None
        self.fields = list(fields) if fields is not None else None
        self.device = device
        self.progress = progress
        self.rebuild = bool(rebuild)
        self.name = name
        if self.depth < 1:
            raise DataError(f"DenseFeatures: depth must be >= 1, found {depth}")
        if corpus is None and vectors is None:
            raise DataError(
                "DenseFeatures needs the corpus to embed (corpus=...) or the document "
                "embeddings as a vector index (vectors=...)"
            )
        if not name:
            raise DataError("DenseFeatures: name (the prefix of the feature names) is empty")
        self._keys = dense_feature_keys(self.features)
        self._encoder: BiEncoder | None = None

    # ------------------------------------------------------------------ state
    @property
    def encoder_(self) -> BiEncoder:
        """The bi-encoder that embeds queries and documents (built on first use)."""
        if self._encoder is None:
            self._encoder = BiEncoder(
                self.model,
                corpus=self.corpus,
                index=self.vectors,
                k=self.depth,
                batch_size=self.batch_size,
                normalize=self.normalize,
                query_prefix=self.query_prefix,
                doc_prefix=self.doc_prefix,
                cache_dir=self.cache_dir,
                dtype=self.dtype,
                index_kind=self.index_kind,
                index_params=self.index_params,
                fields=self.fields,
                device=self.device,
                progress=self.progress,
                rebuild=self.rebuild,
                name=self.name,
            )
            if self.vectors is not None:
                self._check_settings(self._encoder)
        return self._encoder

    def _check_settings(self, encoder: BiEncoder) -> None:
        """Refuse a vector index whose embeddings were made with other encoding settings."""
        meta = encoder.index_.metadata  # checks the model identity and the dimension
        stored = meta.get("settings")
        if not isinstance(stored, dict):
            return
        differ = [
            f"{k}={stored[k]!r} (index) vs {v!r} (stage)"
            for k, v in encoder.settings().items()
            if k in stored and stored[k] != v
        ]
        if "dtype" in meta and meta["dtype"] != self.dtype:
            differ.append(f"dtype={meta['dtype']!r} (index) vs {self.dtype!r} (stage)")
        if differ:
            raise IndexFormatError(
                f"{self.name}: the vector index {self.vectors} holds embeddings made with other "
                f"settings: {'; '.join(differ)}"
            )

    @property
    def feature_names(self) -> list[str]:
        """Names of the features this stage appends (before any renaming for clashes)."""
        return [f"{self.name}_{k}" for k in self._keys]

    # ------------------------------------------------------------------ transform
    def transform(self, queries: Queries, run: Run | None = None) -> Run:
        """The run's rows with the dense features appended (rows and their order unchanged)."""
        run = require_run(self, run)
        t0 = time.perf_counter()
        out = np.zeros((len(run), len(self._keys)), dtype=np.float32)
        if len(run):
            self._compute(queries, run, out)
        logger.info(
            "%d dense features for %d pairs in %.2fs",
            len(self._keys),
            len(run),
            time.perf_counter() - t0,
        )
        from rankstack.rerank.features.stage import _unique_names

        old = run.features if run.features is not None else np.zeros((len(run), 0), np.float32)
        names = _unique_names(list(run.feature_names), self.feature_names)
        return run.with_features(np.hstack([old, out]), names)

    def _compute(self, queries: Queries, run: Run, out: np.ndarray) -> None:
        enc = self.encoder_
        if self.corpus is not None:
            ids = self.corpus.docids
            matrix: np.ndarray | None = enc.doc_embeddings()
        else:
            ids = enc.index_.ids
            matrix = None
        pos = pc.fill_null(pc.index_in(run.docids, value_set=ids), -1)
        d_rows = np.asarray(pos.to_numpy(zero_copy_only=False), dtype=np.int64)
        if (d_rows < 0).any():
            bad = np.flatnonzero(d_rows < 0)
            examples = to_str_list(take_str(run.docids, bad[:5]))
            where = "corpus" if self.corpus is not None else "vector index"
            raise DataError(
                f"{self.name}: {len(bad)} candidate documents are not in the {where} the stage "
                f"embeds, e.g. {examples}"
            )
        q = enc.encode_queries(queries.texts_for(run.qids))  # one row per query of the run
        qi = run.query_index
        scores = np.empty(len(run), dtype=np.float64)
        for a in range(0, len(run), RESCORE_BLOCK):
            b = min(a + RESCORE_BLOCK, len(run))
            docs = matrix[d_rows[a:b]] if matrix is not None else enc.index_.vectors(d_rows[a:b])
            scores[a:b] = np.einsum("ij,ij->i", q[qi[a:b]], docs)  # as BiEncoder.rescore
        for j, key in enumerate(self._keys):
            if key == "score":
                out[:, j] = scores
            elif key == "score_minmax":
                from rankstack.retrieve.fusion import normalise_scores

                out[:, j] = normalise_scores(run.with_scores(scores, resort=False), "minmax")
            elif key == "rank":
                out[:, j] = _ranks_within(run, scores)
            else:
                out[:, j] = self._retrieval_ranks(q, qi, d_rows, len(ids))

    def _retrieval_ranks(
        self, q: np.ndarray, qi: np.ndarray, d_rows: np.ndarray, n_docs: int
    ) -> np.ndarray:
        """Each candidate's 1-based rank in the bi-encoder's top ``depth`` (``depth + 1``
        when absent), by one search per query and one sorted-key lookup."""
        # with a corpus, the index is built from its embeddings: its rows are the corpus rows
        _, hits = self.encoder_.index_.search(q, self.depth)
        ranks = np.broadcast_to(np.arange(1, hits.shape[1] + 1), hits.shape)
        valid = hits >= 0
        keys = (np.arange(len(q), dtype=np.int64)[:, None] * n_docs + hits)[valid]
        hit_rank = ranks[valid]
        order = np.argsort(keys, kind="stable")
        keys, hit_rank = keys[order], hit_rank[order]
        want = qi.astype(np.int64) * n_docs + d_rows
        at = np.minimum(np.searchsorted(keys, want), max(len(keys) - 1, 0))
        found = (keys[at] == want) if len(keys) else np.zeros(len(want), dtype=bool)
        return np.where(found, hit_rank[at] if len(keys) else 0, self.depth + 1)

    # ------------------------------------------------------------------ saving
    def save_assets(self, folder: Path, ref: str) -> dict[str, Any]:
        """For a saved pipeline: write the document embeddings (as a vector index, with the
        model identity and settings) into ``folder``, and return the parameters that make a
        re-read stage use them instead of the corpus (``ref``: the folder as the saved
        expression names it)."""
        self.encoder_.index_.save(folder)
        return {"vectors": ref, "corpus": None}

    def __repr__(self) -> str:
        model = self.model if isinstance(self.model, (str, Path)) else type(self.model).__name__
        return f"DenseFeatures({str(model)!r}, features={self.features!r}, name={self.name!r})"


def _ranks_within(run: Run, scores: np.ndarray) -> np.ndarray:
    """1-based rank of each row by ``scores`` within its query (ties: doc id descending)."""
    order = rank_desc_within_ties(run.docids, run.query_index, scores)
    ranks = np.empty(len(run), dtype=np.int64)
    # ``order`` keeps the queries in run order, so the k-th sorted row of a query sits at
    # offsets[query] + k
    ranks[order] = np.arange(len(run)) - run.offsets[:-1][run.query_index] + 1
    return ranks
