"""Snapshot: the flat analysis columns of a dataset under one shift."""

import law

from tasks.base import DatasetTask
from tasks.shift import ShiftTask
from tasks.executor import ExecutorTask
from tasks.progress import count_events
from tasks.freshness import trusted_run
from tasks.store import location


class Snapshot(ExecutorTask, ShiftTask, DatasetTask):

    code_modules = ("analysis.physics.snapshot",)

    def output(self):
        return self.target(f"snapshot__{self.shift}.root")

    def used_config(self):
        from analysis.physics.snapshot import used_config

        return used_config(self.config_inst, self.dataset_inst)

    @law.decorator.log
    @trusted_run
    def run(self):
        from analysis.physics.snapshot import write_snapshot

        (shift,) = self.shift_insts
        with self.graph_inputs() as (paths, events, sums, btag):
            n = self.event_loop(write_snapshot, paths, location(self.output()), self.config_inst, self.dataset_inst,
                                sums, btag, shift, inputs=paths)
            count_events(events)
        self.publish_message(f"wrote {n} events of {self.dataset} under {shift.name}")
