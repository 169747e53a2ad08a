"""``run_batch`` on a 2-worker LocalCluster gives the single-process run, byte for byte."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from rankstack.batch import PipelineCopyError, run_batch
from rankstack.batch._worker import cached_pipeline, clear_cache, description_digest
from rankstack.data import Queries, Run
from rankstack.exceptions import DataError
from rankstack.io import write_run
from rankstack.pipeline_io import IndexMismatchError, PipelineFormatError, load_pipeline


def trec_bytes(run: Run, path: Path) -> bytes:
    write_run(run, path, tag="batch")
    return path.read_bytes()


def assert_same_run(got: Run, want: Run, tmp_path: Path) -> None:
    assert got.qid_list() == want.qid_list()
    np.testing.assert_array_equal(got.offsets, want.offsets)
    assert got.docids.equals(want.docids)
    assert got.scores.tobytes() == want.scores.tobytes()  # bit-identical floats
    a, b = trec_bytes(got, tmp_path / "got.run"), trec_bytes(want, tmp_path / "want.run")
    assert hashlib.sha256(a).digest() == hashlib.sha256(b).digest()


@pytest.fixture(scope="module")
def reference(batch_data: dict[str, Any]) -> Run:
    return load_pipeline(batch_data["bm25"]).transform(batch_data["queries"])


@pytest.mark.parametrize("partitions", [None, 1, 3, 8])
def test_dask_run_is_byte_identical(
    batch_data: dict[str, Any], reference: Run, client: Any, partitions: int | None, tmp_path: Path
) -> None:
    got = run_batch(batch_data["bm25"], batch_data["queries"], client=client, partitions=partitions)
    assert_same_run(got, reference, tmp_path)


def test_learned_pipeline_with_features_is_byte_identical(
    batch_data: dict[str, Any], ltr_pipeline: Path, client: Any, tmp_path: Path
) -> None:
    queries = batch_data["queries"].slice(0, 200)
    want = load_pipeline(ltr_pipeline).transform(queries)
    got = run_batch(ltr_pipeline, queries, client=client, partitions=5)
    assert_same_run(got, want, tmp_path)
    assert got.feature_names == want.feature_names
    assert want.features is not None and got.features is not None
    assert got.features.tobytes() == want.features.tobytes()


def test_in_process_path_matches(
    batch_data: dict[str, Any], reference: Run, tmp_path: Path
) -> None:
    seen: list[tuple[int, int]] = []
    got = run_batch(
        batch_data["bm25"],
        batch_data["queries"],
        partitions=4,
        progress=lambda done, total: seen.append((done, total)),
    )
    assert_same_run(got, reference, tmp_path)
    total = len(batch_data["queries"])
    assert seen == [(750, total), (1500, total), (2250, total), (3000, total)]


def test_progress_counts_every_query_once(batch_data: dict[str, Any], client: Any) -> None:
    seen: list[int] = []
    queries = batch_data["queries"].slice(0, 300)
    run_batch(
        batch_data["bm25"],
        queries,
        client=client,
        partitions=6,
        progress=lambda d, t: seen.append(d),
    )
    assert len(seen) == 6 and seen == sorted(seen) and seen[-1] == 300


def test_more_partitions_than_queries(
    batch_data: dict[str, Any], reference: Run, client: Any, tmp_path: Path
) -> None:
    queries = batch_data["queries"].slice(0, 5)
    got = run_batch(batch_data["bm25"], queries, client=client, partitions=50)
    assert_same_run(got, reference.slice_queries(0, 5), tmp_path)


def test_queries_from_a_file(
    batch_data: dict[str, Any], reference: Run, client: Any, tmp_path: Path
) -> None:
    qs = batch_data["queries"].slice(0, 100)
    path = tmp_path / "queries.tsv"
    path.write_text("".join(f"{q}\t{t}\n" for q, t in zip(qs.qid_list(), qs.text_list())))
    got = run_batch(batch_data["bm25"], str(path), client=client, partitions=3)
    assert_same_run(got, reference.slice_queries(0, 100), tmp_path)


def test_queries_without_results_are_kept(batch_data: dict[str, Any], client: Any) -> None:
    qs = Queries.from_arrays(["a", "b", "c"], ["the of and", "zzzzqqq", batch_data["vocab"][30]])
    got = run_batch(batch_data["bm25"], qs, client=client, partitions=3)
    assert got.qid_list() == ["a", "b", "c"]
    assert list(got.sizes[:2]) == [0, 0] and got.sizes[2] > 0


def test_each_worker_loads_the_pipeline_once(batch_data: dict[str, Any], client: Any) -> None:
    from rankstack.batch import _worker

    client.run(_worker.clear_cache)
    run_batch(batch_data["bm25"], batch_data["queries"], client=client, partitions=12)
    cached = client.run(lambda: [k[0] for k in _worker._CACHE])
    assert len(cached) == 2
    for keys in cached.values():  # one entry per worker that ran a partition, none twice
        assert keys in ([str(batch_data["bm25"].resolve())], [])


def test_empty_queries_give_an_empty_run(batch_data: dict[str, Any]) -> None:
    got = run_batch(batch_data["bm25"], Queries.from_arrays([], []))
    assert got.n_queries == 0 and len(got) == 0


@pytest.mark.parametrize(
    ("kwargs", "match"), [({"partitions": 0}, "partitions"), ({"retries": -1}, "retries")]
)
def test_bad_arguments(batch_data: dict[str, Any], kwargs: dict[str, int], match: str) -> None:
    with pytest.raises(DataError, match=match):
        run_batch(batch_data["bm25"], batch_data["queries"], **kwargs)


def test_missing_folder_is_refused_before_any_task(tmp_path: Path, client: Any) -> None:
    with pytest.raises(PipelineFormatError, match="not a saved pipeline"):
        run_batch(tmp_path / "nope", Queries.from_dict({"q": "x"}), client=client)


def test_other_index_is_refused_on_the_workers(
    batch_data: dict[str, Any], client: Any, tmp_path: Path
) -> None:
    from rankstack.index import build_index

    from .conftest import synthetic_corpus

    other = build_index(
        synthetic_corpus(300, batch_data["vocab"], seed=5), tmp_path / "other", progress=False
    )
    queries = batch_data["queries"].slice(0, 10)
    with pytest.raises(IndexMismatchError, match="fitted on another index"):
        run_batch(batch_data["bm25"], queries, client=client, index=other.path)
    got = run_batch(
        batch_data["bm25"], queries, client=client, index=other.path, allow_index_mismatch=True
    )
    assert got.n_queries == 10


def test_a_different_copy_of_the_folder_is_refused(
    batch_data: dict[str, Any], tmp_path: Path
) -> None:
    folder = str(batch_data["bm25"].resolve())
    digest = description_digest(folder)
    clear_cache()
    with pytest.raises(PipelineCopyError, match="differs from the client's"):
        cached_pipeline(folder, "0" * 64)
    pipe = cached_pipeline(folder, digest)
    assert cached_pipeline(folder, digest) is pipe  # loaded once
    clear_cache()


def test_pipeline_saved_again_during_a_job_is_detected(
    batch_data: dict[str, Any], tmp_path: Path
) -> None:
    import shutil

    copy = tmp_path / "copy"
    shutil.copytree(batch_data["bm25"], copy)
    digest = description_digest(copy)
    doc = json.loads((copy / "pipeline.json").read_text())
    doc["info"] = {"saved": "again"}
    (copy / "pipeline.json").write_text(json.dumps(doc))
    clear_cache()
    with pytest.raises(PipelineCopyError):
        cached_pipeline(str(copy), digest)
