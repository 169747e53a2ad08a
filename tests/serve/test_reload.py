"""Atomic reloads: no request fails during reloads, requests in flight finish on the old
version, a failed reload keeps the old one serving, and only admins may reload."""

from __future__ import annotations

import os
import shutil
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest
from fastapi.testclient import TestClient

from rankstack import Corpus
from rankstack.index import build_index
from rankstack.pipeline_io import save_pipeline
from rankstack.retrieve import BM25
from rankstack.serve import ServeConfig, create_app, publish
from rankstack.serve.config import TOKEN_ENV
from rankstack.serve.runner import ServedPipeline

from .conftest import Served, ThreadedServer, make_world


@dataclass(frozen=True)
class Versions:
    link: Path
    v1: Path
    v2: Path
    digests: tuple[str, str]


def two_versions(root: Path) -> Versions:
    """Version 2 of the index holds 40 more documents than version 1."""
    world = make_world(300, seed=1)
    more = make_world(40, seed=2, prefix="new")
    c = world.corpus
    extra = more.corpus
    both = Corpus.from_arrays(
        c.docid_list() + extra.docid_list(),
        fields={f: c.field(f).to_pylist() + extra.field(f).to_pylist() for f in ("title", "text")},
    )
    folders = []
    for name, corpus in (("v1", c), ("v2", both)):
        index = build_index(corpus, root / f"index-{name}")
        folders.append(save_pipeline(BM25(index, k=20), root / name))
    link = publish(folders[0], root / "current")
    from rankstack.pipeline_io import read_description

    digests = tuple(read_description(f)["index"]["fingerprint"]["digest"] for f in folders)
    return Versions(link, folders[0], folders[1], digests)  # type: ignore[arg-type]


@pytest.fixture()
def versions(tmp_path: Path) -> Versions:
    return two_versions(tmp_path)


def test_no_request_fails_during_reloads(versions: Versions) -> None:
    app = create_app(ServeConfig.from_args([f"main={versions.link}"]))
    errors: list[str] = []
    done = threading.Event()
    counts = [0] * 6

    def client(i: int, url: str) -> None:
        with httpx.Client(base_url=url, timeout=30) as c:
            while not done.is_set():
                try:
                    r = c.post("/search", json={"query": "ocean reef whale", "k": 10})
                    if r.status_code != 200 or len(r.json()["results"]) != 10:
                        errors.append(f"{r.status_code} {r.text[:200]}")
                except httpx.HTTPError as exc:
                    errors.append(repr(exc))
                counts[i] += 1

    with ThreadedServer(app) as server:
        threads = [threading.Thread(target=client, args=(i, server.url)) for i in range(6)]
        for t in threads:
            t.start()
        generations = []
        with httpx.Client(base_url=server.url, timeout=30) as admin:
            for i in range(8):
                publish(versions.v2 if i % 2 == 0 else versions.v1, versions.link)
                r = admin.post("/admin/reload")
                assert r.status_code == 200, r.text
                generations.append(r.json()["generation"])
                assert r.json()["pipelines"]["main"] == versions.digests[(i + 1) % 2]
                time.sleep(0.05)
            done.set()
            for t in threads:
                t.join()
            health = admin.get("/health").json()
    assert errors == []
    assert sum(counts) > 50
    assert generations == list(range(2, 10))
    assert health["generation"] == 9 and health["reloads"] == 8
    assert health["pipelines"]["main"] == versions.digests[0]


def test_requests_in_flight_finish_on_the_old_version(
    versions: Versions, monkeypatch: pytest.MonkeyPatch
) -> None:
    original = ServedPipeline.search
    started = threading.Event()

    def slow(self: ServedPipeline, query: str, k: int, rerank_depth: int | None = None):  # type: ignore[no-untyped-def]
        if query == "slow reef":
            started.set()
            time.sleep(0.5)
        return original(self, query, k, rerank_depth)

    monkeypatch.setattr(ServedPipeline, "search", slow)
    app = create_app(ServeConfig.from_args([f"main={versions.link}"]))
    result: dict[str, object] = {}
    with ThreadedServer(app) as server:

        def in_flight() -> None:
            r = httpx.post(server.url + "/search", json={"query": "slow reef"}, timeout=30)
            result.update(status=r.status_code, **r.json())

        t = threading.Thread(target=in_flight)
        t.start()
        assert started.wait(10)
        publish(versions.v2, versions.link)
        r = httpx.post(server.url + "/admin/reload", timeout=30)
        assert r.status_code == 200 and r.json()["generation"] == 2
        t.join()
        after = httpx.post(server.url + "/search", json={"query": "reef"}, timeout=30).json()
    assert result["status"] == 200 and result["generation"] == 1  # finished on the old one
    assert after["generation"] == 2


def test_old_snapshot_stays_usable_after_a_swap(versions: Versions) -> None:
    from rankstack.serve import Registry

    reg = Registry(ServeConfig.from_args([f"main={versions.link}"]))
    old = reg.current
    publish(versions.v2, versions.link)
    new = reg.reload()
    assert new is reg.current and new is not old
    assert old.pipelines["main"] is not new.pipelines["main"]
    hits_old = old.pipelines["main"].search("ocean", k=100).hits
    hits_new = new.pipelines["main"].search("ocean", k=100).hits
    assert not any(h.docid.startswith("new") for h in hits_old)
    assert old.pipelines["main"].index is not new.pipelines["main"].index
    assert len(hits_new) >= len(hits_old)


def test_a_failed_reload_keeps_the_old_version(versions: Versions, tmp_path: Path) -> None:
    broken = tmp_path / "broken"
    shutil.copytree(versions.v2, broken)
    (broken / "pipeline.json").write_text('{"format": "rankstack-pipeline", "vers')
    app = create_app(ServeConfig.from_args([f"main={versions.link}"]))
    with TestClient(app, client=("127.0.0.1", 1)) as c:
        publish(broken, versions.link)
        r = c.post("/admin/reload")
        assert r.status_code == 409
        assert "the previous version keeps serving" in r.json()["error"]
        assert "not valid JSON" in r.json()["error"]
        h = c.get("/health").json()
        assert h["generation"] == 1 and h["failed_reloads"] == 1
        assert "not valid JSON" in h["last_reload_error"]
        assert h["pipelines"]["main"] == versions.digests[0]
        assert c.post("/search", json={"query": "reef"}).status_code == 200
        publish(versions.v2, versions.link)
        assert c.post("/admin/reload").json()["pipelines"]["main"] == versions.digests[1]
        assert c.get("/health").json()["last_reload_error"] is None


@pytest.fixture(scope="module")
def admin_app(served: Served) -> Iterator[object]:
    yield create_app(ServeConfig.from_args([str(served.bm25)]))


def test_reload_is_refused_to_remote_clients(admin_app: object) -> None:
    with TestClient(admin_app, client=("203.0.113.9", 4000)) as c:
        r = c.post("/admin/reload")
        assert r.status_code == 403 and "loopback clients only" in r.json()["error"]
        assert c.post("/search", json={"query": "reef"}).status_code == 200
    with TestClient(admin_app, client=("::1", 4000)) as c:
        assert c.post("/admin/reload").status_code == 200


def test_reload_with_a_token(admin_app: object, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(TOKEN_ENV, "s3cret")
    with TestClient(admin_app, client=("203.0.113.9", 4000)) as c:
        assert c.post("/admin/reload").status_code == 401
        bad = c.post("/admin/reload", headers={"authorization": "Bearer nope"})
        assert bad.status_code == 401 and TOKEN_ENV in bad.json()["error"]
        good = c.post("/admin/reload", headers={"authorization": "Bearer s3cret"})
        assert good.status_code == 200 and good.json()["status"] == "reloaded"
    with TestClient(admin_app, client=("127.0.0.1", 4000)) as c:  # loopback needs it too
        assert c.post("/admin/reload").status_code == 401


@pytest.mark.parametrize("siblings", [[4001, 4002], None])
def test_reload_with_workers_signals_the_others(
    served: Served, monkeypatch: pytest.MonkeyPatch, siblings: list[int] | None
) -> None:
    import signal

    from rankstack.serve import app as app_module

    sent: list[tuple[int, int]] = []
    monkeypatch.setattr(os, "kill", lambda pid, sig: sent.append((pid, sig)))
    monkeypatch.setattr(app_module, "sibling_workers", lambda: siblings)
    app = create_app(ServeConfig.from_args([str(served.bm25)], workers=2))
    with TestClient(app, client=("127.0.0.1", 1)) as c:
        r = c.post("/admin/reload")
    assert r.status_code == 200
    if siblings is None:  # no /proc: uvicorn's supervisor replaces the workers
        assert r.json()["status"] == "rolling-restart"
        assert sent == [(os.getppid(), signal.SIGHUP)]
    else:  # this worker reloads itself, the others are told to reload in place
        assert r.json()["status"] == "reloaded" and r.json()["generation"] == 2
        assert r.json()["signalled"] == siblings
        assert sent == [(pid, signal.SIGHUP) for pid in siblings]


def test_publish_refuses_to_replace_a_real_folder(versions: Versions, tmp_path: Path) -> None:
    from rankstack.exceptions import RankstackError

    with pytest.raises(RankstackError, match="not a symbolic link"):
        publish(versions.v1, versions.v2)
    with pytest.raises(RankstackError, match="not a saved pipeline"):
        publish(tmp_path, tmp_path / "link")
