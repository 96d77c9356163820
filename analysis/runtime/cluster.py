"""The Dask scheduler the graphs run on: a running one (checked before any task runs), or a
LocalCluster sized to the machine, started once per process (one `law run`) and reused by
every task in it, because worker start-up (import ROOT, JIT) costs seconds per worker.

A graph runs with a ``connected`` client: a cluster that loses every worker for the wait
(``[tmet] dask_worker_wait``, $TMET_DASK_WORKER_WAIT; default 60 s) ends it with an error
naming the scheduler instead of waiting forever; a worker restarted by its nanny in the
meantime makes Dask retry the lost tasks.
"""

import contextlib
import functools
import os
import socket
import threading
import time
import urllib.parse

from analysis.errors import TmetError

DEFAULT_WORKER_WAIT = 60.0


def scheduler_address(scheduler="", worker_wait=DEFAULT_WORKER_WAIT, n_workers=0):
    """The address of the scheduler to run on: ``scheduler`` (tcp://HOST:PORT, checked once
    per process), or that of this process's LocalCluster of ``n_workers`` (0: one per core)."""
    if scheduler:
        check_scheduler(scheduler, worker_wait)
        return scheduler
    return _local_cluster(n_workers).scheduler_address


@functools.cache
def check_scheduler(address, worker_wait=DEFAULT_WORKER_WAIT):
    """Raise unless ``address`` answers (a refused connection at once) and has a worker
    within ``worker_wait`` seconds."""
    from dask.distributed import Client

    url = urllib.parse.urlsplit(address)
    try:
        socket.create_connection((url.hostname, url.port), timeout=10).close()
    except (OSError, TypeError, ValueError) as e:
        raise TmetError(f"cannot reach the Dask scheduler {address} ({e}); start it, or unset --dask-scheduler / "
                        f"TMET_DASK_SCHEDULER / [tmet] dask_scheduler to use a local cluster") from e
    with Client(address, timeout=10) as client:
        try:
            client.wait_for_workers(1, timeout=worker_wait)
        except TimeoutError as e:
            raise TmetError(f"the Dask scheduler {address} has no worker after {worker_wait:g} s; start workers, "
                            f"or wait longer with [tmet] dask_worker_wait / TMET_DASK_WORKER_WAIT") from e


@functools.cache
def _local_cluster(n_workers):
    """The scheduler at once, its workers scaled up in the background: they start on the
    cores this process leaves idle while it goes on preparing the run (tasks.base), and a
    graph submitted before they have joined waits for them."""
    from dask.distributed import LocalCluster

    from analysis.engine.root_setup import configure_xrootd_client

    configure_xrootd_client()  # the workers inherit it
    # nannies and workers die with this process (analysis.runtime.preload), so its exit does not
    # wait for distributed to close them one by one
    cluster = LocalCluster(n_workers=0, threads_per_worker=1, processes=True, dashboard_address=None,
                           preload=["analysis.runtime.preload"], preload_nanny=["analysis.runtime.preload"])
    cluster.shutdown_on_close = False
    cluster.scale(n_workers or os.cpu_count())
    return cluster


@contextlib.contextmanager
def connected(address, worker_wait=DEFAULT_WORKER_WAIT):
    """A Client of ``address`` for one graph, its workers given tmet where they lack it
    (analysis.engine.worker_setup.ship_code), watched: should the cluster have no worker for
    ``worker_wait`` seconds, the client is closed (ending the graph) and a TmetError raised."""
    from dask.distributed import Client

    from analysis.engine.worker_setup import ship_code

    client = Client(address, timeout=30)
    stop, lost = threading.Event(), threading.Event()

    def watch():
        since = None
        while not stop.wait(1.0):
            try:
                workers = client.scheduler_info().get("workers", {})
            except Exception:  # noqa: BLE001 - a closing client; the graph reports it
                return
            since = None if workers else since or time.monotonic()
            if since is not None and time.monotonic() - since > worker_wait:
                lost.set()
                client.close()
                return

    watcher = threading.Thread(target=watch, daemon=True)
    watcher.start()
    try:
        ship_code(client)  # once per connection: tmet itself, where a worker lacks it
        yield client
    except Exception as e:
        if lost.is_set():
            raise TmetError(f"the Dask cluster of {address} lost every worker for {worker_wait:g} s") from e
        raise
    finally:
        stop.set()
        watcher.join()
        client.close()


def on_cluster(fn, *args, scheduler=None, worker_wait=DEFAULT_WORKER_WAIT, **kwargs):
    """``fn(*args, client=..., **kwargs)``: with a ``connected`` client of ``scheduler``
    (None: ``client=None``, ``fn`` runs here)."""
    if scheduler is None:
        return fn(*args, client=None, **kwargs)
    with connected(scheduler, worker_wait) as client:
        return fn(*args, client=client, **kwargs)
