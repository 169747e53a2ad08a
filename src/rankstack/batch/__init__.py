"""Batch jobs on a Dask cluster: a saved pipeline over many queries, scaled out.

:func:`run_batch` partitions the queries, runs each partition on a Dask worker that opens the
pipeline and its memory-mapped index once, and concatenates the partial runs in query order:
the result is identical to a single-process run. :func:`dask_client` connects to a scheduler
address, starts a local cluster (``"local"``) or runs in-process (``"none"``). LambdaMART
training on a cluster lives in :mod:`rankstack.ltr.gbdt_dask`. Needs ``rankstack[dask]``.
"""

from rankstack.batch._cluster import ClusterError, dashboard_link, dask_client
from rankstack.batch._partition import even_bounds, group_bounds
from rankstack.batch._run import BatchError, run_batch
from rankstack.batch._worker import PipelineCopyError

__all__ = [
    "BatchError",
    "ClusterError",
    "PipelineCopyError",
    "dashboard_link",
    "dask_client",
    "even_bounds",
    "group_bounds",
    "run_batch",
]
