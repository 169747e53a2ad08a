"""Learning to rank: gradient-boosted and neural rankers trained on query-grouped features.

The losses for neural rankers live in :mod:`rankstack.ltr.losses`.
"""
