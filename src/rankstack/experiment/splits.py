"""Query splits of an experiment: k folds for cross-validation, a dev subset carved from train.

Both are seeded permutations of the query ids (numpy's ``default_rng``), so a given seed gives
the same split on every machine; within each part, queries keep their original order.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from rankstack.data import Qrels, Queries
from rankstack.exceptions import DataError


def kfold(qids: Sequence[str], folds: int, seed: int = 0) -> list[list[str]]:
    """Split ``qids`` into ``folds`` disjoint parts that cover them, sizes differing by <= 1.

    The parts are consecutive runs of a seeded permutation; each part keeps the queries'
    original order.
    """
    n = len(qids)
    if folds < 2:
        raise DataError(f"cross-validation needs at least 2 folds, found {folds}")
    if n < folds:
        raise DataError(f"{folds}-fold cross-validation needs at least {folds} queries, found {n}")
    perm = np.random.default_rng(seed).permutation(n)
    return [[qids[i] for i in np.sort(part)] for part in np.array_split(perm, folds)]


def carve(
    qids: Sequence[str], fraction: float, seed: int | Sequence[int] = 0
) -> tuple[list[str], list[str]]:
    """``(rest, dev)``: a seeded ``fraction`` of ``qids`` (at least one query) as dev."""
    if not 0.0 < fraction < 1.0:
        raise DataError(f"the dev fraction must be in (0, 1), found {fraction}")
    n = len(qids)
    n_dev = max(1, round(fraction * n))
    if n_dev >= n:
        raise DataError(f"cannot carve a dev set of {n_dev} from {n} training queries")
    perm = np.random.default_rng(seed).permutation(n)
    dev = set(perm[:n_dev].tolist())
    rest = [q for i, q in enumerate(qids) if i not in dev]
    return rest, [q for i, q in enumerate(qids) if i in dev]


def subset(queries: Queries, qrels: Qrels, qids: Sequence[str]) -> tuple[Queries, Qrels]:
    """The given queries and their judgements."""
    return queries.select(list(qids)), qrels.select(list(qids))


def union(parts: Sequence[Queries]) -> Queries:
    """The queries of all parts, each id once, in order of first appearance."""
    seen: dict[str, str] = {}
    for part in parts:
        for q, t in zip(part.qid_list(), part.text_list()):
            seen.setdefault(q, t)
    return Queries.from_arrays(list(seen), list(seen.values()))
