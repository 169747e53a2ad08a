"""Re-ranking: query-document features over an index (:class:`Features`).

Learned re-rankers that consume these features live in :mod:`rankstack.ltr`.
"""

from rankstack.rerank.features import FeatureInfo, Features, list_features

__all__ = ["FeatureInfo", "Features", "list_features"]
