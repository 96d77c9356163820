"""TopCandidates: STEP 1, the top-quark candidates of a dataset's NanoAOD scored by the top
tagger and added to it, a branch per group of input files (as Skim, which reads them)."""

import law
import luigi

from config.datasets import dataset_files
from tasks.base import DatasetTask, file_groups
from tasks.executor import ExecutorTask
from tasks.freshness import trusted_run
from tasks.generate import GenerateSample
from tasks.progress import count_events
from tasks.store import location, readable


class TopCandidates(ExecutorTask, DatasetTask, law.LocalWorkflow):

    # branches as plain requirements: law's dynamic yielding of them needs a multiprocessing
    # manager process, which would outlive a killed run
    local_workflow_require_branches = True

    files_per_branch = luigi.IntParameter(
        default=1, description="input files per branch (one output file each, read by the skim branch of the "
        "same files); default: 1",
    )

    code_modules = ("analysis.physics.top_candidates",)

    def create_branch_map(self):
        return file_groups(self.dataset_inst, self.files_per_branch)

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

        values = used_config(self.config_inst, self.dataset_inst)
        if not self.dataset_inst.x.synthetic:
            values["input_files"] = list(self.branch_data)
        return values

    @law.decorator.log
    @trusted_run
    def run(self):
        from analysis.physics.top_candidates import write_top_candidates

        with readable(self.input()) as samples:
            paths = samples if self.dataset_inst.x.synthetic else list(self.branch_data) or dataset_files(self.dataset_inst)
            result = self.event_loop(
                write_top_candidates, paths, location(self.output()), self.config_inst, self.dataset_inst,
                redirectors=self.config_inst.x.redirectors, inputs=paths,
            )
        for url in result.fallbacks():
            self.publish_message(f"{url} has no Runs sum of generator weights (genEventSumw or genEventSumw_): "
                                 f"{self.dataset} is normalised with the sum of its events' genWeight there")
        count_events(result.events_in)
        self.publish_message(f"{result.events_in} -> {result.events_out} preselected events with their top "
                             f"candidates, from {len(paths)} file(s)")
