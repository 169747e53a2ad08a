"""Connecting to a Dask cluster: a scheduler address, a local cluster, or none.

``"local"`` starts a :class:`distributed.LocalCluster` of worker *processes* with one thread
each (BM25 and LightGBM hold the GIL in parts, so processes scale where threads would not;
the memory-mapped index is shared between them through the page cache). Any other value is
the address of a running scheduler (``tcp://host:8786``, started with ``dask scheduler``),
and ``"none"`` runs everything in this process.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from rankstack._compat import require
from rankstack.exceptions import RankstackError

logger = logging.getLogger(__name__)

#: scheduler values that mean "no cluster: run in this process"
NO_CLUSTER = ("none", "")


class ClusterError(RankstackError, ValueError):
    """The Dask scheduler cannot be reached or the local cluster cannot start."""


@contextmanager
def dask_client(
    scheduler: str | None,
    *,
    workers: int = 2,
    threads_per_worker: int = 1,
    dashboard: bool = True,
    memory_limit: str | float | None = "auto",
    timeout: float = 30.0,
) -> Iterator[Any]:
    """A :class:`distributed.Client` for ``scheduler``, closed on exit (None for ``"none"``).

    Parameters
    ----------
    scheduler:
        ``"local"``, a scheduler address such as ``tcp://10.0.0.5:8786``, or ``"none"``/None.
    workers, threads_per_worker, memory_limit:
        The local cluster's worker processes, threads per process and memory limit per
        worker (Dask's ``"auto"``: the machine's memory divided among the workers).
        Ignored for a remote scheduler, whose workers were started with ``dask worker``.
    dashboard:
        Start the local cluster's diagnostics dashboard on a free port (needs ``bokeh``).
    timeout:
        Seconds to wait for a remote scheduler.
    """
    if scheduler is None or scheduler.strip().lower() in NO_CLUSTER:
        yield None
        return
    distributed = require("distributed")
    if workers < 1 or threads_per_worker < 1:
        raise ClusterError(
            f"a local cluster needs >= 1 worker and >= 1 thread per worker, found {workers} "
            f"and {threads_per_worker}"
        )
    cluster = None
    try:
        if scheduler.strip().lower() == "local":
            cluster = distributed.LocalCluster(
                n_workers=workers,
                threads_per_worker=threads_per_worker,
                processes=True,
                # a free port: Dask's own HTTP routes always listen; bokeh's pages on demand
                dashboard_address="127.0.0.1:0",
                scheduler_kwargs={"dashboard": dashboard and _has_bokeh()},
                memory_limit=memory_limit,
            )
            client = distributed.Client(cluster)
            from rankstack.batch._plugins import StdoutToStderr

            client.register_plugin(StdoutToStderr())
        else:
            client = distributed.Client(scheduler, timeout=timeout)
    except (OSError, TimeoutError) as exc:
        if cluster is not None:
            cluster.close()
        if scheduler.strip().lower() == "local":
            raise ClusterError(f"cannot start a local Dask cluster: {exc}") from exc
        raise ClusterError(
            f"cannot connect to the Dask scheduler {scheduler}: {exc}; is 'dask scheduler' "
            "running there and reachable from this machine?"
        ) from exc
    try:
        yield client
    finally:
        client.close()
        if cluster is not None:
            cluster.close()


def _has_bokeh() -> bool:
    try:
        import bokeh  # noqa: F401
    except ImportError:
        return False
    return True


def dashboard_link(client: Any) -> str | None:
    """The address of the scheduler's HTTP server (its dashboard when bokeh is installed
    there and the dashboard is on), else None."""
    try:
        services = client.scheduler_info().get("services", {})
    except Exception:  # a closed or unreachable client: no link to show
        return None
    if "dashboard" not in services:
        return None
    return str(client.dashboard_link)


def worker_threads(client: Any) -> int:
    """Total threads over the cluster's workers (at least 1)."""
    return max(1, sum(int(n) for n in client.nthreads().values()))
