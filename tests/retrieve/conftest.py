"""Fixtures for retrieval tests: SciFact (real data) and a pytrec_eval helper."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pytest

from rankstack.data import Corpus, Qrels, Queries, Run
from rankstack.index import Index, build_index


@pytest.fixture(scope="session")
def scifact(datasets_dir: Path) -> tuple[Corpus, Queries, Qrels]:
    """SciFact corpus, test queries and test qrels (skips when the data folder is absent)."""
    from rankstack.io import BeirFolder

    folder = BeirFolder.open(datasets_dir / "beir" / "scifact")
    return folder.corpus(), folder.queries("test"), folder.qrels("test")


@pytest.fixture(scope="session")
def scifact_flat(scifact: tuple[Corpus, Queries, Qrels]) -> Index:
    return build_index(scifact[0])


@pytest.fixture(scope="session")
def scifact_multifield(scifact: tuple[Corpus, Queries, Qrels]) -> Index:
    return build_index(scifact[0], multifield=True)


def trec_eval(
    run: Run, qrels: Qrels, measures: tuple[str, ...] = ("ndcg_cut_10", "recall_100")
) -> dict[str, float]:
    """Mean of each measure over the qrels' queries (pytrec_eval, trec_eval's semantics)."""
    import pytrec_eval

    qrel_dict: dict[str, dict[str, int]] = {}
    for qid, docs, labels in _qrels_rows(qrels):
        qrel_dict[qid] = dict(zip(docs, labels))
    run_dict = {q: dict(zip(d.to_pylist(), s.tolist())) for q, d, s in run}
    names = {
        m.rsplit("_", 1)[0] + "." + m.rsplit("_", 1)[1]
        if m.startswith("ndcg_cut")
        else m.replace("_", ".")
        for m in measures
    }
    ev = pytrec_eval.RelevanceEvaluator(qrel_dict, names)
    res = ev.evaluate(run_dict)
    out = {}
    for m in measures:
        vals = [res[q][m] if q in res else 0.0 for q in qrel_dict]
        out[m] = float(np.mean(vals))
    return out


def _qrels_rows(qrels: Qrels) -> Any:
    qids = qrels.qids.to_pylist()
    docids = qrels.docids.to_pylist()
    labels = qrels.labels.tolist()
    for i, q in enumerate(qids):
        lo, hi = int(qrels.offsets[i]), int(qrels.offsets[i + 1])
        yield q, docids[lo:hi], labels[lo:hi]
