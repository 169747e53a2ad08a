"""``rankstack features list``: the query-document features and what each one is."""

from __future__ import annotations

import json
import sys

import typer
from rich.markup import escape
from rich.table import Table

from rankstack.cli._app import console
from rankstack.cli.ltr_cmd import features_app


@features_app.command("list")
def features_list(
    index: str = typer.Option(
        None, "--index", "-i", help="List the features of this index (one per field)."
    ),
    features: list[str] = typer.Option(
        None, "--features", "-f", help="Restrict to these names, families, groups or sets."
    ),
    json_out: bool = typer.Option(False, "--json", help="Print the list as JSON."),
) -> None:
    """List the query-document features of the Features stage, with one line on each.

    Without --index, per-field features show as templates such as bm25_{field}. Without
    --features, the bi-encoder features of dense_features() follow (JSON: "dense_features").
    """
    from rankstack.rerank import list_features

    wanted: str | list[str] = list(features) if features else "default"
    fields = None
    if index is not None:
        from rankstack.index import Index

        fields = Index.load(index).field_names
    infos = list_features(fields, wanted)
    from rankstack.dense.features import DENSE_FEATURES

    dense = [] if features else [(f"dense_{k}", d) for k, d in DENSE_FEATURES.items()]
    if json_out:
        rows = [
            {"name": i.name, "description": i.description, "field": i.field,
             "positions": i.positions}
            for i in infos
        ]  # fmt: skip
        doc: dict[str, object] = {"features": rows}
        if dense:
            doc["dense_features"] = [{"name": n, "description": d} for n, d in dense]
        sys.stdout.write(json.dumps(doc, indent=1) + "\n")
        return
    table = Table(title="features", title_justify="left")
    table.add_column("name")
    table.add_column("description")
    table.add_column("positions", justify="center")
    for i in infos:
        table.add_row(escape(i.name), escape(i.description), "yes" if i.positions else "")
    console.print(table)
    console.print(
        "positions: needs an index built with --positions (or the corpus, in Python)",
        highlight=False,
    )
    if dense:
        table = Table(title="dense_features (bi-encoder; prefix: the stage's name)",
                      title_justify="left")  # fmt: skip
        table.add_column("name")
        table.add_column("description")
        for name, description in dense:
            table.add_row(escape(name), escape(description))
        console.print(table)
