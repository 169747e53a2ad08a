"""Learning to rank: gradient-boosted and neural rankers trained on query-grouped features.

The losses for neural rankers live in :mod:`rankstack.ltr.losses`.
"""

from rankstack.ltr.base import (
    ModelFormatError,
    Ranker,
    align_features,
    make_ranker,
    register_ranker,
)
from rankstack.ltr.config import TrainConfig, load_letor
from rankstack.ltr.cv import CVResult, cross_validate, evaluate_scores
from rankstack.ltr.feature_ranking import FeatureRanking, rank_features
from rankstack.ltr.gbdt import LambdaMART
from rankstack.ltr.letor_eval import letor_evaluate, letor_evaluate_per_query
from rankstack.ltr.preprocessing import AbsentFeatureWarning, FeatureNormalizer

__all__ = [
    "AbsentFeatureWarning",
    "CVResult",
    "FeatureNormalizer",
    "FeatureRanking",
    "LambdaMART",
    "ModelFormatError",
    "Ranker",
    "TrainConfig",
    "align_features",
    "cross_validate",
    "evaluate_scores",
    "letor_evaluate",
    "letor_evaluate_per_query",
    "load_letor",
    "make_ranker",
    "rank_features",
    "register_ranker",
]
