"""The packaged registry: every entry parses, names resolve, offline copies match."""

from __future__ import annotations

import contextlib
import hashlib
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from rankstack.datasets import list_datasets, load, register
from rankstack.datasets._registry import registry, resolve_name
from rankstack.exceptions import DataError, DatasetNotFoundError

REQUIRED = [
    "beir/scifact",
    "beir/nfcorpus",
    "beir/arguana",
    "letor/mq2008",
    "letor/mq2007",
    "cranfield",
]


def test_required_datasets_are_registered() -> None:
    assert set(REQUIRED) <= set(registry())


@pytest.mark.parametrize("name", sorted([*REQUIRED, "lightgbm/lambdarank"]))
def test_every_download_has_a_checksum_and_https_or_http_url(name: str) -> None:
    entry = registry()[name]
    assert entry.downloads
    for dl in entry.downloads.values():
        assert dl.checksums, dl.key
        assert dl.url.startswith(("https://", "http://")), dl.url
    for spec in entry.files.values():
        assert spec.download or spec.offline


def test_letor_urls_are_pinned_to_a_commit() -> None:
    for name in ("letor/mq2008", "letor/mq2007"):
        for dl in registry()[name].downloads.values():
            assert "54636aff10a18b603749ec9437db2986a6128a8f" in dl.url


@pytest.mark.parametrize(
    ("name", "dataset", "rest"),
    [
        ("beir/scifact", "beir/scifact", ""),
        ("BEIR/SciFact/Test", "beir/scifact", "test"),
        ("letor/mq2008/Fold1/train", "letor/mq2008", "fold1/train"),
        ("cranfield", "cranfield", ""),
    ],
)
def test_resolve_name(name: str, dataset: str, rest: str) -> None:
    entry, found_rest = resolve_name(name)
    assert (entry.name, found_rest) == (dataset, rest)


def test_names_and_splits() -> None:
    assert load("beir/scifact/test").split == "test"
    fold = load("letor/mq2008/fold2")
    assert fold.splits == ["train", "vali", "test"] and fold.name == "letor/mq2008/fold2"
    assert load("letor/mq2008/fold2/vali").name == "letor/mq2008/fold2/vali"
    assert load("cranfield").splits == []
    with pytest.raises(DatasetNotFoundError, match="no split 'dev'"):
        load("beir/scifact/dev")
    with pytest.raises(DatasetNotFoundError, match="registered datasets"):
        load("beir/unknown")


def test_register_validates() -> None:
    with pytest.raises(DataError, match="kind"):
        register("x/y", {"kind": "nope", "files": {}})
    with pytest.raises(DataError, match="unknown download"):
        register("x/y", {"kind": "beir", "files": {"corpus": {"download": "a", "format": "jsonl"}}})
    with pytest.raises(DataError, match="no checksum"):
        register(
            "x/y",
            {
                "kind": "beir",
                "downloads": {"a": {"url": "http://x"}},
                "files": {"corpus": {"download": "a", "format": "jsonl"}},
            },
        )


def test_list_datasets_without_offline_folder(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("RANKSTACK_DATA", raising=False)
    infos = {i.name: i for i in list_datasets()}
    assert infos["beir/scifact"].availability == "download"
    assert infos["beir/scifact"].sizes["docs"] == 5183


def test_list_datasets_with_offline_folder(
    datasets_dir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("RANKSTACK_DATA", str(datasets_dir))
    infos = {i.name: i for i in list_datasets()}
    assert infos["beir/scifact"].availability == "offline"
    assert infos["cranfield"].availability == "offline"
    assert infos["letor/mq2008"].availability == "offline"
    assert infos["beir/nfcorpus"].availability == "partial"
    assert infos["beir/nfcorpus"].files["qrels/test"] == "offline"
    assert infos["letor/mq2007"].availability == "download"


def test_offline_checksums_match_the_folder(datasets_dir: Path) -> None:
    """The registry's sha256 and size of every offline file equal the real files'."""
    for entry in registry().values():
        for spec in entry.files.values():
            if spec.offline:
                p = datasets_dir / spec.offline
                assert p.stat().st_size == spec.size, spec.offline
                assert hashlib.sha256(p.read_bytes()).hexdigest() == spec.sha256, spec.offline


_json = st.recursive(
    st.none() | st.booleans() | st.integers() | st.text(max_size=5),
    lambda inner: (
        st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=8), inner, max_size=4)
    ),
    max_leaves=12,
)


@settings(max_examples=200, deadline=None)
@given(
    spec=st.fixed_dictionaries(
        {},
        optional={
            "kind": st.sampled_from(["beir", "letor", "cranfield", "x"]) | _json,
            "files": _json,
            "downloads": _json,
            "splits": _json,
            "sizes": _json,
        },
    )
)
def test_register_fuzz_raises_only_data_error(spec: dict[str, object]) -> None:
    with contextlib.suppress(DataError):
        register("fuzz/entry", spec)
