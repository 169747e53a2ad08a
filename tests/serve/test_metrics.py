"""GET /metrics: Prometheus text format, counts by route and status, cumulative histograms."""

from __future__ import annotations

import re

from fastapi.testclient import TestClient
from hypothesis import given, settings
from hypothesis import strategies as st

from rankstack.serve import ServeConfig, create_app
from rankstack.serve.metrics import BUCKETS, Metrics

from .conftest import Served

LINE = re.compile(
    r"^(?P<name>[a-zA-Z_:][a-zA-Z0-9_:]*)"
    r'(?P<labels>\{(?:[a-zA-Z_][a-zA-Z0-9_]*="(?:[^"\\\n]|\\.)*",?)*\})?'
    r" (?P<value>[-+]?(?:[0-9]*\.?[0-9]+(?:[eE][-+]?[0-9]+)?|Inf|NaN))$"
)


def parse(text: str) -> dict[str, float]:
    """``name{labels}`` -> value; checks every line against the exposition grammar."""
    out: dict[str, float] = {}
    typed: set[str] = set()
    for line in text.splitlines():
        if line.startswith("# TYPE "):
            _, _, name, kind = line.split(" ")
            assert kind in ("counter", "gauge", "histogram")
            typed.add(name)
            continue
        if line.startswith("# HELP "):
            continue
        m = LINE.match(line)
        assert m, f"not a sample line: {line!r}"
        base = re.sub(r"_(bucket|sum|count)$", "", m["name"])
        assert m["name"] in typed or base in typed, f"no # TYPE for {m['name']}"
        out[m["name"] + (m["labels"] or "")] = float(m["value"])
    assert text.endswith("\n")
    return out


def test_metrics_count_requests_by_route_and_status(served: Served) -> None:
    app = create_app(ServeConfig.from_args([str(served.bm25)]))
    with TestClient(app) as c:
        for _ in range(3):
            assert c.post("/search", json={"query": "reef"}).status_code == 200
        assert c.post("/search", json={"query": "reef", "k": -1}).status_code == 422
        assert c.post("/search", content=b"x" * 20_000).status_code == 413
        assert c.get("/no/such/path").status_code == 404
        r = c.get("/metrics")
    assert r.status_code == 200 and r.headers["content-type"].startswith("text/plain")
    samples = parse(r.text)

    def get(name: str, **labels: str) -> float:
        hits = [
            v
            for k, v in samples.items()
            if k.startswith(name + "{") and all(f'{a}="{b}"' in k for a, b in labels.items())
        ]
        assert len(hits) == 1, (name, labels, hits)
        return hits[0]

    total = "rankstack_http_requests_total"
    assert get(total, route="/search", status="200") == 3
    assert get(total, route="/search", status="422") == 1
    assert get(total, route="/search", status="413") == 1  # refused before routing
    assert get(total, route="other", status="404") == 1  # unknown paths share one label
    hist = "rankstack_http_request_duration_seconds"
    assert get(hist + "_count", route="/search") == 5
    assert get(hist + "_bucket", route="/search", le="+Inf") == 5
    counts = [get(hist + "_bucket", route="/search", le=repr(b)) for b in BUCKETS]
    assert counts == sorted(counts)
    assert get("rankstack_generation") == 1


@settings(max_examples=50, deadline=None)
@given(
    st.lists(
        st.tuples(
            st.sampled_from(["/search", "/health", 'we"ird\\route\n']),
            st.sampled_from([200, 404, 500]),
            st.floats(0, 20, allow_nan=False),
        ),
        max_size=30,
    )
)
def test_histograms_are_cumulative_and_text_parses(obs: list[tuple[str, int, float]]) -> None:
    m = Metrics()
    for route, status, secs in obs:
        m.observe(route, "POST", status, secs)
    samples = parse(m.render())
    for route in {r for r, _, _ in obs}:
        n = sum(1 for r, _, _ in obs if r == route)
        inf = [v for k, v in samples.items() if "_bucket" in k and 'le="+Inf"' in k]
        assert n in inf
    assert sum(v for k, v in samples.items() if k.startswith("rankstack_http_requests_total")) == (
        len(obs)
    )
