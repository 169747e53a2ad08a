"""Index build, save/load round trip (mmap), statistics, streaming, and refusal of bad folders."""

from __future__ import annotations

import json
import os
from pathlib import Path

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from rankstack.data import Corpus
from rankstack.exceptions import DataError, IndexFormatError, MissingFeaturesError
from rankstack.index import Index, Tokenizer, _format, build_index, resolve_fields

DOCS = {
    "d1": ("Cats", "The cat sat on the mat. The cat purred."),
    "d2": ("Dogs", "A dog chased the cat."),
    "d3": ("", "Mats and rugs."),
    "d4": ("Empty", ""),
}


@pytest.fixture
def corpus() -> Corpus:
    ids = list(DOCS)
    return Corpus.from_arrays(
        ids, fields={"title": [DOCS[d][0] for d in ids], "text": [DOCS[d][1] for d in ids]}
    )


def _terms(index: Index, field: str, doc: int) -> dict[str, int]:
    t, f = index.field(field).doc_terms(doc)
    return {index.terms[int(i)].as_py(): int(n) for i, n in zip(t, f)}


def test_flat_index_contents(corpus: Corpus) -> None:
    idx = build_index(corpus)
    assert idx.field_names == ["contents"]
    assert idx.n_docs == 4
    assert _terms(idx, "contents", 0) == {"cat": 3, "sat": 1, "mat": 1, "pur": 1}
    f = idx.field()
    assert f.doclen.tolist() == [6, 4, 2, 1]  # title joined before text, stopwords removed
    assert f.doc_count == 4 and f.n_tokens == 13
    assert f.avgdl == pytest.approx(13 / 4)
    cat = idx.term_id("cat")
    docs, tf = f.postings(cat)
    assert docs.tolist() == [0, 1] and tf.tolist() == [3, 1]
    assert f.df[cat] == 2 and f.cf[cat] == 4
    assert idx.term_id("unseen") == -1


def test_multifield_statistics(corpus: Corpus) -> None:
    idx = build_index(corpus, multifield=True)
    assert idx.field_names == ["title", "text"]
    title = idx.field("title")
    # Lucene's docCount counts only documents with a token in the field
    assert title.doclen.tolist() == [1, 1, 0, 1] and title.doc_count == 3
    assert title.avgdl == pytest.approx(1.0)
    assert idx.field("text").doc_count == 3
    with pytest.raises(MissingFeaturesError, match="several fields"):
        idx.field()
    with pytest.raises(MissingFeaturesError, match="no field 'body'"):
        idx.field("body")


def test_inverted_is_transpose_of_forward(corpus: Corpus) -> None:
    idx = build_index(corpus, fields={"contents": ["title", "text"], "text": ["text"]})
    for f in idx.fields.values():
        inv = f.inverted_matrix().toarray()
        fwd = f.forward_matrix().toarray()
        assert np.array_equal(inv, fwd)
        assert np.array_equal(fwd.sum(axis=1), f.doclen)


def test_positions(corpus: Corpus) -> None:
    idx = build_index(corpus, positions=True)
    f = idx.field()
    terms, _ = f.doc_terms(0)
    pos = dict(zip([idx.terms[int(t)].as_py() for t in terms], f.doc_positions(0)))
    # "cats the cat sat on the mat the cat purred": stopwords keep their positions
    assert pos["cat"].tolist() == [0, 2, 8]
    assert pos["mat"].tolist() == [6]
    no_pos = build_index(corpus)
    with pytest.raises(MissingFeaturesError, match="without positions"):
        no_pos.field().doc_positions(0)


def test_save_load_round_trip_is_mmapped(corpus: Corpus, tmp_path: Path) -> None:
    mem = build_index(corpus, positions=True, tokenizer=Tokenizer(stopwords="snowball"))
    saved = mem.save(tmp_path / "idx")
    loaded = Index.load(tmp_path / "idx", verify=True)
    assert isinstance(loaded.field().inv_docs, np.memmap)
    assert loaded.tokenizer == mem.tokenizer
    assert loaded.docids.to_pylist() == ["d1", "d2", "d3", "d4"]
    assert loaded.terms.to_pylist() == mem.terms.to_pylist()
    for name in mem.array_names:
        assert np.array_equal(mem.array(name), loaded.array(name)), name
    assert saved.manifest["fields"] == mem.manifest["fields"]
    assert loaded.doc_index(["d3", "zz", "d1"]).tolist() == [2, -1, 0]


def test_build_to_disk_equals_in_memory(corpus: Corpus, tmp_path: Path) -> None:
    disk = build_index(corpus, tmp_path / "idx", multifield=True)
    mem = build_index(corpus, multifield=True)
    assert disk.path == tmp_path / "idx"
    for name in mem.array_names:
        assert np.array_equal(mem.array(name), disk.array(name)), name
    manifest = json.loads((tmp_path / "idx" / "manifest.json").read_text())
    assert manifest["format"] == "rankstack-index" and manifest["version"] == 1
    assert all(len(spec["sha256"]) == 64 for spec in manifest["arrays"].values())


@settings(max_examples=25, deadline=None)
@given(block=st.integers(1, 5))
def test_streaming_blocks_give_the_same_index(block: int) -> None:
    ids = list(DOCS)
    corpus = Corpus.from_arrays(
        ids, fields={"title": [DOCS[d][0] for d in ids], "text": [DOCS[d][1] for d in ids]}
    )
    whole = build_index(corpus)
    parts = build_index([corpus.slice(0, 3), corpus.slice(3, 4)], block_size=block)
    for name in whole.array_names:
        assert np.array_equal(whole.array(name), parts.array(name)), name


def test_duplicate_ids_across_batches_are_refused(corpus: Corpus) -> None:
    with pytest.raises(DataError, match="unique"):
        build_index([corpus, corpus])


def test_field_specs(corpus: Corpus) -> None:
    assert resolve_fields(["text", "title"], None, False) == {"contents": ["title", "text"]}
    assert resolve_fields(["text", "title"], ["text"], True) == {"text": ["text"]}
    with pytest.raises(DataError, match="needs corpus field"):
        build_index(corpus, fields=["body"])
    with pytest.raises(DataError, match="must use only"):
        build_index(corpus, fields={"../x": ["text"]})
    with pytest.raises(DataError, match="empty corpus"):
        build_index([])


# ----------------------------------------------------------------------------- refusals
@pytest.fixture
def saved(corpus: Corpus, tmp_path: Path) -> Path:
    build_index(corpus, tmp_path / "idx")
    return tmp_path / "idx"


def _edit_manifest(path: Path, **changes: object) -> None:
    m = json.loads((path / "manifest.json").read_text())
    m.update(changes)
    (path / "manifest.json").write_text(json.dumps(m))


def test_refuses_missing_folder(tmp_path: Path) -> None:
    with pytest.raises(IndexFormatError, match="does not exist"):
        Index.load(tmp_path / "nope")


def test_refuses_foreign_folder(tmp_path: Path) -> None:
    (tmp_path / "other").mkdir()
    (tmp_path / "other" / "data.bin").write_bytes(b"x")
    with pytest.raises(IndexFormatError, match="not a rankstack index"):
        Index.load(tmp_path / "other")


def test_refuses_foreign_manifest(saved: Path) -> None:
    _edit_manifest(saved, format="lucene")
    with pytest.raises(IndexFormatError, match="names format 'lucene'"):
        Index.load(saved)


def test_refuses_other_version(saved: Path) -> None:
    _edit_manifest(saved, version=99)
    with pytest.raises(IndexFormatError, match=r"format version 99.*rebuild"):
        Index.load(saved)


def test_refuses_invalid_json(saved: Path) -> None:
    (saved / "manifest.json").write_text("{not json")
    with pytest.raises(IndexFormatError, match="not valid JSON"):
        Index.load(saved)


def test_refuses_truncated_array(saved: Path) -> None:
    path = saved / "fields" / "contents" / "inv_docs.npy"
    data = path.read_bytes()
    path.write_bytes(data[:-4])
    with pytest.raises(IndexFormatError, match=r"inv_docs\.npy has .* bytes.*truncated"):
        Index.load(saved)


def test_refuses_missing_array(saved: Path) -> None:
    os.unlink(saved / "docid_rank.npy")
    with pytest.raises(IndexFormatError, match=r"docid_rank\.npy is missing"):
        Index.load(saved)


def test_refuses_dtype_mismatch(saved: Path) -> None:
    m = json.loads((saved / "manifest.json").read_text())
    m["arrays"]["docid_rank"]["dtype"] = "<f8"
    (saved / "manifest.json").write_text(json.dumps(m))
    with pytest.raises(IndexFormatError, match="manifest says float64"):
        Index.load(saved)


def test_checksum_is_verified_on_request(saved: Path) -> None:
    path = saved / "fields" / "contents" / "inv_tf.npy"
    data = bytearray(path.read_bytes())
    data[-1] ^= 0xFF
    path.write_bytes(bytes(data))
    Index.load(saved)  # sizes and headers still agree
    with pytest.raises(IndexFormatError, match="checksum"):
        Index.load(saved, verify=True)


def test_overwrite_rules(corpus: Corpus, saved: Path, tmp_path: Path) -> None:
    build_index(corpus, saved, multifield=True)  # an index is replaced
    assert Index.load(saved).field_names == ["title", "text"]
    with pytest.raises(IndexFormatError, match="already exists"):
        build_index(corpus, saved, overwrite=False)
    other = tmp_path / "mine"
    other.mkdir()
    (other / "notes.txt").write_text("keep me")
    with pytest.raises(IndexFormatError, match="not a rankstack index"):
        build_index(corpus, other)
    assert (other / "notes.txt").read_text() == "keep me"
    leftovers = [p.name for p in tmp_path.iterdir() if p.name.startswith(".")]
    assert leftovers == []


def test_failed_build_leaves_nothing(
    corpus: Corpus, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    def boom(*args: object, **kwargs: object) -> None:
        raise OSError("disk full")

    monkeypatch.setattr(_format, "write_manifest", boom)
    with pytest.raises(OSError, match="disk full"):
        build_index(corpus, tmp_path / "idx")
    assert list(tmp_path.iterdir()) == []


def test_foreign_folder_with_a_manifest_is_not_replaced(corpus: Corpus, tmp_path: Path) -> None:
    other = tmp_path / "other"
    other.mkdir()
    (other / "manifest.json").write_text('{"format": "something-else"}')
    with pytest.raises(IndexFormatError, match="not a rankstack index"):
        build_index(corpus, other)
    assert (other / "manifest.json").read_text() == '{"format": "something-else"}'


def test_progress_bar_goes_to_stderr_not_stdout(corpus: Corpus, capfd) -> None:
    """``rankstack search`` and ``--json`` outputs use stdout: the indexing bar stays on stderr."""
    build_index(corpus, progress=True)
    out, err = capfd.readouterr()
    assert out == "" and "indexing" in err
