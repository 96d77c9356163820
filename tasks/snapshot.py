"""Snapshot: the flat analysis columns of a dataset under one shift."""

import law

from tasks.base import DatasetTask, ShiftTask


class Snapshot(ShiftTask, DatasetTask):

    def output(self):
        return self.target(f"snapshot__{self.shift}.root")

    @law.decorator.log
    @law.decorator.safe_output
    @law.decorator.localize(input=False)
    def run(self):
        from analysis.snapshot import write_snapshot

        (shift,) = self.shift_insts
        with self.graph_inputs() as (paths, norm, btag):
            n = write_snapshot(paths, self.output().abspath, self.config_inst, self.dataset_inst.is_data, norm,
                               btag, shift)
        self.publish_message(f"wrote {n} events of {self.dataset} under {shift.name}")
