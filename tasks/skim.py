"""Skim: the analysis preselection of a dataset, a branch per group of input files: of STEP
1's full copies, or of the input files with STEP 1's friends beside them."""

import luigi

from tasks.file_groups import FileGroupTask
from tasks.generate import GenerateSample
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
        if not self.reads_requirement():
            return []
        if self.dataset_friends():  # the input files too: a remade input remakes the skim
            nanoaod = [GenerateSample.req(self, branch=i) for i in self.branch_data] \
                if self.dataset_inst.x.synthetic else []
            return {"friends": TopCandidates.req(self, branch=self.branch), "nanoaod": nanoaod}
        return [TopCandidates.req(self, branch=self.branch)]

    def loop(self, made, output):
        from analysis.physics.skim import skim_files

        if self.dataset_friends():
            paths, friends = self.nanoaod_files(made["nanoaod"]), made["friends"]
        else:
            paths, friends = made if self.reads_requirement() else self.nanoaod_files(made), None
        return self.event_loop(
            skim_files, paths, output, self.config_inst, self.dataset_inst.is_data,
            nano_version=self.dataset_inst.x.nano_version, redirectors=self.config_inst.x.redirectors,
            threads=self.threads, missing_weights=self.dataset_inst.x.missing_weights, friends=friends,
            inputs=paths + (friends or []),
        )
