"""The named features, their one-line descriptions, and the resolution of requested names.

A per-field feature has a template name such as ``bm25_{field}`` and exists once per index
field (``bm25_title``, ``bm25_contents``...); the others exist once. A request may name a
feature, a family (``bm25`` = ``bm25_{field}`` over the chosen fields), a group (``idf``,
``lm``, ``phrase``, ``span``, ``first_stage``) or a set (``default``, ``no_positions``).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np

from rankstack.exceptions import DataError
from rankstack.rerank.features import (
    bm25,
    first_stage,
    language_model,
    matching,
    proximity,
    tfidf,
)
from rankstack.rerank.features._context import Context

Compute = Callable[[Context, str], np.ndarray]


@dataclass(frozen=True)
class FeatureInfo:
    """A feature's name, one-line description, and what it needs.

    ``field`` is the index field of a per-field feature (``None`` for the others, and in
    templates listed without an index); ``positions`` says whether it needs token positions.
    """

    name: str
    description: str
    field: str | None = None
    positions: bool = False


@dataclass(frozen=True)
class _Spec:
    template: str
    description: str
    compute: Compute
    per_field: bool = False
    positions: bool = False

    @property
    def prefix(self) -> str:
        return self.template.split("{field}")[0]

    @property
    def family(self) -> str:
        return self.prefix.rstrip("_") if self.per_field else self.template


def _main(fn: Callable[..., np.ndarray]) -> Compute:
    """A main-field feature: called with the context's main field."""
    return lambda ctx, _name: fn(ctx, ctx.main_field)


SPECS: tuple[_Spec, ...] = (
    _Spec(
        "bm25_{field}",
        "BM25 of the field (Lucene, k1, b): the BM25 stage's score on it",
        bm25.bm25,
        per_field=True,
    ),
    _Spec(
        "tfidf_{field}", "TF-IDF cosine of the field, SMART lnc.ltc", tfidf.tfidf, per_field=True
    ),
    _Spec(
        "lm_dirichlet_{field}",
        "log query likelihood, Dirichlet smoothing (mu)",
        language_model.lm_dirichlet,
        per_field=True,
    ),
    _Spec(
        "lm_jm_{field}",
        "log query likelihood, Jelinek-Mercer smoothing (lambda)",
        language_model.lm_jm,
        per_field=True,
    ),
    _Spec(
        "coverage_{field}",
        "fraction of query tokens whose term occurs in the field",
        matching.coverage,
        per_field=True,
    ),
    _Spec(
        "dl_{field}",
        "document length in the field (tokens after analysis)",
        matching.doclen,
        per_field=True,
    ),
    _Spec(
        "idf_sum",
        "sum of the idf of the distinct query terms in the document (main field)",
        _main(matching.idf_sum),
    ),
    _Spec(
        "idf_max",
        "largest idf of a query term in the document (main field)",
        _main(matching.idf_max),
    ),
    _Spec(
        "idf_mean",
        "mean idf of the distinct query terms in the document (main field)",
        _main(matching.idf_mean),
    ),
    _Spec("qlen", "query length: analysed tokens, unknown words counted", _main(matching.qlen)),
    _Spec(
        "phrase_count",
        "occurrences of the whole query as an exact phrase (main field)",
        _main(proximity.phrase_count),
        positions=True,
    ),
    _Spec(
        "phrase_match",
        "1 if the whole query occurs as an exact phrase, else 0",
        _main(proximity.phrase_match),
        positions=True,
    ),
    _Spec(
        "bigram_count",
        "ordered occurrences of consecutive query-token pairs (main field)",
        _main(proximity.bigram_count),
        positions=True,
    ),
    _Spec(
        "span_unordered",
        "MinCover: shortest window with every matched query term (0: none)",
        _main(proximity.span_unordered),
        positions=True,
    ),
    _Spec(
        "span_ordered",
        "shortest window with the matched terms in query order (0: none)",
        _main(proximity.span_ordered),
        positions=True,
    ),
    _Spec("score", "first-stage score of the candidate", _main(first_stage.score)),
    _Spec("rank", "first-stage rank of the candidate (1 = best)", _main(first_stage.rank)),
)

GROUPS: dict[str, tuple[str, ...]] = {
    "lm": ("lm_dirichlet", "lm_jm"),
    "idf": ("idf_sum", "idf_max", "idf_mean"),
    "phrase": ("phrase_count", "phrase_match"),
    "span": ("span_unordered", "span_ordered"),
    "proximity": ("phrase_count", "phrase_match", "bigram_count", "span_unordered", "span_ordered"),
    "first_stage": ("score", "rank"),
}
SETS: dict[str, tuple[str, ...]] = {
    "default": tuple(s.family for s in SPECS),
    "no_positions": tuple(s.family for s in SPECS if not s.positions),
}


@dataclass(frozen=True)
class Planned:
    """One feature to compute: its name, its spec and its field (or the main field)."""

    name: str
    spec: _Spec
    field: str


def list_features(
    fields: Sequence[str] | None = None, features: str | Sequence[str] = "default"
) -> list[FeatureInfo]:
    """Names and one-line descriptions of the features.

    Without ``fields``, per-field features are listed once as templates (``bm25_{field}``);
    with the fields of an index, once per field. ``features`` restricts the list as the
    :class:`~rankstack.rerank.Features` stage's argument does.
    """
    if fields is None:
        check_names(features)
        by_family = {s.family: s for s in SPECS}
        out: list[FeatureInfo] = []
        for item in dict.fromkeys(_expand(features)):
            spec = by_family.get(item)
            if spec is not None:
                out.append(FeatureInfo(spec.template, spec.description, None, spec.positions))
                continue
            spec = max(
                (s for s in SPECS if s.per_field and item.startswith(s.prefix)),
                key=lambda s: len(s.prefix),
            )
            out.append(FeatureInfo(item, spec.description, item[len(spec.prefix) :], False))
        return out
    main = fields[0] if fields else ""
    return [
        FeatureInfo(
            p.name, p.spec.description, p.field if p.spec.per_field else None, p.spec.positions
        )
        for p in plan(features, fields, main)
    ]


def _expand(features: str | Sequence[str]) -> list[str]:
    """Request items with sets and groups replaced by their families (order kept)."""
    items = [features] if isinstance(features, str) else list(features)
    out: list[str] = []
    for item in items:
        if not isinstance(item, str):
            raise DataError(f"feature names are strings, found {item!r}")
        if item in SETS:
            out.extend(SETS[item])
        elif item in GROUPS:
            out.extend(GROUPS[item])
        else:
            out.append(item)
    return out


def valid_names(fields: Sequence[str] | None = None) -> list[str]:
    """Every name a request may use (with ``fields``: concrete per-field names too)."""
    names = list(SETS) + list(GROUPS)
    for s in SPECS:
        names.append(s.family)
        if s.per_field:
            names.extend(s.prefix + f for f in fields or ["{field}"])
    return list(dict.fromkeys(names))


def plan(features: str | Sequence[str], fields: Sequence[str], main_field: str) -> list[Planned]:
    """The concrete features a request names, in request order, without repeats.

    Raises :class:`DataError` for an unknown name, listing the valid ones.
    """
    by_family = {s.family: s for s in SPECS}
    out: dict[str, Planned] = {}
    for item in _expand(features):
        spec = by_family.get(item)
        if spec is not None:
            if spec.per_field:
                for f in fields:
                    out.setdefault(spec.prefix + f, Planned(spec.prefix + f, spec, f))
            else:
                out.setdefault(item, Planned(item, spec, main_field))
            continue
        match = [
            s
            for s in SPECS
            if s.per_field and item.startswith(s.prefix) and item[len(s.prefix) :] in fields
        ]
        if not match:
            raise DataError(f"unknown feature {item!r}; valid names: {valid_names(fields)}")
        spec = max(match, key=lambda s: len(s.prefix))
        out.setdefault(item, Planned(item, spec, item[len(spec.prefix) :]))
    return list(out.values())


def check_names(features: str | Sequence[str]) -> None:
    """Reject names that no index could make valid (called before the index is opened)."""
    prefixes = [s.prefix for s in SPECS if s.per_field]
    families = {s.family for s in SPECS}
    for item in _expand(features):
        if item in families or any(item.startswith(p) and len(item) > len(p) for p in prefixes):
            continue
        raise DataError(f"unknown feature {item!r}; valid names: {valid_names()}")
