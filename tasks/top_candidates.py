"""TopCandidates: STEP 1, the top-quark candidates of a dataset's NanoAOD scored by the top
tagger and added to it, a branch per group of input files (as Skim, which reads them)."""

import law

from tasks.file_groups import FileGroupTask
from tasks.freshness import trusted_run
from tasks.generate import GenerateSample
from tasks.store import location, readable


class TopCandidates(FileGroupTask):

    code_modules = ("analysis.physics.top_candidates",)

    def workflow_requires(self):
        reqs = super().workflow_requires()
        if self.dataset_inst.x.synthetic:
            reqs["sample"] = GenerateSample.req(self)
        return reqs

    def requires(self):
        if self.dataset_inst.x.synthetic:
            return [GenerateSample.req(self, branch=i) for i in self.branch_data]
        return []

    def output(self):
        return self.target(f"candidates_{self.branch}.root")

    def used_config(self):
        from analysis.physics.top_candidates import used_config

        return self.with_input_files(used_config(self.config_inst, self.dataset_inst))

    @law.decorator.log
    @trusted_run
    def run(self):
        from analysis.physics.top_candidates import write_top_candidates

        with readable(self.input()) as samples:
            paths = self.branch_inputs(samples if self.dataset_inst.x.synthetic else None)
            result = self.event_loop(
                write_top_candidates, paths, location(self.output()), self.config_inst, self.dataset_inst,
                redirectors=self.config_inst.x.redirectors, inputs=paths,
            )
        self.report(result)
        self.publish_message(f"{result.events_in} -> {result.events_out} preselected events with their top "
                             f"candidates, from {len(paths)} file(s)")
