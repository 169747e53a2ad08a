"""BEIR datasets: a folder (or a zip of one) with ``corpus.jsonl``, ``queries.jsonl``, ``qrels/``.

Layout (Thakur et al., "BEIR", NeurIPS 2021 Datasets and Benchmarks; ``beir.datasets``)::

    scifact/corpus.jsonl       {"_id": "4983", "title": "...", "text": "...", "metadata": {}}
    scifact/queries.jsonl      {"_id": "1", "text": "...", "metadata": {}}
    scifact/qrels/test.tsv     query-id<TAB>corpus-id<TAB>score   (header line, CRLF allowed)

The folder may be zipped as BEIR ships it (``scifact.zip`` holding ``scifact/...``) and each
file may be gzip/bz2/xz-compressed (``corpus.jsonl.gz``). As in BEIR's loader, the queries of
a split are the queries that have judgements in that split's qrels, in ``queries.jsonl`` order.
"""

from __future__ import annotations

import logging
import zipfile
from dataclasses import dataclass
from pathlib import Path

import pyarrow as pa
import pyarrow.compute as pc

from rankstack.data import Corpus, Qrels, Queries
from rankstack.exceptions import DataError, FormatError
from rankstack.io._checks import check_unique_pairs
from rankstack.io._columns import is_int, read_columns
from rankstack.io._files import PathLike, decompress_bytes, read_bytes
from rankstack.io._lines import record_lines, split_lines
from rankstack.io._text import int_text, join_lines, write_lines
from rankstack.io.jsonl import read_corpus_jsonl, read_queries_jsonl

logger = logging.getLogger(__name__)

QRELS_HEADER = "query-id\tcorpus-id\tscore"
_SUFFIXES = ("", ".gz", ".bz2", ".xz")


@dataclass(frozen=True)
class BeirFolder:
    """Where the files of one BEIR dataset are: a folder or a zip (with a top folder or not)."""

    root: Path
    zip_prefix: str | None = None  # set when ``root`` is a zip: "scifact/" or ""

    @classmethod
    def open(cls, path: PathLike) -> BeirFolder:
        """Recognise a BEIR folder or zip; :class:`FormatError` says what was expected."""
        p = Path(path)
        if p.is_dir():
            folder = cls(p)
            if folder.find("corpus.jsonl") is None and folder.find("queries.jsonl") is None:
                raise FormatError(
                    "expected a BEIR folder with corpus.jsonl, queries.jsonl and qrels/*.tsv; "
                    f"found {sorted(x.name for x in p.iterdir())[:10]}",
                    p,
                )
            return folder
        if p.is_file() and zipfile.is_zipfile(p):
            with zipfile.ZipFile(p) as zf:
                names = zf.namelist()
            wanted = {f"{stem}{s}" for stem in ("corpus.jsonl", "queries.jsonl") for s in _SUFFIXES}
            for name in sorted(names, key=len):
                base = name.rsplit("/", 1)[-1]
                if base in wanted:
                    return cls(p, name[: len(name) - len(base)])
            raise FormatError(
                "expected a BEIR zip holding corpus.jsonl and queries.jsonl; "
                f"members: {names[:10]}",
                p,
            )
        if not p.exists():
            raise FormatError("file not found", p)
        raise FormatError("expected a BEIR folder or a zip of one", p)

    def _members(self) -> set[str]:
        with zipfile.ZipFile(self.root) as zf:
            return set(zf.namelist())

    def find(self, name: str) -> str | None:
        """Relative name (with compression suffix) of a file, or None when absent."""
        if self.zip_prefix is not None:
            members = self._members()
            for s in _SUFFIXES:
                if f"{self.zip_prefix}{name}{s}" in members:
                    return name + s
            return None
        for s in _SUFFIXES:
            if (self.root / f"{name}{s}").is_file():
                return name + s
        return None

    def where(self, rel: str) -> str:
        """A path naming the file for messages (``data.zip/scifact/qrels/test.tsv``)."""
        if self.zip_prefix is not None:
            return f"{self.root}/{self.zip_prefix}{rel}"
        return str(self.root / rel)

    def read(self, name: str) -> tuple[bytes, str]:
        """Decompressed bytes of a file and its display path."""
        rel = self.find(name)
        if rel is None:
            raise FormatError(f"the BEIR dataset has no {name} (expected {self.where(name)})")
        if self.zip_prefix is not None:
            data = read_bytes(self.root, member=f"{self.zip_prefix}{rel}")
            return decompress_bytes(data, self.where(rel)), self.where(rel)
        return read_bytes(self.root / rel), self.where(rel)

    @property
    def splits(self) -> list[str]:
        """Splits with a qrels file, in the order train, dev, test, then others by name."""
        if self.zip_prefix is not None:
            pre = f"{self.zip_prefix}qrels/"
            names = [m[len(pre) :] for m in self._members() if m.startswith(pre)]
        else:
            q = self.root / "qrels"
            names = [x.name for x in q.iterdir() if x.is_file()] if q.is_dir() else []
        found = set()
        for n in names:
            for s in _SUFFIXES[::-1]:
                if s and n.endswith(s):
                    n = n[: -len(s)]
                    break
            if n.endswith(".tsv") and "/" not in n:
                found.add(n[:-4])
        order = {"train": 0, "dev": 1, "test": 2}
        return sorted(found, key=lambda s: (order.get(s, 3), s))

    def corpus(self) -> Corpus:
        data, where = self.read("corpus.jsonl")
        return read_corpus_jsonl(where, fields=("title", "text"), data=data)

    def queries(self, split: str | None = None) -> Queries:
        data, where = self.read("queries.jsonl")
        queries = read_queries_jsonl(where, data=data)
        if split is None:
            return queries
        return queries_in_qrels(queries, self.qrels(split))

    def qrels(self, split: str = "test") -> Qrels:
        if self.find(f"qrels/{split}.tsv") is None:
            raise FormatError(
                f"no qrels for split {split!r}; the dataset has splits {self.splits} "
                f"(expected {self.where(f'qrels/{split}.tsv')})"
            )
        data, where = self.read(f"qrels/{split}.tsv")
        return read_beir_qrels_tsv(where, data=data)


def queries_in_qrels(queries: Queries, qrels: Qrels) -> Queries:
    """The queries judged in ``qrels``, in the queries' order (BEIR's split rule).

    A judged query missing from the queries is an error: its qrels could never be evaluated.
    """
    keep = pc.is_in(queries.qids, value_set=qrels.qids)
    missing = pc.invert(pc.is_in(qrels.qids, value_set=queries.qids))
    if pc.any(missing).as_py():
        absent = qrels.qids.filter(missing).slice(0, 5).to_pylist()
        raise DataError(f"the qrels judge queries that are not among the queries: {absent}")
    return queries.select(queries.qids.filter(keep))


def read_beir_corpus(path: PathLike) -> Corpus:
    """The corpus of a BEIR folder or zip, or a ``corpus.jsonl`` file itself."""
    if Path(path).is_file() and not zipfile.is_zipfile(path):
        return read_corpus_jsonl(path, fields=("title", "text"))
    return BeirFolder.open(path).corpus()


def read_beir_queries(path: PathLike, split: str | None = None) -> Queries:
    """All queries of a BEIR folder/zip, or those judged in ``split``'s qrels."""
    if Path(path).is_file() and not zipfile.is_zipfile(path):
        if split is not None:
            raise DataError("a split needs the whole BEIR folder (queries + qrels), not one file")
        return read_queries_jsonl(path)
    return BeirFolder.open(path).queries(split)


def read_beir_qrels(path: PathLike, split: str = "test") -> Qrels:
    """The qrels of ``split`` of a BEIR folder/zip, or a BEIR qrels TSV file itself."""
    if Path(path).is_file() and not zipfile.is_zipfile(path):
        return read_beir_qrels_tsv(path)
    return BeirFolder.open(path).qrels(split)


def _check_qrels_tsv_line(cols: list[str]) -> str | None:
    if len(cols) != 3:
        return f"expected 3 tab-separated columns 'query-id corpus-id score', found {len(cols)}"
    if not is_int(cols[2]):
        return f"expected an integer score in column 3, found {cols[2]!r}"
    return None


def _header_lines(raw: bytes, path: PathLike | None) -> int:
    """How many lines to skip: up to and including the header line, or 0 without one."""
    head = split_lines(raw[: 1 << 16], path).to_pylist()
    for number, line in enumerate(head, start=1):
        if not line.strip():
            continue
        cols = line.split("\t")
        if len(cols) == 3 and not is_int(cols[2]):
            if cols[0].strip().lower() not in ("query-id", "query_id", "qid", "query"):
                raise FormatError(
                    f"expected the header {QRELS_HEADER!r} or a judgement, found {line!r}",
                    path,
                    number,
                )
            return number
        return 0
    return 0


def read_beir_qrels_tsv(path: PathLike, *, data: bytes | None = None) -> Qrels:
    """A BEIR qrels TSV: ``query-id<TAB>corpus-id<TAB>score``, header line optional.

    Line ends may be CRLF (BEIR writes them with :mod:`csv`). An empty file (or a header only)
    gives empty qrels and a warning. A (query, doc) pair judged twice raises
    :class:`FormatError` naming both lines.
    """
    raw = read_bytes(path) if data is None else data
    skip = _header_lines(raw, path)
    body = raw
    if skip:
        nl = -1
        for _ in range(skip):
            nl = raw.find(b"\n", nl + 1)
        body = raw[nl + 1 :] if nl >= 0 else b""
    try:
        table = read_columns(
            body,
            path,
            ("qid", "docid", "label"),
            {"label": pa.int64()},
            _check_qrels_tsv_line,
            whitespace=False,
            delimiter="\t",
        )
    except FormatError as exc:
        if exc.line is None or not skip:
            raise
        raise FormatError(exc.reason, path, exc.line + skip) from exc
    if table.num_rows == 0:
        logger.warning("%s: the qrels file holds no judgements", path)
    qid = table.column("qid").combine_chunks()
    docid = table.column("docid").combine_chunks()
    qid, docid = pc.utf8_trim_whitespace(qid), pc.utf8_trim_whitespace(docid)
    line_no = record_lines(body, path) + skip
    check_unique_pairs(qid, docid, line_no, path, "each pair is judged once")
    return Qrels.from_arrays(qid, docid, table.column("label").to_numpy())


def write_beir_qrels_tsv(qrels: Qrels, path: PathLike) -> None:
    """Write BEIR's qrels TSV (header, LF line ends), atomically."""
    if len(qrels) == 0:
        write_lines(path, [], header=QRELS_HEADER + "\n")
        return
    lines = join_lines([qrels.qid_column(), "\t", qrels.docids, "\t", int_text(qrels.labels)])
    write_lines(path, [lines], header=QRELS_HEADER + "\n")


__all__ = [
    "BeirFolder",
    "queries_in_qrels",
    "read_beir_corpus",
    "read_beir_qrels",
    "read_beir_qrels_tsv",
    "read_beir_queries",
    "write_beir_qrels_tsv",
]
