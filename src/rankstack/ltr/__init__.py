"""Learning to rank: gradient-boosted and neural rankers trained on query-grouped features.

The losses for neural rankers live in :mod:`rankstack.ltr.losses`.
"""

from typing import TYPE_CHECKING

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

if TYPE_CHECKING:
    from rankstack.ltr.neural import NeuralRanker


def __getattr__(name: str) -> object:
    """``NeuralRanker`` is imported on first use: it needs torch (``rankstack[neural]``)."""
    if name == "NeuralRanker":
        from rankstack.ltr.neural import NeuralRanker

        return NeuralRanker
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


__all__ = [
    "AbsentFeatureWarning",
    "CVResult",
    "FeatureNormalizer",
    "FeatureRanking",
    "LambdaMART",
    "ModelFormatError",
    "NeuralRanker",
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
