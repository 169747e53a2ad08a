"""``BiEncoder``: dense retrieval with a sentence-transformers model (a pipeline stage).

Queries and documents are embedded separately (a bi-encoder: Reimers and Gurevych,
"Sentence-BERT", EMNLP 2019; Karpukhin et al., "Dense Passage Retrieval", EMNLP 2020) and
scored by inner product, which is cosine similarity for normalised embeddings. Documents are
the corpus fields joined title first (what BEIR feeds sentence-transformers models), with an
optional prefix (``"passage: "`` for E5-style models).

Encoding sorts the texts by length, as ``SentenceTransformer.encode`` does, so batches hold
texts of similar length (little padding); it runs in chunks of a few batches to drive a
progress bar, which costs next to nothing against the model. Document embeddings can be
cached on disk (:mod:`rankstack.dense.cache`): a second run loads them, and a grown corpus
encodes only its new or changed documents.

As a first stage (no incoming run) the stage retrieves the top ``k`` from a vector index
(:mod:`rankstack.dense.vector_index`: exact by default). Given a run, it re-scores that run's
candidates with the dense score instead (``bm25 % 100 >> dense``).
"""

from __future__ import annotations

import logging
import sys
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager, nullcontext
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from rankstack.data import Corpus, Queries, Run
from rankstack.data._columns import offsets_from_sizes, rank_desc_within_ties, take_str
from rankstack.dense import _codec
from rankstack.dense._fingerprint import corpus_version, text_fingerprints
from rankstack.dense.cache import EmbeddingCache, default_cache_dir, sync_cache
from rankstack.dense.model import ModelIdentity, load_model
from rankstack.dense.rankme import PAPER_SAMPLES, rank_me
from rankstack.dense.vector_index import VectorIndex
from rankstack.exceptions import DataError, IndexFormatError
from rankstack.pipeline import Stage

logger = logging.getLogger(__name__)

#: batches per call of ``SentenceTransformer.encode`` (one progress-bar step)
BATCHES_PER_STEP = 4
#: candidate rows scored per block when re-scoring a run
RESCORE_BLOCK = 1 << 16


def document_texts(
    corpus: Corpus, fields: Sequence[str] | None = None, prefix: str = ""
) -> pa.Array:
    """The text embedded for each document: ``prefix`` + the fields joined (title first)."""
    texts = corpus.contents(fields)
    if prefix:
        texts = pc.binary_join_element_wise(pa.scalar(prefix, texts.type), texts, "")
    return texts


def as_text_array(texts: Sequence[str] | pa.Array) -> pa.Array:
    """Texts as one pyarrow string array."""
    if isinstance(texts, pa.ChunkedArray):
        return texts.combine_chunks()
    if isinstance(texts, pa.Array):
        return texts
    return pa.array(list(texts), pa.string())


def encode_texts(
    model: Any,
    texts: Sequence[str] | pa.Array,
    *,
    batch_size: int = 64,
    normalize: bool = True,
    progress: bool | None = None,
    desc: str = "encoding",
) -> np.ndarray:
    """Embed ``texts`` with a loaded ``SentenceTransformer`` (float32, one row per text).

    Texts are sorted by length (longest first, as ``SentenceTransformer.encode`` sorts) and
    fed :data:`BATCHES_PER_STEP` batches at a time, so a progress bar can follow.
    """
    if batch_size < 1:
        raise DataError(f"batch_size must be >= 1, found {batch_size}")
    arr = as_text_array(texts)
    n = len(arr)
    dim = int(_dimension(model))
    if n == 0:
        return np.zeros((0, dim), dtype=np.float32)
    lengths = np.asarray(pc.fill_null(pc.utf8_length(arr), 0).to_numpy(zero_copy_only=False))
    order = np.argsort(-lengths)
    items = arr.to_pylist()
    ordered = [items[i] or "" for i in order]
    out = np.empty((n, dim), dtype=np.float32)
    step = batch_size * BATCHES_PER_STEP
    show = sys.stderr.isatty() if progress is None else progress
    with _progress(show, n, desc) as advance:
        for a in range(0, n, step):
            b = min(a + step, n)
            emb = model.encode(
                ordered[a:b],
                batch_size=batch_size,
                normalize_embeddings=normalize,
                convert_to_numpy=True,
                show_progress_bar=False,
            )
            out[order[a:b]] = np.asarray(emb, dtype=np.float32)
            advance(b - a)
    return out


def _dimension(model: Any) -> int:
    get = getattr(model, "get_embedding_dimension", None) or model.get_sentence_embedding_dimension
    dim = get()
    if dim is None:
        raise DataError("the model does not report its embedding dimension")
    return int(dim)


def _progress(show: bool, total: int, desc: str) -> Any:
    """A context manager yielding ``advance(n)``; a no-op when not shown."""
    if not show:
        return nullcontext(lambda n: None)

    from rich.console import Console
    from rich.progress import (
        BarColumn,
        MofNCompleteColumn,
        Progress,
        TextColumn,
        TimeElapsedColumn,
        TimeRemainingColumn,
    )

    @contextmanager
    def bar() -> Iterator[Callable[[int], None]]:
        columns = [
            TextColumn(desc),
            BarColumn(),
            MofNCompleteColumn(),
            TimeElapsedColumn(),
            TimeRemainingColumn(),
        ]
        # on stderr: stdout may carry a run or JSON (``--json``)
        with Progress(*columns, console=Console(stderr=True), transient=False) as prog:
            task = prog.add_task(desc, total=total)
            yield lambda n: prog.advance(task, n)

    return bar()


class BiEncoder(Stage):
    """Dense retrieval with a sentence-transformers bi-encoder.

    Parameters
    ----------
    model:
        A model folder, a Hugging Face hub name (``sentence-transformers/all-MiniLM-L6-v2``;
        downloaded when there is a network) or a loaded ``SentenceTransformer``.
    corpus:
        The documents to embed (needed unless ``index`` is given).
    index:
        A :class:`~rankstack.dense.vector_index.VectorIndex` or the folder of a saved one;
        default: built from the corpus embeddings (``index_kind``, ``index_params``).
    k:
        Documents returned per query.
    batch_size:
        Texts per forward pass.
    normalize:
        L2-normalise embeddings (scores are then cosine similarities).
    query_prefix, doc_prefix:
        Prepended to every query / document text (``"query: "`` / ``"passage: "`` for E5).
    cache_dir:
        Folder of the document-embedding cache (:mod:`rankstack.dense.cache`); ``"auto"``: a
        folder under ``RANKSTACK_HOME/embeddings`` named after the model, corpus version,
        dtype and settings; None keeps embeddings in memory only.
    dtype:
        Storage precision of document embeddings: ``float32``, ``float16`` or ``int8``
        (applied with or without a cache, so results do not depend on caching).
    index_kind, index_params:
        Vector index built over the corpus: ``exact`` (default), ``hnsw`` or ``ivf``, with
        the parameters of :meth:`VectorIndex.build`; for a loaded index, ``index_params`` sets
        its search-time parameters (``ef_search``, ``nprobe``).
    fields:
        Corpus fields embedded, joined in this order (default: all, title first).
    device:
        Torch device (``cpu``, ``cuda``).
    progress:
        Progress bar while encoding documents (default: when stderr is a terminal).
    rebuild:
        Replace a cache written by another model, setting, dtype or dimension (with a
        warning) instead of refusing it.
    name:
        Name of the stage in feature tables and run tags.
    """

    is_retriever = True

    def __init__(
        self,
        model: Any,
        corpus: Corpus | None = None,
        index: VectorIndex | str | Path | None = None,
        k: int = 1000,
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
        self.index = index
        self.k = int(k)
        self.batch_size = int(batch_size)
        self.normalize = bool(normalize)
        self.query_prefix = query_prefix
        self.doc_prefix = doc_prefix
        self.cache_dir = cache_dir
        self.dtype = _codec.check_dtype(dtype)
        self.index_kind = index_kind
        self.index_params = dict(index_params) if index_params else None
        self.fields = list(fields) if fields is not None else None
        self.device = device
        self.progress = progress
        self.rebuild = bool(rebuild)
        self.name = name
        if self.k < 0:
            raise DataError(f"BiEncoder: k must be >= 0, found {k}")
        if self.batch_size < 1:
            raise DataError(f"BiEncoder: batch_size must be >= 1, found {batch_size}")
        if corpus is None and index is None:
            raise DataError("BiEncoder needs a corpus to embed or a vector index to search")
        self._model: Any = None
        self._identity: ModelIdentity | None = None
        self._index: VectorIndex | None = index if isinstance(index, VectorIndex) else None
        self._doc_emb: np.ndarray | None = None
        self._version: str | None = None
        self._cache: EmbeddingCache | None = None

    # ------------------------------------------------------------------ model
    @property
    def model_(self) -> Any:
        """The loaded ``SentenceTransformer``."""
        if self._model is None:
            self._model, self._identity = load_model(self.model, device=self.device)
        return self._model

    @property
    def identity_(self) -> ModelIdentity:
        """The model's :class:`~rankstack.dense.model.ModelIdentity` (name + weights hash)."""
        self.model_  # noqa: B018 - loads the model
        assert self._identity is not None
        return self._identity

    @property
    def dim(self) -> int:
        return _dimension(self.model_)

    def settings(self) -> dict[str, Any]:
        """Encoding settings stored with cached embeddings (a cache with others is refused)."""
        return {
            "normalize": self.normalize,
            "max_seq_length": int(getattr(self.model_, "max_seq_length", 0) or 0),
            "doc_prefix": self.doc_prefix,
            "fields": self.fields,
        }

    def encode_queries(self, texts: Sequence[str] | pa.Array) -> np.ndarray:
        """Query embeddings (float32, one row per text; ``query_prefix`` prepended)."""
        arr = as_text_array(texts)
        if self.query_prefix:
            arr = pc.binary_join_element_wise(pa.scalar(self.query_prefix, arr.type), arr, "")
        return encode_texts(
            self.model_, arr, batch_size=self.batch_size, normalize=self.normalize, progress=False
        )

    def encode_documents(self, texts: Sequence[str] | pa.Array) -> np.ndarray:
        """Document embeddings of ``texts`` as given (no prefix, no cache), float32."""
        return encode_texts(
            self.model_,
            texts,
            batch_size=self.batch_size,
            normalize=self.normalize,
            progress=self.progress,
            desc="encoding documents",
        )

    # ------------------------------------------------------------------ corpus
    def _corpus(self) -> Corpus:
        if self.corpus is None:
            raise DataError(
                "BiEncoder: this needs the corpus (the stage was given only a vector index)"
            )
        return self.corpus

    def doc_embeddings(self) -> np.ndarray:
        """Embeddings of the corpus documents, in corpus order (float32, after the storage
        ``dtype``'s round trip); read from / written to the cache when ``cache_dir`` is set."""
        if self._doc_emb is not None:
            return self._doc_emb
        corpus = self._corpus()
        texts = document_texts(corpus, self.fields, self.doc_prefix)
        fps = text_fingerprints(texts)
        self._version = corpus_version(corpus.docids, fps)
        if self.cache_dir is None:
            emb = _codec.round_trip(self.encode_documents(texts), self.dtype)
        else:

            def encode(rows: np.ndarray) -> np.ndarray:
                return self.encode_documents(take_str(texts, rows))

            folder = self.cache_dir
            if str(folder) == "auto":
                folder = default_cache_dir(
                    self.identity_, self._version, self.dtype, self.settings()
                )
            self._cache = sync_cache(
                folder,
                model=self.identity_,
                docids=corpus.docids,
                fingerprints=fps,
                encode=encode,
                dtype=self.dtype,
                settings=self.settings(),
                rebuild=self.rebuild,
            )
            emb = np.ascontiguousarray(self._cache.embeddings())
        self._doc_emb = emb
        return emb

    def corpus_version(self) -> str:
        """The version (hash of ids and embedded texts) of the corpus."""
        if self._version is None:
            corpus = self._corpus()
            texts = document_texts(corpus, self.fields, self.doc_prefix)
            self._version = corpus_version(corpus.docids, text_fingerprints(texts))
        return self._version

    def index_metadata(self) -> dict[str, Any]:
        return {
            "model": self.identity_.to_json(),
            "corpus_version": self.corpus_version(),
            "dtype": self.dtype,
            "settings": self.settings(),
        }

    @property
    def index_(self) -> VectorIndex:
        """The vector index searched (built from the corpus, or loaded and checked)."""
        if self._index is None:
            if self.index is not None:
                self._index = VectorIndex.load(self.index)  # type: ignore[arg-type]
                if self.index_params:
                    self._index.set_search_params(**self.index_params)
            else:
                corpus = self._corpus()
                self._index = VectorIndex.build(
                    self.doc_embeddings(),
                    corpus.docids,
                    self.index_kind,
                    metadata=self.index_metadata(),
                    **(self.index_params or {}),
                )
                return self._index
        self._check_index(self._index)
        return self._index

    def _check_index(self, index: VectorIndex) -> None:
        meta = index.metadata
        where = f"the vector index {self.index}" if self.index is not None else "the vector index"
        if "model" in meta:
            built_by = ModelIdentity.from_json(meta["model"])
            if not built_by.same_model(self.identity_):
                raise IndexFormatError(
                    f"{where} was built with embeddings of {built_by}; this stage's model is "
                    f"{self.identity_}: scores would mix two embedding spaces"
                )
        if index.dim != self.dim:
            raise IndexFormatError(f"{where} has dimension {index.dim}; the model gives {self.dim}")
        if (
            self.corpus is not None
            and "corpus_version" in meta
            and meta["corpus_version"] != self.corpus_version()
        ):
            raise IndexFormatError(
                f"{where} was built for another version of the corpus (documents added, "
                "removed or changed); rebuild it from this corpus"
            )

    # ------------------------------------------------------------------ stage
    def transform(self, queries: Queries, run: Run | None = None) -> Run:
        """Retrieve the top ``k`` per query, or re-score the candidates of ``run``."""
        if run is not None:
            return self.rescore(queries, run)
        index = self.index_
        q = self.encode_queries(queries.texts)
        scores, rows = index.search(q, self.k)
        valid = rows >= 0
        sizes = valid.sum(axis=1)
        flat_rows = rows[valid]
        flat_scores = scores[valid].astype(np.float64)
        docids = take_str(index.ids, flat_rows)
        qcode = np.repeat(np.arange(len(queries), dtype=np.int64), sizes)
        order = rank_desc_within_ties(docids, qcode, flat_scores)
        return Run(
            qids=queries.qids,
            offsets=offsets_from_sizes(sizes),
            docids=take_str(docids, order),
            scores=flat_scores[order],
            metadata={"stage": self.name, "retriever": repr(self)},
        )

    def rescore(self, queries: Queries, run: Run) -> Run:
        """``run`` with each candidate's score replaced by its dense score (re-sorted)."""
        q_rows = np.asarray(
            pc.fill_null(pc.index_in(run.qids, value_set=queries.qids), -1).to_numpy(
                zero_copy_only=False
            )
        )
        if (q_rows < 0).any():
            missing = run.qids[int(np.flatnonzero(q_rows < 0)[0])].as_py()
            raise DataError(f"{self.name}: the run has query {missing!r}, which the queries lack")
        if self.corpus is not None:
            ids = self.corpus.docids
            matrix = self.doc_embeddings()
        else:
            ids = self.index_.ids
            matrix = None
        pos = pc.fill_null(pc.index_in(run.docids, value_set=ids), -1)
        d_rows = np.asarray(pos.to_numpy(zero_copy_only=False), dtype=np.int64)
        if (d_rows < 0).any():
            bad = run.docids[int(np.flatnonzero(d_rows < 0)[0])].as_py()
            raise DataError(
                f"{self.name}: candidate document {bad!r} is not in the corpus the stage embeds"
            )
        q = self.encode_queries(queries.texts)
        qi = q_rows[run.query_index]
        scores = np.empty(len(run), dtype=np.float64)
        for a in range(0, len(run), RESCORE_BLOCK):
            b = min(a + RESCORE_BLOCK, len(run))
            docs = matrix[d_rows[a:b]] if matrix is not None else self.index_.vectors(d_rows[a:b])
            scores[a:b] = np.einsum("ij,ij->i", q[qi[a:b]], docs)
        return run.with_scores(scores).with_metadata(stage=self.name)

    # ------------------------------------------------------------------ diagnostics
    def rank_me(self, max_samples: int | None = PAPER_SAMPLES, seed: int = 0) -> float:
        """RankMe (Garrido et al. 2023) of the document embeddings (on a sample of
        ``max_samples`` rows, the paper's 25,600 by default)."""
        return rank_me(self.doc_embeddings(), max_samples=max_samples, seed=seed)

    def __repr__(self) -> str:
        model = self.model if isinstance(self.model, (str, Path)) else type(self.model).__name__
        return (
            f"BiEncoder({str(model)!r}, k={self.k}, dtype={self.dtype!r}, "
            f"index_kind={self.index_kind!r})"
        )
