from __future__ import annotations

import re

import pytest

from rankstack import Queries, Run, Stage
from rankstack.experiment.expression import ExperimentError, parse_pipeline
from rankstack.pipeline import Cutoff, FeatureUnion, Precomputed, Scaled, ScoreSum, Then
from rankstack.retrieve.fusion import Fuse, fuse

RUN = Run.from_arrays(["q", "q", "q"], ["a", "b", "c"], [3.0, 2.0, 1.0])


def fixed(boost: float = 1.0) -> Stage:
    return Precomputed(RUN.with_scores(RUN.scores * boost))


FACTORIES = {"fixed": fixed, "fuse": fuse}


def test_operators_build_the_same_objects_as_python() -> None:
    pipe = parse_pipeline("fixed(boost=2) % 2 >> fixed() ** fixed()", FACTORIES)
    assert isinstance(pipe, Then)
    assert isinstance(pipe.stages[1], Cutoff) and pipe.stages[1].k == 2
    assert isinstance(pipe.stages[2], FeatureUnion)
    assert isinstance(parse_pipeline("fixed + fixed", FACTORIES), ScoreSum)
    assert isinstance(parse_pipeline("0.5 * fixed()", FACTORIES), Scaled)
    f = parse_pipeline("fuse(fixed(), fixed(boost=-1), method='rrf', k=10)", FACTORIES)
    assert isinstance(f, Fuse) and f.k == 10
    out = parse_pipeline("fixed(boost=-1) % 1", FACTORIES)(Queries.from_arrays(["q"], ["x"]))
    assert out.docids.to_pylist() == ["c"]


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("fixd()", "unknown stage 'fixd' (did you mean 'fixed'?)"),
        ("fixed(bost=2)", "no parameter 'bost' (did you mean 'boost'?)"),
        ("fixed() >> 3", "operator RShift does not apply"),
        ("__import__('os').system('true')", "only calls of stage names"),
        ("fixed(boost=open('x'))", "unknown stage 'open'"),
        ("fixed(", "cannot parse"),
        ("3", "is a value, not a pipeline"),
        ("[fixed() for _ in x]", "ListComp is not allowed"),
    ],
)
def test_bad_expressions_name_the_problem(text: str, message: str) -> None:
    with pytest.raises(ExperimentError, match=re.escape(message)):
        parse_pipeline(text, FACTORIES)
