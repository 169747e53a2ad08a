"""``dense(...)`` and ``hybrid(...)`` in pipeline expressions: parse, run, describe back."""

from __future__ import annotations

from pathlib import Path

import pytest

from rankstack.data import Corpus, Queries
from rankstack.dense import BiEncoder, Hybrid
from rankstack.experiment.describe import describe
from rankstack.experiment.expression import ExperimentError, parse_pipeline
from rankstack.experiment.factories import stage_factories
from rankstack.index import build_index


def test_parse_run_and_describe(
    tiny_model: Path,
    corpus: Corpus,
    queries: Queries,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("RANKSTACK_HOME", str(tmp_path / "home"))
    index = build_index(corpus)
    factories = stage_factories(lambda: index, depth=20, corpus=lambda: corpus)
    text = f"hybrid(bm25(), dense(model={str(tiny_model)!r}, dtype='float16'), alpha=0.3)"
    pipe = parse_pipeline(text, factories)
    assert isinstance(pipe, Hybrid) and isinstance(pipe.dense, BiEncoder)
    assert pipe.dense.k == 20 and pipe.dense.cache_dir == "auto"
    run = pipe.transform(queries)
    assert run.n_queries == 3
    # "auto" put the embeddings under RANKSTACK_HOME/embeddings
    caches = list((tmp_path / "home" / "embeddings").iterdir())
    assert len(caches) == 1 and (caches[0] / "manifest.json").is_file()
    written = describe(pipe)
    assert written.startswith("hybrid(bm25(k=20), dense(model=") and "alpha=0.3" in written
    again = parse_pipeline(written, factories)
    assert describe(again, full=True) == describe(pipe, full=True)
    assert again.transform(queries).equals(run)


def test_hybrid_needs_two_stages(corpus: Corpus) -> None:
    index = build_index(corpus)
    factories = stage_factories(lambda: index, corpus=lambda: corpus)
    with pytest.raises(ExperimentError):
        parse_pipeline("hybrid(bm25(), 3)", factories)
