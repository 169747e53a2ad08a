"""Request metrics in the Prometheus text exposition format (version 0.0.4), by hand.

Counters of requests by route, method and status, a latency histogram per route (seconds,
cumulative ``le`` buckets), requests in flight, and reload counts. Routes are the path
*templates* of the application (an unknown path counts as ``other``), so label values stay
few whatever clients send. Updated in the event loop thread only (see
:class:`MetricsMiddleware`), so no lock is needed. Each worker process keeps its own numbers
and labels them with its ``pid`` (a scrape reaches one worker; sum over ``pid``).

Format: https://prometheus.io/docs/instrumenting/exposition_formats/
"""

from __future__ import annotations

import bisect
import os
import time
from collections import defaultdict
from typing import Any

#: upper bounds (seconds) of the latency buckets
BUCKETS = (0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)
CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"


class Metrics:
    """The counters and histograms of one process."""

    def __init__(self) -> None:
        self.requests: dict[tuple[str, str, int], int] = defaultdict(int)
        self.buckets: dict[str, list[int]] = {}
        self.sums: dict[str, float] = defaultdict(float)
        self.counts: dict[str, int] = defaultdict(int)
        self.in_flight = 0
        self.started = time.time()

    def observe(self, route: str, method: str, status: int, seconds: float) -> None:
        self.requests[(route, method, status)] += 1
        counts = self.buckets.setdefault(route, [0] * (len(BUCKETS) + 1))
        counts[bisect.bisect_left(BUCKETS, seconds)] += 1
        self.sums[route] += seconds
        self.counts[route] += 1

    def render(self, extra: dict[str, tuple[str, str, float]] | None = None) -> str:
        """The exposition text; ``extra`` adds gauges/counters ``name -> (type, help, value)``."""
        pid = str(os.getpid())
        lines = [
            "# HELP rankstack_http_requests_total HTTP requests by route, method and status.",
            "# TYPE rankstack_http_requests_total counter",
        ]
        for (route, method, status), n in sorted(self.requests.items()):
            labels = _labels(pid=pid, route=route, method=method, status=str(status))
            lines.append(f"rankstack_http_requests_total{labels} {n}")
        lines += [
            "# HELP rankstack_http_request_duration_seconds Time to answer a request.",
            "# TYPE rankstack_http_request_duration_seconds histogram",
        ]
        for route, counts in sorted(self.buckets.items()):
            acc = 0
            for bound, n in zip([*BUCKETS, float("inf")], counts):
                acc += n
                le = "+Inf" if bound == float("inf") else repr(bound)
                labels = _labels(pid=pid, route=route, le=le)
                lines.append(f"rankstack_http_request_duration_seconds_bucket{labels} {acc}")
            labels = _labels(pid=pid, route=route)
            lines.append(
                f"rankstack_http_request_duration_seconds_sum{labels} {self.sums[route]!r}"
            )
            lines.append(
                f"rankstack_http_request_duration_seconds_count{labels} {self.counts[route]}"
            )
        gauges: dict[str, tuple[str, str, float]] = {
            "rankstack_http_requests_in_flight": (
                "gauge",
                "Requests being answered.",
                self.in_flight,
            ),
            "rankstack_process_start_time_seconds": (
                "gauge",
                "Start time of the process (Unix seconds).",
                self.started,
            ),
            **(extra or {}),
        }
        for name, (kind, help_text, value) in gauges.items():
            lines += [f"# HELP {name} {help_text}", f"# TYPE {name} {kind}"]
            lines.append(f"{name}{_labels(pid=pid)} {_number(value)}")
        return "\n".join(lines) + "\n"


def _labels(**labels: str) -> str:
    body = ",".join(f'{k}="{_escape(v)}"' for k, v in labels.items())
    return "{" + body + "}"


def _escape(value: str) -> str:
    return value.replace("\\", "\\\\").replace("\n", "\\n").replace('"', '\\"')


def _number(value: float) -> str:
    return str(int(value)) if float(value).is_integer() else repr(float(value))


class MetricsMiddleware:
    """ASGI middleware that times every HTTP request and records its route and status."""

    def __init__(self, app: Any, metrics: Metrics, known: frozenset[str] = frozenset()) -> None:
        self.app = app
        self.metrics = metrics
        self.known = known  # paths counted under their own name when no route matched

    async def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        status = 500
        t0 = time.perf_counter()

        async def send_status(message: dict[str, Any]) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = int(message["status"])
            await send(message)

        self.metrics.in_flight += 1
        try:
            await self.app(scope, receive, send_status)
        finally:
            self.metrics.in_flight -= 1
            route = scope.get("route")
            path = getattr(route, "path", None)
            if not isinstance(path, str):
                raw = scope.get("path")
                path = raw if isinstance(raw, str) and raw in self.known else "other"
            self.metrics.observe(path, scope.get("method", ""), status, time.perf_counter() - t0)
