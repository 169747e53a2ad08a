"""Every reader, fed random bytes or mutated valid files, raises only our errors and returns.

"Our errors" are :class:`FormatError` and :class:`DataError`; anything else (a bare
``ValueError`` from a decompressor, an ``IndexError`` from a slice, an Arrow exception) is a
bug, and so is a hang (each example has a deadline).
"""

from __future__ import annotations

import contextlib
import gzip
import os
from collections.abc import Callable
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from rankstack.exceptions import DataError, FormatError
from rankstack.io import (
    read_beir_qrels_tsv,
    read_corpus_file,
    read_corpus_jsonl,
    read_corpus_parquet,
    read_corpus_tsv,
    read_cranfield_corpus,
    read_cranfield_qrels,
    read_cranfield_queries,
    read_group_sizes,
    read_letor,
    read_qrels_file,
    read_qrels_jsonl,
    read_qrels_parquet,
    read_queries_file,
    read_queries_jsonl,
    read_queries_parquet,
    read_queries_tsv,
    read_run_file,
    read_run_jsonl,
    read_run_parquet,
)

READERS: dict[str, tuple[Callable[[Path], Any], bytes]] = {
    "queries_jsonl": (
        read_queries_jsonl,
        b'{"_id": "1", "text": "a b", "metadata": {}}\n{"_id": "2", "text": "c"}\n',
    ),
    "corpus_jsonl": (
        read_corpus_jsonl,
        b'{"_id": "d1", "title": "T", "text": "x"}\n{"_id": "d2", "title": "", "text": "y"}\n',
    ),
    "run_jsonl": (
        read_run_jsonl,
        b'{"qid": "1", "docno": "a", "score": 1.5}\n{"qid": "1", "docno": "b", "score": 1}\n',
    ),
    "qrels_jsonl": (read_qrels_jsonl, b'{"qid": "1", "docno": "a", "label": 1}\n'),
    "beir_qrels": (read_beir_qrels_tsv, b"query-id\tcorpus-id\tscore\r\n1\td1\t1\r\n2\td2\t0\r\n"),
    "queries_tsv": (read_queries_tsv, b"1\thello world\n2\tbye\n"),
    "corpus_tsv": (read_corpus_tsv, b"d1\tTitle\ttext one\nd2\t\ttext two\n"),
    "letor": (
        read_letor,
        b"2 qid:1 1:0.5 2:0.25 #docid = A inc = 1\n0 qid:1 1:0.1 2:1 #docid = B\n"
        b"1 qid:2 2:3 #docid = C\n",
    ),
    "group_sizes": (read_group_sizes, b"2\n1\n"),
    "cran_docs": (
        read_cranfield_corpus,
        b".I 1\n.T\ntitle\n.A\nme\n.B\nb\n.W\nbody\n.I 2\n.W\nx\n",
    ),
    "cran_queries": (read_cranfield_queries, b".I 001\r\n.W\r\nwhat\r\n.I 004\r\n.W\r\nwhy\r\n"),
    "cran_qrels": (read_cranfield_qrels, b"1 10 1\n1 11 -1\n2 5 4"),
    "corpus_parquet": (read_corpus_parquet, b"PAR1\x00\x00PAR1"),
    "run_parquet": (read_run_parquet, b"PAR1\x15\x04PAR1"),
    "qrels_parquet": (read_qrels_parquet, b"PAR1\x15\x04PAR1"),
    "queries_parquet": (read_queries_parquet, b"PAR1\x15\x04PAR1"),
    "any_queries": (read_queries_file, b"1\thello\n"),
    "any_corpus": (read_corpus_file, b'{"_id": "d", "text": "x"}\n'),
    "any_qrels": (read_qrels_file, b"1 0 d 1\n"),
    "any_run": (read_run_file, b"1 Q0 d 1 1.0 t\n"),
}

FUZZ = settings(
    max_examples=int(os.environ.get("RANKSTACK_FUZZ_EXAMPLES", "60")),
    deadline=timedelta(seconds=5),
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)


def _try(reader: Callable[[Path], Any], path: Path) -> None:
    with contextlib.suppress(FormatError, DataError):
        reader(path)


@pytest.mark.parametrize("name", sorted(READERS))
def test_valid_seed_parses(tmp_path: Path, name: str) -> None:
    reader, seed = READERS[name]
    if name.endswith("_parquet"):
        pytest.skip("the parquet seed is deliberately not a valid file")
    p = tmp_path / "seed"
    p.write_bytes(seed)
    reader(p)


@pytest.mark.parametrize("name", sorted(READERS))
@FUZZ
@given(data=st.binary(max_size=200))
def test_random_bytes(tmp_path: Path, name: str, data: bytes) -> None:
    p = tmp_path / "fuzz"
    p.write_bytes(data)
    _try(READERS[name][0], p)


@pytest.mark.parametrize("name", sorted(READERS))
@FUZZ
@given(
    pos=st.integers(0, 200),
    cut=st.integers(0, 8),
    junk=st.binary(max_size=8)
    | st.sampled_from(
        [b"\t", b" ", b"\n", b"\r", b":", b"#", b"{", b"}", b'"', b"nan", b"-1", b"\x00", b"\xff"]
    ),
    compress=st.booleans(),
)
def test_mutated_valid_files(
    tmp_path: Path, name: str, pos: int, cut: int, junk: bytes, compress: bool
) -> None:
    reader, seed = READERS[name]
    pos = min(pos, len(seed))
    data = seed[:pos] + junk + seed[pos + cut :]
    p = tmp_path / "mutant"
    p.write_bytes(gzip.compress(data) if compress else data)
    _try(reader, p)


@pytest.mark.parametrize("name", ["letor", "queries_jsonl", "cran_docs", "beir_qrels"])
@FUZZ
@given(cut=st.integers(1, 60))
def test_truncated_gzip(tmp_path: Path, name: str, cut: int) -> None:
    reader, seed = READERS[name]
    blob = gzip.compress(seed)
    p = tmp_path / "trunc.gz"
    p.write_bytes(blob[: max(2, len(blob) - cut)])
    _try(reader, p)


@pytest.mark.parametrize(
    "content", [b"null", b"null\nnull\n", b' {"_id": "d", "text": "x"}\nnull\n']
)
def test_null_lines_are_named_not_crashed_on(tmp_path: Path, content: bytes) -> None:
    """Arrow 26 segfaults on a file of JSON nulls; the reader must name the line instead."""
    p = tmp_path / "corpus.jsonl"
    p.write_bytes(content)
    with pytest.raises(FormatError, match=r"line \d+: expected .* found null"):
        read_corpus_file(p)
