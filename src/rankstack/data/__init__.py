"""Core data types: columnar queries, documents, judgements and ranked runs."""

from rankstack.data.clicks import ClickLog
from rankstack.data.corpus import Corpus
from rankstack.data.qrels import Qrels
from rankstack.data.queries import Queries
from rankstack.data.run import Run

__all__ = ["ClickLog", "Corpus", "Qrels", "Queries", "Run"]
