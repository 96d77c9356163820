"""Snapshot: the flat analysis columns of a dataset under one shift."""

import contextlib

import law

from tasks.base import ShiftTask, local_file, location
from tasks.btag import skims_and_efficiencies
from tasks.skim import skim_paths


class Snapshot(ShiftTask):

    def requires(self):
        return skims_and_efficiencies(self)

    def output(self):
        return self.target(f"snapshot__{self.shift}.root")

    @law.decorator.log
    @law.decorator.safe_output
    def run(self):
        from analysis.skim import sum_of_weights
        from analysis.snapshot import write_snapshot
        from analysis.weights import normalization

        paths = skim_paths(self.input()["skim"])
        is_mc = not self.dataset_inst.is_data
        norm = normalization(self.config_inst, self.dataset_inst, sum_of_weights(paths)) if is_mc else 1.0
        output = self.output()
        output.parent.touch()
        with contextlib.ExitStack() as stack:
            btag = stack.enter_context(local_file(self.input()["btag"])) if is_mc else None
            tmp = stack.enter_context(output.localize("w"))
            n = write_snapshot(paths, tmp.abspath, self.config_inst, is_mc, norm, btag, self.shift)
        self.publish_message(f"wrote {n} events of {self.dataset} under {self.shift} to {location(output)}")
