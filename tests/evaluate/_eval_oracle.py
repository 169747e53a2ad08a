"""Helpers shared by the evaluation tests: build runs/qrels from dicts, ask pytrec_eval."""

from __future__ import annotations

from dataclasses import replace

import numpy as np

from rankstack.data import Qrels, Run
from rankstack.evaluate import Measure, parse_measure

# trec_eval names (as pytrec_eval reports them) -> the measure that must equal them
TREC_NAMES = [
    "ndcg",
    "ndcg_cut_1",
    "ndcg_cut_3",
    "ndcg_cut_10",
    "map",
    "map_cut_1",
    "map_cut_5",
    "recip_rank",
    "P_1",
    "P_3",
    "P_20",
    "recall_1",
    "recall_5",
    "recall_100",
    "Rprec",
    "bpref",
    "success_1",
    "success_5",
    "num_ret",
    "num_rel",
    "num_rel_ret",
    "num_q",
    *[f"iprec_at_recall_{x / 10:.2f}" for x in range(11)],
]

# measures that trec_eval's -J changes (the others ignore it or do not accept it)
NO_JUDGED_ONLY = {"Bpref", "NumRel", "NumQ"}


def ours(name: str, judged_only: bool) -> Measure:
    m = parse_measure(name)
    if judged_only and m.name not in NO_JUDGED_ONLY:
        m = replace(m, judged_only=True)
    return m


def make_run(run: dict[str, dict[str, float]]) -> Run:
    """A Run with every query of ``run``, including queries with an empty ranking."""
    rows = [(q, d, s) for q, docs in run.items() for d, s in docs.items()]
    if not rows:
        return Run.empty(list(run))
    built = Run.from_arrays([r[0] for r in rows], [r[1] for r in rows], [r[2] for r in rows])
    return built.select(list(run))


def make_qrels(qrels: dict[str, dict[str, int]]) -> Qrels:
    return Qrels.from_dict(qrels)


def oracle(
    qrels: dict[str, dict[str, int]],
    run: dict[str, dict[str, float]],
    names: list[str],
    *,
    rel: int = 1,
    judged_only: bool = False,
) -> dict[str, dict[str, float]]:
    """pytrec_eval's per-query values (trec_eval 9.0.x, as the wheel bundles it).

    trec_eval sizes its buffers by the first query's ranking; when that ranking is empty it
    keeps a NULL buffer and the next measure crashes. A non-empty warm-up query evaluated first
    (then dropped) lets it evaluate empty rankings as its code intends.
    """
    import pytrec_eval

    if not run:
        return {}
    warm = "\x01warm-up"
    ev = pytrec_eval.RelevanceEvaluator(
        {warm: {"w": 1}, **qrels},
        set(names),
        relevance_level=rel,
        judged_docs_only_flag=judged_only,
    )
    out = ev.evaluate({warm: {"w": 1.0}, **run})
    out.pop(warm, None)
    return out


def same(ours_value: float, trec_value: float) -> bool:
    """Bit equality; trec_eval's 0/0 (IPrec of an empty ranking) is NaN where we give 0."""
    if np.isnan(trec_value):
        return ours_value == 0.0
    return ours_value == trec_value
