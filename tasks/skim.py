"""Skim: the analysis preselection of a dataset, a branch per group of input files."""

import law
import luigi

from tasks.file_groups import FileGroupTask
from tasks.freshness import trusted_run
from tasks.store import location, readable
from tasks.top_candidates import TopCandidates


class Skim(FileGroupTask):

    threads = luigi.IntParameter(
        default=1, significant=False, description="ROOT implicit multithreading per branch; default: 1",
    )

    def workflow_requires(self):
        reqs = super().workflow_requires()
        if self.makes_candidates():
            reqs["candidates"] = TopCandidates.req(self)
        return reqs

    def makes_candidates(self):
        """Whether tmet makes the dataset's top candidates (STEP 1), which the skim then reads."""
        return self.dataset_inst.x.top_candidates == "tmet"

    @classmethod
    def branch_tasks_of(cls, task):
        """The skim branches of ``task``'s dataset, in branch order: what a task reading all the
        skims requires (not their workflow, which would be one more task per dataset, a process
        of its own that runs nothing)."""
        return list(cls.req(task).get_branch_tasks().values())

    def requires(self):
        if self.makes_candidates():
            return [TopCandidates.req(self, branch=self.branch)]
        return []

    code_modules = ("analysis.physics.skim",)

    def output(self):
        return self.target(f"skim_{self.branch}.root")

    def used_config(self):
        from analysis.physics.skim import used_config

        return self.with_input_files(used_config(self.config_inst, self.dataset_inst))

    @law.decorator.log
    @trusted_run
    def run(self):
        from analysis.physics.skim import skim_files

        with readable(self.input()) as candidates:
            paths = self.branch_inputs(candidates if self.makes_candidates() else None)
            result = self.event_loop(
                skim_files,
                paths, location(self.output()), self.config_inst, self.dataset_inst.is_data,
                nano_version=self.dataset_inst.x.nano_version, redirectors=self.config_inst.x.redirectors,
                threads=self.threads, inputs=paths,
            )
        self.report(result)
        self.publish_message(f"skimmed {result.events_in} -> {result.events_out} events from {len(paths)} file(s)")
