"""The loss registry: names, look-up and the shared signature."""

from __future__ import annotations

import inspect
import re

import pytest

from rankstack.exceptions import RankstackError
from rankstack.ltr import losses
from rankstack.ltr.losses import LOSSES, UnknownLossError, get_loss

EXPECTED = {
    "mse",
    "sigmoid_ce",
    "ranknet",
    "lambdarank",
    "lambdaloss",
    "listnet",
    "listmle",
    "approxndcg",
    "neuralndcg",
    "fidelity",
    "pg_rank",
    "lipo_lambda",
}


def test_registry_holds_exactly_the_twelve_losses() -> None:
    assert set(LOSSES) == EXPECTED
    for name, fn in LOSSES.items():
        assert fn.__name__ == name
        assert getattr(losses, name) is fn
        assert name in losses.__all__


@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_get_loss_finds_every_name(name: str) -> None:
    assert get_loss(name) is LOSSES[name]
    assert get_loss(name.upper().replace("_", "-")) is LOSSES[name]


@pytest.mark.parametrize("bad", ["lambda_mart", "", "rank net", 3])
def test_unknown_names_raise_a_value_error_listing_valid_ones(bad: object) -> None:
    with pytest.raises(UnknownLossError) as info:
        get_loss(bad)  # type: ignore[arg-type]
    assert isinstance(info.value, RankstackError) and isinstance(info.value, ValueError)
    for name in EXPECTED:
        assert name in str(info.value)


@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_signature_docstring_and_equation_comment(name: str) -> None:
    fn = LOSSES[name]
    params = list(inspect.signature(fn).parameters.values())
    assert [p.name for p in params[:3]] == ["scores", "labels", "mask"]
    assert all(p.kind is inspect.Parameter.KEYWORD_ONLY for p in params[3:])
    assert all(p.default is not inspect.Parameter.empty for p in params[3:])
    doc = inspect.getdoc(fn) or ""
    assert re.search(r"(19|20)\d\d", doc), "the docstring cites its source"
    source = inspect.getsource(fn)
    assert re.search(r"^\s+# .*\(.*(19|20)\d\d", source, re.M), "an equation comment with a cite"
