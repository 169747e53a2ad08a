"""Fitting a pipeline: each learned stage is trained on the candidates of the stages before it.

The rule, for any composition of stages:

- ``a >> b``: stages run in order on the training queries; a learned stage is trained on the
  run its predecessors produce (its *input*), with one label per candidate taken from the
  qrels (unjudged documents and negative grades count as 0, the usual learning-to-rank
  convention), then re-ranks that input for the stages after it. Stages after the last
  learned stage are not run during fitting.
- ``a + b``, ``a ** b``, ``w * a`` and ``fuse(a, b, ...)``: every child sees the same input,
  so each learned stage inside is trained on that shared input ("fit each learned stage on its
  own input").
- Validation queries and qrels, when given, go through the same stages and give each learned
  stage its validation set (early stopping, model selection).

A learned stage here is anything :func:`rankstack.pipeline.is_learned` accepts: a
:class:`~rankstack.ltr.Ranker` (LambdaMART, NeuralRanker) or any stage with
``fit(train: LetorData, valid: LetorData | None)`` and ``is_fitted``.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass

import numpy as np
import pyarrow as pa

from rankstack.data import Qrels, Queries, Run
from rankstack.exceptions import DataError, MissingFeaturesError
from rankstack.io.letor import LetorData
from rankstack.pipeline import (
    FeatureUnion,
    Scaled,
    ScoreSum,
    Stage,
    Then,
    is_learned,
    learned_stages,
    require_run,
)

logger = logging.getLogger(__name__)


def labels_for(run: Run, qrels: Qrels) -> np.ndarray:
    """The grade of each row of ``run`` in ``qrels`` (int32; 0 when unjudged or negative).

    One vectorised join (the evaluator's, :func:`rankstack.evaluate._context.build`), no loop
    over rows.
    """
    from rankstack.evaluate._context import build

    out = np.zeros(len(run), dtype=np.int32)
    if len(run) == 0 or len(qrels) == 0:
        return out
    ctx = build(run, qrels).context
    rows = run.offsets[ctx.jq] + ctx.jrank
    out[rows] = np.maximum(ctx.jlabel, 0)
    return out


def letor_data(run: Run, qrels: Qrels, *, stage: str = "the learned stage") -> LetorData:
    """The candidates of ``run`` with their features and labels, ready for ``Ranker.fit``.

    Queries without candidates are left out (they carry nothing to learn from). Raises
    :class:`MissingFeaturesError` naming ``stage`` when the run carries no features.
    """
    if run.features is None:
        raise MissingFeaturesError(
            f"{stage} needs features, but its input carries none: put a feature stage "
            "before it, e.g. bm25(k=100) >> features() >> lambdamart()"
        )
    if (run.sizes == 0).any():
        run = run.select(run.qids.filter(pa.array(run.sizes > 0)), missing="drop")
    return LetorData(run, labels_for(run, qrels))


@dataclass(frozen=True)
class _Split:
    queries: Queries
    qrels: Qrels


def fit_pipeline(
    stage: Stage,
    train_queries: Queries,
    train_qrels: Qrels,
    valid_queries: Queries | None = None,
    valid_qrels: Qrels | None = None,
) -> Stage:
    """Train the learned stages of ``stage`` in place and return ``stage``.

    Parameters
    ----------
    stage:
        A pipeline (``bm25 % 100 >> features >> lambdamart``) or any stage holding learned
        stages; a pipeline without any is returned unchanged.
    train_queries, train_qrels:
        Training queries and their judgements.
    valid_queries, valid_qrels:
        Optional validation queries and judgements (both or neither), used by each learned
        stage for early stopping.
    """
    if (valid_queries is None) != (valid_qrels is None):
        raise DataError("fit: give both valid_queries and valid_qrels, or neither")
    if not learned_stages(stage):
        logger.info("fit: %s has no learned stage; nothing to train", type(stage).__name__)
        return stage
    train = _Split(train_queries, train_qrels)
    valid = None
    if valid_queries is not None and valid_qrels is not None:
        valid = _Split(valid_queries, valid_qrels)
    _fit(stage, train, valid, None, None, need=False)
    return stage


def _apply(stage: Stage, queries: Queries, run: Run | None) -> Run:
    if run is None and not stage.is_retriever:
        require_run(stage, run)
    return stage.transform(queries, run)


def _parallel(stage: Stage) -> bool:
    from rankstack.retrieve.fusion import Fuse

    return isinstance(stage, (ScoreSum, FeatureUnion, Scaled, Fuse))


def _fit(
    stage: Stage,
    train: _Split,
    valid: _Split | None,
    tin: Run | None,
    vin: Run | None,
    *,
    need: bool,
) -> tuple[Run | None, Run | None]:
    """Fit ``stage`` on inputs ``tin``/``vin``; return its outputs when ``need`` is true."""

    def outputs() -> tuple[Run | None, Run | None]:
        if not need:
            return None, None
        t = _apply(stage, train.queries, tin)
        v = _apply(stage, valid.queries, vin) if valid is not None else None
        return t, v

    if not learned_stages(stage):
        return outputs()
    name = type(stage).__name__
    if is_learned(stage):
        if tin is None:
            raise DataError(
                f"{name} re-ranks candidates, so it needs a run: put a retriever and a feature "
                f"stage before it (bm25(k=100) >> features() >> {name.lower()}())"
            )
        t_data = letor_data(tin, train.qrels, stage=name)
        v_data = None
        if valid is not None and vin is not None:
            v_data = letor_data(vin, valid.qrels, stage=name)
            if len(v_data) == 0:
                logger.warning("%s: the validation queries have no candidates; ignored", name)
                v_data = None
        logger.info(
            "fitting %s on %d queries (%d rows, %d features)%s",
            name,
            t_data.run.n_queries,
            len(t_data),
            t_data.n_features,
            f", validating on {v_data.run.n_queries} queries" if v_data is not None else "",
        )
        stage.fit(t_data, v_data)  # type: ignore[attr-defined]
        return outputs()
    if isinstance(stage, Then):
        steps = stage.stages
        last = max(i for i, s in enumerate(steps) if learned_stages(s))
        for i, step in enumerate(steps):
            if i > last and not need:
                break
            tin, vin = _fit(step, train, valid, tin, vin, need=need or i < last)
        return (tin, vin) if need else (None, None)
    if _parallel(stage):
        for child in stage.children():
            _fit(child, train, valid, tin, vin, need=False)
        return outputs()
    raise DataError(
        f"cannot fit {name}: it holds learned stages but is not a composition that fit "
        "knows (>>, +, **, *, fuse); fit the learned stage on its own"
    )
