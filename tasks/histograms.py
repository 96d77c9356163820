"""Histograms: every category x variable of a dataset under one shift or all of them."""

import contextlib
import os

import law
import luigi

from tasks.base import ShiftTask, local_file
from tasks.btag import skims_and_efficiencies
from tasks.skim import skim_paths


class Histograms(ShiftTask):

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

    def requires(self):
        return skims_and_efficiencies(self)

    def output(self):
        return {shift: self.target(f"hists__{shift}.root") for shift in self.shifts}

    def scheduler_address(self):
        return (self.dask_scheduler or os.environ.get("TMET_DASK_SCHEDULER")
                or law.config.get_expanded("tmet", "dask_scheduler", ""))

    @law.decorator.log
    def run(self):
        from analysis.dask_client import get_client
        from analysis.histograms import make_histograms, write_histograms
        from analysis.skim import sum_of_weights
        from analysis.weights import normalization

        # only the missing or out-of-date shifts: removing one shift's output remakes just that one
        outputs = self.output()
        shifts = self.stale_outputs()
        paths = skim_paths(self.input()["skim"])
        is_mc = not self.dataset_inst.is_data
        norm = normalization(self.config_inst, self.dataset_inst, sum_of_weights(paths)) if is_mc else 1.0
        client = get_client(self.scheduler_address()) if self.executor == "dask" else None
        with contextlib.ExitStack() as stack:
            btag = stack.enter_context(local_file(self.input()["btag"])) if is_mc else None
            hists = make_histograms(
                paths, self.config_inst, is_mc, norm, btag, shifts,
                client=client, partitions=self.partitions, threads=self.threads or os.cpu_count(),
            )
        for shift in shifts:
            output = outputs[shift]
            output.parent.touch()
            with output.localize("w") as tmp:
                write_histograms(tmp.abspath, hists[shift])
        self.publish_message(f"{self.dataset}: wrote {len(shifts)} shift(s) with {self.executor} executor")
