"""Training neural rankers with hard negatives: cross-encoders and bi-encoders.

>>> from rankstack.train import TrainConfig, build_training_data, train_cross_encoder
>>> data = build_training_data(train_q, train_qrels, corpus, [bm25_run])  # doctest: +SKIP
>>> train_cross_encoder(minilm, data, TrainConfig(negatives="adore"), "ce-out")  # doctest: +SKIP

Negative sampling follows Zhan et al. 2021 (STAR, ADORE; :mod:`rankstack.train.negatives`),
the optional curriculum MacAvaney et al. 2020 (:mod:`rankstack.train.curriculum`). See
``docs/neural.md``.
"""

from rankstack.train.checkpoint import CheckpointError
from rankstack.train.curriculum import curriculum_weight, reciprocal_rank_difficulty
from rankstack.train.data import TrainingData, build_training_data
from rankstack.train.models import ModelLoadError, splade_tiny_path
from rankstack.train.negatives import (
    DynamicHardNegatives,
    Negatives,
    NegativeSampler,
    RandomNegatives,
    StaticHardNegatives,
    make_sampler,
)
from rankstack.train.trainer import (
    DevSet,
    TrainConfig,
    TrainResult,
    split_dev,
    train_bi_encoder,
    train_cross_encoder,
)

__all__ = [
    "CheckpointError",
    "DevSet",
    "DynamicHardNegatives",
    "ModelLoadError",
    "NegativeSampler",
    "Negatives",
    "RandomNegatives",
    "StaticHardNegatives",
    "TrainConfig",
    "TrainResult",
    "TrainingData",
    "build_training_data",
    "curriculum_weight",
    "make_sampler",
    "reciprocal_rank_difficulty",
    "splade_tiny_path",
    "split_dev",
    "train_bi_encoder",
    "train_cross_encoder",
]
