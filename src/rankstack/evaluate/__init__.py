"""Evaluation: trec_eval-exact measures, significance tests and system comparison.

>>> from rankstack.evaluate import evaluate
>>> evaluate(run, qrels, ["nDCG@10", "AP", "RR", "P@10", "R@100"])  # doctest: +SKIP

Measure names follow ir_measures (``nDCG@10``, ``AP(rel=2)``, ``IPrec@0.1``...) and trec_eval's
names are accepted as aliases (``ndcg_cut_10``, ``map``, ``P_5``...). Values equal
trec_eval's (as bundled by pytrec_eval) to the last bit; see ``docs/evaluation.md``.
"""

from rankstack.evaluate._evaluate import PerQuery, evaluate, evaluate_per_query, parse_measures
from rankstack.evaluate._measure import Measure
from rankstack.evaluate._parse import parse_measure, valid_names
from rankstack.evaluate.compare import Comparison, compare
from rankstack.evaluate.significance import holm, paired_t_test, randomisation_test

__all__ = [
    "Comparison",
    "Measure",
    "PerQuery",
    "compare",
    "evaluate",
    "evaluate_per_query",
    "holm",
    "paired_t_test",
    "parse_measure",
    "parse_measures",
    "randomisation_test",
    "valid_names",
]
