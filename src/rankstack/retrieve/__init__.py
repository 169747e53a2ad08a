"""First-stage retrieval: BM25 (five variants, multi-field) and RM3 query expansion.

Rank fusion lives in :mod:`rankstack.retrieve.fusion`.
"""

from rankstack.retrieve.bm25 import BM25
from rankstack.retrieve.rm3 import RM3

__all__ = ["BM25", "RM3"]
