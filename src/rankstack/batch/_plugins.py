"""Dask worker plugins (imported only when ``distributed`` is installed)."""

from __future__ import annotations

import os
import sys
from typing import Any

from distributed import WorkerPlugin


class StdoutToStderr(WorkerPlugin):
    """Send a local worker's standard output to its standard error.

    Worker processes of a local cluster share the terminal of the command that started them;
    LightGBM's C++ network set-up prints on file descriptor 1, which would mix its lines into
    the command's own output (``rankstack train --json``). Registered once, Dask applies it to
    every worker, restarted ones included.
    """

    name = "rankstack-stdout-to-stderr"

    def setup(self, worker: Any) -> None:
        sys.stdout.flush()
        os.dup2(2, 1)
