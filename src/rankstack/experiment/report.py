"""A self-contained HTML report of an experiment: settings, tables and three plots.

One file, no external resources: the plots are PNG images made with matplotlib (the
``report`` extra) and embedded as base64 ``data:`` URIs. The report holds

- the experiment's settings and protocol, and how each system was made (expression, protocol,
  time, cache, fitting facts);
- the results table (means with significance markers against the baseline) and the p-values;
- **per-query differences**: for each system, its per-query delta to the baseline on the main
  measure (nDCG@10 by default), sorted, with wins, losses and ties;
- **measure comparison**: grouped bars of every system's mean on every measure;
- **recall at depth**: the mean recall R@k of each system for k = 1..depth (trec_eval's
  recall: relevant retrieved in the top k over all relevant; equals the table's R@k).
"""

from __future__ import annotations

import base64
import html
import io
import json
from typing import TYPE_CHECKING, Any

import numpy as np

from rankstack.data import Qrels, Run

if TYPE_CHECKING:
    from rankstack.experiment.runner import ExperimentResult


def recall_curve(run: Run, qrels: Qrels, depth: int, *, rel: int = 1) -> np.ndarray:
    """Mean recall at k for k = 1..``depth`` over the queries of ``qrels``.

    A query absent from the run counts as an empty ranking and one without relevant
    documents as recall 0 (trec_eval ``-c``), as in :func:`rankstack.evaluate.compare`.
    """
    from rankstack.evaluate._context import build

    ev = build(run.select(qrels.qids, missing="empty"), qrels, complete=True)
    ctx = ev.context
    n_eval = len(ev.index)
    if n_eval == 0 or depth < 1:
        return np.zeros(max(depth, 0))
    num_rel = ctx.num_rel(rel).astype(np.float64)
    keep = (ctx.jlabel >= rel) & (ctx.jrank < depth) & (num_rel[ctx.jq] > 0)
    weights = 1.0 / num_rel[ctx.jq[keep]]
    per_rank = np.bincount(ctx.jrank[keep], weights=weights, minlength=depth)[:depth]
    out: np.ndarray = np.cumsum(per_rank) / n_eval
    return out


# ------------------------------------------------------------------------------ plots
def _png(fig: Any) -> str:
    from matplotlib.backends.backend_agg import FigureCanvasAgg

    FigureCanvasAgg(fig)
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=96, bbox_inches="tight")
    return base64.b64encode(buf.getvalue()).decode("ascii")


def _figure(width: float, height: float) -> Any:
    from rankstack._compat import require

    figure = require("matplotlib.figure")
    return figure.Figure(figsize=(width, height), layout="constrained")


def delta_plot(result: ExperimentResult, measure: str) -> str:
    """Per-query deltas to the baseline, sorted, one panel per system (base64 PNG)."""
    comp = result.comparison
    others = [s for s in comp.systems if s != comp.baseline]
    fig = _figure(9.0, 1.9 * max(len(others), 1) + 0.6)
    axes = fig.subplots(max(len(others), 1), 1, squeeze=False)[:, 0]
    base = comp.per_query[comp.baseline].values[measure]
    for ax, system in zip(axes, others):
        delta = np.sort(comp.per_query[system].values[measure] - base)[::-1]
        colours = np.where(delta > 0, "#2a9d5c", np.where(delta < 0, "#c8553d", "#999999"))
        ax.bar(np.arange(len(delta)), delta, width=1.0, color=colours)
        ax.axhline(0.0, color="black", linewidth=0.6)
        wins, losses = int((delta > 0).sum()), int((delta < 0).sum())
        ax.set_title(
            f"{system} - {comp.baseline}: mean {delta.mean():+.4f}, {wins} better, "
            f"{losses} worse, {len(delta) - wins - losses} tied",
            fontsize=9,
            loc="left",
        )
        ax.set_ylabel(f"\u0394 {measure}", fontsize=8)
        ax.set_xlim(-0.5, len(delta) - 0.5)
        ax.tick_params(labelsize=7)
    if not others:
        axes[0].text(0.5, 0.5, "only the baseline", ha="center", va="center")
    axes[-1].set_xlabel("queries, sorted by difference", fontsize=8)
    return _png(fig)


def measures_plot(result: ExperimentResult) -> str:
    """Grouped bars: each system's mean on each measure (base64 PNG)."""
    comp = result.comparison
    measures = [m for m in comp.measures if not m.startswith("Num")]
    fig = _figure(max(7.0, 1.4 * len(measures) + 3.5), 3.6)
    ax = fig.subplots()
    n = len(comp.systems)
    width = 0.8 / max(n, 1)
    x = np.arange(len(measures))
    for i, system in enumerate(comp.systems):
        values = [comp.means[system][m] for m in measures]
        ax.bar(x + (i - (n - 1) / 2) * width, values, width, label=system)
    ax.set_xticks(x, measures, fontsize=8)
    ax.set_ylabel("mean over queries", fontsize=8)
    ax.tick_params(labelsize=7)
    fig.legend(fontsize=7, loc="outside right upper")
    ax.grid(axis="y", alpha=0.3)
    return _png(fig)


def recall_plot(result: ExperimentResult, depth: int, rel: int) -> str:
    """Mean recall R@k for k = 1..depth of every system (base64 PNG)."""
    comp = result.comparison
    fig = _figure(7.5, 4.0)
    ax = fig.subplots()
    assert result.qrels is not None
    qrels = result.qrels.select(comp.qids)
    ks = np.arange(1, depth + 1)
    for system in comp.systems:
        ax.plot(ks, recall_curve(result.runs[system], qrels, depth, rel=rel), label=system)
    ax.set_xscale("log")
    ax.set_xlabel("depth k", fontsize=8)
    ax.set_ylabel("R@k", fontsize=8)
    ax.set_ylim(0.0, 1.0)
    ax.grid(alpha=0.3, which="both")
    ax.tick_params(labelsize=7)
    ax.legend(fontsize=7, loc="lower right")
    return _png(fig)


# ------------------------------------------------------------------------------ the page
_STYLE = """
body { font-family: system-ui, sans-serif; margin: 2em auto; max-width: 70em; color: #222; }
table { border-collapse: collapse; margin: 0.5em 0 1.5em; font-size: 0.9em; }
th, td { border: 1px solid #ccc; padding: 0.25em 0.6em; text-align: right; }
th:first-child, td:first-child, td.text { text-align: left; }
td.best { font-weight: bold; }
code { font-size: 0.85em; }
.better { color: #1d7a47; } .worse { color: #b2402b; }
img { max-width: 100%; }
.note { color: #666; font-size: 0.85em; }
"""


def _e(value: Any) -> str:
    return html.escape(str(value))


def html_report(
    result: ExperimentResult,
    *,
    measure: str | None = None,
    depth: int | None = None,
    plots: bool = True,
) -> str:
    """The HTML page of ``result`` (one string, every image embedded).

    Parameters
    ----------
    measure:
        Measure of the per-query delta plot (default nDCG@10 when it was computed, else the
        first measure).
    depth:
        Deepest k of the recall curves (default: the longest ranking, at most 1000).
    plots:
        Include the plots (needs matplotlib: ``pip install 'rankstack[report]'``).
    """
    comp = result.comparison
    if measure is None:
        measure = "nDCG@10" if "nDCG@10" in comp.measures else comp.measures[0]
    if depth is None:
        longest = max((int(r.sizes.max(initial=0)) for r in result.runs.values()), default=1)
        depth = max(1, min(longest, 1000))
    rel = int(result.settings.get("rel") or 1)
    parts = [
        "<!DOCTYPE html>",
        '<html lang="en"><head><meta charset="utf-8">',
        f"<title>{_e(result.name)}</title><style>{_STYLE}</style></head><body>",
        f"<h1>{_e(result.name)}</h1>",
        f"<p>{result.n_queries} queries, baseline <b>{_e(comp.baseline)}</b>; "
        f"{_e(result.describe_protocol())}.</p>",
        "<h2>Results</h2>",
        _results_table(result),
        f'<p class="note">+/&minus; significantly better/worse than the baseline at '
        f"alpha={comp.alpha:g}, {_e(comp.correction)}-corrected "
        f"(t = paired t-test, r = randomisation test).</p>",
        "<h2>p-values against the baseline</h2>",
        _pvalue_table(result),
    ]
    if plots:
        parts += [
            f"<h2>Per-query differences ({_e(measure)})</h2>",
            f'<img alt="per-query {_e(measure)} differences" '
            f'src="data:image/png;base64,{delta_plot(result, measure)}">',
            "<h2>Measure comparison</h2>",
            f'<img alt="measure comparison" src="data:image/png;base64,{measures_plot(result)}">',
            f"<h2>Recall at depth (k = 1..{depth})</h2>",
            f'<img alt="recall at depth" '
            f'src="data:image/png;base64,{recall_plot(result, depth, rel)}">',
        ]
    parts += [
        "<h2>Systems</h2>",
        _systems_table(result),
        "<h2>Settings</h2>",
        _settings_table(result),
        "</body></html>",
    ]
    return "\n".join(parts) + "\n"


def _results_table(result: ExperimentResult) -> str:
    comp = result.comparison
    best = {m: max(comp.means[s][m] for s in comp.systems) for m in comp.measures}
    head = "".join(f"<th>{_e(m)}</th>" for m in comp.measures)
    rows = [f"<table><tr><th>system</th>{head}<th>time (s)</th></tr>"]
    for s in comp.systems:
        cells = []
        for m in comp.measures:
            v = comp.means[s][m]
            mark = comp.marker(s, m)
            cls = "better" if mark.startswith("+") else "worse" if mark.startswith("-") else ""
            sign = f' <span class="{cls}">{_e(mark)}</span>' if mark else ""
            best_cls = ' class="best"' if v == best[m] else ""
            cells.append(f"<td{best_cls}>{v:.4f}{sign}</td>")
        name = _e(s) + (" (baseline)" if s == comp.baseline else "")
        rows.append(f"<tr><td>{name}</td>{''.join(cells)}<td>{result.seconds[s]:.2f}</td></tr>")
    rows.append("</table>")
    return "\n".join(rows)


def _pvalue_table(result: ExperimentResult) -> str:
    comp = result.comparison
    labels = {"t": "t-test", "randomisation": "randomisation"}
    head = "".join(f"<th>{_e(m)} ({labels[t]})</th>" for m in comp.measures for t in comp.tests)
    rows = [f"<table><tr><th>system</th>{head}</tr>"]
    for s in comp.systems:
        if s == comp.baseline:
            continue
        cells = "".join(
            f"<td>{comp.corrected[t][s][m]:.4g}</td>" for m in comp.measures for t in comp.tests
        )
        rows.append(f"<tr><td>{_e(s)}</td>{cells}</tr>")
    rows.append("</table>")
    return "\n".join(rows)


def _systems_table(result: ExperimentResult) -> str:
    rows = [
        "<table><tr><th>system</th><th>pipeline</th><th>protocol</th><th>time (s)</th>"
        "<th>cached</th><th>fitting</th></tr>"
    ]
    for s in result.comparison.systems:
        info = result.systems.get(s)
        if info is None:
            rows.append(f"<tr><td>{_e(s)}</td><td></td><td></td><td></td><td></td><td></td></tr>")
            continue
        fit = json.dumps(info.fit, default=str) if info.fit else ""
        rows.append(
            f"<tr><td>{_e(s)}</td><td class='text'><code>{_e(info.expression)}</code></td>"
            f"<td class='text'>{_e(info.protocol)}</td><td>{info.seconds:.2f}</td>"
            f"<td class='text'>{'yes' if info.cached else 'no'}</td>"
            f"<td class='text'><code>{_e(fit)}</code></td></tr>"
        )
    rows.append("</table>")
    return "\n".join(rows)


def _settings_table(result: ExperimentResult) -> str:
    items = dict(result.settings)
    if result.cache_stats:
        items["cache"] = result.cache_stats
    rows = ["<table>"]
    for key, value in items.items():
        text = value if isinstance(value, str) else json.dumps(value, default=str)
        rows.append(f"<tr><td>{_e(key)}</td><td class='text'><code>{_e(text)}</code></td></tr>")
    rows.append("</table>")
    return "\n".join(rows)
