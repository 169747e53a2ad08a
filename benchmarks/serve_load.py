"""Load test of ``rankstack serve``: 200 concurrent clients on loopback, steady and during reloads.

Builds a BM25 index and pipeline over BEIR SciFact in a temporary folder (two version folders
of the same content behind a symbolic link, so a reload maps a new index version), starts
``rankstack serve`` on 127.0.0.1 in a subprocess, and runs two phases of ``--seconds`` each:

1. steady: ``--clients`` concurrent keep-alive clients, each sending ``POST /search``
   (``k=10``, SciFact test queries in turn) as fast as answers come back;
2. reloads: the same load while the publisher flips the link to the other version and calls
   ``POST /admin/reload`` every ``--reload-every`` seconds.

The load generator is asyncio with raw HTTP/1.1 on keep-alive sockets (a few microseconds of
Python per request, far less than an HTTP client library), in this process; it stops by
itself. A request counts as an error when the connection fails or the status is not 200.
Reports requests/s, p50/p99/max latency and errors per phase, and the service processes'
resident memory (RSS and PSS from ``/proc``: the index is memory-mapped, so its pages are
shared between workers and PSS splits them), then stops the service.

Two more measurements follow, with the service stopped:

3. in process (the peer that shows the HTTP cost): the same pipeline object the service
   uses (:class:`rankstack.serve.registry.Registry`), called for the same queries one after
   the other in this process for ``min(--seconds, 20)`` seconds, snippets included;
4. kill during a reload, checked once: a fresh service (``--log-level info``), the link
   flipped to the other version, ``POST /admin/reload``, SIGKILL as soon as the service logs
   that the reload began; then a restart, which must serve the version the link points to,
   complete (``GET /pipelines`` names its folder; ``POST /search`` answers 200). The time
   from the restart to the first healthy answer is reported.

    python benchmarks/serve_load.py [--seconds 60] [--clients 200] [--workers 1] [--quick]
                                    [--json]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import platform
import signal
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def build(root: Path) -> tuple[Path, Path, Path, list[str]]:
    """Two version folders of a BM25 pipeline over SciFact, a link to the first, the queries."""
    from rankstack import datasets
    from rankstack.index import build_index
    from rankstack.pipeline_io import save_pipeline
    from rankstack.retrieve import BM25
    from rankstack.serve import publish

    ds = datasets.load("beir/scifact")
    corpus = ds.corpus()
    folders = []
    for name in ("v1", "v2"):
        index = build_index(corpus, root / f"index-{name}")
        folders.append(
            save_pipeline(BM25(index, k=100), root / name, info={"dataset": "beir/scifact"})
        )
    link = publish(folders[0], root / "scifact")
    queries = datasets.load("beir/scifact/test").queries().text_list()
    return folders[0], folders[1], link, queries


class Service:
    def __init__(self, link: Path, workers: int, log_level: str = "warning") -> None:
        self.port = _free_port()
        cmd = [
            sys.executable,
            "-m",
            "rankstack.cli",
            "serve",
            f"scifact={link}",
            "--port",
            str(self.port),
            "--workers",
            str(workers),
            "--log-level",
            log_level,
        ]
        fd, name = tempfile.mkstemp(prefix="serve-load-", suffix=".log")
        self.log = Path(name)
        self.proc = subprocess.Popen(cmd, stdout=fd, stderr=subprocess.STDOUT)
        os.close(fd)

    def wait_ready(self, timeout: float = 120) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(self.log.read_text()[-3000:])
            try:
                with socket.create_connection(("127.0.0.1", self.port), timeout=1) as s:
                    s.sendall(b"GET /health HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
                    if s.recv(64).startswith(b"HTTP/1.1 200"):
                        return
            except OSError:
                pass
            time.sleep(0.2)
        raise RuntimeError("service did not start")

    def memory(self) -> list[dict[str, Any]]:
        """RSS/PSS of the serving processes: uvicorn's workers, or the one process."""
        kids = _children(self.proc.pid)
        workers = [p for p in kids if b"spawn_main" in _cmdline(p)]
        return [{"pid": p, **_memory(p)} for p in (workers or [self.proc.pid])]

    def kill(self) -> None:
        if self.proc.poll() is None:
            os.kill(self.proc.pid, signal.SIGKILL)
        self.proc.wait(10)

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(20)
            except subprocess.TimeoutExpired:
                self.proc.kill()


def _children(pid: int) -> list[int]:
    out: list[int] = []
    for task in Path(f"/proc/{pid}/task").glob("*"):
        try:
            out += [int(x) for x in (task / "children").read_text().split()]
        except OSError:
            continue
    return out


def _cmdline(pid: int) -> bytes:
    try:
        return Path(f"/proc/{pid}/cmdline").read_bytes()
    except OSError:
        return b""


def _memory(pid: int) -> dict[str, float]:
    """RSS, PSS, shared-clean and private-dirty MB of a process (Linux ``smaps_rollup``)."""
    out: dict[str, float] = {}
    try:
        text = Path(f"/proc/{pid}/smaps_rollup").read_text()
    except OSError:
        return out
    for line in text.splitlines():
        key, _, rest = line.partition(":")
        if key in ("Rss", "Pss", "Shared_Clean", "Private_Dirty"):
            out[key.lower() + "_mb"] = round(int(rest.split()[0]) / 1024, 1)
    return out


async def _request(
    reader: asyncio.StreamReader, writer: asyncio.StreamWriter, path: str, body: bytes
) -> tuple[int, bytes]:
    writer.write(
        f"POST {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n"
        f"Content-Length: {len(body)}\r\n\r\n".encode()
        + body
    )
    head = await reader.readuntil(b"\r\n\r\n")
    status = int(head[9:12])
    length = 0
    for line in head.split(b"\r\n")[1:]:
        if line[:15].lower() == b"content-length:":
            length = int(line[15:])
    payload = await reader.readexactly(length) if length else b""
    if b"connection: close" in head.lower():
        raise ConnectionResetError("server closed the connection")
    return status, payload


async def _client(
    port: int, bodies: list[bytes], start: int, stop_at: float, out: dict[str, Any]
) -> None:
    conn = None
    i = start
    while time.monotonic() < stop_at:
        body = bodies[i % len(bodies)]
        i += 1
        t0 = time.perf_counter()
        try:
            if conn is None:
                conn = await asyncio.open_connection("127.0.0.1", port)
            status, _ = await _request(*conn, "/search", body)
        except (OSError, asyncio.IncompleteReadError, ValueError) as exc:
            out["errors"].append(type(exc).__name__)
            if conn is not None:
                conn[1].close()
            conn = None
            continue
        out["latency"].append(time.perf_counter() - t0)
        if status != 200:
            out["errors"].append(f"HTTP {status}")
    if conn is not None:
        conn[1].close()


async def _reloader(
    port: int, every: float, stop_at: float, flip: Any, out: dict[str, Any]
) -> None:
    while time.monotonic() + every < stop_at:
        await asyncio.sleep(every)
        flip()
        t0 = time.perf_counter()
        try:
            reader, writer = await asyncio.open_connection("127.0.0.1", port)
            status, payload = await _request(reader, writer, "/admin/reload", b"{}")
            writer.close()
        except (OSError, asyncio.IncompleteReadError, ValueError) as exc:
            out["reload_errors"].append(type(exc).__name__)
            continue
        if status != 200:
            out["reload_errors"].append(f"HTTP {status}: {payload[:200]!r}")
        else:
            out["reloads"].append(time.perf_counter() - t0)


async def _phase(
    port: int,
    bodies: list[bytes],
    clients: int,
    seconds: float,
    reload_every: float | None,
    flip: Any,
) -> dict[str, Any]:
    out: dict[str, Any] = {"latency": [], "errors": [], "reloads": [], "reload_errors": []}
    t0 = time.monotonic()
    stop_at = t0 + seconds
    tasks = [_client(port, bodies, c * 7, stop_at, out) for c in range(clients)]
    if reload_every:
        tasks.append(_reloader(port, reload_every, stop_at, flip, out))
    await asyncio.gather(*tasks)
    wall = time.monotonic() - t0
    lat = np.asarray(out["latency"]) * 1000
    res = {
        "seconds": round(wall, 2),
        "clients": clients,
        "requests": len(lat),
        "requests_per_s": round(len(lat) / wall, 1),
        "p50_ms": round(float(np.percentile(lat, 50)), 2) if len(lat) else None,
        "p99_ms": round(float(np.percentile(lat, 99)), 2) if len(lat) else None,
        "max_ms": round(float(lat.max()), 2) if len(lat) else None,
        "errors": len(out["errors"]),
        "error_kinds": sorted(set(out["errors"])),
    }
    if reload_every:
        rl = np.asarray(out["reloads"]) * 1000
        res.update(
            reloads=len(rl),
            reload_errors=out["reload_errors"],
            reload_ms_median=round(float(np.median(rl)), 1) if len(rl) else None,
            reload_ms_max=round(float(rl.max()), 1) if len(rl) else None,
        )
    return res


def in_process(link: Path, queries: list[str], seconds: float) -> dict[str, Any]:
    """The served pipeline called directly, one query after the other (no HTTP)."""
    from rankstack.serve import ServeConfig
    from rankstack.serve.registry import Registry

    served = Registry(ServeConfig.from_args([f"scifact={link}"])).current.pipelines["scifact"]
    lat = []
    t0 = time.monotonic()
    i = 0
    while time.monotonic() - t0 < seconds:
        s = time.perf_counter()
        served.search(queries[i % len(queries)], 10)
        lat.append(time.perf_counter() - s)
        i += 1
    wall = time.monotonic() - t0
    ms = np.asarray(lat) * 1000
    return {
        "seconds": round(wall, 2),
        "requests": len(ms),
        "requests_per_s": round(len(ms) / wall, 1),
        "p50_ms": round(float(np.percentile(ms, 50)), 3),
        "p99_ms": round(float(np.percentile(ms, 99)), 3),
        "note": "ServedPipeline.search(query, 10) in one thread, snippets included",
    }


def kill_during_reload(link: Path, flip: Any, folders: tuple[Path, Path]) -> dict[str, Any]:
    """SIGKILL a service while it reloads, restart it, check what it serves."""
    service = Service(link, 1, log_level="info")
    try:
        service.wait_ready()
        target = flip()
        mark = len(service.log.read_text())
        box: dict[str, Any] = {}

        def reload() -> None:
            try:
                with socket.create_connection(("127.0.0.1", service.port), timeout=30) as s:
                    s.sendall(
                        b"POST /admin/reload HTTP/1.1\r\nHost: x\r\nContent-Length: 2\r\n"
                        b"Connection: close\r\n\r\n{}"
                    )
                    box["answer"] = s.recv(64)
            except OSError as exc:
                box["error"] = type(exc).__name__

        import threading

        thread = threading.Thread(target=reload)
        thread.start()
        deadline = time.monotonic() + 10
        while "reloading" not in service.log.read_text()[mark:] and time.monotonic() < deadline:
            time.sleep(0.001)
        service.kill()
        thread.join()
        tail = service.log.read_text()[mark:]
        mid = "reloading" in tail and "reloaded" not in tail and not box.get("answer")
    finally:
        service.stop()
    again = Service(link, 1)
    t0 = time.perf_counter()
    try:
        again.wait_ready()
        ready = time.perf_counter() - t0
        serving = _get_json(again.port, "/pipelines")["pipelines"][0]["folder"]
        status, _ = asyncio.run(_one(again.port, json.dumps({"query": "cell", "k": 10})))
    finally:
        again.stop()
    return {
        "killed_mid_reload": mid,
        "restart_to_healthy_s": round(ready, 2),
        "serves": "new version" if Path(serving) == target.resolve() else "other version",
        "serves_a_complete_version": Path(serving) in [f.resolve() for f in folders]
        and status == 200,
        "search_status_after_restart": status,
    }


def _get_json(port: int, path: str) -> Any:
    with socket.create_connection(("127.0.0.1", port), timeout=10) as s:
        s.sendall(f"GET {path} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n".encode())
        data = b""
        while chunk := s.recv(65536):
            data += chunk
    return json.loads(data.split(b"\r\n\r\n", 1)[1])


async def _one(port: int, body: str) -> tuple[int, bytes]:
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    try:
        return await _request(reader, writer, "/search", body.encode())
    finally:
        writer.close()


def _versions() -> dict[str, str]:
    import fastapi
    import uvicorn

    import rankstack

    out = {
        "rankstack": rankstack.__version__,
        "fastapi": fastapi.__version__,
        "uvicorn": uvicorn.__version__,
        "python": platform.python_version(),
    }
    for mod in ("httptools", "uvloop"):
        try:
            out[mod] = __import__(mod).__version__
        except ImportError:
            out[mod] = "not installed"
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--seconds", type=float, default=60.0, help="length of each phase")
    ap.add_argument("--clients", type=int, default=200)
    ap.add_argument("--workers", type=int, default=1, help="service worker processes")
    ap.add_argument("--reload-every", type=float, default=5.0)
    ap.add_argument("--quick", action="store_true", help="10 s phases, 50 clients")
    ap.add_argument("--json", action="store_true", help="print the results as JSON")
    args = ap.parse_args()
    if args.quick:
        args.seconds, args.clients, args.reload_every = 10.0, 50, 2.0
    os.environ.setdefault(
        "RANKSTACK_DATA", str(Path(__file__).resolve().parents[2] / "shared" / "datasets")
    )
    with tempfile.TemporaryDirectory(prefix="serve-load-") as tmp:
        v1, v2, link, queries = build(Path(tmp))
        from rankstack.serve import publish

        state = {"at": v1}

        def flip() -> Path:
            state["at"] = v2 if state["at"] == v1 else v1
            publish(state["at"], link)
            return state["at"]

        bodies = [json.dumps({"query": q, "k": 10}).encode() for q in queries]
        service = Service(link, args.workers)
        try:
            service.wait_ready()
            load_before = os.getloadavg()
            steady = asyncio.run(
                _phase(service.port, bodies, args.clients, args.seconds, None, flip)
            )
            memory = service.memory()
            reloading = asyncio.run(
                _phase(service.port, bodies, args.clients, args.seconds, args.reload_every, flip)
            )
            memory_after_reloads = service.memory()
            load_after = os.getloadavg()
        finally:
            service.stop()
        peer = in_process(link, queries, min(args.seconds, 20.0))
        killed = kill_during_reload(link, flip, (v1, v2))
    result = {
        "dataset": "beir/scifact (5,183 docs), BM25 k1=0.9 b=0.4, POST /search k=10, "
        f"{len(queries)} test queries in turn",
        "date": time.strftime("%Y-%m-%d"),
        "cpus": os.cpu_count(),
        "load_average_1m": [round(load_before[0], 2), round(load_after[0], 2)],
        "workers": args.workers,
        "versions": _versions(),
        "steady": steady,
        "during_reloads": reloading,
        "memory_mb": {"after_steady": memory, "after_reloads": memory_after_reloads},
        "in_process": peer,
        "kill_during_reload": killed,
    }
    if args.json:
        print(json.dumps(result, indent=2))
        return
    print(
        f"{result['dataset']}; {args.clients} clients, {args.seconds:.0f} s per phase, "
        f"{args.workers} worker(s)"
    )
    for name in ("steady", "during_reloads"):
        r = result[name]
        extra = (
            f", {r['reloads']} reloads (median {r['reload_ms_median']} ms), "
            f"reload errors {len(r['reload_errors'])}"
            if name == "during_reloads"
            else ""
        )
        print(
            f"{name:>15}: {r['requests_per_s']:8.1f} req/s  p50 {r['p50_ms']} ms  "
            f"p99 {r['p99_ms']} ms  max {r['max_ms']} ms  errors {r['errors']}{extra}"
        )
    r = peer
    print(
        f"{'in process':>15}: {r['requests_per_s']:8.1f} req/s  p50 {r['p50_ms']} ms  "
        f"p99 {r['p99_ms']} ms  (one thread, no HTTP)"
    )
    for when, procs in result["memory_mb"].items():
        for m in procs:
            print(f"memory {when}: pid {m['pid']}: {m}")
    print(f"kill during reload: {killed}")
    print(f"load average (1 min) before/after: {result['load_average_1m']}")


if __name__ == "__main__":
    main()
