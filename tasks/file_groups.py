"""Tasks with a branch per group of a dataset's input files (TopCandidates, Skim): branch i
of each reads the same files, and the skim's branch i reads STEP 1's output of branch i."""

import law
import luigi

from config.datasets import dataset_files, input_files
from tasks.base import DatasetTask
from tasks.executor import ExecutorTask
from tasks.progress import count_events


class FileGroupTask(ExecutorTask, DatasetTask, law.LocalWorkflow):

    # branches as plain requirements: law's dynamic yielding of them needs a multiprocessing
    # manager process, which would outlive a killed run
    local_workflow_require_branches = True

    files_per_branch = luigi.IntParameter(
        default=1, description="input files per branch (one output file each; TopCandidates and Skim group them "
        "alike); default: 1",
    )

    def create_branch_map(self):
        """{branch: its input files (or synthetic file indices)}. A file list not filled yet
        still gives one branch, whose run says so."""
        files, n = input_files(self.dataset_inst), self.files_per_branch
        return {i: files[i * n:(i + 1) * n] for i in range(max(1, (len(files) + n - 1) // n))}

    def with_input_files(self, values):
        """``values`` (the task's used config) with the branch's input files, for real datasets
        (a changed file list reruns the branches whose files changed)."""
        if not self.dataset_inst.x.synthetic:
            values["input_files"] = list(self.branch_data)
        return values

    def branch_inputs(self, made):
        """The files the branch reads: ``made`` (the local paths of what the task before it
        wrote), else its input files."""
        return made if made is not None else list(self.branch_data) or dataset_files(self.dataset_inst)

    def report(self, result):
        """Say where a file had no Runs sum of generator weights, and count the events read."""
        for url in result.fallbacks():
            self.publish_message(f"{url} has no Runs sum of generator weights (genEventSumw or genEventSumw_): "
                                 f"{self.dataset} is normalised with the sum of its events' genWeight there")
        count_events(result.events_in)
