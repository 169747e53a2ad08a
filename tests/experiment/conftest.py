"""A small synthetic collection (corpus, index, queries, qrels) for pipeline and experiment tests.

Documents are about one of 20 topics; a query names two words of its topic; documents of the
query's topic are relevant (grade 2 when the title holds both query words). BM25 finds them,
and a learned combination of BM25 variants has something to learn. Feature stages are written
in the expression language itself (``bm25(...) ** bm25(...)``: each BM25 re-scores the
candidates), so pipelines here can be saved and re-read without the features module.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pytest

from rankstack import Corpus, Qrels, Queries
from rankstack.index import Index, build_index

N_TOPICS = 20
#: a learned pipeline over the synthetic index, written in the expression language
LEARNED = (
    "bm25(k=30) >> (bm25(k=200, name='flat') ** bm25(k1=1.6, b=0.9, k=200, name='long')"
    " ** bm25(fields={'title': 1.0}, k=200, name='title')) >> lambdamart(n_estimators=15,"
    " min_data_in_leaf=5, early_stopping_rounds=5)"
)


@dataclass(frozen=True)
class World:
    corpus: Corpus
    queries: Queries
    qrels: Qrels


def make_world(n_docs: int = 400, n_queries: int = 60, seed: int = 0) -> World:
    rng = np.random.default_rng(seed)
    vocab = np.array([f"w{i}" for i in range(3 * N_TOPICS + 40)])
    topic = rng.integers(0, N_TOPICS, size=n_docs)
    titles, texts = [], []
    for t in topic:
        own = vocab[3 * t : 3 * t + 3]
        body = np.concatenate([rng.choice(own, 8), rng.choice(vocab, 22)])
        rng.shuffle(body)
        titles.append(" ".join(rng.choice(own, 2, replace=False)))
        texts.append(" ".join(body))
    docids = [f"d{i}" for i in range(n_docs)]
    corpus = Corpus.from_arrays(docids, fields={"title": titles, "text": texts})
    qids, qtexts, rq, rd, rl = [], [], [], [], []
    for q in range(n_queries):
        t = q % N_TOPICS
        words = list(rng.choice(vocab[3 * t : 3 * t + 3], 2, replace=False))
        qids.append(f"q{q}")
        qtexts.append(" ".join(words))
        for d in np.flatnonzero(topic == t):
            title = set(titles[d].split())
            rq.append(f"q{q}")
            rd.append(docids[d])
            rl.append(2 if set(words) <= title else 1)
    return World(
        corpus,
        Queries.from_arrays(qids, qtexts),
        Qrels.from_arrays(rq, rd, rl),
    )


@pytest.fixture(scope="session")
def world() -> World:
    return make_world()


@pytest.fixture(scope="session")
def world_index(world: World, tmp_path_factory: pytest.TempPathFactory) -> Index:
    path = tmp_path_factory.mktemp("world") / "idx"
    return build_index(
        world.corpus,
        path,
        fields={"contents": ["title", "text"], "title": ["title"], "text": ["text"]},
        progress=False,
    )


@pytest.fixture(scope="session")
def world_corpus_dir(world: World, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The synthetic collection as a BEIR folder (corpus, queries, train and test qrels)."""
    import json

    root = tmp_path_factory.mktemp("beir") / "synth"
    (root / "qrels").mkdir(parents=True)
    with open(root / "corpus.jsonl", "w") as fh:
        for d, t, x in zip(
            world.corpus.docids.to_pylist(),
            world.corpus.fields["title"].to_pylist(),
            world.corpus.fields["text"].to_pylist(),
        ):
            fh.write(json.dumps({"_id": d, "title": t, "text": x}) + "\n")
    with open(root / "queries.jsonl", "w") as fh:
        for q, t in world.queries.to_dict().items():
            fh.write(json.dumps({"_id": q, "text": t}) + "\n")
    qids = world.queries.qid_list()
    split = {"train": set(qids[:40]), "test": set(qids[40:])}
    for name, keep in split.items():
        with open(root / "qrels" / f"{name}.tsv", "w") as fh:
            fh.write("query-id\tcorpus-id\tscore\n")
            for q, docs in world.qrels.to_dict().items():
                if q in keep:
                    for d, label in docs.items():
                        fh.write(f"{q}\t{d}\t{label}\n")
    return root
