"""Skim: the analysis preselection of a dataset, a branch per group of input files."""

import luigi

from tasks.file_groups import FileGroupTask
from tasks.top_candidates import TopCandidates


class Skim(FileGroupTask):

    threads = luigi.IntParameter(
        default=1, significant=False, description="ROOT implicit multithreading per branch; default: 1",
    )

    code_modules = ("analysis.physics.skim",)
    output_stem = "skim"
    done_message = "skimmed {events_in} -> {events_out} events from {files} file(s)"

    def workflow_requires(self):
        reqs = super().workflow_requires()
        if self.reads_requirement():
            reqs["candidates"] = TopCandidates.req(self)
        return reqs

    def reads_requirement(self):
        """Whether tmet makes the dataset's top candidates (STEP 1), which the skim then reads."""
        return self.dataset_inst.x.top_candidates == "tmet"

    @classmethod
    def branch_tasks_of(cls, task):
        """The skim branches of ``task``'s dataset, in branch order: what a task reading all the
        skims requires (not their workflow, which would be one more task per dataset, a process
        of its own that runs nothing)."""
        return list(cls.req(task).get_branch_tasks().values())

    def requires(self):
        if self.reads_requirement():
            return [TopCandidates.req(self, branch=self.branch)]
        return []

    def loop(self, paths, output_path):
        from analysis.physics.skim import skim_files

        return self.event_loop(
            skim_files, paths, output_path, self.config_inst, self.dataset_inst.is_data,
            nano_version=self.dataset_inst.x.nano_version, redirectors=self.config_inst.x.redirectors,
            threads=self.threads, missing_weights=self.dataset_inst.x.missing_weights, inputs=paths,
        )
