"""Stages and the operators that compose them.

A stage maps ``(queries, run)`` to a new run. Retrievers ignore the incoming run (or take
``None``); re-rankers and feature extractors re-score or annotate its candidates. Operators
read as what they do::

    bm25 % 100 >> features >> lambdamart     # retrieve, cut to 100, add features, re-rank
    bm25 + dense                              # sum of scores per (query, doc)
    bm25 ** tfidf                             # union of features over the left's candidates
    fuse(bm25, dense, method="rrf")           # rank fusion

Learned stages (rankers with ``fit(LetorData)``) are trained in place by
``pipe.fit(train_queries, train_qrels)`` (see :mod:`rankstack.pipeline_fit`), each on the
candidates that the stages before it produce. Composition follows scikit-learn's conventions:
``__init__`` stores parameters, :meth:`Stage.get_params` reads them back, :func:`clone` makes an
unfitted copy, and a learned stage used before it is fitted raises
:class:`~rankstack.exceptions.NotFittedError` naming it.
"""

from __future__ import annotations

import inspect
from collections.abc import Iterator, Sequence
from typing import TYPE_CHECKING, Any

import numpy as np
import pyarrow as pa

from rankstack.data import Queries, Run
from rankstack.data._columns import concat_str, group_codes, offsets_from_sizes, take_str
from rankstack.exceptions import DataError, NotFittedError

if TYPE_CHECKING:
    from rankstack.data import Qrels


class Stage:
    """Base class of every stage. Subclasses implement :meth:`transform`.

    Parameters go to ``__init__`` and are stored under the same names (scikit-learn's
    convention), so :meth:`get_params` can describe any stage.
    """

    #: True for stages that produce candidates themselves (first-stage retrievers)
    is_retriever: bool = False

    def transform(self, queries: Queries, run: Run | None = None) -> Run:
        raise NotImplementedError

    def __call__(self, queries: Queries, run: Run | None = None) -> Run:
        return self.transform(queries, run)

    def search(self, query: str, qid: str = "q") -> Run:
        """Run the stage for one query text (convenience for notebooks)."""
        return self.transform(Queries.from_arrays([qid], [query]))

    # operators ------------------------------------------------------------------------
    def __rshift__(self, other: Stage) -> Then:
        return Then([self, other])

    def __mod__(self, k: int) -> Then:
        return Then([self, Cutoff(k)])

    def __add__(self, other: Stage) -> ScoreSum:
        return ScoreSum(self, other)

    def __pow__(self, other: Stage) -> FeatureUnion:
        return FeatureUnion([self, other])

    def __mul__(self, weight: float) -> Scaled:
        return Scaled(self, float(weight))

    __rmul__ = __mul__

    # description ----------------------------------------------------------------------
    def get_params(self) -> dict[str, Any]:
        """The constructor's parameters, read back from the attributes of the same names."""
        sig = inspect.signature(type(self).__init__)
        return {
            name: getattr(self, name)
            for name, p in sig.parameters.items()
            if name != "self" and p.kind is not p.VAR_KEYWORD and hasattr(self, name)
        }

    def set_params(self, **params: Any) -> Stage:
        """Set constructor parameters by name (an unknown name raises :class:`DataError`)."""
        valid = self.get_params()
        for key, value in params.items():
            if key not in valid:
                raise DataError(
                    f"{type(self).__name__} has no parameter {key!r}; valid: {sorted(valid)}"
                )
            setattr(self, key, value)
        return self

    def children(self) -> list[Stage]:
        """The stages among this stage's parameters (a stage or a list of stages)."""
        out: list[Stage] = []
        for value in self.get_params().values():
            if isinstance(value, Stage):
                out.append(value)
            elif isinstance(value, (list, tuple)) and value:
                out.extend(v for v in value if isinstance(v, Stage))
        return out

    def __repr__(self) -> str:
        params = ", ".join(f"{k}={v!r}" for k, v in self.get_params().items())
        return f"{type(self).__name__}({params})"


def require_run(stage: Stage, run: Run | None) -> Run:
    """The incoming run of a re-ranking stage, or a :class:`DataError` saying what to do."""
    if run is None:
        raise DataError(
            f"{type(stage).__name__} re-ranks candidates, so it needs a run: put a retriever "
            f"before it (retriever >> {type(stage).__name__}(...))"
        )
    return run


class _Fittable:
    """``fit`` for composite stages: train their learned stages in place."""

    def fit(
        self,
        train_queries: Queries,
        train_qrels: Qrels,
        valid_queries: Queries | None = None,
        valid_qrels: Qrels | None = None,
    ) -> Any:
        """Train every learned stage, in order, on the candidates of the stages before it.

        See :func:`rankstack.pipeline_fit.fit_pipeline` (the rules for ``+``, ``**`` and
        fusion, labels of unjudged documents, validation data); returns ``self``.
        """
        from rankstack.pipeline_fit import fit_pipeline

        return fit_pipeline(
            self,  # type: ignore[arg-type]
            train_queries,
            train_qrels,
            valid_queries,
            valid_qrels,
        )


class Then(_Fittable, Stage):
    """``a >> b >> c``: apply stages in order, each to the previous one's output."""

    def __init__(self, stages: Sequence[Stage]) -> None:
        flat: list[Stage] = []
        for s in stages:
            flat.extend(s.stages if isinstance(s, Then) else [s])
        self.stages: list[Stage] = flat

    @property
    def is_retriever(self) -> bool:  # type: ignore[override]
        return bool(self.stages) and self.stages[0].is_retriever

    def transform(self, queries: Queries, run: Run | None = None) -> Run:
        check_fitted(self)
        for stage in self.stages:
            if run is None and not stage.is_retriever:
                require_run(stage, run)
            run = stage.transform(queries, run)
        return require_run(self, run)

    def __rshift__(self, other: Stage) -> Then:
        return Then([*self.stages, other])

    def __repr__(self) -> str:
        return " >> ".join(repr(s) for s in self.stages)


class Cutoff(Stage):
    """``a % k``: keep the top ``k`` candidates of each query."""

    def __init__(self, k: int) -> None:
        if int(k) < 0:
            raise DataError(f"cut-off k must be >= 0, found {k}")
        self.k = int(k)

    def transform(self, queries: Queries, run: Run | None = None) -> Run:
        return require_run(self, run).cut(self.k)


class Scaled(_Fittable, Stage):
    """``w * a``: the stage's scores multiplied by ``w`` (for linear combinations)."""

    def __init__(self, stage: Stage, weight: float) -> None:
        self.stage = stage
        self.weight = weight

    @property
    def is_retriever(self) -> bool:  # type: ignore[override]
        return self.stage.is_retriever

    def transform(self, queries: Queries, run: Run | None = None) -> Run:
        out = self.stage.transform(queries, run)
        return out.with_scores(out.scores * self.weight)


class ScoreSum(_Fittable, Stage):
    """``a + b``: per (query, doc) the sum of both stages' scores.

    Both stages see the same input. A document retrieved by only one stage keeps that stage's
    score (the other contributes 0), as PyTerrier's ``+``.
    """

    def __init__(self, left: Stage, right: Stage) -> None:
        self.left = left
        self.right = right

    @property
    def is_retriever(self) -> bool:  # type: ignore[override]
        return self.left.is_retriever or self.right.is_retriever

    def transform(self, queries: Queries, run: Run | None = None) -> Run:
        a = self.left.transform(queries, run)
        b = self.right.transform(queries, run)
        return combine_runs([a, b], [a.scores, b.scores], how="sum")


class FeatureUnion(_Fittable, Stage):
    """``a ** b``: the candidates of the input run with the features of all stages joined.

    Each stage re-scores (or annotates) the same input run. The output keeps the input's own
    features, then adds, per stage, the features it adds (those the input does not carry); a
    stage that adds none (a retriever) or that ends in a learned ranker (stacking:
    ``features ** (features >> lambdamart)``) contributes its score as one feature named after
    it. Candidates that a stage did not score get 0 for its features.
    """

    def __init__(self, stages: Sequence[Stage]) -> None:
        flat: list[Stage] = []
        for s in stages:
            flat.extend(s.stages if isinstance(s, FeatureUnion) else [s])
        self.stages: list[Stage] = flat

    def transform(self, queries: Queries, run: Run | None = None) -> Run:
        base = require_run(self, run)
        outs = [s.transform(queries, base) for s in self.stages]
        blocks: list[np.ndarray] = []
        names: list[str] = []
        if base.features is not None:
            blocks.append(base.features)
            names.extend(base.feature_names)
        have = set(base.feature_names)
        for i, (stage, out) in enumerate(zip(self.stages, outs)):
            rows = align_rows(base, out)
            ok = rows >= 0
            new = [j for j, n in enumerate(out.feature_names) if n not in have]
            last = stage.stages[-1] if isinstance(stage, Then) and stage.stages else stage
            if out.features is not None and new and not is_learned(last):
                f = np.zeros((len(base), len(new)), dtype=np.float32)
                f[ok] = out.features[rows[ok]][:, new]
                blocks.append(f)
                names.extend(out.feature_names[j] for j in new)
            else:
                f = np.zeros((len(base), 1), dtype=np.float32)
                f[ok, 0] = out.scores[rows[ok]]
                blocks.append(f)
                names.append(_stage_name(last, i))
        names = _dedupe(names)
        return base.with_features(np.hstack(blocks), names)

    def __pow__(self, other: Stage) -> FeatureUnion:
        return FeatureUnion([*self.stages, other])


class Precomputed(Stage):
    """A stage that serves a fixed run (e.g. read from a TREC file), restricted to the queries
    asked for; queries the run lacks get an empty ranking."""

    is_retriever = True

    def __init__(self, run: Run, name: str | None = None) -> None:
        self.run = run
        self.name = name

    def transform(self, queries: Queries, run: Run | None = None) -> Run:
        return self.run.select(queries.qids, missing="empty")

    def __repr__(self) -> str:
        return f"Precomputed({self.name or self.run!r})"


# ------------------------------------------------------------------------------ walking
def iter_stages(stage: Stage) -> Iterator[Stage]:
    """``stage`` and every stage inside it, depth first, in order."""
    yield stage
    for child in stage.children():
        yield from iter_stages(child)


def is_learned(stage: Stage) -> bool:
    """True for a stage that is trained from labelled data (a ranker with ``fit(LetorData)``).

    The test is structural (scikit-learn's duck typing): a stage with no child stages that has
    a ``fit`` method and an ``is_fitted`` property, as :class:`~rankstack.ltr.Ranker` does.
    """
    return (
        callable(getattr(stage, "fit", None))
        and hasattr(type(stage), "is_fitted")
        and not stage.children()
    )


def learned_stages(stage: Stage) -> list[Stage]:
    """The learned stages inside ``stage`` (``stage`` itself included), in order."""
    return [s for s in iter_stages(stage) if is_learned(s)]


def check_fitted(stage: Stage) -> None:
    """Raise :class:`NotFittedError` naming the first learned stage that is not fitted."""
    for i, s in enumerate(learned_stages(stage)):
        if not getattr(s, "is_fitted", True):
            raise NotFittedError(
                f"{type(s).__name__} (learned stage {i + 1} of the pipeline) is not fitted: "
                "call pipeline.fit(train_queries, train_qrels) or load a saved pipeline "
                "(rankstack.pipeline_io.load_pipeline)"
            )


def clone(stage: Stage, *, share_unlearned: bool = False) -> Stage:
    """An unfitted copy of ``stage`` with the same parameters (scikit-learn's ``clone``).

    Child stages are cloned recursively; other parameters (an index, a run) are shared, not
    copied. ``share_unlearned=True`` keeps the very same objects for every part that holds no
    learned stage, so their caches (a BM25's impact matrix) survive, and copies only what is
    trained: what cross-validation needs for each fold.
    """
    if share_unlearned and not learned_stages(stage):
        return stage
    if is_learned(stage) and callable(getattr(stage, "clone", None)):
        return stage.clone()  # type: ignore[attr-defined]

    def copy(value: Any) -> Any:
        if isinstance(value, Stage):
            return clone(value, share_unlearned=share_unlearned)
        if isinstance(value, (list, tuple)) and any(isinstance(v, Stage) for v in value):
            return type(value)(copy(v) for v in value)
        return value

    params = {k: copy(v) for k, v in stage.get_params().items()}
    try:
        return type(stage)(**params)
    except TypeError as exc:
        raise DataError(
            f"cannot clone {type(stage).__name__}: its constructor does not accept the "
            f"parameters get_params() returns ({exc})"
        ) from exc


def _stage_name(stage: Stage, i: int) -> str:
    return str(getattr(stage, "name", None) or f"{type(stage).__name__.lower()}_{i}")


def _dedupe(names: list[str]) -> list[str]:
    seen: dict[str, int] = {}
    out = []
    for n in names:
        if n in seen:
            seen[n] += 1
            out.append(f"{n}_{seen[n]}")
        else:
            seen[n] = 0
            out.append(n)
    return out


# ------------------------------------------------------------------------------ row joins
def _pair_keys(runs: Sequence[Run]) -> tuple[pa.Array, list[np.ndarray], list[np.ndarray]]:
    """Shared query ids, and per run the (query code, doc code) of each row."""
    all_q = concat_str([r.qids for r in runs])
    qids, qcodes = group_codes(all_q)
    all_d = concat_str([r.docids for r in runs])
    _, dcodes = group_codes(all_d)
    q_rows, d_rows = [], []
    qstart = dstart = 0
    for r in runs:
        q_of_run = qcodes[qstart : qstart + r.n_queries]
        q_rows.append(q_of_run[r.query_index])
        d_rows.append(dcodes[dstart : dstart + len(r)])
        qstart += r.n_queries
        dstart += len(r)
    return qids, q_rows, d_rows


def align_rows(base: Run, other: Run) -> np.ndarray:
    """For each row of ``base``, the row of ``other`` with the same (query, doc), or -1."""
    _, q_rows, d_rows = _pair_keys([base, other])
    nd = int(max([d.max(initial=-1) for d in d_rows])) + 1
    kb = q_rows[0] * nd + d_rows[0]
    ko = q_rows[1] * nd + d_rows[1]
    order = np.argsort(ko, kind="stable")
    pos = np.searchsorted(ko[order], kb)
    pos = np.minimum(pos, max(len(ko) - 1, 0))
    found = (len(ko) > 0) & (ko[order][pos] == kb) if len(ko) else np.zeros(len(kb), bool)
    return np.where(found, order[pos] if len(ko) else -1, -1)


def combine_runs(
    runs: Sequence[Run],
    values: Sequence[np.ndarray],
    *,
    how: str = "sum",
    weights: Sequence[float] | None = None,
) -> Run:
    """Outer-join runs on (query, doc) and combine per-row ``values`` across them.

    ``how``: ``"sum"`` (missing = 0), ``"mnz"`` (sum times the number of runs that retrieved
    the doc). Queries keep the order of first appearance across the runs.
    """
    qids, q_rows, d_rows = _pair_keys(runs)
    nd = int(max([d.max(initial=-1) for d in d_rows])) + 1
    keys = np.concatenate([q * nd + d for q, d in zip(q_rows, d_rows)])
    w = weights or [1.0] * len(runs)
    vals = np.concatenate([np.asarray(v, np.float64) * wi for v, wi in zip(values, w)])
    uniq, first_row, inverse = np.unique(keys, return_index=True, return_inverse=True)
    total = np.bincount(inverse, weights=vals, minlength=len(uniq))
    if how == "mnz":
        total = total * np.bincount(inverse, minlength=len(uniq))
    elif how != "sum":
        raise DataError(f"unknown combination {how!r}; use 'sum' or 'mnz'")
    # doc ids come from the first row holding each key
    all_docids = concat_str([r.docids for r in runs])
    docids = take_str(all_docids, first_row)
    qcode = uniq // nd
    return _build_grouped(qids, qcode, docids, total, runs[0].metadata)


def _build_grouped(
    qids: pa.Array, qcode: np.ndarray, docids: pa.Array, scores: np.ndarray, meta: Any
) -> Run:
    from rankstack.data._columns import rank_desc_within_ties

    order = rank_desc_within_ties(docids, qcode, scores)
    sizes = np.bincount(qcode, minlength=len(qids))
    return Run(
        qids=qids,
        offsets=offsets_from_sizes(sizes),
        docids=take_str(docids, order),
        scores=scores[order],
        metadata=dict(meta),
    )
