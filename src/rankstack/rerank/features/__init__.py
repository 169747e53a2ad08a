"""Query-document features computed in batch over an index (one module per family).

:class:`Features` is the stage; :func:`list_features` names and describes every feature.
Families: :mod:`~rankstack.rerank.features.bm25`, :mod:`~rankstack.rerank.features.tfidf`,
:mod:`~rankstack.rerank.features.language_model`, :mod:`~rankstack.rerank.features.matching`,
:mod:`~rankstack.rerank.features.proximity`, :mod:`~rankstack.rerank.features.first_stage`.
"""

from rankstack.rerank.features._catalogue import GROUPS, SETS, FeatureInfo, list_features
from rankstack.rerank.features.stage import Features

__all__ = ["GROUPS", "SETS", "FeatureInfo", "Features", "list_features"]
