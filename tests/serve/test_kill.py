"""Crashes: a service killed (SIGKILL) in the middle of a reload restarts on a complete
version (the old or the new one, never a mix), and so does one whose publisher was killed.
SIGHUP reloads a running service. Real processes, real sockets."""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from rankstack.pipeline_io import load_pipeline
from rankstack.serve import publish

from .conftest import free_port
from .test_reload import Versions, two_versions


class Service:
    """``python -m rankstack.cli serve`` in a subprocess, logging to a file."""

    def __init__(self, args: list[str], log: Path) -> None:
        self.port = free_port()
        self.log = log
        self.url = f"http://127.0.0.1:{self.port}"
        cmd = [sys.executable, "-m", "rankstack.cli", "serve", *args, "--port", str(self.port)]
        with open(log, "ab") as fh:
            self.proc = subprocess.Popen(cmd, stdout=fh, stderr=subprocess.STDOUT)

    def wait_ready(self, timeout: float = 60) -> dict:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"service exited: {self.log.read_text()[-6000:]}")
            try:
                return httpx.get(self.url + "/health", timeout=2).json()
            except httpx.HTTPError:
                time.sleep(0.1)
        raise RuntimeError("service did not start")

    def kill(self) -> None:
        if self.proc.poll() is None:
            os.kill(self.proc.pid, signal.SIGKILL)
        self.proc.wait(10)

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.kill()


@pytest.fixture()
def versions(tmp_path: Path) -> Versions:
    return two_versions(tmp_path)


@pytest.fixture()
def services() -> Iterator[list[Service]]:
    started: list[Service] = []
    yield started
    for s in started:
        s.stop()


def _expected(folder: Path, query: str) -> list[str]:
    run = load_pipeline(folder).search(query)
    return run.docids.to_pylist()[:10]


def test_kill_during_reload_restarts_on_a_complete_version(
    versions: Versions, services: list[Service], tmp_path: Path
) -> None:
    log = tmp_path / "service.log"
    args = [f"main={versions.link}"]
    mid_reload = 0
    for _attempt in range(6):
        service = Service(args, log)
        services.append(service)
        before = service.wait_ready()
        target = versions.v2 if before["pipelines"]["main"] == versions.digests[0] else versions.v1
        publish(target, versions.link)
        mark = len(log.read_text())
        answered: list[int] = []

        def reload(url: str = service.url, out: list[int] = answered) -> None:
            with contextlib.suppress(httpx.HTTPError):
                out.append(httpx.post(url + "/admin/reload", timeout=30).status_code)

        t = threading.Thread(target=reload)
        t.start()
        # kill as soon as the reload has begun (it logs "reloading" first)
        deadline = time.monotonic() + 10
        while "reloading" not in log.read_text()[mark:] and time.monotonic() < deadline:
            time.sleep(0.001)
        service.kill()
        t.join()
        after_log = log.read_text()[mark:]
        if "reloading" in after_log and not answered and "reloaded" not in after_log:
            mid_reload += 1
        # restart: it serves the version the link points to, complete
        again = Service(args, log)
        services.append(again)
        health = again.wait_ready()
        assert health["pipelines"]["main"] in versions.digests
        assert health["pipelines"]["main"] == versions.digests[target == versions.v2]
        r = httpx.post(again.url + "/search", json={"query": "ocean reef", "k": 10}, timeout=30)
        assert r.status_code == 200
        assert [x["docid"] for x in r.json()["results"]] == _expected(target, "ocean reef")
        again.stop()
        if mid_reload >= 1:
            break
    assert mid_reload >= 1, "no kill landed inside a reload"


PUBLISHER = """
import sys, time
from rankstack.serve import publish
v1, v2, link = sys.argv[1:4]
i = 0
while True:
    publish(v1 if i % 2 else v2, link)
    i += 1
"""


def test_killed_publisher_leaves_a_complete_version(
    versions: Versions, services: list[Service], tmp_path: Path
) -> None:
    for delay in (0.05, 0.23):
        proc = subprocess.Popen(
            [
                sys.executable,
                "-c",
                PUBLISHER,
                str(versions.v1),
                str(versions.v2),
                str(versions.link),
            ]
        )
        time.sleep(delay + 0.5)  # interpreter start-up, then some publishes
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait(10)
        service = Service([f"main={versions.link}"], tmp_path / "pub.log")
        services.append(service)
        health = service.wait_ready()
        assert health["pipelines"]["main"] in versions.digests
        service.stop()


def test_sighup_reloads_a_running_service(
    versions: Versions, services: list[Service], tmp_path: Path
) -> None:
    service = Service([f"main={versions.link}"], tmp_path / "hup.log")
    services.append(service)
    assert service.wait_ready()["generation"] == 1
    publish(versions.v2, versions.link)
    os.kill(service.proc.pid, signal.SIGHUP)
    deadline = time.monotonic() + 30
    health: dict = {}
    while time.monotonic() < deadline:
        health = httpx.get(service.url + "/health", timeout=5).json()
        if health["generation"] == 2:
            break
        time.sleep(0.05)
    assert health["generation"] == 2
    assert health["pipelines"]["main"] == versions.digests[1]


def test_sighup_while_loading_reloads_once_serving(
    versions: Versions, services: list[Service], tmp_path: Path
) -> None:
    """A SIGHUP that arrives while the service loads (e.g. a new version published during a
    restart) must not end the process: it reloads once serving."""
    log = tmp_path / "early.log"
    service = Service([f"main={versions.link}", "--log-level", "info"], log)
    services.append(service)
    deadline = time.monotonic() + 60
    while "Arrow memory pool" not in (log.read_text() if log.exists() else ""):
        assert time.monotonic() < deadline and service.proc.poll() is None, log.read_text()
        time.sleep(0.005)
    publish(versions.v2, versions.link)
    os.kill(service.proc.pid, signal.SIGHUP)
    health = service.wait_ready()
    deadline = time.monotonic() + 30
    while health["pipelines"]["main"] != versions.digests[1] and time.monotonic() < deadline:
        time.sleep(0.05)
        health = httpx.get(service.url + "/health", timeout=5).json()
    assert service.proc.poll() is None
    assert health["pipelines"]["main"] == versions.digests[1]


def test_interrupted_save_names_the_backup(tmp_path: Path, versions: Versions) -> None:
    """save_pipeline replaces a folder with two renames; a crash between them leaves only the
    backup ``.NAME.old-PID``: the service refuses to start and says where the version is."""
    import shutil

    folder = tmp_path / "plain"
    shutil.copytree(versions.v1, tmp_path / ".plain.old-4242")
    r = subprocess.run(
        [sys.executable, "-m", "rankstack.cli", "serve", str(folder), "--port", "1"],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert r.returncode == 2
    assert ".plain.old-4242" in r.stderr and "Traceback" not in r.stderr
    assert len(r.stderr.strip().splitlines()) <= 3
