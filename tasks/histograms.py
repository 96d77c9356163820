"""Histograms: every category x variable of a dataset under one shift or all of them."""

import os

import law
import luigi

from tasks.base import DatasetTask, ShiftTask
from tasks.isolation import isolated
from tasks.provenance import trusted_run
from tasks.store import location


class Histograms(ShiftTask, DatasetTask):

    allow_all_shifts = True

    executor = luigi.ChoiceParameter(
        choices=["dask", "local"], significant=False,
        default=os.environ.get("TMET_EXECUTOR") or law.config.get_expanded("tmet", "executor", "dask"),
        description="'dask': the compiled graph on Dask workers, in entry ranges; 'local': here, with "
        "implicit multithreading; default: $TMET_EXECUTOR, else [tmet] executor of law.cfg (dask)",
    )
    dask_scheduler = luigi.Parameter(
        default="", significant=False,
        description="tcp://HOST:PORT of a running Dask scheduler; default: $TMET_DASK_SCHEDULER, else "
        "[tmet] dask_scheduler of law.cfg, else a LocalCluster sized to the machine",
    )
    partitions = luigi.IntParameter(
        default=0, significant=False, description="entry ranges on Dask; default: 0, one per worker thread",
    )
    threads = luigi.IntParameter(
        default=0, significant=False, description="threads of the local executor; default: 0, one per core",
    )

    code_modules = ("analysis.histograms",)

    def output(self):
        return {shift.name: self.target(f"hists__{shift.name}.root") for shift in self.shift_insts}

    def used_config(self):
        from analysis.histograms import used_config

        return used_config(self.config_inst, self.dataset_inst)

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        if self.executor == "dask" and self.scheduler_address():
            # when the graph is built, before any task runs (once per process)
            from analysis.dask_client import check_scheduler

            check_scheduler(self.scheduler_address(), self.worker_wait())

    def scheduler_address(self):
        return (self.dask_scheduler or os.environ.get("TMET_DASK_SCHEDULER")
                or law.config.get_expanded("tmet", "dask_scheduler", ""))

    @staticmethod
    def worker_wait():
        """Seconds a Dask cluster may be without workers: $TMET_DASK_WORKER_WAIT, else [tmet]
        dask_worker_wait of law.cfg, else 60."""
        return float(os.environ.get("TMET_DASK_WORKER_WAIT") or law.config.get_expanded("tmet", "dask_worker_wait", 60))

    def start_executor(self):
        """Start this process's LocalCluster now when the graph will run on one (see
        tasks.base.prepare_before_the_workers_fork)."""
        if self.executor == "dask" and not self.scheduler_address():
            self.dask_address()

    def dask_address(self):
        """The scheduler's address: the given one, or this process's LocalCluster's."""
        from analysis.dask_client import scheduler_address

        return scheduler_address(self.scheduler_address(), self.worker_wait())

    @law.decorator.log
    @trusted_run
    def run(self):
        from analysis.histograms import fill_histograms

        # only the missing or out-of-date shifts: removing one shift's output remakes just that one
        shifts = [shift for shift in self.shift_insts if shift.name in self.outdated_outputs]
        outputs = self.output()
        with self.graph_inputs() as (paths, sumw, btag):
            isolated(
                fill_histograms, {shift.name: outputs[shift.name].abspath for shift in shifts}, paths,
                self.config_inst, self.dataset_inst.is_data, sumw, btag, shifts, inputs=paths,
                scheduler=self.dask_address() if self.executor == "dask" else None, worker_wait=self.worker_wait(),
                partitions=self.partitions, threads=self.threads or os.cpu_count(),
            )
        self.publish_message(f"{self.dataset}: wrote {len(shifts)} shift(s) with {self.executor} executor")


def every_dataset_histograms(task):
    """Requirements of a SignalTask that reads the Histograms of every dataset under every
    shift (none without a signal dataset: the task cannot run)."""
    if not task.has_signal:
        return {}
    return {dataset.name: Histograms.req(task, dataset=dataset.name, shift="all")
            for dataset in task.config_inst.datasets}


def histogram_files(inputs):
    """{dataset: {shift name: location}} of the inputs of ``every_dataset_histograms``."""
    return {dataset: {shift: location(target) for shift, target in outputs.items()}
            for dataset, outputs in inputs.items()}
