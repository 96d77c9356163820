"""BTagEfficiency: tagging efficiencies of an MC dataset, measured on its skims."""

import law

from analysis.errors import TmetError
from tasks.base import DatasetTask
from tasks.executor import ExecutorTask
from tasks.progress import count_events
from tasks.freshness import trusted_run
from tasks.skim import Skim
from tasks.store import readable


class BTagEfficiency(ExecutorTask, DatasetTask):

    loop_writes_output = False  # the counts come back to the client, which writes the JSON

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        if self.dataset_inst.is_data:
            raise TmetError(f"dataset '{self.dataset}' is data: b-tag efficiencies are measured on MC only")

    def requires(self):
        return Skim.branch_tasks_of(self)

    code_modules = ("analysis.physics.btag",)

    def output(self):
        return self.target("btag_efficiency.json")

    def used_config(self):
        from analysis.physics.btag import used_config

        return used_config(self.config_inst)

    @law.decorator.log
    @trusted_run
    def run(self):
        from analysis.physics.btag import NO_JETS_EFFICIENCY, count_jets, efficiencies, write_efficiency_json
        from analysis.physics.skim import skim_totals

        with readable(self.input()) as paths:
            counts = self.event_loop(count_jets, paths, self.config_inst, inputs=paths)
            count_events(skim_totals(paths, weights=False)[0])
        write_efficiency_json(
            self.output().abspath, self.config_inst, efficiencies(counts),
            f"b-tag efficiencies of {self.dataset} ({self.config}, {self.version}), measured by tmet",
        )
        for flavour, (n_all, n_tagged) in counts.items():
            self.publish_message(f"flavour {flavour}: {int(n_tagged.sum())} / {int(n_all.sum())} jets tagged")
        if not any(n_all.sum() for n_all, _ in counts.values()):
            self.publish_message(f"{self.dataset}: no selected jets in its skims; its efficiency map holds the "
                                 f"fallback {NO_JETS_EFFICIENCY} everywhere")
