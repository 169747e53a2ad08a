"""Killing a Dask worker process mid-batch still yields the complete, identical run."""

from __future__ import annotations

import os
import signal
from pathlib import Path
from typing import Any

from rankstack.batch import dask_client, run_batch
from rankstack.pipeline_io import load_pipeline

from .test_run_batch import assert_same_run


def test_killing_a_worker_mid_job_gives_the_identical_run(
    batch_data: dict[str, Any], ltr_pipeline: Path, tmp_path: Path
) -> None:
    queries = batch_data["queries"].slice(0, 300)
    want = load_pipeline(ltr_pipeline).transform(queries)
    partitions = 15
    killed: dict[str, Any] = {}
    with dask_client("local", workers=2, dashboard=False, memory_limit=None) as client:
        pids = client.run(os.getpid)

        def kill_one(done: int, total: int) -> None:
            if killed:
                return
            busy = [w for w, keys in client.processing().items() if keys]
            if not busy:  # nothing assigned right now: try again at the next partition
                return
            victim = busy[0]
            killed.update(
                worker=victim,
                pid=pids[victim],
                assigned=list(client.processing()[victim]),
                done=done,
            )
            os.kill(pids[victim], signal.SIGKILL)  # no clean shutdown: the process is gone

        got = run_batch(
            ltr_pipeline, queries, client=client, partitions=partitions, progress=kill_one
        )
        after = client.run(os.getpid)
    assert killed, "no worker was busy when a partition finished"
    assert killed["done"] < len(queries)  # the job was still running
    assert killed["assigned"]  # the killed worker held work that had to be run again
    assert killed["pid"] not in after.values()  # that process is gone (the nanny restarted one)
    assert_same_run(got, want, tmp_path)
    assert want.features is not None and got.features is not None
    assert got.features.tobytes() == want.features.tobytes()
