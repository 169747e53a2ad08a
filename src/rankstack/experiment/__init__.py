"""Declarative experiments: systems described as pipeline expressions, run and compared."""

from rankstack.experiment.expression import ExperimentError, parse_pipeline
from rankstack.experiment.runner import Experiment, ExperimentResult
from rankstack.experiment.spec import ExperimentSpec, SystemSpec

__all__ = [
    "Experiment",
    "ExperimentError",
    "ExperimentResult",
    "ExperimentSpec",
    "SystemSpec",
    "parse_pipeline",
]
