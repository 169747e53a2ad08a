"""``CrossEncoder``: re-score each (query, document) pair with a sequence-classification model.

A cross-encoder reads the query and the document together (``[CLS] query [SEP] document
[SEP]``) and outputs a relevance score (Nogueira and Cho 2019, "Passage Re-ranking with
BERT", arXiv:1901.04085). It is far more expensive than a first stage, so it re-ranks a
cut-off of one: ``bm25 % 100 >> CrossEncoder("my-model", corpus=corpus)``.

Any transformers ``AutoModelForSequenceClassification`` folder or hub name works, including
sentence-transformers ``CrossEncoder`` models (the same folder layout). A model with one
output uses that logit as the score; one with several uses the log-probability of its last
class ("relevant"). Pairs are sorted by length before batching, so batches pad little.
Train one with :func:`rankstack.train.train_cross_encoder`.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Sequence
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from rankstack._compat import require
from rankstack.data import Corpus, Queries, Run
from rankstack.data._columns import take_str, to_str_list
from rankstack.exceptions import DataError
from rankstack.pipeline import Stage, require_run
from rankstack.train._progress import progress_bar
from rankstack.train.models import load_pretrained

logger = logging.getLogger(__name__)


class CrossEncoder(Stage):
    """Re-rank a run's candidates with a cross-encoder.

    Parameters
    ----------
    model:
        A model folder or hub name (``AutoModelForSequenceClassification``), or a loaded
        ``(model, tokenizer)`` pair.
    corpus:
        The documents' texts (fields joined, title first, unless ``fields`` is given).
    batch_size:
        Pairs per forward pass.
    max_length:
        Tokens per pair; the document is truncated first (``only_second``).
    fields:
        Corpus fields to join as the document text (default: all, title first).
    progress:
        Draw a progress bar on stderr.
    bf16:
        Score under ``torch.autocast`` in bfloat16 (about twice as fast on CPUs with AMX or
        AVX512-BF16; scores differ from float32 in the third significant digit).
    name:
        Name of the stage in feature tables and run tags.
    """

    def __init__(
        self,
        model: Any,
        corpus: Corpus | None = None,
        batch_size: int = 32,
        max_length: int = 256,
        fields: Sequence[str] | None = None,
        progress: bool = False,
        name: str = "cross_encoder",
        bf16: bool = False,
    ) -> None:
        if int(batch_size) < 1 or int(max_length) < 8:
            raise DataError(
                f"CrossEncoder: batch_size must be >= 1 and max_length >= 8, found "
                f"{batch_size} and {max_length}"
            )
        self.model = model
        self.corpus = corpus
        self.batch_size = int(batch_size)
        self.max_length = int(max_length)
        self.fields = list(fields) if fields is not None else None
        self.progress = progress
        self.name = name
        self.bf16 = bool(bf16)
        self._loaded: tuple[Any, Any] | None = None
        self._texts: pa.Array | None = None

    # ------------------------------------------------------------------ loading
    @property
    def model_(self) -> tuple[Any, Any]:
        """The ``(model, tokenizer)`` pair (loaded on first use)."""
        if self._loaded is None:
            if isinstance(self.model, (str, os.PathLike)):
                self._loaded = load_cross_encoder(self.model)
            elif isinstance(self.model, tuple) and len(self.model) == 2:
                self._loaded = (self.model[0], self.model[1])
            else:
                raise DataError(
                    "CrossEncoder: model must be a folder, a hub name or a (model, tokenizer) "
                    f"pair, found {type(self.model).__name__}"
                )
        return self._loaded

    def doc_texts(self, docids: pa.Array) -> pa.Array:
        """The text of each doc id (vectorised lookup); unknown ids raise :class:`DataError`."""
        if self.corpus is None:
            raise DataError(
                "CrossEncoder needs the documents' texts: pass corpus=... (a rankstack Corpus)"
            )
        if self._texts is None:
            self._texts = self.corpus.contents(self.fields)
        pos = pc.index_in(docids, value_set=self.corpus.docids)
        if pos.null_count:
            missing = to_str_list(docids.filter(pc.is_null(pos)))[:3]
            raise DataError(
                f"CrossEncoder: {pos.null_count} candidates are not in the corpus "
                f"(e.g. {missing}); re-rank a run made over the same corpus"
            )
        return take_str(self._texts, pos.to_numpy(zero_copy_only=False).astype(np.int64))

    # ------------------------------------------------------------------ scoring
    def score(self, query_texts: Sequence[str], doc_texts: Sequence[str]) -> np.ndarray:
        """One score per (query, document) pair (float32)."""
        model, tokenizer = self.model_
        return score_pairs(
            model,
            tokenizer,
            query_texts,
            doc_texts,
            batch_size=self.batch_size,
            max_length=self.max_length,
            progress=self.progress,
            bf16=self.bf16,
        )

    def transform(self, queries: Queries, run: Run | None = None) -> Run:
        base = require_run(self, run)
        if len(base) == 0:
            return base.with_metadata(stage=self.name)
        pos = pc.index_in(base.qids, value_set=queries.qids)
        if pos.null_count:
            raise DataError(
                f"CrossEncoder: {pos.null_count} queries of the run have no text in the queries"
            )
        row_q = pos.to_numpy(zero_copy_only=False).astype(np.int64)[base.query_index]
        qtexts = to_str_list(take_str(queries.texts, row_q))
        dtexts = to_str_list(self.doc_texts(base.docids))
        scores = self.score(qtexts, dtexts)
        out = base.with_scores(scores.astype(np.float64))
        return out.with_metadata(stage=self.name, reranker=repr(self))

    def __repr__(self) -> str:
        model = self.model if isinstance(self.model, (str, os.PathLike)) else "<model>"
        return f"CrossEncoder({str(model)!r}, max_length={self.max_length})"


def load_cross_encoder(model: str | os.PathLike[str]) -> tuple[Any, Any]:
    """``(model, tokenizer)`` of a sequence-classification folder or hub name, in eval mode."""
    transformers = require("transformers")
    tok = load_pretrained(transformers.AutoTokenizer, model)
    net = load_pretrained(transformers.AutoModelForSequenceClassification, model)
    net.eval()
    return net, tok


def pair_logits(model: Any, enc: Any) -> Any:
    """The relevance score tensor ``[pairs]`` of a tokenised batch (with gradients)."""
    torch = require("torch")
    logits = model(**enc).logits
    if logits.shape[-1] == 1:
        return logits[:, 0]
    return torch.log_softmax(logits, dim=-1)[:, -1]


def tokenize_pairs(
    tokenizer: Any, queries: Sequence[str], docs: Sequence[str], max_length: int
) -> Any:
    return tokenizer(
        list(queries),
        list(docs),
        truncation="only_second",
        max_length=max_length,
        padding=True,
        return_tensors="pt",
    )


def score_pairs(
    model: Any,
    tokenizer: Any,
    queries: Sequence[str],
    docs: Sequence[str],
    *,
    batch_size: int = 32,
    max_length: int = 256,
    progress: bool = False,
    label: str = "cross-encoder",
    bf16: bool = False,
) -> np.ndarray:
    """Scores of ``(queries[i], docs[i])`` pairs under ``torch.inference_mode`` (float32).

    Pairs are sorted by text length so each batch pads little; the order of the output is
    the order of the input. ``bf16`` runs the model under ``torch.autocast`` in bfloat16.
    """
    import contextlib

    torch = require("torch")
    n = len(queries)
    if len(docs) != n:
        raise DataError(f"score_pairs: {n} queries but {len(docs)} documents")
    out = np.zeros(n, dtype=np.float32)
    lengths = np.fromiter((len(q) + len(d) for q, d in zip(queries, docs)), np.int64, n)
    order = np.argsort(lengths, kind="stable")
    was_training = model.training
    model.eval()
    try:
        cast = (
            torch.autocast(device_type=_device(model), dtype=torch.bfloat16)
            if bf16
            else contextlib.nullcontext()
        )
        with progress_bar(label, n, progress) as advance, torch.inference_mode(), cast:
            for lo in range(0, n, batch_size):
                idx = order[lo : lo + batch_size]
                enc = tokenize_pairs(
                    tokenizer, [queries[i] for i in idx], [docs[i] for i in idx], max_length
                )
                out[idx] = pair_logits(model, enc).float().numpy()
                advance(len(idx))
    finally:
        model.train(was_training)
    return out


def _device(model: Any) -> str:
    try:
        return str(next(model.parameters()).device.type)
    except (StopIteration, AttributeError):
        return "cpu"
