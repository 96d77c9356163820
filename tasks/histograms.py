"""Histograms: every category x variable of a dataset under one shift or all of them."""

import contextlib
import os

import law
import luigi

from tasks.base import DatasetTask
from tasks.shift import ShiftTask
from tasks.executor import ExecutorTask
from tasks.progress import count_events
from tasks.freshness import trusted_run
from tasks.store import readable


class Histograms(ExecutorTask, ShiftTask, DatasetTask):

    allow_all_shifts = True
    local_cluster = True
    loop_writes_output = False  # the histograms come back to the client, which writes them

    partitions = luigi.IntParameter(
        default=0, significant=False, description="entry ranges on Dask; default: 0, one per worker thread",
    )
    threads = luigi.IntParameter(
        default=0, significant=False, description="threads of the local executor; default: 0, one per core",
    )

    code_modules = ("analysis.physics.histograms",)

    def output(self):
        return {shift.name: self.target(f"hists__{shift.name}.root") for shift in self.shift_insts}

    def used_config(self):
        from analysis.physics.histograms import used_config

        return used_config(self.config_inst, self.dataset_inst)

    @law.decorator.log
    @trusted_run
    def run(self):
        from analysis.physics.histograms import fill_histograms

        # only the missing or out-of-date shifts: removing one shift's output remakes just that one
        shifts = [shift for shift in self.shift_insts if shift.name in self.outdated_outputs]
        outputs = self.output()
        with self.graph_inputs() as (paths, events, sums, btag):
            self.event_loop(
                fill_histograms, {shift.name: outputs[shift.name].abspath for shift in shifts}, paths,
                self.config_inst, self.dataset_inst.is_data, sums, btag, shifts, inputs=paths,
                partitions=self.partitions, threads=self.threads or os.cpu_count(),
            )
            count_events(events)
        self.publish_message(f"{self.dataset}: wrote {len(shifts)} shift(s) "
                             f"{'on Dask' if self.runs_on_dask() else 'here'}")


def every_dataset_histograms(task):
    """Requirements of a SignalTask that reads the Histograms of every dataset under every
    shift (none without a signal dataset: the task cannot run)."""
    if not task.has_signal:
        return {}
    return {dataset.name: Histograms.req(task, dataset=dataset.name, shift="all")
            for dataset in task.config_inst.datasets}


@contextlib.contextmanager
def histogram_files(inputs):
    """{dataset: {shift name: where ROOT reads it}} of the inputs of ``every_dataset_histograms``
    (tasks.store.readable), for the time of the context."""
    with readable({dataset: dict(outputs) for dataset, outputs in inputs.items()}) as files:
        yield files
