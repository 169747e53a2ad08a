"""Declarative experiments: systems described as pipeline expressions, fitted, run, compared.

See ``docs/experiments.md`` (files, protocols, caching, reports) and ``docs/pipelines.md``
(fitting, the expression language, saved pipelines).
"""

from rankstack.experiment.cache import RunCache
from rankstack.experiment.describe import describe
from rankstack.experiment.expression import ExperimentError, parse_pipeline
from rankstack.experiment.runner import Experiment, ExperimentResult, SystemInfo
from rankstack.experiment.spec import ExperimentSpec, SystemSpec

__all__ = [
    "Experiment",
    "ExperimentError",
    "ExperimentResult",
    "ExperimentSpec",
    "RunCache",
    "SystemInfo",
    "SystemSpec",
    "describe",
    "parse_pipeline",
]
