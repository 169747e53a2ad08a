"""Fixtures for the dense tests: a tiny random BERT as a sentence-transformers folder, a corpus."""

from __future__ import annotations

import inspect
import os
import warnings
from pathlib import Path

import pytest

from rankstack.data import Corpus, Qrels, Queries

WORDS = [
    "the",
    "a",
    "of",
    "and",
    "to",
    "in",
    "is",
    "cell",
    "cells",
    "protein",
    "proteins",
    "gene",
    "genes",
    "dna",
    "rna",
    "cancer",
    "tumour",
    "study",
    "results",
    "patients",
    "mice",
    "blood",
    "heart",
    "brain",
    "risk",
    "disease",
    "treatment",
    "drug",
    "effect",
    "increase",
    "decrease",
    "expression",
    "level",
    "high",
    "low",
    "human",
    "model",
    "response",
    "immune",
    "virus",
    "infection",
]


def build_tiny_model(folder: Path, seed: int = 0, hidden: int = 32) -> Path:
    """A randomly initialised 2-layer BERT with mean pooling, saved as a model folder."""
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    import torch
    from transformers import BertConfig, BertModel, BertTokenizerFast

    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)
        try:
            from sentence_transformers.sentence_transformer.modules import Pooling, Transformer
        except ImportError:  # sentence-transformers < 6
            from sentence_transformers.models import Pooling, Transformer
    from sentence_transformers import SentenceTransformer

    torch.manual_seed(seed)
    raw = folder / "bert"
    raw.mkdir(parents=True, exist_ok=True)
    vocab = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]", *WORDS]
    (raw / "vocab.txt").write_text("\n".join(vocab) + "\n", encoding="utf-8")
    config = BertConfig(
        vocab_size=len(vocab),
        hidden_size=hidden,
        num_hidden_layers=2,
        num_attention_heads=2,
        intermediate_size=2 * hidden,
        max_position_embeddings=128,
        initializer_range=1.0,  # spread the embeddings apart (0.02 gives near-equal vectors)
    )
    BertModel(config).save_pretrained(raw)
    vocab_file = str(raw / "vocab.txt")
    if "vocab" in inspect.signature(BertTokenizerFast.__init__).parameters:  # transformers >= 5
        tokenizer = BertTokenizerFast(vocab=vocab_file)
    else:
        tokenizer = BertTokenizerFast(vocab_file=vocab_file)
    tokenizer.save_pretrained(raw)
    word = Transformer(str(raw), max_seq_length=64)
    dim = word.get_embedding_dimension() if hasattr(word, "get_embedding_dimension") else None
    dim = dim or word.get_word_embedding_dimension()
    st = SentenceTransformer(modules=[word, Pooling(dim, "mean")], device="cpu")
    out = folder / "model"
    st.save(str(out))
    return out


@pytest.fixture(scope="session")
def tiny_model(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return build_tiny_model(tmp_path_factory.mktemp("tiny"))


@pytest.fixture(scope="session")
def other_model(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A second tiny model with other weights (and dimension 16)."""
    return build_tiny_model(tmp_path_factory.mktemp("other"), seed=1, hidden=16)


def make_corpus(n: int = 40, seed: int = 0) -> Corpus:
    """``n`` random documents ``d000``...; the first ``m`` are those of ``make_corpus(m)``."""
    import numpy as np

    rng = np.random.default_rng(seed)
    texts, titles = [], []
    for _ in range(n):  # one document at a time: make_corpus(n) starts with make_corpus(m < n)
        texts.append(" ".join(rng.choice(WORDS, size=int(rng.integers(3, 30)))))
        titles.append(" ".join(rng.choice(WORDS, size=2)))
    return Corpus.from_arrays(
        [f"d{i:03d}" for i in range(n)], fields={"title": titles, "text": texts}
    )


@pytest.fixture
def corpus() -> Corpus:
    return make_corpus()


@pytest.fixture
def queries() -> Queries:
    return Queries.from_arrays(
        ["q1", "q2", "q3"], ["cancer cells", "heart disease risk", "immune response to virus"]
    )


@pytest.fixture
def qrels() -> Qrels:
    return Qrels.from_arrays(["q1", "q2", "q3"], ["d001", "d002", "d003"], [1, 1, 1])
