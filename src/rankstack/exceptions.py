"""Exception types of rankstack.

Every error a user can cause with bad input is one of these. Messages say what was expected,
what was found and, for files, where (path and 1-based line number). The CLI turns any
:class:`RankstackError` into one line on stderr and exit code 2, never a traceback.
"""

from __future__ import annotations

from os import PathLike


class RankstackError(Exception):
    """Base class of every error rankstack raises on purpose."""


class FormatError(RankstackError, ValueError):
    """A file does not follow the format it was read as.

    Parameters
    ----------
    message:
        What was expected and what was found.
    path:
        The file, when the input came from one.
    line:
        1-based line number inside the (decompressed) file, when known.
    """

    def __init__(
        self, message: str, path: str | PathLike[str] | None = None, line: int | None = None
    ) -> None:
        self.path = None if path is None else str(path)
        self.line = line
        self.reason = message
        where = ""
        if self.path is not None:
            where = self.path + (f", line {line}" if line is not None else "") + ": "
        elif line is not None:
            where = f"line {line}: "
        super().__init__(where + message)


class DataError(RankstackError, ValueError):
    """In-memory data is inconsistent (lengths differ, duplicate ids, wrong dtype...)."""


class MissingFeaturesError(DataError):
    """A stage needs features (or a feature) that the run does not carry."""


class DatasetNotFoundError(RankstackError, KeyError):
    """A dataset name is unknown, or its files are not available offline."""

    def __str__(self) -> str:  # KeyError would repr() the message
        return str(self.args[0]) if self.args else ""


class ChecksumError(RankstackError, ValueError):
    """A downloaded or cached file does not have the checksum the registry lists."""


class IndexFormatError(RankstackError, ValueError):
    """An index folder is truncated, foreign, corrupt or of another format version."""


class MeasureError(RankstackError, ValueError):
    """An evaluation measure name cannot be parsed or is not supported."""


class NotFittedError(RankstackError, ValueError):
    """A learned stage was used before ``fit`` (scikit-learn's convention)."""


class MissingDependencyError(RankstackError, ImportError):
    """An optional dependency is not installed; the message names the extra to install."""
