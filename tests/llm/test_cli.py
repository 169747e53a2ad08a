"""``rankstack llm-rerank`` end to end against the stub HTTP server, and its errors."""

from __future__ import annotations

import json

import pytest

from rankstack.cli import main
from rankstack.experiment.describe import describe
from rankstack.io import read_run, write_run
from rankstack.llm.stage import LLMRerank
from rankstack.llm.testing import stub_openai_server


@pytest.fixture
def files(tmp_path, toy):
    queries, corpus, run = toy
    q = tmp_path / "queries.tsv"
    q.write_text("".join(f"{i}\t{t}\n" for i, t in zip(queries.qid_list(), queries.text_list())))
    c = tmp_path / "corpus.jsonl"
    c.write_text(
        "".join(
            json.dumps({"_id": d, "title": "", "text": t}) + "\n"
            for d, t in zip(corpus.docid_list(), corpus.contents().to_pylist())
        )
    )
    r = tmp_path / "run.trec"
    write_run(run, r)
    return q, c, r


def test_llm_rerank_over_http(files, tmp_path, capsys):
    q, c, r = files
    out = tmp_path / "out.trec"
    with stub_openai_server() as (url, state):
        args = ["llm-rerank", "--queries", str(q), "--corpus", str(c), "--run", str(r)]
        args += ["--output", str(out), "--backend", "openai", "--base-url", url, "--model", "stub"]
        args += ["--method", "listwise", "--window", "4", "--stride", "2", "--top-k", "6"]
        args += ["--cache", str(tmp_path / "cache")]
        assert main(args) == 0
        n = state.requests
        assert main(args) == 0
        assert state.requests == n  # the second run is served by the cache
    ranked = read_run(out)
    docs, _ = ranked.query("q1")
    # the stub reverses each window: [2:6] then [0:4]
    assert docs[:6] == [f"q1d{i}" for i in (4, 5, 1, 0, 3, 2)]
    meta = json.loads((tmp_path / "out.trec.llm.json").read_text())
    assert meta["method"] == "listwise" and meta["counts"]["cache_hits"] == n
    assert "re-ranked 3 queries" in capsys.readouterr().err


def test_llm_rerank_errors_are_one_line(files, tmp_path, capsys):
    q, c, r = files
    base = ["llm-rerank", "--queries", str(q), "--corpus", str(c), "--run", str(r)]
    base += ["--output", str(tmp_path / "o.trec")]
    assert main([*base, "--method", "telepathy"]) == 2
    assert "unknown method" in capsys.readouterr().err
    assert main([*base, "--backend", "openai", "--model", "m"]) == 2
    assert "base URL" in capsys.readouterr().err
    assert main([*base, "--model", str(tmp_path / "none.gguf")]) == 2
    assert "does not exist" in capsys.readouterr().err
    dead = "http://127.0.0.1:9/v1"
    assert main([*base, "--backend", "openai", "--base-url", dead, "--model", "m"]) == 2
    assert "refused every connection" in capsys.readouterr().err


def test_stage_is_written_as_an_expression(toy):
    _, corpus, _ = toy
    stage = LLMRerank(method="pointwise", model="m", corpus=corpus, top_k=10)
    assert describe(stage) == "llm_rerank(method='pointwise', model='m', top_k=10)"


def test_train_llm_reranker_then_rerank_with_the_adapter(files, tmp_path, tiny_lm):
    q, c, r = files
    model_dir = tmp_path / "tiny"
    tiny_lm[0].save_pretrained(model_dir, safe_serialization=True)
    tiny_lm[1].save_pretrained(model_dir)
    qrels = tmp_path / "qrels.txt"
    qrels.write_text("q1 0 q1d11 1\nq1 0 q1d10 1\nq2 0 q2d2 1\n")
    out = tmp_path / "first"
    args = ["train-llm-reranker", "--corpus", str(c), "--queries", str(q), "--qrels", str(qrels)]
    args += ["--base", str(model_dir), "-o", str(out), "--window", "4", "--depth", "12"]
    args += ["--grad-accum", "1", "--lora-r", "2"]
    assert main(args) == 0
    assert (out / "adapter" / "adapter_model.safetensors").is_file()
    info = json.loads((out / "training.json").read_text())
    assert info["examples"] == 2 and info["steps"] == 2
    ranked = tmp_path / "ranked.trec"
    args = ["llm-rerank", "--queries", str(q), "--corpus", str(c), "--run", str(r), "-o"]
    args += [str(ranked), "--model", str(model_dir), "--adapter", str(out / "adapter")]
    args += ["--method", "first", "--window", "4", "--stride", "2", "--top-k", "8"]
    assert main(args) == 0
    meta = json.loads((tmp_path / "ranked.trec.llm.json").read_text())
    assert len(meta["model"]["adapter"]) == 64
