"""``Features``: a stage that appends query-document features to every row of a run.

All pairs of the run are computed together (in chunks of about ``chunk_entries``
(pair, query term) entries to bound memory): the query terms of every pair are gathered
from the index's forward postings with a vectorised binary search, and each feature family
reduces the gathered table with numpy (see :mod:`rankstack.rerank.features._pairs`).
Formulas and citations are in each family's module and in ``docs/features.md``.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Sequence
from itertools import pairwise
from pathlib import Path

import numpy as np

from rankstack.data import Corpus, Queries, Run
from rankstack.data._columns import take_str, to_str_list
from rankstack.exceptions import DataError, MissingFeaturesError
from rankstack.index import Index
from rankstack.pipeline import Stage, require_run
from rankstack.rerank.features._catalogue import Planned, check_names, plan
from rankstack.rerank.features._context import Context, Settings
from rankstack.rerank.features._pairs import Pairs, QueryTerms
from rankstack.retrieve.scoring import check_variant

logger = logging.getLogger(__name__)


class Features(Stage):
    """Query-document features for every candidate of a run (a re-ranking-side stage).

    ``transform(queries, run)`` returns the same rows, in the same order, with the feature
    matrix extended: features the run already carries are kept and the new ones are
    appended (a name that is already taken gets a ``_2``, ``_3``... suffix).

    Parameters
    ----------
    index:
        The :class:`~rankstack.index.Index` (or the path of one) the candidates come from.
    features:
        ``"default"`` (every feature), ``"no_positions"`` (all but phrase and proximity), or
        a list of feature names, families (``"bm25"``: one per field), groups (``"idf"``,
        ``"lm"``, ``"phrase"``, ``"span"``, ``"proximity"``, ``"first_stage"``) and sets;
        see :func:`rankstack.rerank.list_features`.
    fields:
        Index fields of the per-field features (default: every field of the index).
    main_field:
        Field of the IDF, phrase and proximity features (default: ``contents`` if the
        index has it, else its field with the most tokens).
    k1, b, variant, delta, quantize:
        BM25 parameters, as in :class:`~rankstack.retrieve.BM25` (Lucene, 0.9, 0.4).
    mu:
        Dirichlet prior of ``lm_dirichlet`` (Zhai and Lafferty: 2000).
    jm_lambda:
        Weight of the collection model in ``lm_jm`` (0.1), in (0, 1].
    corpus:
        The corpus the index was built from: with an index built without positions, the
        phrase and proximity features re-analyse the candidates' text from it.
    chunk_entries:
        Rows are processed in chunks of about this many (pair, query term) entries.
    name:
        Name of the stage.
    """

    def __init__(
        self,
        index: Index | str | Path,
        features: str | Sequence[str] = "default",
        fields: Sequence[str] | None = None,
        main_field: str | None = None,
        k1: float = 0.9,
        b: float = 0.4,
        variant: str = "lucene",
        delta: float | None = None,
        quantize: bool | None = None,
        mu: float = 2000.0,
        jm_lambda: float = 0.1,
        corpus: Corpus | None = None,
        chunk_entries: int = 2_000_000,
        name: str = "features",
    ) -> None:
        self.index = index
        self.features = features if isinstance(features, str) else list(features)
        self.fields = list(fields) if fields is not None else None
        self.main_field = main_field
        self.k1 = float(k1)
        self.b = float(b)
        self.variant = check_variant(variant)
        self.delta = delta
        self.quantize = quantize
        self.mu = float(mu)
        self.jm_lambda = float(jm_lambda)
        self.corpus = corpus
        self.chunk_entries = int(chunk_entries)
        self.name = name
        if self.k1 < 0 or not 0.0 <= self.b <= 1.0:
            raise DataError(f"Features: BM25 needs k1 >= 0 and 0 <= b <= 1, found {k1}, {b}")
        if not self.mu > 0:
            raise DataError(f"Features: the Dirichlet prior mu must be > 0, found {mu}")
        if not 0.0 < self.jm_lambda <= 1.0:
            raise DataError(f"Features: jm_lambda must be in (0, 1], found {jm_lambda}")
        if self.chunk_entries < 1:
            raise DataError(f"Features: chunk_entries must be >= 1, found {chunk_entries}")
        check_names(self.features)
        self._index: Index | None = index if isinstance(index, Index) else None

    # ------------------------------------------------------------------ state
    @property
    def index_(self) -> Index:
        """The opened index (a path is opened on first use)."""
        if self._index is None:
            self._index = Index.load(self.index)  # type: ignore[arg-type]
        return self._index

    def _fields(self) -> list[str]:
        idx = self.index_
        if self.fields is None:
            return idx.field_names
        for f in self.fields:
            idx.field(f)  # raises, naming the index's fields
        return list(self.fields)

    def _main_field(self) -> str:
        idx = self.index_
        if self.main_field is not None:
            return idx.field(self.main_field).name
        if "contents" in idx.fields:
            return "contents"
        return max(idx.field_names, key=lambda f: idx.field(f).n_tokens)

    def plan(self) -> list[Planned]:
        """The features this stage computes, in output order."""
        planned = plan(self.features, self._fields(), self._main_field())
        need = [p.name for p in planned if p.spec.positions]
        if need and not self.index_.positions and self.corpus is None:
            where = f" ({self.index_.path})" if self.index_.path else ""
            raise MissingFeaturesError(
                f"features {need} need token positions, but the index{where} was built "
                "without them: rebuild it with positions=True (`rankstack index ... "
                "--positions`), or pass corpus=... to Features to take positions from the "
                "text, or ask for features='no_positions'"
            )
        return planned

    @property
    def feature_names(self) -> list[str]:
        """Names of the features this stage appends (before any renaming for clashes)."""
        return [p.name for p in self.plan()]

    # ------------------------------------------------------------------ transform
    def transform(self, queries: Queries, run: Run | None = None) -> Run:
        """The run's rows with the features appended (rows and their order unchanged)."""
        run = require_run(self, run)
        planned = self.plan()
        t0 = time.perf_counter()
        out = np.zeros((len(run), len(planned)), dtype=np.float32)
        if len(run):
            self._compute(queries, run, planned, out)
        logger.info(
            "%d features for %d pairs in %.2fs", len(planned), len(run), time.perf_counter() - t0
        )
        old = run.features if run.features is not None else np.zeros((len(run), 0), np.float32)
        names = _unique_names(list(run.feature_names), [p.name for p in planned])
        return run.with_features(np.hstack([old, out]), names)

    def _compute(self, queries: Queries, run: Run, planned: list[Planned], out: np.ndarray) -> None:
        idx = self.index_
        qt = QueryTerms.analyze(idx, queries.texts_for(run.qids))
        docs = idx.doc_index(run.docids)
        if (docs < 0).any():
            bad = np.flatnonzero(docs < 0)
            examples = to_str_list(take_str(run.docids, bad[:5]))
            raise DataError(
                f"{len(bad)} candidate documents are not in the index, e.g. {examples}; "
                "compute features with the index the run was retrieved from"
            )
        settings = Settings(
            self.k1, self.b, self.variant, self.delta, self.quantize, self.mu, self.jm_lambda
        )
        query = run.query_index
        ranks = run.ranks
        main = self._main_field()
        for lo, hi in _chunks(qt.n_distinct[query], self.chunk_entries):
            ctx = Context(
                index=idx,
                queries=qt,
                pairs=Pairs.build(qt, query[lo:hi], docs[lo:hi]),
                settings=settings,
                main_field=main,
                scores=run.scores[lo:hi],
                ranks=ranks[lo:hi],
                corpus=self.corpus,
            )
            for j, p in enumerate(planned):
                out[lo:hi, j] = p.spec.compute(ctx, p.field)

    def __repr__(self) -> str:
        where = self.index if not isinstance(self.index, Index) else self.index_
        return f"Features({where!r}, features={self.features!r})"


def _chunks(entries_per_row: np.ndarray, budget: int) -> list[tuple[int, int]]:
    """Consecutive row ranges of about ``budget`` entries each (at least one row)."""
    n = len(entries_per_row)
    cum = np.cumsum(np.maximum(entries_per_row, 1))
    bounds = [0]
    while bounds[-1] < n:
        start = bounds[-1]
        base = cum[start - 1] if start else 0
        stop = int(np.searchsorted(cum, base + budget, side="right"))
        bounds.append(max(stop, start + 1))
    return list(pairwise(bounds))


def _unique_names(existing: list[str], new: list[str]) -> list[str]:
    """``existing + new`` with every new name that is already taken suffixed ``_2``, ``_3``..."""
    taken = set(existing)
    out = list(existing)
    for name in new:
        candidate, k = name, 1
        while candidate in taken:
            k += 1
            candidate = f"{name}_{k}"
        taken.add(candidate)
        out.append(candidate)
    return out
