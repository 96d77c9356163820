"""Histograms: every category x variable of a dataset under one shift or all of them."""

import os

import law
import luigi

from tasks.base import DatasetTask, ShiftTask
from tasks.freshness import FreshnessCheck
from tasks.store import location


class Histograms(ShiftTask, DatasetTask):

    allow_all_shifts = True

    executor = luigi.ChoiceParameter(
        choices=["dask", "local"], significant=False,
        default=os.environ.get("TMET_EXECUTOR") or law.config.get_expanded("tmet", "executor", "dask"),
        description="'dask': distributed RDataFrame on Dask; 'local': RDataFrame with implicit "
        "multithreading; default: $TMET_EXECUTOR, else [tmet] executor of law.cfg (dask)",
    )
    dask_scheduler = luigi.Parameter(
        default="", significant=False,
        description="tcp://HOST:PORT of a running Dask scheduler; default: $TMET_DASK_SCHEDULER, else "
        "[tmet] dask_scheduler of law.cfg, else a LocalCluster sized to the machine",
    )
    partitions = luigi.IntParameter(
        default=0, significant=False, description="distributed partitions; default: 0, one per Dask core",
    )
    threads = luigi.IntParameter(
        default=0, significant=False, description="threads of the local executor; default: 0, one per core",
    )

    def output(self):
        return {shift.name: self.target(f"hists__{shift.name}.root") for shift in self.shift_insts}

    def scheduler_address(self):
        return (self.dask_scheduler or os.environ.get("TMET_DASK_SCHEDULER")
                or law.config.get_expanded("tmet", "dask_scheduler", ""))

    @law.decorator.log
    def run(self):
        from analysis.dask_client import get_client
        from analysis.histograms import make_histograms, write_histograms

        # only the missing or out-of-date shifts: removing one shift's output remakes just that one
        stale = set(FreshnessCheck().stale_outputs(self))
        shifts = [shift for shift in self.shift_insts if shift.name in stale]
        client = get_client(self.scheduler_address()) if self.executor == "dask" else None
        with self.graph_inputs() as (paths, norm, btag):
            hists = make_histograms(
                paths, self.config_inst, self.dataset_inst.is_data, norm, btag, shifts,
                client=client, partitions=self.partitions, threads=self.threads or os.cpu_count(),
            )
        outputs = self.output()
        for shift in shifts:
            with outputs[shift.name].localize("w") as tmp:
                write_histograms(tmp.abspath, hists[shift.name])
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
