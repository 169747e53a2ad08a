"""Learned sparse retrieval: SPLADE term weights over an impact-scored inverted index.

>>> from rankstack.sparse import Splade
>>> splade = Splade.from_corpus(corpus, "splade-tiny", path="scifact-splade")  # doctest: +SKIP
>>> run = splade.transform(queries)  # doctest: +SKIP

See ``docs/neural.md``.
"""

from rankstack.sparse.encoder import SpladeEncoder
from rankstack.sparse.index import ImpactIndex
from rankstack.sparse.stage import Splade, build_impact_index

__all__ = ["ImpactIndex", "Splade", "SpladeEncoder", "build_impact_index"]
