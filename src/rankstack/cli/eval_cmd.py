"""``rankstack eval`` and ``rankstack compare``: trec_eval-exact measures and significance tests."""

from __future__ import annotations

import json
import math
from pathlib import Path

import typer
from rich.markup import escape
from rich.table import Table

from rankstack.cli._app import app, console
from rankstack.data import Qrels, Run
from rankstack.exceptions import DataError

DEFAULT_MEASURES = ["nDCG@10", "AP", "RR", "P@10", "R@100"]

_MEASURE_HELP = (
    "A measure (repeatable): nDCG@10, AP, RR, P@5, R@100, Judged@10, P(rel=2)@5, IPrec@0.1, "
    "Bpref, Rprec, Success@1, NumRet..., or trec_eval names (ndcg_cut_10, map, P_5...). "
    f"Default: {', '.join(DEFAULT_MEASURES)}."
)
_QRELS_HELP = "A qrels file (TREC, BEIR TSV...) or a dataset name such as beir/scifact/test."


def load_qrels(spec: str) -> Qrels:
    """Qrels from a path or a registered dataset name (``rankstack.datasets``)."""
    try:
        from rankstack.datasets import load_qrels as from_registry
    except ImportError:  # pragma: no cover - the registry ships with rankstack
        from rankstack.io import read_qrels

        return read_qrels(spec)
    return from_registry(spec)


def load_run(path: Path) -> Run:
    from rankstack.io import read_run

    return read_run(path)


def _fmt(value: float, name: str) -> str:
    if name.startswith("Num") and float(value).is_integer():
        return str(int(value))
    return f"{value:.4f}"


def _json_value(v: float) -> float | None:
    return None if math.isnan(v) else v


@app.command("eval")
def eval_cmd(
    run: Path = typer.Argument(..., help="A TREC run file (qid Q0 docid rank score tag)."),
    qrels: str = typer.Argument(..., help=_QRELS_HELP),
    measure: list[str] = typer.Option(None, "--measure", "-m", help=_MEASURE_HELP),
    rel: int = typer.Option(
        None, "--rel", "-l", help="Minimum grade counted as relevant (trec_eval -l; default 1)."
    ),
    complete: bool = typer.Option(
        False,
        "--complete",
        "-c",
        help="Also score judged queries the run lacks, as 0 (trec_eval -c).",
    ),
    per_query: bool = typer.Option(
        False, "--per-query", "-q", help="Show each query's values (trec_eval -q)."
    ),
    as_json: bool = typer.Option(False, "--json", help="Print JSON instead of a table."),
) -> None:
    """Evaluate a run: the same values as trec_eval, with ir_measures' names.

    Queries evaluated: those of the run that have judgements (all judged ones with
    --complete). Means over queries; the counts (NumQ, NumRet, NumRel, NumRelRet) are summed.
    """
    from rankstack.evaluate import evaluate_per_query

    names = measure or DEFAULT_MEASURES
    the_run = load_run(run)
    the_qrels = load_qrels(qrels)
    pq = evaluate_per_query(the_run, the_qrels, names, rel=rel, complete=complete)
    summary = pq.mean()
    if as_json:
        doc = pq.to_dict() if per_query else summary
        typer.echo(json.dumps(doc, indent=2, default=_json_value))
        return
    if per_query:
        console.print(f"[bold]{escape(str(run))}[/]: {len(pq)} queries evaluated", highlight=False)
        table = Table()
        table.add_column("qid", style="bold")
        for name in pq.measures:
            table.add_column(escape(name), justify="right")
        columns = {name: v.tolist() for name, v in pq.values.items()}
        for i, q in enumerate(pq.qids):
            table.add_row(escape(q), *(_fmt(columns[n][i], n) for n in pq.measures))
        table.add_row("all", *(_fmt(summary[n], n) for n in pq.measures), style="bold")
        console.print(table)
        return
    console.print(f"[bold]{escape(str(run))}[/]: {len(pq)} queries evaluated", highlight=False)
    table = Table(show_edge=False)
    table.add_column("measure", style="bold")
    table.add_column("value", justify="right")
    for name, value in summary.items():
        table.add_row(escape(name), _fmt(value, name))
    console.print(table)


def _system_names(paths: list[Path]) -> list[str]:
    """Short names (file name without extensions); the paths as given when names collide."""
    short = [p.name.split(".")[0] or p.name for p in paths]
    if len(set(short)) == len(short):
        return short
    return [str(p) for p in paths]


@app.command("compare")
def compare_cmd(
    runs: list[Path] = typer.Argument(..., help="TREC run files to compare."),
    qrels: str = typer.Option(..., "--qrels", help=_QRELS_HELP),
    baseline: str = typer.Option(
        ..., "--baseline", "-b", help="The baseline: one of the runs (path or short name)."
    ),
    measure: list[str] = typer.Option(None, "--measure", "-m", help=_MEASURE_HELP),
    rel: int = typer.Option(None, "--rel", "-l", help="Minimum grade counted as relevant."),
    test: list[str] = typer.Option(
        None, "--test", "-t", help="t and/or randomisation (default: both)."
    ),
    permutations: int = typer.Option(
        10_000, "--permutations", help="Random sign flips of the randomisation test."
    ),
    seed: int = typer.Option(0, "--seed", help="Seed of the randomisation test."),
    alpha: float = typer.Option(0.05, "--alpha", help="Significance level."),
    correction: str = typer.Option(
        "holm", "--correction", help="holm, bonferroni or none (across systems, per measure)."
    ),
    csv: Path = typer.Option(None, "--csv", help="Also write the table as CSV to this path."),
    as_json: bool = typer.Option(False, "--json", help="Print JSON instead of a table."),
) -> None:
    """Compare runs with a baseline: means, paired t-test and randomisation-test p-values
    (Holm-corrected across systems) and significance markers.

    All runs are scored on the judged queries that any of them answers; a run that lacks
    one scores it 0 (a warning says so).
    """
    from rankstack.evaluate import compare

    paths = list(runs)
    base_path = Path(baseline)
    if base_path.exists() and all(p.resolve() != base_path.resolve() for p in paths):
        paths.insert(0, base_path)  # a baseline file not listed among the runs
    names = _system_names(paths)
    base_name = None
    for p, n in zip(paths, names):
        if baseline in (str(p), n) or (base_path.exists() and p.resolve() == base_path.resolve()):
            base_name = n
            break
    if base_name is None:
        raise DataError(f"--baseline {baseline!r} is none of the runs ({', '.join(names)})")
    the_qrels = load_qrels(qrels)
    loaded = {n: load_run(p) for p, n in zip(paths, names)}
    result = compare(
        loaded,
        the_qrels,
        measure or DEFAULT_MEASURES,
        base_name,
        tests=tuple(test) if test else ("t", "randomisation"),
        correction=correction,
        alpha=alpha,
        rel=rel,
        n_permutations=permutations,
        seed=seed,
    )
    if csv is not None:
        result.to_csv(csv)
    if as_json:
        typer.echo(result.to_json())
    else:
        console.print(result.to_rich_table())
