"""Unbiased learning to rank from click logs: click models, simulation, counterfactual evaluation.

- :mod:`rankstack.ultr.click_models`: PBM, cascade, DCM and UBM, vectorised over sessions;
- :mod:`rankstack.ultr.simulate`: the standard protocol (a production ranker trained on 1% of
  the labels shows its top k; sessions and clicks drawn from a click model);
- :mod:`rankstack.ultr.stats`: summary statistics of a log (CTR by position...);
- :mod:`rankstack.ultr.counterfactual`: IPS / SNIPS estimates of a ranker's click metric with
  bootstrap confidence intervals.

Click logs are :class:`~rankstack.data.ClickLog`; files are read and written by
:mod:`rankstack.io.clicks`. See ``docs/clicks.md``.
"""

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
from rankstack.ultr.simulate import (
    ClickSimulator,
    ProductionRanker,
    impression_rows,
    simulate_clicks,
    simulate_clicks_to_file,
)

__all__ = [
    "DCM",
    "PBM",
    "UBM",
    "Cascade",
    "ClickLogWriter",
    "ClickModel",
    "ClickSimulator",
    "ProductionRanker",
    "click_probability_of_label",
    "impression_rows",
    "iter_click_chunks",
    "make_click_model",
    "position_propensities",
    "read_click_metadata",
    "read_clicks",
    "simulate_clicks",
    "simulate_clicks_to_file",
    "validate_clicks",
    "write_clicks",
]
