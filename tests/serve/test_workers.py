"""``rankstack serve --workers 2``: each worker process memory-maps the same index files, and
``POST /admin/reload`` makes every worker reload in place without dropping a request (no
connection is closed: a rolling restart of the processes would close keep-alive connections,
racing clients that send on them). Real processes."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from rankstack.serve import publish

from .test_kill import Service
from .test_reload import Versions, two_versions


@pytest.fixture()
def versions(tmp_path: Path) -> Versions:
    return two_versions(tmp_path)


@pytest.fixture()
def service(versions: Versions, tmp_path: Path) -> Iterator[Service]:
    s = Service([f"main={versions.link}", "--workers", "2"], tmp_path / "service.log")
    try:
        s.wait_ready(timeout=120)
        yield s
    finally:
        s.stop()


def _children(pid: int) -> list[int]:
    out: list[int] = []
    for task in Path(f"/proc/{pid}/task").glob("*"):
        try:
            out += [int(x) for x in (task / "children").read_text().split()]
        except OSError:
            continue
    return out


def _workers(service: Service) -> list[int]:
    kids = _children(service.proc.pid)
    return [p for p in kids if b"spawn_main" in Path(f"/proc/{p}/cmdline").read_bytes()]


def _mapped_files(pid: int) -> set[str]:
    return {
        line.split(None, 5)[5].strip()
        for line in Path(f"/proc/{pid}/maps").read_text().splitlines()
        if len(line.split(None, 5)) == 6
    }


def _wait_until_mapped(pids: list[int], folder: str, timeout: float = 90) -> None:
    """Wait until every process maps a file under ``folder`` (a worker still loading has not)."""
    deadline = time.monotonic() + timeout
    while not all(any(f.startswith(folder) for f in _mapped_files(p)) for p in pids):
        if time.monotonic() > deadline:
            pytest.fail(f"not every worker maps {folder}")
        time.sleep(0.1)


@pytest.mark.skipif(not Path("/proc/self/maps").exists(), reason="needs Linux /proc")
def test_workers_map_the_same_index_and_reload_without_errors(
    versions: Versions, service: Service
) -> None:
    workers = _workers(service)
    assert len(workers) == 2, workers
    index_v1 = str((versions.v1.parent / "index-v1").resolve())
    _wait_until_mapped(workers, index_v1)  # file mappings, not private copies

    errors: list[str] = []
    answered = [0]
    stop = threading.Event()

    def client() -> None:
        with httpx.Client(base_url=service.url, timeout=30) as c:
            while not stop.is_set():
                try:
                    r = c.post("/search", json={"query": "ocean reef", "k": 5})
                except httpx.HTTPError as exc:
                    errors.append(type(exc).__name__)
                    continue
                if r.status_code != 200:
                    errors.append(f"HTTP {r.status_code}: {r.text[:200]}")
                answered[0] += 1

    threads = [threading.Thread(target=client) for _ in range(4)]
    for t in threads:
        t.start()
    try:
        time.sleep(0.5)
        publish(versions.v2, versions.link)
        r = httpx.post(service.url + "/admin/reload", timeout=30)
        assert r.status_code == 200 and r.json()["status"] == "reloaded", r.text
        assert len(r.json()["signalled"]) == 1
        # the signalled worker reloads in the background
        _wait_until_mapped(workers, str((versions.v2.parent / "index-v2").resolve()))
        assert sorted(_workers(service)) == sorted(workers)  # the same processes
        before = answered[0]
        time.sleep(0.5)
        assert answered[0] > before  # the reloaded workers answer
    finally:
        stop.set()
        for t in threads:
            t.join()
    assert errors == []
    health = {httpx.get(service.url + "/health").json()["pipelines"]["main"] for _ in range(8)}
    assert health == {versions.digests[1]}
