"""rankstack train-cross-encoder / train-encoder / splade index|search on tiny models."""

from __future__ import annotations

import json

import pytest

from rankstack.cli import main
from rankstack.io import read_run


@pytest.fixture(scope="module")
def files(tmp_path_factory, collection):
    corpus, queries, qrels = collection
    root = tmp_path_factory.mktemp("cli")
    (root / "corpus.jsonl").write_text(
        "".join(
            json.dumps({"_id": d, "text": t}) + "\n"
            for d, t in zip(corpus.docid_list(), corpus.contents().to_pylist())
        )
    )
    (root / "queries.tsv").write_text("".join(f"{q}\t{t}\n" for q, t in queries.to_dict().items()))
    lines = [f"{q} 0 {d} {lab}" for q, dl in qrels.to_dict().items() for d, lab in dl.items()]
    (root / "qrels.txt").write_text("\n".join(lines) + "\n")
    return root


def test_train_cross_encoder_and_encoder(files, models, tmp_path, capsys) -> None:
    common = [
        "--corpus",
        str(files / "corpus.jsonl"),
        "--queries",
        str(files / "queries.tsv"),
        "--qrels",
        str(files / "qrels.txt"),
        "--steps",
        "2",
        "--batch-size",
        "2",
        "--eval-every",
        "1",
        "-q",
        "--dev-fraction",
        "0.25",
        "--max-length",
        "64",
    ]
    rc = main(
        [
            "train-cross-encoder",
            *common,
            "--base",
            str(models["encoder"]),
            "-o",
            str(tmp_path / "ce"),
            "--negatives",
            "adore",
            "--n-negatives",
            "2",
        ]
    )
    assert rc == 0
    assert (tmp_path / "ce/best/model.safetensors").is_file()
    assert "best dev nDCG@10" in capsys.readouterr().out
    rc = main(
        [
            "train-cross-encoder",
            *common,
            "--base",
            str(models["encoder"]),
            "-o",
            str(tmp_path / "ce"),
            "--negatives",
            "adore",
            "--n-negatives",
            "2",
            "--steps",
            "3",
            "--resume",
        ]
    )
    assert rc == 0
    assert json.loads((tmp_path / "ce/history.json").read_text())["history"][-1]["step"] == 3
    rc = main(
        [
            "train-encoder",
            *common,
            "--base",
            str(models["st"]),
            "-o",
            str(tmp_path / "bi"),
            "--negatives",
            "star",
        ]
    )
    assert rc == 0
    assert (tmp_path / "bi/best/modules.json").is_file()


def test_bad_input_is_one_line(files, tmp_path, capsys) -> None:
    rc = main(
        [
            "train-cross-encoder",
            "--corpus",
            str(files / "corpus.jsonl"),
            "--queries",
            str(files / "queries.tsv"),
            "--qrels",
            str(files / "qrels.txt"),
            "--base",
            str(tmp_path / "nope"),
            "-o",
            str(tmp_path / "o"),
            "--negatives",
            "bogus",
        ]
    )
    assert rc == 2
    assert "random, star or adore" in capsys.readouterr().err
    rc = main(
        [
            "splade",
            "search",
            str(tmp_path),
            str(files / "queries.tsv"),
            "-o",
            str(tmp_path / "r.txt"),
        ]
    )
    assert rc == 2
    assert "not an impact index" in capsys.readouterr().err


def test_splade_index_and_search(files, tmp_path) -> None:
    from rankstack.train.testing import tiny_masked_lm

    mlm = tiny_masked_lm(tmp_path / "mlm")
    rc = main(
        [
            "splade",
            "index",
            str(files / "corpus.jsonl"),
            "-o",
            str(tmp_path / "idx"),
            "--model",
            str(mlm),
            "-q",
        ]
    )
    assert rc == 0
    rc = main(
        [
            "splade",
            "search",
            str(tmp_path / "idx"),
            str(files / "queries.tsv"),
            "-o",
            str(tmp_path / "run.txt"),
            "-k",
            "5",
            "--verify",
        ]
    )
    assert rc == 0
    run = read_run(tmp_path / "run.txt")
    assert run.n_queries > 0 and (run.sizes <= 5).all()
