"""``rankstack train|predict|cv`` and ``rankstack features rank``: learning to rank."""

from __future__ import annotations

import inspect
import json
import sys
import warnings
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import typer
from rich.markup import escape
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table

from rankstack.cli._app import app, console, console_err
from rankstack.exceptions import DataError

features_app = typer.Typer(
    name="features",
    help="Features: list the query-document features; rank the features of a LETOR set.",
    no_args_is_help=True,
    rich_markup_mode="rich",
)
app.add_typer(features_app, name="features")


# ---------------------------------------------------------------------- shared helpers
@contextmanager
def _warnings_as_lines() -> Iterator[None]:
    """Show Python warnings (absent features...) as one 'warning:' line each on stderr."""

    def show(message: Any, category: Any, filename: Any, lineno: Any, *a: Any, **k: Any) -> None:
        console_err.print(f"[yellow]warning:[/] {escape(str(message))}", highlight=False)

    with warnings.catch_warnings():  # restores the filters and showwarning on exit
        warnings.simplefilter("default")
        warnings.showwarning = show
        yield


@contextmanager
def _progress(total: int | None, enabled: bool, label: str) -> Iterator[Any]:
    """A rich progress bar on stderr whose callback takes ``(round, {measure: value})``."""
    if not enabled:
        yield None
        return
    bar = Progress(
        TextColumn("{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TextColumn("{task.fields[measure]}"),
        TimeElapsedColumn(),
        console=console_err,
        transient=True,
    )
    with bar:
        task = bar.add_task(label, total=total, measure="")

        def update(iteration: int, values: dict[str, float]) -> None:
            shown = "  ".join(f"valid {k} {v:.4f}" for k, v in sorted(values.items())[:2])
            bar.update(task, completed=iteration, measure=shown)

        yield update


def _values_table(title: str, rows: dict[str, dict[str, float]], measures: Sequence[str]) -> Table:
    table = Table(title=title, title_justify="left")
    table.add_column("set", style="bold")
    for m in measures:
        table.add_column(escape(m), justify="right")
    for name, values in rows.items():
        table.add_row(name, *(f"{values[m]:.4f}" for m in measures))
    return table


def _plural(n: int, word: str) -> str:
    return f"{n} {word}" + ("" if n == 1 else "s")


def _silence(kind: str, params: dict[str, Any]) -> None:
    """Turn off a model's own progress display (a ``progress`` flag, as NeuralRanker has)."""
    from rankstack.ltr.base import make_ranker

    try:
        has_flag = isinstance(make_ranker(kind).get_params().get("progress"), bool)
    except Exception:  # an unknown kind: make_ranker reports it properly later
        return
    if has_flag:
        params.setdefault("progress", False)


def _emit_json(data: Any) -> None:
    sys.stdout.write(json.dumps(data, indent=2) + "\n")
    sys.stdout.flush()


def _parse_params(items: Sequence[str]) -> dict[str, Any]:
    """``key=value`` pairs; values are read as TOML literals (numbers, booleans, lists...),
    falling back to plain strings."""
    if sys.version_info >= (3, 11):
        import tomllib
    else:  # pragma: no cover
        import tomli as tomllib

    out: dict[str, Any] = {}
    for item in items:
        key, sep, raw = item.partition("=")
        key = key.strip()
        if not sep or not key:
            raise DataError(f"--param expects key=value, found {item!r}")
        try:
            value = tomllib.loads(f"v = {raw.strip()}")["v"]
        except tomllib.TOMLDecodeError:
            value = raw.strip()
        out[key] = value
    return out


# ---------------------------------------------------------------------- train
@app.command()
def train(
    config_file: Path = typer.Argument(..., help="Training file (TOML; see docs/ltr.md)."),
    output: Path | None = typer.Option(
        None, "--output", "-o", help="Model folder (overrides the \\[output] path)."
    ),
    allow_interleaved: bool = typer.Option(
        False,
        "--allow-interleaved",
        help="Group the lines of a qid that appears again later in a LETOR file.",
    ),
    json_out: bool = typer.Option(False, "--json", help="Print the final figures as JSON."),
    quiet: bool = typer.Option(False, "--quiet", "-q", help="No progress bar."),
    clicks: Path | None = typer.Option(
        None,
        "--clicks",
        help="Train from this click log (overrides \\[data] clicks); features from \\[data] train.",
    ),
    debias: str | None = typer.Option(
        None,
        "--debias",
        help="With a click log: dla, ipw, rem, naive or lgbm_position (overrides \\[debias]).",
    ),
    scheduler: str | None = typer.Option(
        None,
        "--scheduler",
        help="Train LambdaMART on a Dask cluster: 'local' or a scheduler address "
        "(tcp://host:8786); see docs/operations.md.",
    ),
    workers: int = typer.Option(2, "--workers", help="Worker processes of --scheduler local."),
) -> None:
    """Train a ranker from a TOML training file, save it, and report validation/test figures.

    With a click log ([data] clicks or --clicks) the ranker learns from clicks with position
    bias removed (--debias; see docs/ultr.md) and the propensities are printed and saved.
    """
    from rankstack.ltr.config import TrainConfig
    from rankstack.ltr.cv import evaluate_scores, fit_model
    from rankstack.ltr.letor_eval import LETOR_MEASURES

    config = TrainConfig.from_toml(config_file)
    target = config.output_path(output)
    click_log = str(clicks) if clicks is not None else config.clicks
    if click_log is not None and scheduler is not None:
        raise DataError("--scheduler trains from LETOR data; it does not read click logs")
    if click_log is not None:
        _train_from_clicks(config, config.resolve(click_log), debias, target, quiet, json_out)
        return
    if debias is not None:
        raise DataError('--debias needs a click log: [data] clicks = "LOG" or --clicks LOG')
    flag = allow_interleaved or None
    with _warnings_as_lines():
        train_set = config.load("train", allow_interleaved=flag)
        valid_set = config.load("valid", allow_interleaved=flag)
        test_set = config.load("test", allow_interleaved=flag)
        if train_set is None:  # pragma: no cover - 'train' is required by the config
            raise DataError("no training data")
        overrides: dict[str, Any] = {}
        if quiet or json_out:
            _silence(config.kind, overrides)
        model = config.make_model(**overrides)
        if not quiet and not json_out:
            console_err.print(
                f"[dim]training {escape(config.kind)} on {escape(config.train)}: {train_set}[/]"
            )
        total = getattr(model, "n_estimators", None) or getattr(model, "epochs", None)
        fitter: Any = model  # the fit protocol is documented on Ranker, not declared
        takes_callback = "progress" in inspect.signature(fitter.fit).parameters
        bar = not quiet and valid_set is not None and takes_callback
        with _progress(total, bar, "training") as update:
            if scheduler is None:
                fit_model(model, train_set, valid_set, update)
            else:
                from rankstack.ltr.gbdt_dask import fit_on_scheduler

                fit_on_scheduler(
                    model,
                    train_set,
                    valid_set,
                    scheduler=scheduler,
                    workers=workers,
                    progress=update,
                )
        model.save(target)
        measures = list(config.measures)
        if config.letor_eval:
            measures += [f"LETOR:{m}" for m in LETOR_MEASURES]
        figures: dict[str, dict[str, float]] = {}
        for name, data in (("valid", valid_set), ("test", test_set)):
            if data is not None:
                scores = model.predict(data.run)
                figures[name] = evaluate_scores(
                    data, scores, config.measures, letor_eval=config.letor_eval
                )
    summary = {
        "model": str(target),
        "kind": config.kind,
        "best_iteration": getattr(model, "best_iteration_", None),
        **figures,
    }
    if json_out:
        _emit_json(summary)
        return
    best = summary["best_iteration"]
    console.print(
        f"saved [bold]{escape(str(target))}[/]" + (f" (best iteration {best})" if best else "")
    )
    if figures:
        console.print(_values_table("evaluation", figures, measures))


def _train_from_clicks(
    config: Any, log_path: str, debias: str | None, target: Path, quiet: bool, json_out: bool
) -> None:
    """``rankstack train`` on a click log: stream it into display lists, fit, save, report."""
    from rankstack.io.clicks import iter_click_chunks, read_click_metadata
    from rankstack.ltr.cv import evaluate_scores
    from rankstack.ltr.letor_eval import LETOR_MEASURES
    from rankstack.ultr.features import aggregate_lists

    with _warnings_as_lines():
        overrides: dict[str, Any] = {}
        if quiet or json_out:
            _silence(config.kind, overrides)
        model: Any = config.make_unbiased(debias, **overrides)
        train_set = config.load("train")
        valid_set = config.load("valid")
        test_set = config.load("test")
        show = not quiet and not json_out
        if show:
            console_err.print(
                f"[dim]reading {escape(log_path)} against the features of "
                f"{escape(config.train)} ({train_set})[/]"
            )
        lists = aggregate_lists(
            iter_click_chunks(log_path),
            train_set,
            on_unknown=model.on_unknown,
            metadata=read_click_metadata(log_path),
        )
        if show:
            console_err.print(
                f"[dim]{int(lists.sessions.sum())} sessions in {len(lists)} distinct lists; "
                f"training {escape(model.method)} on a {escape(config.kind)} ranker[/]"
            )
        model.fit(lists, train_set, valid_set)
        model.save(target)
        measures = list(config.measures)
        if config.letor_eval:
            measures += [f"LETOR:{m}" for m in LETOR_MEASURES]
        figures: dict[str, dict[str, float]] = {}
        for name, data in (("valid", valid_set), ("test", test_set)):
            if data is not None:
                figures[name] = evaluate_scores(
                    data, model.predict(data.run), config.measures, letor_eval=config.letor_eval
                )
    props = model.propensities_
    prop_file = target / "propensities.json"
    summary: dict[str, Any] = {
        "model": str(target),
        "kind": "unbiased",
        "base": config.kind,
        "method": model.method,
        "clicks": log_path,
        "sessions": model.n_sessions_,
        "lists": model.n_lists_,
        "propensities": None if props is None else props.to_dict(),
        "propensities_file": str(prop_file) if props is not None else None,
        **figures,
    }
    if json_out:
        _emit_json(summary)
        return
    console.print(
        f"saved [bold]{escape(str(target))}[/] ({escape(model.method)} on {escape(config.kind)}, "
        f"{model.n_sessions_} sessions)"
    )
    if props is not None:
        table = Table(
            title=f"propensities p_k / p_1 ({escape(props.method)})", title_justify="left"
        )
        table.add_column("position", justify="right")
        table.add_column("propensity", justify="right")
        if props.truth is not None:
            table.add_column("true", justify="right")
            table.add_column("rel. error", justify="right")
        errors = props.relative_error() if props.truth is not None else None
        for i, value in enumerate(props.values):
            row = [str(i + 1), f"{value:.4f}"]
            if props.truth is not None and errors is not None:
                row += [f"{props.truth[i]:.4f}", f"{errors[i]:.1%}"]
            table.add_row(*row)
        console.print(table)
        console.print(f"[dim]propensities written to {escape(str(prop_file))}[/]")
    if figures:
        console.print(_values_table("evaluation", figures, measures))


# ---------------------------------------------------------------------- predict
@app.command()
def predict(
    model_dir: Path = typer.Argument(..., help="A model folder written by 'rankstack train'."),
    data: str = typer.Argument(
        ...,
        help="LETOR file, registry split (letor/mq2008/fold1/test) or Parquet/JSONL run "
        "with features.",
    ),
    output: Path = typer.Option(..., "--output", "-o", help="TREC run file to write."),
    tag: str = typer.Option("rankstack", "--tag", help="Run tag (last column)."),
    allow_interleaved: bool = typer.Option(
        False, "--allow-interleaved", help="Group the lines of a qid that appears again later."
    ),
    quiet: bool = typer.Option(False, "--quiet", "-q"),
) -> None:
    """Score DATA with a saved model and write the re-ranked run in TREC format."""
    from rankstack.io import write_run
    from rankstack.io.letor import LetorData
    from rankstack.ltr.base import Ranker
    from rankstack.ltr.config import load_scoring_data

    with _warnings_as_lines():
        model = Ranker.load(model_dir)
        loaded = load_scoring_data(data, allow_interleaved=allow_interleaved)
        run = loaded.run if isinstance(loaded, LetorData) else loaded
        scored = run.with_scores(model.predict(run))
        write_run(scored, output, tag=tag)
    if not quiet:
        console.print(
            f"wrote {escape(str(output))}: {scored.n_queries} queries, {len(scored)} documents"
        )


# ---------------------------------------------------------------------- cv
@app.command()
def cv(
    dataset: str = typer.Argument(
        "letor/mq2008", help="Registry name with folds, or a folder with Fold1..FoldN."
    ),
    model: str = typer.Option("lambdamart", "--model", "-m", help="lambdamart or neural."),
    loss: str | None = typer.Option(None, "--loss", help="Loss of a neural model."),
    param: list[str] = typer.Option(
        [], "--param", "-p", help="Model parameter key=value (repeatable)."
    ),
    folds: str | None = typer.Option(None, "--folds", help="Folds, e.g. 1-5 or 1,3."),
    letor_eval: bool = typer.Option(
        False, "--letor-eval", help="Also LETOR 4.0's own NDCG/MAP definitions."
    ),
    json_out: bool = typer.Option(False, "--json", help="Print the results as JSON."),
    quiet: bool = typer.Option(False, "--quiet", "-q", help="No progress output."),
) -> None:
    """Cross-validate on LETOR folds: train, early-stop on vali, evaluate on test."""
    from rankstack.ltr.cv import cross_validate

    params = _parse_params(param)
    if loss is not None:
        params["loss"] = loss
    show = not quiet
    if quiet or json_out:
        _silence(model, params)

    def on_fold(k: int, values: dict[str, float]) -> None:
        if show:
            shown = "  ".join(f"{m} {v:.4f}" for m, v in list(values.items())[:5])
            console_err.print(f"[dim]fold {k}: {escape(shown)}[/]")

    with _warnings_as_lines():
        result = cross_validate(
            dataset, model, params, folds=folds, letor_eval=letor_eval, on_fold=on_fold
        )
    if json_out:
        _emit_json(result.to_dict())
        return
    table = Table(
        title=f"{escape(model)} on {escape(dataset)} ({_plural(len(result.folds), 'fold')})",
        title_justify="left",
    )
    table.add_column("measure", style="bold")
    for row in result.folds:
        table.add_column(f"fold {row['fold']}", justify="right")
    table.add_column("mean ± std", justify="right", style="bold")
    for m in result.measures:
        table.add_row(
            escape(m),
            *(f"{row[m]:.4f}" for row in result.folds),
            f"{result.mean[m]:.4f} ± {result.std[m]:.4f}",
        )
    console.print(table)


# ---------------------------------------------------------------------- features rank
@features_app.command("rank")
def features_rank(
    data: str = typer.Argument(..., help="LETOR file or registry split."),
    top: int = typer.Option(20, "--top", "-n", help="Show the best N features (0: all)."),
    by: str = typer.Option(
        "mi_adjusted", "--by", help="Sort by mi_adjusted, mi, mi_normalised, gain or split."
    ),
    bins: int = typer.Option(32, "--bins", help="Maximum bins per feature for MI."),
    no_gain: bool = typer.Option(False, "--no-gain", help="Skip the LambdaMART gain fit."),
    seed: int = typer.Option(0, "--seed"),
    allow_interleaved: bool = typer.Option(False, "--allow-interleaved"),
    json_out: bool = typer.Option(False, "--json", help="Print the ranking as JSON."),
) -> None:
    """Rank features by LambdaMART gain and chance-adjusted mutual information with the label."""
    from rankstack.ltr.config import load_letor
    from rankstack.ltr.feature_ranking import SORT_KEYS, rank_features

    if by not in SORT_KEYS:
        raise DataError(f"--by must be one of {list(SORT_KEYS)}, found {by!r}")
    if top < 0:
        raise DataError(f"--top must be >= 0, found {top}")
    with _warnings_as_lines():
        letor = load_letor(data, allow_interleaved=allow_interleaved)
        ranking = rank_features(letor, n_bins=bins, seed=seed, gain=not no_gain)
    rows = ranking.rows(by, top or None)
    if json_out:
        _emit_json({"data": data, "by": by, "features": rows})
        return
    table = Table(title=f"features of {escape(data)} by {by}", title_justify="left")
    for col, justify in (
        ("feature", "left"),
        ("gain", "right"),
        ("MI adj.", "right"),
        ("MI", "right"),
        ("MI norm.", "right"),
        ("bins", "right"),
        ("rank gain", "right"),
        ("rank MI", "right"),
    ):
        table.add_column(col, justify=justify)  # type: ignore[arg-type]
    for r in rows:
        table.add_row(
            escape(r["feature"]),
            f"{r['gain']:.4f}",
            f"{r['mi_adjusted']:.4f}",
            f"{r['mi']:.4f}",
            f"{r['mi_normalised']:.4f}",
            str(r["bins"]),
            str(r["rank_gain"]),
            str(r["rank_mi"]),
        )
    console.print(table)
