"""Text analysis and the on-disk inverted index (``.npy`` arrays + JSON manifest, mmap)."""

from rankstack.index.builder import build_index, resolve_fields
from rankstack.index.inverted import FieldIndex, Index
from rankstack.index.stopwords import LUCENE as LUCENE_STOPWORDS
from rankstack.index.stopwords import SNOWBALL as SNOWBALL_STOPWORDS
from rankstack.index.tokenizer import AnalyzedBatch, Analyzer, Tokenizer

__all__ = [
    "LUCENE_STOPWORDS",
    "SNOWBALL_STOPWORDS",
    "AnalyzedBatch",
    "Analyzer",
    "FieldIndex",
    "Index",
    "Tokenizer",
    "build_index",
    "resolve_fields",
]
