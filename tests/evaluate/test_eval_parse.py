"""Measure names: ir_measures' syntax, trec_eval's aliases, canonical printing, clear errors."""

from __future__ import annotations

import pytest

from rankstack.evaluate import Measure, parse_measure, parse_measures
from rankstack.exceptions import MeasureError


@pytest.mark.parametrize(
    ("name", "canonical"),
    [
        ("nDCG@10", "nDCG@10"),
        ("nDCG", "nDCG"),
        ("AP", "AP"),
        ("AP@100", "AP@100"),
        ("AP(rel=2)", "AP(rel=2)"),
        ("RR", "RR"),
        ("RR@10", "RR@10"),
        ("P@5", "P@5"),
        ("P(rel=2)@5", "P(rel=2)@5"),
        ("R@100", "R@100"),
        ("Rprec", "Rprec"),
        ("Bpref", "Bpref"),
        ("Success@1", "Success@1"),
        ("Judged@10", "Judged@10"),
        ("NumRet", "NumRet"),
        ("NumRel(rel=2)", "NumRel(rel=2)"),
        ("NumRelRet", "NumRelRet"),
        ("NumQ", "NumQ"),
        ("IPrec@0.1", "IPrec@0.1"),
        ("nDCG(dcg=exp-log2)@10", "nDCG(dcg='exp-log2')@10"),
        ("nDCG(dcg='exp-log2')@10", "nDCG(dcg='exp-log2')@10"),
        ("nDCG(judged_only=True)@10", "nDCG(judged_only=True)@10"),
        ("P(rel=2, judged_only=true)@5", "P(rel=2,judged_only=True)@5"),
        # trec_eval names
        ("ndcg", "nDCG"),
        ("ndcg_cut_10", "nDCG@10"),
        ("ndcg_cut.10", "nDCG@10"),
        ("map", "AP"),
        ("map_cut_100", "AP@100"),
        ("recip_rank", "RR"),
        ("P_5", "P@5"),
        ("P.5", "P@5"),
        ("recall_100", "R@100"),
        ("Rprec", "Rprec"),
        ("bpref", "Bpref"),
        ("success_1", "Success@1"),
        ("num_ret", "NumRet"),
        ("num_rel", "NumRel"),
        ("num_rel_ret", "NumRelRet"),
        ("num_q", "NumQ"),
        ("iprec_at_recall_0.10", "IPrec@0.1"),
        ("iprec_at_recall_0.00", "IPrec@0.0"),
        ("IPrec@1", "IPrec@1.0"),
        ("NumRet(rel=2)", "NumRelRet(rel=2)"),
        # other common spellings
        ("ndcg@10", "nDCG@10"),
        ("NDCG@10", "nDCG@10"),
        ("MAP", "AP"),
        ("mrr", "RR"),
        ("MRR@10", "RR@10"),
        ("precision@10", "P@10"),
        ("recall@100", "R@100"),
        ("hit_rate@5", "Success@5"),
    ],
)
def test_names_parse_to_canonical(name: str, canonical: str) -> None:
    m = parse_measure(name)
    assert str(m) == canonical
    assert parse_measure(str(m)) == m  # the canonical name parses back to the same measure


def test_ir_measures_prints_the_same_canonical_names() -> None:
    import ir_measures

    names = ["nDCG@10", "AP(rel=2)", "P(rel=2,judged_only=True)@5", "IPrec@0.1", "IPrec@1.0"]
    for name in [*names, "RR@10", "Judged", "Rprec(rel=3)", "Success@5"]:
        assert str(parse_measure(name)) == str(ir_measures.parse_measure(name))
    assert str(parse_measure("nDCG(dcg='exp-log2')@10")) == str(
        ir_measures.parse_measure("nDCG(dcg='exp-log2')@10")
    )


def test_fields() -> None:
    m = parse_measure("P(rel=2,judged_only=True)@5")
    assert m == Measure("P", cutoff=5, rel=2, judged_only=True)
    assert m.resolve_rel(1) == 2
    assert parse_measure("P@5").resolve_rel(3) == 3
    assert parse_measure("IPrec@0.25").recall == 0.25
    assert parse_measure(m) is m


def test_parse_measures_drops_repeats() -> None:
    got = parse_measures(["ndcg_cut_10", "nDCG@10", "map"])
    assert [str(m) for m in got] == ["nDCG@10", "AP"]
    assert [str(m) for m in parse_measures("P@5")] == ["P@5"]
    got = parse_measures(["P.5,10", "ndcg_cut_5, 10", "iprec_at_recall.0.1,0.5"])
    assert [str(m) for m in got] == ["P@5", "P@10", "nDCG@5", "nDCG@10", "IPrec@0.1", "IPrec@0.5"]


@pytest.mark.parametrize(
    ("name", "message"),
    [
        ("nDGC@10", "unknown measure 'nDGC@10'; valid measures: nDCG[@k], AP[@k]"),
        ("P", "P needs a cut-off, e.g. P@10"),
        ("IPrec", "IPrec needs a cut-off, e.g. IPrec@0.1"),
        ("Rprec@10", "Rprec takes no cut-off"),
        ("P@0", "the cut-off must be a positive integer, found '0'"),
        ("P@ten", "the cut-off must be a positive integer"),
        ("IPrec@1.5", "the recall level must be a number in [0, 1]"),
        ("AP(rel=-1)", "rel must be an integer >= 0"),
        ("AP(rel=x)", "rel must be an integer >= 0"),
        ("nDCG(rel=2)@10", "nDCG does not take the parameter 'rel'; it accepts: dcg, judged_only"),
        ("nDCG(dcg=exp)@10", "dcg must be 'log2' or 'exp-log2'"),
        ("AP(judged_only=maybe)", "judged_only must be True or False"),
        ("AP(rel)", "parameters are written key=value"),
        ("Bpref(judged_only=True)", "Bpref does not take the parameter 'judged_only'"),
        ("", "cannot parse measure ''"),
    ],
)
def test_errors_are_clear(name: str, message: str) -> None:
    with pytest.raises(MeasureError) as info:
        parse_measure(name)
    assert message in str(info.value)


def test_gains_parameter_is_refused_with_a_reason() -> None:
    with pytest.raises(MeasureError, match="custom gains are not supported"):
        parse_measure("nDCG(gains=x)@10")


def test_non_string_is_refused() -> None:
    with pytest.raises(MeasureError, match="must be a string"):
        parse_measure(10)  # type: ignore[arg-type]
    with pytest.raises(MeasureError, match="no measure given"):
        parse_measures([])
