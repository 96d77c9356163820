"""The Dask client of a process: a LocalCluster sized to the machine, or a running scheduler.

Created once per process (one `law run`) and reused by every task in it, because worker
start-up (import ROOT, JIT) costs seconds per worker.
"""

import os

from analysis.errors import TmetError

_client = None


def get_client(scheduler="", n_workers=0, timeout=10):
    """The process's dask.distributed Client.

    ``scheduler``: ``tcp://HOST:PORT`` of a running scheduler (an analysis facility's, or
    one made by dask-jobqueue); empty: a LocalCluster with ``n_workers`` single-threaded
    worker processes (0: one per core).
    """
    global _client
    if _client is not None and _client.status == "running":
        if not scheduler or _client.scheduler.address == scheduler:
            return _client
    from dask.distributed import Client, LocalCluster

    if scheduler:
        try:
            _client = Client(scheduler, timeout=timeout)
        except (OSError, TimeoutError) as e:
            raise TmetError(
                f"cannot reach the Dask scheduler {scheduler} within {timeout} s ({e}); start it, or unset "
                f"--dask-scheduler / TMET_DASK_SCHEDULER / [tmet] dask_scheduler to use a local cluster",
            ) from e
    else:
        cluster = LocalCluster(
            n_workers=n_workers or os.cpu_count(), threads_per_worker=1, processes=True,
            dashboard_address=None,
        )
        _client = Client(cluster)
    return _client
