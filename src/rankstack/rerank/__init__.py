"""Re-ranking: query-document features over an index (:class:`Features`) and from a
bi-encoder (:class:`DenseFeatures`, defined in :mod:`rankstack.dense`).

Learned re-rankers that consume these features live in :mod:`rankstack.ltr`.
"""

from rankstack.dense.features import DenseFeatures
from rankstack.rerank.features import FeatureInfo, Features, list_features

__all__ = ["DenseFeatures", "FeatureInfo", "Features", "list_features"]
