"""Readers and writers for the formats people already have (TREC, BEIR, LETOR, JSONL...).

Every reader takes plain, gzip, bz2, xz or single-member zip files, raises
:class:`~rankstack.exceptions.FormatError` naming the file and line for bad input, and every
writer writes atomically (``.gz`` paths are compressed). ``read_*_file`` tell the format from
the name and content; see ``docs/formats.md``.
"""

from rankstack.io.auto import (
    detect_format,
    read_corpus_file,
    read_qrels_file,
    read_queries_file,
    read_run_file,
)
from rankstack.io.beir import (
    BeirFolder,
    read_beir_corpus,
    read_beir_qrels,
    read_beir_qrels_tsv,
    read_beir_queries,
    write_beir_qrels_tsv,
)
from rankstack.io.cranfield import (
    read_cranfield_corpus,
    read_cranfield_qrels,
    read_cranfield_queries,
)
from rankstack.io.jsonl import (
    read_corpus_jsonl,
    read_qrels_jsonl,
    read_queries_jsonl,
    read_run_jsonl,
    write_corpus_jsonl,
    write_qrels_jsonl,
    write_queries_jsonl,
    write_run_jsonl,
)
from rankstack.io.letor import LetorData, read_group_sizes, read_letor, write_letor
from rankstack.io.parquet import (
    read_corpus_parquet,
    read_qrels_parquet,
    read_queries_parquet,
    read_run_parquet,
    write_corpus_parquet,
    write_qrels_parquet,
    write_queries_parquet,
    write_run_parquet,
)
from rankstack.io.trec import read_qrels, read_run, write_qrels, write_run
from rankstack.io.tsv import read_corpus_tsv, read_queries_tsv, write_corpus_tsv, write_queries_tsv

__all__ = [
    "BeirFolder",
    "LetorData",
    "detect_format",
    "read_beir_corpus",
    "read_beir_qrels",
    "read_beir_qrels_tsv",
    "read_beir_queries",
    "read_corpus_file",
    "read_corpus_jsonl",
    "read_corpus_parquet",
    "read_corpus_tsv",
    "read_cranfield_corpus",
    "read_cranfield_qrels",
    "read_cranfield_queries",
    "read_group_sizes",
    "read_letor",
    "read_qrels",
    "read_qrels_file",
    "read_qrels_jsonl",
    "read_qrels_parquet",
    "read_queries_file",
    "read_queries_jsonl",
    "read_queries_parquet",
    "read_queries_tsv",
    "read_run",
    "read_run_file",
    "read_run_jsonl",
    "read_run_parquet",
    "write_beir_qrels_tsv",
    "write_corpus_jsonl",
    "write_corpus_parquet",
    "write_corpus_tsv",
    "write_letor",
    "write_qrels",
    "write_qrels_jsonl",
    "write_qrels_parquet",
    "write_queries_jsonl",
    "write_queries_parquet",
    "write_queries_tsv",
    "write_run",
    "write_run_jsonl",
    "write_run_parquet",
]
