"""Read a run, qrels, queries or corpus from a path, telling the format by name, then content.

Order of evidence: a folder or a zip holding ``corpus.jsonl``/``queries.jsonl`` is BEIR; the
file name (after ``.gz``/``.bz2``/``.xz``) decides next (``.jsonl``, ``.parquet``, ``.tsv``,
``cran.all.1400``, ``cran.qry``, ``cranqrel``); otherwise the first non-blank line is looked
at (``{`` is JSONL, ``PAR1`` Parquet, ``.I`` Cranfield, tabs TSV, 4 or 6 columns TREC). When
the evidence is ambiguous a :class:`FormatError` lists what was expected and how to name the
format (``format=``).
"""

from __future__ import annotations

import bz2
import gzip
import lzma
import zipfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

from rankstack.data import Corpus, Qrels, Queries, Run
from rankstack.exceptions import FormatError
from rankstack.io import beir, cranfield, jsonl, letor, parquet, trec, tsv
from rankstack.io._files import PathLike, compression_of

_COMPRESSED = (".gz", ".bz2", ".xz")

QUERIES_FORMATS: dict[str, Callable[[PathLike], Queries]] = {
    "jsonl": jsonl.read_queries_jsonl,
    "tsv": tsv.read_queries_tsv,
    "parquet": parquet.read_queries_parquet,
    "cranfield": cranfield.read_cranfield_queries,
    "beir": beir.read_beir_queries,
}
CORPUS_FORMATS: dict[str, Callable[[PathLike], Corpus]] = {
    "jsonl": jsonl.read_corpus_jsonl,
    "tsv": tsv.read_corpus_tsv,
    "parquet": parquet.read_corpus_parquet,
    "cranfield": cranfield.read_cranfield_corpus,
    "beir": beir.read_beir_corpus,
}
QRELS_FORMATS: dict[str, Callable[[PathLike], Qrels]] = {
    "trec": trec.read_qrels,
    "beir": beir.read_beir_qrels,
    "beir-tsv": beir.read_beir_qrels_tsv,
    "jsonl": jsonl.read_qrels_jsonl,
    "parquet": parquet.read_qrels_parquet,
    "cranfield": cranfield.read_cranfield_qrels,
    "letor": lambda p: letor.read_letor(p).qrels,
}
RUN_FORMATS: dict[str, Callable[[PathLike], Run]] = {
    "trec": trec.read_run,
    "jsonl": jsonl.read_run_jsonl,
    "parquet": parquet.read_run_parquet,
}


def _base_name(path: Path) -> str:
    name = path.name.lower()
    for s in _COMPRESSED:
        if name.endswith(s):
            return name[: -len(s)]
    return name


def _head(path: Path) -> str:
    """The first non-blank line of the (decompressed) file, or "PAR1" for Parquet."""
    kind = compression_of(path)
    try:
        if kind == "gzip":
            with gzip.open(path, "rb") as fh:
                raw = fh.read(1 << 16)
        elif kind == "bz2":
            with bz2.open(path, "rb") as fh:
                raw = fh.read(1 << 16)
        elif kind == "xz":
            with lzma.open(path, "rb") as fh:
                raw = fh.read(1 << 16)
        elif kind == "zip":
            with zipfile.ZipFile(path) as zf:
                names = [n for n in zf.namelist() if not n.endswith("/")]
                if len(names) != 1:
                    return ""
                with zf.open(names[0]) as fh:
                    raw = fh.read(1 << 16)
        else:
            with open(path, "rb") as fh:
                raw = fh.read(1 << 16)
    except (OSError, EOFError, lzma.LZMAError, zipfile.BadZipFile) as exc:
        raise FormatError(f"cannot decompress ({kind}): {exc}", path) from exc
    if raw.startswith(b"PAR1"):
        return "PAR1"
    for line in raw.splitlines():
        if line.strip():
            return line.decode("utf-8", errors="replace").strip("\ufeff \t\r")
    return ""


def _is_beir_zip(path: Path) -> bool:
    if not (path.is_file() and zipfile.is_zipfile(path)):
        return False
    with zipfile.ZipFile(path) as zf:
        names = zf.namelist()
    return any(n.rsplit("/", 1)[-1].startswith(("corpus.jsonl", "queries.jsonl")) for n in names)


def detect_format(path: PathLike, kind: str) -> str:
    """The format name of ``path`` for ``kind`` (``run``, ``qrels``, ``queries``, ``corpus``)."""
    tables: dict[str, dict[str, Any]] = {
        "run": RUN_FORMATS,
        "qrels": QRELS_FORMATS,
        "queries": QUERIES_FORMATS,
        "corpus": CORPUS_FORMATS,
    }
    if kind not in tables:
        raise ValueError(f"kind must be one of {sorted(tables)}, found {kind!r}")
    formats = tables[kind]
    p = Path(path)
    if not p.exists():
        raise FormatError("file not found", p)
    if p.is_dir() or _is_beir_zip(p):
        if "beir" not in formats:
            raise FormatError(f"expected a {kind} file, found a BEIR folder or zip", p)
        return "beir"
    name = _base_name(p)
    if zipfile.is_zipfile(p):
        with zipfile.ZipFile(p) as zf:
            members = [n for n in zf.namelist() if not n.endswith("/")]
        if len(members) == 1:
            name = _base_name(Path(members[0]))
    if "cranfield" in formats and (name.startswith(("cran.all", "cran.qry", "cranqrel"))):
        return "cranfield"
    by_suffix = {
        ".jsonl": "jsonl",
        ".ndjson": "jsonl",
        ".json": "jsonl",
        ".parquet": "parquet",
        ".pq": "parquet",
    }
    for suffix, fmt in by_suffix.items():
        if name.endswith(suffix) and fmt in formats:
            return fmt
    first = _head(p)
    if first == "PAR1" and "parquet" in formats:
        return "parquet"
    if first.startswith("{") and "jsonl" in formats:
        return "jsonl"
    if first.startswith(".I") and "cranfield" in formats:
        return "cranfield"
    cols = first.split()
    if kind == "qrels":
        if (
            name.endswith(".tsv")
            or first.lower().startswith("query-id")
            or ("\t" in first and len(first.split("\t")) == 3)
        ):
            return "beir-tsv"
        if len(cols) >= 2 and cols[1].startswith("qid:"):
            return "letor"
        if len(cols) == 4:
            return "trec"
    elif kind == "run":
        if len(cols) == 6:
            return "trec"
    elif name.endswith(".tsv") or "\t" in first:
        return "tsv"
    raise FormatError(
        f"cannot tell the {kind} format (first line {first[:80]!r}); expected one of "
        f"{sorted(formats)}: name it with format=...",
        p,
    )


def _read(path: PathLike, kind: str, fmt: str | None, table: dict[str, Any]) -> Any:
    fmt = fmt or detect_format(path, kind)
    if fmt not in table:
        raise FormatError(f"unknown {kind} format {fmt!r}; expected one of {sorted(table)}", path)
    return table[fmt](path)


def read_queries_file(path: PathLike, *, format: str | None = None) -> Queries:
    """Queries from any supported file (see :data:`QUERIES_FORMATS`)."""
    result: Queries = _read(path, "queries", format, QUERIES_FORMATS)
    return result


def read_corpus_file(path: PathLike, *, format: str | None = None) -> Corpus:
    """A corpus from any supported file or BEIR folder (see :data:`CORPUS_FORMATS`)."""
    result: Corpus = _read(path, "corpus", format, CORPUS_FORMATS)
    return result


def read_qrels_file(path: PathLike, *, format: str | None = None) -> Qrels:
    """Qrels from any supported file (see :data:`QRELS_FORMATS`)."""
    result: Qrels = _read(path, "qrels", format, QRELS_FORMATS)
    return result


def read_run_file(path: PathLike, *, format: str | None = None) -> Run:
    """A run from a TREC, JSONL or Parquet file (see :data:`RUN_FORMATS`)."""
    result: Run = _read(path, "run", format, RUN_FORMATS)
    return result


__all__ = [
    "CORPUS_FORMATS",
    "QRELS_FORMATS",
    "QUERIES_FORMATS",
    "RUN_FORMATS",
    "detect_format",
    "read_corpus_file",
    "read_qrels_file",
    "read_queries_file",
    "read_run_file",
]
