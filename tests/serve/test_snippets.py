"""Snippets: highlights lie inside the snippet on whole words that match the query terms."""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st

from rankstack.serve.snippets import ELLIPSIS, make_snippets, query_terms

from .conftest import Served

WORDS = ["ocean", "Reef,", "reefs", "the", "<b>", "whale.", "flour", "café", "x&y", "ÖCEAN"]


@settings(max_examples=60, deadline=None)
@given(
    texts=st.lists(st.lists(st.sampled_from(WORDS), max_size=120).map(" ".join), max_size=5),
    width=st.integers(1, 50),
)
def test_highlights_are_matching_words_inside_the_snippet(
    served: Served, texts: list[str], width: int
) -> None:
    terms = query_terms(served.index, "ocean reef")
    snippets = make_snippets(served.index, texts, terms, width)
    assert len(snippets) == len(texts)
    for text, snip in zip(texts, snippets):
        body = snip.text.removeprefix(ELLIPSIS + " ").removesuffix(" " + ELLIPSIS)
        assert body in text
        assert len(body.split()) == min(width, len(text.split()))
        for a, b in snip.highlights:
            assert 0 <= a < b <= len(snip.text)
            word = snip.text[a:b]
            assert word in WORDS and word.lower().strip(",.") in ("ocean", "reef", "reefs")


def test_snippet_window_covers_the_densest_region(served: Served) -> None:
    text = " ".join(["flour"] * 100 + ["ocean", "reef", "ocean"] + ["flour"] * 100)
    (snip,) = make_snippets(served.index, [text], query_terms(served.index, "ocean reef"), 10)
    assert snip.text.startswith(ELLIPSIS) and snip.text.endswith(ELLIPSIS)
    assert len(snip.highlights) == 3
