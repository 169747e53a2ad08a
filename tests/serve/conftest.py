"""A small English-like collection and two saved pipelines (BM25, BM25 >> features >> LambdaMART)
for the service tests, built once per session in a temporary folder."""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from rankstack import Corpus, Qrels, Queries
from rankstack.index import Index, build_index
from rankstack.pipeline_io import save_pipeline
from rankstack.rerank import Features
from rankstack.retrieve import BM25

pytest.importorskip("fastapi")

REPO_ROOT = Path(__file__).resolve().parents[2]

TOPICS = {
    "ocean": "ocean wave coral reef tide salt fish whale current shore",
    "space": "planet orbit star galaxy telescope rocket comet moon solar astronaut",
    "cooking": "recipe oven flour butter sugar bake knife pan sauce garlic",
    "music": "guitar melody rhythm chord piano concert singer drum tempo song",
    "medicine": "patient vaccine virus immune doctor clinical dose therapy cancer cell",
    "forest": "tree leaf moss fungus deer bark canopy root soil pine",
}
_FILLER = "the of and a to in is was it for on with as by at from that this which"
_EXTRA = "report study result method effect model data analysis review change"
FILLER, EXTRA = _FILLER.split(), _EXTRA.split()
#: a document whose text looks like markup: the page must show it as text
HOSTILE = "<script>window.__pwned = 1</script> <img src=x onerror=alert(1)> ocean reef <b>bold</b>"


@dataclass(frozen=True)
class World:
    corpus: Corpus
    queries: Queries
    qrels: Qrels


def make_world(n_docs: int = 600, seed: int = 0, prefix: str = "d") -> World:
    rng = np.random.default_rng(seed)
    names = list(TOPICS)
    topic = rng.integers(0, len(names), size=n_docs)
    titles, texts = [], []
    for t in topic:
        own = TOPICS[names[t]].split()
        words = [*rng.choice(own, 10), *rng.choice(FILLER, 25), *rng.choice(EXTRA, 10)]
        rng.shuffle(words)
        titles.append(" ".join(rng.choice(own, 3, replace=False)).capitalize())
        texts.append(" ".join(words).capitalize() + ".")
    docids = [f"{prefix}{i}" for i in range(n_docs)]
    texts[0], titles[0] = HOSTILE, "<i>Markup</i> & friends"
    corpus = Corpus.from_arrays(docids, fields={"title": titles, "text": texts})
    qids, qtexts, rq, rd, rl = [], [], [], [], []
    for q in range(60):
        t = q % len(names)
        words = list(rng.choice(TOPICS[names[t]].split(), 2, replace=False))
        qids.append(f"q{q}")
        qtexts.append(" ".join(words))
        for d in np.flatnonzero(topic == t):
            rq.append(f"q{q}")
            rd.append(docids[d])
            rl.append(2 if set(words) <= set(titles[d].lower().split()) else 1)
    return World(corpus, Queries.from_arrays(qids, qtexts), Qrels.from_arrays(rq, rd, np.array(rl)))


@dataclass(frozen=True)
class Served:
    """Saved pipeline folders over one index, and the corpus file for snippets."""

    world: World
    index: Index
    bm25: Path
    ltr: Path
    corpus_file: Path


def write_corpus(corpus: Corpus, path: Path) -> Path:
    import json

    with open(path, "w", encoding="utf-8") as fh:
        for d, ti, te in zip(
            corpus.docid_list(),
            corpus.field("title").to_pylist(),
            corpus.field("text").to_pylist(),
        ):
            fh.write(json.dumps({"_id": d, "title": ti, "text": te}) + "\n")
    return path


def fit_ltr(index: Index, world: World) -> Any:
    from rankstack.ltr import LambdaMART

    pipe = (
        BM25(index, k=50)
        >> Features(index, features="no_positions")
        >> LambdaMART(n_estimators=20, min_data_in_leaf=5, num_leaves=7)
    )
    pipe.fit(world.queries, world.qrels)
    return pipe


@pytest.fixture(scope="session")
def served(tmp_path_factory: pytest.TempPathFactory) -> Served:
    root = tmp_path_factory.mktemp("serve")
    world = make_world()
    index = build_index(world.corpus, root / "index")
    bm25 = save_pipeline(BM25(index, k=100), root / "bm25")
    ltr = save_pipeline(fit_ltr(index, world), root / "ltr")
    corpus_file = write_corpus(world.corpus, root / "corpus.jsonl")
    return Served(world, index, bm25, ltr, corpus_file)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class ThreadedServer:
    """A real uvicorn server on 127.0.0.1 in a background thread (for the browser test)."""

    def __init__(self, app: Any) -> None:
        import uvicorn

        self.port = free_port()
        config = uvicorn.Config(app, host="127.0.0.1", port=self.port, log_level="warning")
        self.server = uvicorn.Server(config)
        self.thread = threading.Thread(target=self.server.run, daemon=True)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def __enter__(self) -> ThreadedServer:
        self.thread.start()
        deadline = time.monotonic() + 20
        while not self.server.started:
            if time.monotonic() > deadline or not self.thread.is_alive():
                raise RuntimeError("the test server did not start")
            time.sleep(0.02)
        return self

    def __exit__(self, *exc: object) -> None:
        self.server.should_exit = True
        self.thread.join(timeout=10)


@pytest.fixture()
def threaded_server() -> Iterator[type[ThreadedServer]]:
    yield ThreadedServer
