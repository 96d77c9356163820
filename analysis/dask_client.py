"""The Dask client of a process: a LocalCluster sized to the machine, or a running scheduler.

Made once per process (one `law run`) and reused by every task in it, because worker
start-up (import ROOT, JIT) costs seconds per worker.
"""

import functools
import os

from analysis.errors import TmetError


def get_client(scheduler="", n_workers=0, timeout=10):
    """The process's dask.distributed Client.

    ``scheduler``: ``tcp://HOST:PORT`` of a running scheduler (an analysis facility's, or
    one made by dask-jobqueue); empty: a LocalCluster with ``n_workers`` single-threaded
    worker processes (0: one per core).
    """
    client = _connected_client(scheduler, n_workers, timeout)
    if client.status != "running":  # closed since: connect again
        _connected_client.cache_clear()
        client = _connected_client(scheduler, n_workers, timeout)
    return client


@functools.cache
def _connected_client(scheduler, n_workers, timeout):
    from dask.distributed import Client, LocalCluster

    if scheduler:
        try:
            return Client(scheduler, timeout=timeout)
        except (OSError, TimeoutError) as e:
            raise TmetError(
                f"cannot reach the Dask scheduler {scheduler} within {timeout} s ({e}); start it, or unset "
                f"--dask-scheduler / TMET_DASK_SCHEDULER / [tmet] dask_scheduler to use a local cluster",
            ) from e
    cluster = LocalCluster(
        n_workers=n_workers or os.cpu_count(), threads_per_worker=1, processes=True, dashboard_address=None,
    )
    return Client(cluster)
