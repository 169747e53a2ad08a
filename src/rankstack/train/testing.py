"""Tiny randomly initialised BERT models, for tests and examples of the neural mechanics.

They need no download and load in milliseconds; their scores mean nothing. Each builder
writes a complete transformers folder (``config.json``, ``model.safetensors``, a WordPiece
``vocab.txt`` and tokenizer files) and returns its path.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

from rankstack._compat import require

#: the tiny vocabulary (after BERT's special tokens)
_WORDS = (
    "the a of and to in is on for with cell cells protein gene genes dna rna cancer tumour "
    "study results patients mice blood heart brain risk disease treatment drug effect "
    "increase decrease expression level high low human model response immune virus "
    "infection sleep coffee memory vitamin bone muscle"
)
WORDS: tuple[str, ...] = tuple(_WORDS.split())


def _config(vocab_size: int, hidden: int, layers: int, **extra: object) -> object:
    transformers = require("transformers")
    return transformers.BertConfig(
        vocab_size=vocab_size,
        hidden_size=hidden,
        num_hidden_layers=layers,
        num_attention_heads=2,
        intermediate_size=2 * hidden,
        max_position_embeddings=128,
        initializer_range=0.5,  # spread embeddings apart (0.02 gives near-equal vectors)
        **extra,
    )


def _tokenizer(folder: Path, words: Sequence[str]) -> object:
    transformers = require("transformers")
    vocab = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]", *words]
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "vocab.txt").write_text("\n".join(vocab) + "\n", encoding="utf-8")
    import inspect

    cls = transformers.BertTokenizerFast
    vocab_file = str(folder / "vocab.txt")
    if "vocab" in inspect.signature(cls.__init__).parameters:  # transformers >= 5
        tok = cls(vocab=vocab_file)
    else:
        tok = cls(vocab_file=vocab_file)
    tok.save_pretrained(str(folder))
    return tok


def tiny_masked_lm(
    folder: str | Path, *, seed: int = 0, hidden: int = 16, words: Sequence[str] = WORDS
) -> Path:
    """A 1-layer BERT masked LM (a SPLADE-shaped model)."""
    transformers, torch = require("transformers"), require("torch")
    path = Path(folder)
    _tokenizer(path, words)
    torch.manual_seed(seed)
    model = transformers.BertForMaskedLM(_config(len(words) + 5, hidden, 1))
    model.save_pretrained(str(path), safe_serialization=True)
    return path


def tiny_cross_encoder(
    folder: str | Path, *, seed: int = 0, hidden: int = 16, words: Sequence[str] = WORDS
) -> Path:
    """A 1-layer BERT with a one-output classification head (a cross-encoder)."""
    transformers, torch = require("transformers"), require("torch")
    path = Path(folder)
    _tokenizer(path, words)
    torch.manual_seed(seed)
    model = transformers.BertForSequenceClassification(
        _config(len(words) + 5, hidden, 1, num_labels=1)
    )
    model.save_pretrained(str(path), safe_serialization=True)
    return path


def tiny_encoder(
    folder: str | Path, *, seed: int = 0, hidden: int = 16, words: Sequence[str] = WORDS
) -> Path:
    """A 1-layer BERT encoder without a head (a base to fine-tune from, like MiniLM)."""
    transformers, torch = require("transformers"), require("torch")
    path = Path(folder)
    _tokenizer(path, words)
    torch.manual_seed(seed)
    model = transformers.BertModel(_config(len(words) + 5, hidden, 1))
    model.save_pretrained(str(path), safe_serialization=True)
    return path


def tiny_sentence_transformer(
    folder: str | Path, *, seed: int = 0, hidden: int = 16, words: Sequence[str] = WORDS
) -> Path:
    """:func:`tiny_encoder` wrapped as a sentence-transformers folder (mean pooling,
    normalised), the layout of all-MiniLM-L6-v2."""
    st = require("sentence_transformers")
    base = tiny_encoder(Path(folder) / "bert", seed=seed, hidden=hidden, words=words)
    model = st.SentenceTransformer(str(base), device="cpu")
    out = Path(folder) / "st"
    model.save(str(out), safe_serialization=True)
    return out
