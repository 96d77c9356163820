"""Where a task's event loop runs: a local child process, or a Dask cluster.

``--executor dask`` (the default: $TMET_EXECUTOR, else ``[tmet] executor`` of law.cfg) runs
the event loops of every heavy task (GenerateSample, Skim, BTagEfficiency, Snapshot,
Histograms) on the cluster of ``--dask-scheduler`` ($TMET_DASK_SCHEDULER, ``[tmet]
dask_scheduler``): one Dask task per branch, Histograms in entry ranges; the workers read
the inputs over XRootD and write their outputs straight to the store. Without a scheduler,
Histograms runs on a LocalCluster of this machine and the other event loops run as local
processes, which on one machine use the same cores and keep a crash to one child
(tasks.isolation). With a WebDAV store every event loop runs here (ROOT reads it from local
copies, which remote workers do not see). ``--executor local`` runs every event loop as a
local process.
"""

import importlib
import os

import law

from analysis.runtime.cluster import on_cluster
from tasks.isolation import isolated
from tasks.store import WEBDAV_SCHEMES, store_location


class ExecutorTask:
    """Mixin of the tasks with an event loop; ``event_loop`` runs it where ``--executor`` and
    ``--dask-scheduler`` (parameters of every task, tasks.base, handed down to what it
    requires) say."""

    # whether a LocalCluster of this machine runs the event loop when no scheduler is given
    local_cluster = False
    # whether the event loop writes the task's output itself (on a worker: straight to the store)
    loop_writes_output = True

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        if self.executor == "dask" and self.scheduler_address():
            # when the graph is built, before any task runs (once per process)
            from analysis.runtime.cluster import check_scheduler

            check_scheduler(self.scheduler_address(), self.worker_wait())

    def scheduler_address(self):
        return (self.dask_scheduler or os.environ.get("TMET_DASK_SCHEDULER")
                or law.config.get_expanded("tmet", "dask_scheduler", ""))

    @staticmethod
    def worker_wait():
        """Seconds a Dask cluster may be without workers: $TMET_DASK_WORKER_WAIT, else [tmet]
        dask_worker_wait of law.cfg, else 60."""
        return float(os.environ.get("TMET_DASK_WORKER_WAIT") or law.config.get_expanded("tmet", "dask_worker_wait", 60))

    def runs_on_dask(self):
        if self.executor != "dask":
            return False
        if self.scheduler_address():
            # workers elsewhere read and write the store with ROOT: not a WebDAV store (readable())
            return not store_location().startswith(WEBDAV_SCHEMES)
        return self.local_cluster

    def writes_in_place(self):
        """Whether the output is written by a Dask worker, so given to it as a store URL
        (an XRootD store; a local store's path the worker shares)."""
        return self.loop_writes_output and self.runs_on_dask()

    def prepare_law_process(self):
        """Also, for the event-loop tasks only: this process's LocalCluster where the loop runs
        on one (first: its workers start in the background), the loop's analysis modules, the
        digests of the config values (they hash the correction files named, 0.1 s) and ROOT's
        event-loop classes (analysis.engine.root_setup.preload). Not for every task: analysis.stats.plots,
        which Plots imports, selects matplotlib's Agg backend, which a notebook's kernel must
        not get."""
        from analysis.engine.root_setup import preload

        if self.runs_on_dask() and not self.scheduler_address():
            self.dask_address()
        super().prepare_law_process()
        for module in self.code_modules:
            importlib.import_module(module)
        self.used_config()
        preload()

    def dask_address(self):
        """The scheduler's address: the given one, or this process's LocalCluster's."""
        from analysis.runtime.cluster import scheduler_address

        return scheduler_address(self.scheduler_address(), self.worker_wait())

    def event_loop(self, fn, *args, inputs=(), warm_up=None, **kwargs):
        """``fn(*args, client=..., **kwargs)`` in a child process (tasks.isolation), with a
        client of the Dask cluster where the loop runs on one (else ``client=None``, after
        ``warm_up``, see ``isolated``)."""
        scheduler = self.dask_address() if self.runs_on_dask() else None
        return isolated(on_cluster, fn, *args, inputs=inputs, warm_up=None if scheduler else warm_up,
                        name=fn.__name__, scheduler=scheduler, worker_wait=self.worker_wait(), **kwargs)
