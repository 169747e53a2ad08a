"""``rankstack clicks simulate|stats|convert|evaluate|propensities``: click logs, counterfactual
evaluation, propensities estimated from randomised interventions."""

from __future__ import annotations

import json
import sys
import time
from pathlib import Path
from typing import Any

import typer
from rich.markup import escape
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table

from rankstack.cli._app import app, console, console_err
from rankstack.exceptions import DataError

clicks_app = typer.Typer(
    name="clicks",
    help="Click logs: simulate, summarise, convert, and evaluate rankers counterfactually.",
    no_args_is_help=True,
    rich_markup_mode="rich",
)
app.add_typer(clicks_app, name="clicks")


def _emit_json(data: Any) -> None:
    sys.stdout.write(json.dumps(data, indent=2) + "\n")
    sys.stdout.flush()


def _bar(enabled: bool) -> Progress | None:
    if not enabled:
        return None
    return Progress(
        TextColumn("{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TextColumn("{task.fields[rate]}"),
        TimeElapsedColumn(),
        console=console_err,
        transient=True,
    )


# ---------------------------------------------------------------------- simulate
@clicks_app.command()
def simulate(
    dataset: str = typer.Argument(
        ..., help="LETOR split of the registry (letor/mq2008/fold1/train) or a LETOR file."
    ),
    output: Path = typer.Option(
        ..., "--output", "-o", help="The log: .parquet (volume) or .jsonl / .jsonl.gz."
    ),
    model: str = typer.Option("pbm", "--model", "-m", help="Click model: pbm, cascade, dcm, ubm."),
    eta: float = typer.Option(1.0, "--eta", help="Position-bias severity (PBM, UBM)."),
    sessions: int = typer.Option(1_000_000, "--sessions", "-n", help="Sessions to simulate."),
    k: int = typer.Option(10, "--k", help="Displayed list length."),
    seed: int = typer.Option(0, "--seed", help="Seed of the sessions."),
    eps_pos: float = typer.Option(1.0, "--eps-pos", help="Click probability at the top label."),
    eps_neg: float = typer.Option(0.1, "--eps-neg", help="Click probability at label 0."),
    lambdas: float | None = typer.Option(
        None, "--lambdas", help="DCM: continuation probability after a click (default 0.5)."
    ),
    production_fraction: float = typer.Option(
        0.01, "--production-fraction", help="Fraction of queries whose labels train the logger."
    ),
    production_model: str = typer.Option(
        "linear", "--production-model", help="Production ranker: linear or lambdamart."
    ),
    production_seed: int = typer.Option(0, "--production-seed", help="Seed of its query draw."),
    chunk_sessions: int = typer.Option(
        100_000, "--chunk-sessions", help="Sessions simulated and held in memory at a time."
    ),
    intervention: str | None = typer.Option(
        None,
        "--intervention",
        help="Randomise each displayed list: swap (rank 1 with a random rank), randpair "
        "(a random pair) or shuffle; for 'rankstack clicks propensities'.",
    ),
    json_out: bool = typer.Option(False, "--json", help="Print a JSON summary."),
    quiet: bool = typer.Option(False, "--quiet", "-q", help="No progress bar."),
) -> None:
    """Simulate a click log over a LETOR set, streamed to disk chunk by chunk.

    A production ranker trained on the labels of a fraction of the queries shows its top k;
    each session draws a query and clicks from the click model. The log records the click
    model, its parameters, the true propensities (PBM) and the production ranker. With
    --intervention the displays are randomised around the production top k (each impression
    keeps its production position as 'logged_position').
    """
    from rankstack.io.clicks import ClickLogWriter
    from rankstack.ltr.config import load_letor
    from rankstack.ultr.click_models import make_click_model
    from rankstack.ultr.propensity import INTERVENTIONS, iter_interventions
    from rankstack.ultr.simulate import ClickSimulator, ProductionRanker

    if sessions < 0:
        raise DataError(f"--sessions must be >= 0, found {sessions}")
    if intervention is not None and intervention not in INTERVENTIONS:
        raise DataError(
            f"--intervention must be one of {', '.join(INTERVENTIONS)}, found {intervention!r}"
        )
    start = time.perf_counter()
    data = load_letor(dataset)
    params: dict[str, Any] = {"eta": eta}
    if lambdas is not None:
        params["lambdas"] = lambdas
    click_model = make_click_model(model, **params)
    sim = ClickSimulator(
        data,
        click_model,
        k=k,
        eps_pos=eps_pos,
        eps_neg=eps_neg,
        production=ProductionRanker(production_model, production_fraction, production_seed),
        seed=seed,
        dataset=dataset,
    )
    clicks = 0
    bar = _bar(not quiet and not json_out)
    metadata = sim.metadata(sessions)
    if intervention is not None:
        metadata["intervention"] = intervention
        source = iter_interventions(
            data,
            intervention,
            sessions=sessions,
            seed=seed,
            chunk_sessions=chunk_sessions,
            simulator=sim,
        )
    else:
        source = sim.iter_sessions(sessions, chunk_sessions)
    with ClickLogWriter(output, metadata=metadata) as writer:
        task = bar.add_task("simulating", total=sessions, rate="") if bar else None
        if bar:
            bar.start()
        try:
            for chunk in source:
                writer.write(chunk)
                clicks += int(chunk.clicks.sum())
                if bar is not None and task is not None:
                    rate = writer.sessions / max(time.perf_counter() - start, 1e-9)
                    bar.update(task, completed=writer.sessions, rate=f"{rate:,.0f} sessions/s")
        finally:
            if bar:
                bar.stop()
    elapsed = time.perf_counter() - start
    summary = {
        "output": str(output),
        "sessions": writer.sessions,
        "impressions": writer.impressions,
        "clicks": clicks,
        "seconds": round(elapsed, 3),
        "click_model": click_model.name,
        "click_model_params": sim.metadata()["click_model_params"],
        "propensities": sim.metadata()["propensities"],
        "production": sim.production_identity,
        "intervention": intervention,
    }
    if json_out:
        _emit_json(summary)
        return
    console.print(
        f"wrote [bold]{writer.sessions:,}[/] sessions ({writer.impressions:,} impressions, "
        f"{clicks:,} clicks) to [bold]{escape(str(output))}[/] in {elapsed:.1f} s"
    )


# ---------------------------------------------------------------------- stats
@clicks_app.command()
def stats(
    log: Path = typer.Argument(..., help="A click log (.parquet, .jsonl, .jsonl.gz)."),
    plot: Path | None = typer.Option(
        None, "--plot", help="Also draw CTR by position and clicks per session (PNG, PDF...)."
    ),
    json_out: bool = typer.Option(False, "--json", help="Print the statistics as JSON."),
    allow_incomplete: bool = typer.Option(
        False, "--allow-incomplete", help="Read a log without a valid end marker as it is."
    ),
    queries: str | None = typer.Option(
        None, "--queries", help="Count sessions whose query is not in this LETOR set or file."
    ),
    baidu: bool = typer.Option(False, "--baidu", help="LOG is a Baidu-ULTR session file."),
) -> None:
    """Sessions, queries, impressions, clicks, sessions without clicks, CTR by position."""
    from rankstack.io.baidu_ultr import iter_baidu_ultr
    from rankstack.io.clicks import iter_click_chunks
    from rankstack.ultr.stats import click_stats, plot_click_stats

    known = _load_queries(queries) if queries else None
    chunks = (
        iter_baidu_ultr(log) if baidu else iter_click_chunks(log, allow_incomplete=allow_incomplete)
    )
    result = click_stats(chunks, queries=known)
    if plot is not None:
        plot_click_stats(result, plot, title=f"{log.name}: {result.sessions:,} sessions")
    if json_out:
        _emit_json(result.to_dict())
        return
    d = result.to_dict()
    table = Table(title=f"{escape(str(log))}", title_justify="left", show_header=False)
    table.add_column("", style="bold")
    table.add_column("", justify="right")
    rows = [
        ("sessions", f"{d['sessions']:,}"),
        ("distinct queries", f"{d['queries']:,}"),
        ("impressions", f"{d['impressions']:,}"),
        ("clicks", f"{d['clicks']:,}"),
        ("sessions without clicks", f"{d['sessions_without_clicks']:,}"),
        ("CTR", "-" if d["ctr"] is None else f"{d['ctr']:.4f}"),
        (
            "clicks per session",
            "-" if d["sessions"] == 0 else f"{d['clicks_per_session_mean']:.3f}",
        ),
    ]
    if d["unknown_query_sessions"] is not None:
        rows.append(("sessions with unknown query", f"{d['unknown_query_sessions']:,}"))
    for name, value in rows:
        table.add_row(name, value)
    console.print(table)
    pos = Table(title="by position", title_justify="left")
    for col in ("position", "impressions", "clicks", "CTR"):
        pos.add_column(col, justify="right")
    props = d.get("propensities")
    if props:
        pos.add_column("true propensity", justify="right")
    for r, (n, c, ctr) in enumerate(
        zip(d["impressions_by_position"], d["clicks_by_position"], d["ctr_by_position"])
    ):
        cells = [str(r + 1), f"{n:,}", f"{c:,}", "-" if ctr is None else f"{ctr:.4f}"]
        if props:
            cells.append(f"{props[r]:.4f}" if r < len(props) else "-")
        pos.add_row(*cells)
    console.print(pos)
    dist = ", ".join(f"{i}: {n:,}" for i, n in enumerate(d["clicks_per_session"]))
    console.print(f"sessions by number of clicks: {dist}")
    if plot is not None:
        console.print(f"plot: [bold]{escape(str(plot))}[/]")


def _load_queries(spec: str) -> Any:
    from rankstack.ltr.config import load_letor

    return load_letor(spec)


# ---------------------------------------------------------------------- convert
@clicks_app.command()
def convert(
    source: Path = typer.Argument(..., help="A click log, or a Baidu-ULTR file with --baidu."),
    target: Path = typer.Argument(..., help="The output log: .parquet or .jsonl[.gz]."),
    baidu: bool = typer.Option(False, "--baidu", help="SOURCE is a Baidu-ULTR session file."),
    qid_field: str = typer.Option(
        "qid", "--qid-field", help="Baidu-ULTR: query ids from 'qid' or the 'query' tokens."
    ),
    max_sessions: int | None = typer.Option(None, "--max-sessions", help="Stop after N."),
    allow_incomplete: bool = typer.Option(
        False, "--allow-incomplete", help="Read a log without a valid end marker as it is."
    ),
) -> None:
    """Convert between JSONL and Parquet click logs (or from Baidu-ULTR), streaming."""
    from rankstack.io.baidu_ultr import iter_baidu_ultr
    from rankstack.io.clicks import ClickLogWriter, iter_click_chunks, read_click_metadata

    if baidu:
        chunks = iter_baidu_ultr(source, qid_field=qid_field, max_sessions=max_sessions)
        meta: dict[str, Any] | None = None
    else:
        chunks = iter_click_chunks(source, allow_incomplete=allow_incomplete)
        meta = read_click_metadata(source)
    with ClickLogWriter(target, metadata=meta) as writer:
        for chunk in chunks:
            if max_sessions is not None and not baidu:
                left = max_sessions - writer.sessions
                if left <= 0:
                    break
                chunk = chunk.slice_sessions(0, left)
            writer.write(chunk)
    console.print(f"wrote [bold]{writer.sessions:,}[/] sessions to [bold]{escape(str(target))}[/]")


# ---------------------------------------------------------------------- evaluate
@clicks_app.command()
def evaluate(
    log: Path = typer.Argument(..., help="A click log with the logged sessions."),
    model_dir: Path = typer.Option(
        ..., "--model", help="The new ranker: a model folder written by 'rankstack train'."
    ),
    data: str = typer.Option(
        ..., "--data", help="The logged queries' candidates with features (LETOR split or file)."
    ),
    metric: str = typer.Option("dcg", "--metric", help="Rank weight: dcg, hits or ctr."),
    cutoff: int = typer.Option(10, "--cutoff", help="Cut-off of the rank weight."),
    bootstrap: int = typer.Option(1000, "--bootstrap", help="Bootstrap replicates."),
    level: float = typer.Option(0.95, "--level", help="Confidence level of the intervals."),
    seed: int = typer.Option(0, "--seed", help="Seed of the bootstrap."),
    clip: float | None = typer.Option(None, "--clip", help="Clip propensities from below."),
    truth: bool = typer.Option(
        False, "--truth", help="Simulated log: also compute the true value from the labels."
    ),
    allow_incomplete: bool = typer.Option(
        False, "--allow-incomplete", help="Read a log without a valid end marker as it is."
    ),
    json_out: bool = typer.Option(False, "--json", help="Print the estimates as JSON."),
) -> None:
    """IPS and SNIPS estimates of a ranker's click metric on a log, with bootstrap intervals."""
    from rankstack.io.clicks import iter_click_chunks, read_click_metadata
    from rankstack.ltr import Ranker
    from rankstack.ltr.config import load_letor
    from rankstack.ultr.counterfactual import counterfactual_estimate, true_metric
    from rankstack.ultr.simulate import simulator_from_metadata

    letor = load_letor(data)
    ranker = Ranker.load(model_dir)
    run = letor.run.with_scores(ranker.predict(letor.run))
    meta = read_click_metadata(log)
    res = counterfactual_estimate(
        iter_click_chunks(log, allow_incomplete=allow_incomplete),
        run,
        metric=metric,
        cutoff=cutoff,
        bootstrap=bootstrap,
        level=level,
        seed=seed,
        clip=clip,
    )
    out: dict[str, Any] = {e: r.to_dict() for e, r in res.items()}
    if truth:
        sim = simulator_from_metadata(letor, meta)
        out["true"] = true_metric(sim, run, metric=metric, cutoff=cutoff)
    if json_out:
        _emit_json(out)
        return
    table = Table(
        title=f"{metric}@{cutoff} of {escape(str(model_dir))} on {escape(str(log))}",
        title_justify="left",
    )
    for col in ("estimator", "value", f"{level:.0%} interval", "std. error"):
        table.add_column(col, justify="right")
    for e, r in res.items():
        table.add_row(
            e, f"{r.value:.4f}", f"[{r.ci_low:.4f}, {r.ci_high:.4f}]", f"{r.std_error:.4f}"
        )
    if truth:
        table.add_row("true", f"{out['true']:.4f}", "", "")
    console.print(table)
    for r in res.values():
        if r.note:
            console.print(f"[yellow]note:[/] {r.estimator}: {escape(r.note)}")


# ---------------------------------------------------------------------- propensities
@clicks_app.command()
def propensities(
    log: Path = typer.Argument(
        ..., help="A log with randomised displays ('simulate --intervention') or several rankers."
    ),
    output: Path | None = typer.Option(
        None, "--output", "-o", help="Write the estimates (.json, or .csv)."
    ),
    plot: Path | None = typer.Option(
        None, "--plot", help="Draw the estimates against the true propensities (PNG, PDF...)."
    ),
    positions: int | None = typer.Option(
        None, "--positions", help="Estimate positions 1..N (default: the longest list)."
    ),
    allow_incomplete: bool = typer.Option(
        False, "--allow-incomplete", help="Read a log without a valid end marker as it is."
    ),
    json_out: bool = typer.Option(False, "--json", help="Print the estimates as JSON."),
) -> None:
    """Relative propensities p_k / p_1 estimated from randomised interventions.

    Harvests every (query, doc) shown at two positions (swap-1-k, RandPair, shuffled lists, or
    the logs of several rankers); the true propensities of a simulated log are shown beside.
    """
    from rankstack.io.clicks import read_clicks
    from rankstack.ultr.learners import log_propensities
    from rankstack.ultr.propensity import estimate_from_interventions, plot_propensities

    clicks = read_clicks(log, allow_incomplete=allow_incomplete)
    method = str(clicks.metadata.get("intervention") or "harvest")
    truth = log_propensities(clicks)
    est = estimate_from_interventions(clicks, n_positions=positions, method=method)
    if truth is not None and len(truth.values) >= len(est.values):
        est = est.with_truth(truth)
    if output is not None:
        est.save(output)
    if plot is not None:
        plot_propensities(
            {method: est},
            plot,
            truth=est.truth,
            title=f"{log.name}: {len(clicks):,} sessions",
        )
    if json_out:
        _emit_json(est.to_dict())
        return
    d = est.to_dict()
    table = Table(title=f"propensities p_k / p_1 from {escape(str(log))}", title_justify="left")
    table.add_column("position", justify="right")
    table.add_column(f"estimate ({escape(method)})", justify="right")
    if "true" in d:
        table.add_column("true", justify="right")
        table.add_column("relative error", justify="right")
    for i, pos in enumerate(d["positions"]):
        v = d["propensities"][i]
        cells = [str(pos), "-" if v is None else f"{v:.4f}"]
        if "true" in d:
            err = d["relative_error"][i]
            cells += [f"{d['true'][i]:.4f}", "-" if err is None else f"{err:.1%}"]
        table.add_row(*cells)
    console.print(table)
    for path, what in ((output, "estimates"), (plot, "plot")):
        if path is not None:
            console.print(f"{what}: [bold]{escape(str(path))}[/]")
