"""Snapshot: the flat analysis columns of a dataset under one shift."""

import law

from tasks.base import ShiftTask
from tasks.btag import BTagEfficiency
from tasks.skim import Skim, skim_paths


class Snapshot(ShiftTask):

    def requires(self):
        reqs = {"skim": Skim.req(self)}
        if not self.dataset_inst.is_data:
            reqs["btag"] = BTagEfficiency.req(self)
        return reqs

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
        btag = self.input()["btag"].abspath if is_mc else None
        output = self.output()
        output.parent.touch()
        with output.localize("w") as tmp:
            n = write_snapshot(paths, tmp.abspath, self.config_inst, is_mc, norm, btag, self.shift)
        self.publish_message(f"wrote {n} events of {self.dataset} under {self.shift} to {output.abspath}")
