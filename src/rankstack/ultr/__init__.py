"""Unbiased learning to rank from click logs: click models, simulation, counterfactual evaluation.

- :mod:`rankstack.ultr.click_models`: PBM, cascade, DCM and UBM, vectorised over sessions;
- :mod:`rankstack.ultr.simulate`: the standard protocol (a production ranker trained on 1% of
  the labels shows its top k; sessions and clicks drawn from a click model);
- :mod:`rankstack.ultr.stats`: summary statistics of a log (CTR by position...);
- :mod:`rankstack.ultr.counterfactual`: IPS / SNIPS estimates of a ranker's click metric with
  bootstrap confidence intervals;
- :mod:`rankstack.ultr.features`: a click log joined to LETOR features, aggregated per
  displayed list or per (query, doc, position);
- :mod:`rankstack.ultr.learners`: :class:`UnbiasedRanker` (naive, IPW, regression-EM, DLA,
  LightGBM's position-debiased lambdarank) on NeuralRanker or LambdaMART;
- :mod:`rankstack.ultr.propensity`: :class:`Propensities`, randomised interventions and the
  harvesting estimator, plots against the truth (``docs/ultr.md``).

Click logs are :class:`~rankstack.data.ClickLog`; files are read and written by
:mod:`rankstack.io.clicks`. See ``docs/clicks.md``.
"""

from rankstack.io.baidu_ultr import iter_baidu_ultr, read_baidu_ultr
from rankstack.io.clicks import (
    ClickLogWriter,
    iter_click_chunks,
    read_click_metadata,
    read_clicks,
    validate_clicks,
    write_clicks,
)
from rankstack.ultr.click_models import (
    DCM,
    PBM,
    UBM,
    Cascade,
    ClickModel,
    click_probability_of_label,
    make_click_model,
    position_propensities,
)
from rankstack.ultr.counterfactual import (
    Estimate,
    counterfactual_estimate,
    rank_weights,
    session_values,
    true_metric,
)
from rankstack.ultr.features import (
    DisplayLists,
    Impressions,
    PositionCounts,
    UnknownClickDataError,
    aggregate_lists,
    join_clicks,
)
from rankstack.ultr.learners import UnbiasedRanker, fit_full_information
from rankstack.ultr.propensity import (
    Propensities,
    estimate_from_interventions,
    intervene,
    intervention_order,
    iter_interventions,
    plot_propensities,
    simulate_interventions,
)
from rankstack.ultr.simulate import (
    ClickSimulator,
    MixtureSimulator,
    ProductionRanker,
    impression_rows,
    simulate_clicks,
    simulate_clicks_to_file,
    simulator_from_metadata,
)
from rankstack.ultr.stats import ClickStats, click_stats, plot_click_stats

__all__ = [
    "DCM",
    "PBM",
    "UBM",
    "Cascade",
    "ClickLogWriter",
    "ClickModel",
    "ClickSimulator",
    "ClickStats",
    "DisplayLists",
    "Estimate",
    "Impressions",
    "MixtureSimulator",
    "PositionCounts",
    "ProductionRanker",
    "Propensities",
    "UnbiasedRanker",
    "UnknownClickDataError",
    "aggregate_lists",
    "click_probability_of_label",
    "click_stats",
    "counterfactual_estimate",
    "estimate_from_interventions",
    "fit_full_information",
    "impression_rows",
    "intervene",
    "intervention_order",
    "iter_baidu_ultr",
    "iter_click_chunks",
    "iter_interventions",
    "join_clicks",
    "make_click_model",
    "plot_click_stats",
    "plot_propensities",
    "position_propensities",
    "rank_weights",
    "read_baidu_ultr",
    "read_click_metadata",
    "read_clicks",
    "session_values",
    "simulate_clicks",
    "simulate_clicks_to_file",
    "simulate_interventions",
    "simulator_from_metadata",
    "true_metric",
    "validate_clicks",
    "write_clicks",
]
