"""Permutation parsing: examples of each repair, and 'always a permutation' for any text."""

from __future__ import annotations

from collections import Counter

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from rankstack.llm.parse import answer_part, parse_grade, parse_permutation


@pytest.mark.parametrize(
    ("text", "n", "kind", "order", "missing", "repeated", "out_of_range"),
    [
        ("[2] > [1] > [3]", 3, "numbers", [1, 0, 2], 0, 0, 0),
        ("2, 3", 3, "numbers", [1, 2, 0], 1, 0, 0),
        ("[2] > [2] > [9] > [0]", 3, "numbers", [1, 0, 2], 2, 1, 2),
        ("[C] > [A]", 3, "letters", [2, 0, 1], 1, 0, 0),
        ("C > A > B", 3, "letters", [2, 0, 1], 0, 0, 0),
        ("[b] > [a]", 2, "letters", [1, 0], 0, 0, 0),
        ("[99999999999999] > [1]", 2, "numbers", [0, 1], 1, 0, 1),
    ],
)
def test_repairs(text, n, kind, order, missing, repeated, out_of_range):
    got, rep = parse_permutation(text, n, kind)
    assert got.tolist() == order
    assert (rep.missing, rep.repeated, rep.out_of_range) == (missing, repeated, out_of_range)
    assert not rep.unparseable


@pytest.mark.parametrize("text", ["", None, "no idea", "[0] > [7]"])
def test_unparseable_keeps_input_order(text):
    got, rep = parse_permutation(text, 4)
    assert got.tolist() == [0, 1, 2, 3]
    assert rep.unparseable and rep.repaired
    c: Counter[str] = Counter()
    rep.add_to(c)
    assert c["parse_unparseable"] == 1 and c["parse_answers"] == 1


@settings(max_examples=200, deadline=None)
@given(
    st.text(max_size=80),
    st.integers(min_value=0, max_value=30),
    st.sampled_from(["numbers", "letters"]),
)
def test_always_a_permutation(text, n, kind):
    got, rep = parse_permutation(text, n, kind)
    assert sorted(got.tolist()) == list(range(n))
    assert got.dtype == np.int64
    assert rep.missing <= n


def test_answer_part_and_grades():
    assert answer_part("<think>[1] is bad</think><answer>[2] > [1]</answer>") == "[2] > [1]"
    assert answer_part("<think>hmm</think> [2] > [1]") == " [2] > [1]"
    assert answer_part("[2] > [1]") == "[2] > [1]"
    assert parse_grade(" 2") == 2 and parse_grade("grade: 7, so 3") == 3
    assert parse_grade("none") is None and parse_grade(None) is None
