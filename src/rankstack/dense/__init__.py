"""Dense retrieval: bi-encoder stage and features, embedding cache, vector indexes, hybrid
fusion, RankMe.

>>> from rankstack.dense import BiEncoder, Hybrid, VectorIndex, rank_me
>>> dense = BiEncoder("sentence-transformers/all-MiniLM-L6-v2", corpus=corpus)  # doctest: +SKIP
>>> hybrid = Hybrid(bm25, dense).fit(train_queries, train_qrels)                # doctest: +SKIP

Nothing here imports torch or faiss until a model is loaded or an approximate index is built
(``pip install 'rankstack[dense]'``). See ``docs/dense.md``.
"""

from rankstack.dense.cache import EmbeddingCache, sync_cache, write_cache
from rankstack.dense.encoder import BiEncoder, document_texts, encode_texts
from rankstack.dense.features import DENSE_FEATURES, DenseFeatures
from rankstack.dense.hybrid import Hybrid
from rankstack.dense.model import ModelIdentity, load_model, resolve_model
from rankstack.dense.rankme import rank_me
from rankstack.dense.vector_index import VectorIndex

__all__ = [
    "DENSE_FEATURES",
    "BiEncoder",
    "DenseFeatures",
    "EmbeddingCache",
    "Hybrid",
    "ModelIdentity",
    "VectorIndex",
    "document_texts",
    "encode_texts",
    "load_model",
    "rank_me",
    "resolve_model",
    "sync_cache",
    "write_cache",
]
