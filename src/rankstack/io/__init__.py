"""Readers and writers for the formats people already have (TREC, BEIR, LETOR, JSONL...)."""

from rankstack.io.trec import read_qrels, read_run, write_qrels, write_run

__all__ = ["read_qrels", "read_run", "write_qrels", "write_run"]
