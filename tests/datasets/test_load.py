"""Loading the real offline datasets by name and by path."""

from __future__ import annotations

import gzip
import zipfile
from pathlib import Path

import numpy as np
import pytest

from rankstack import datasets
from rankstack.exceptions import DataError, DatasetNotFoundError


@pytest.fixture
def offline_data(datasets_dir: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv("RANKSTACK_DATA", str(datasets_dir))
    return datasets_dir


def test_scifact(offline_data: Path) -> None:
    ds = datasets.load("beir/scifact/test")
    assert len(ds.corpus()) == 5183
    queries, qrels = ds.queries(), ds.qrels()
    assert (len(queries), qrels.n_queries, len(qrels)) == (300, 300, 339)
    assert set(queries.qid_list()) == set(qrels.qid_list())
    train = datasets.load("beir/scifact")
    assert len(train.queries("train")) == 809 and len(train.queries()) == 1109
    with pytest.raises(DatasetNotFoundError, match="name a split"):
        train.qrels()


def test_nfcorpus_and_arguana_offline_parts(offline_data: Path) -> None:
    nf = datasets.load("beir/nfcorpus/test")
    q, r = nf.queries(), nf.qrels()
    assert (len(q), r.n_queries, len(r)) == (323, 323, 12334)
    assert datasets.load_qrels("beir/arguana").n_queries == 1406  # the only split is implied
    assert len(datasets.load_queries("beir/arguana/test")) == 1406
    with pytest.raises(DatasetNotFoundError) as err:
        nf.corpus()  # no offline corpus; downloads are off in tests
    assert "nfcorpus.zip" in str(err.value) and "RANKSTACK_DATA" in str(err.value)


def test_cranfield(offline_data: Path) -> None:
    ds = datasets.load("cranfield")
    assert (len(ds.corpus()), len(ds.queries()), len(ds.qrels())) == (1400, 225, 1837)
    assert ds.qrels().labels.max() == 4  # code 1 (complete answer) -> gain 4


def test_letor(offline_data: Path) -> None:
    for k in range(1, 6):
        fold = datasets.load(f"letor/mq2008/fold{k}")
        sizes = [len(fold.letor(s)) for s in ("train", "vali", "test")]
        assert sum(sizes[1:]) + sizes[0] > 0
    train = datasets.load("letor/mq2008/fold1/train").letor()
    assert (train.run.n_queries, len(train), train.n_features) == (471, 9630, 46)
    qrels = datasets.load_qrels("letor/mq2008/fold1/test")
    assert qrels.n_queries == 156
    lgb = datasets.load("lightgbm/lambdarank")
    assert lgb.letor("train").group_sizes.sum() == 3005
    assert lgb.letor("test").n_features == 300
    with pytest.raises(DataError, match="letor"):
        lgb.corpus()


def test_load_by_path(offline_data: Path, tmp_path: Path) -> None:
    assert len(datasets.load_corpus(offline_data / "beir/scifact")) == 5183
    assert len(datasets.load_corpus(str(offline_data / "beir/scifact/corpus.jsonl.gz"))) == 5183
    assert len(datasets.load_queries(offline_data / "cranfield/cran.qry")) == 225
    assert len(datasets.load_qrels(offline_data / "beir/scifact")) == 339  # test split
    nf = offline_data / "beir/nfcorpus/qrels.beir-v1.0.0-nfcorpus.test.txt"
    assert len(datasets.load_qrels(nf)) == 12334
    z = tmp_path / "scifact.zip"
    with zipfile.ZipFile(z, "w") as zf:
        raw = gzip.decompress((offline_data / "beir/scifact/corpus.jsonl.gz").read_bytes())
        zf.writestr("scifact/corpus.jsonl", raw)
        zf.write(offline_data / "beir/scifact/queries.jsonl", "scifact/queries.jsonl")
    assert len(datasets.load_corpus(z)) == 5183
    with pytest.raises(DatasetNotFoundError, match="neither a registered dataset"):
        datasets.load_corpus(tmp_path / "absent")


def test_same_data_by_name_and_by_path(offline_data: Path) -> None:
    by_name = datasets.load("letor/mq2008/fold1/vali").letor()
    from rankstack.io import read_letor

    by_path = read_letor(offline_data / "letor/mq2008/Fold1/vali.txt.gz", n_features=46)
    assert by_name.run.equals(by_path.run)
    np.testing.assert_array_equal(by_name.labels, by_path.labels)
