"""The measure families: one module per family, registered here with their parameters.

Each family is a function ``(context, measure, rel) -> per-query values`` (see
:mod:`rankstack.evaluate._context`) plus what its name accepts: whether it takes a cut-off
``@k`` (or a recall level), and which of the parameters ``rel``, ``judged_only`` and ``dcg``.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from rankstack.evaluate._context import EvalContext
from rankstack.evaluate._measure import Measure
from rankstack.evaluate.measures.ap import ap
from rankstack.evaluate.measures.bpref import bpref
from rankstack.evaluate.measures.counts import num_q, num_rel, num_rel_ret, num_ret
from rankstack.evaluate.measures.iprec import iprec
from rankstack.evaluate.measures.judged import judged
from rankstack.evaluate.measures.ndcg import ndcg
from rankstack.evaluate.measures.precision import precision
from rankstack.evaluate.measures.recall import recall
from rankstack.evaluate.measures.rprec import rprec
from rankstack.evaluate.measures.rr import rr
from rankstack.evaluate.measures.success import success

Compute = Callable[[EvalContext, Measure, int], np.ndarray]


@dataclass(frozen=True)
class Family:
    """What a family name accepts and how its per-query values are combined.

    Attributes
    ----------
    name : canonical (ir_measures) name
    compute : the per-query function
    cutoff : ``"required"``, ``"optional"``, ``"none"`` or ``"recall"`` (``@r`` is a float)
    params : accepted parameters among ``rel``, ``judged_only``, ``dcg``
    aggregate : ``"mean"`` or ``"sum"`` (the counts, as trec_eval reports them)
    trec_eval : trec_eval's name for the family, for messages and aliases
    """

    name: str
    compute: Compute
    cutoff: str
    params: frozenset[str]
    aggregate: str = "mean"
    trec_eval: str = ""


_REL = frozenset({"rel", "judged_only"})

FAMILIES: dict[str, Family] = {
    f.name: f
    for f in (
        Family("nDCG", ndcg, "optional", frozenset({"judged_only", "dcg"}), trec_eval="ndcg"),
        Family("AP", ap, "optional", _REL, trec_eval="map"),
        Family("RR", rr, "optional", _REL, trec_eval="recip_rank"),
        Family("P", precision, "required", _REL, trec_eval="P"),
        Family("R", recall, "required", _REL, trec_eval="recall"),
        Family("Rprec", rprec, "none", _REL, trec_eval="Rprec"),
        Family("Bpref", bpref, "none", frozenset({"rel"}), trec_eval="bpref"),
        Family("Success", success, "required", _REL, trec_eval="success"),
        Family("IPrec", iprec, "recall", _REL, trec_eval="iprec_at_recall"),
        Family("Judged", judged, "optional", frozenset()),
        Family("NumQ", num_q, "none", frozenset(), "sum", trec_eval="num_q"),
        Family("NumRet", num_ret, "none", frozenset({"judged_only"}), "sum", "num_ret"),
        Family("NumRelRet", num_rel_ret, "none", _REL, "sum", "num_rel_ret"),
        Family("NumRel", num_rel, "none", frozenset({"rel"}), "sum", "num_rel"),
    )
}

__all__ = ["FAMILIES", "Family"]
