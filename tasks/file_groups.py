"""Tasks with a branch per group of a dataset's input files (TopCandidates, Skim): branch i
of each reads the same files, and the skim's branch i reads STEP 1's output of branch i
(a full copy, or friend files beside the same input files). Each writes its branch's
outputs in one event loop that returns an analysis.physics.inputs_record.LoopResult."""

import importlib

import law
import luigi

from config.datasets import dataset_files, input_files
from tasks.base import DatasetTask
from tasks.executor import ExecutorTask
from tasks.freshness import trusted_run
from tasks.progress import count_events
from tasks.store import location, readable


class FileGroupTask(ExecutorTask, DatasetTask, law.LocalWorkflow):
    """A final class says whether its branch reads what its requirements wrote
    (``reads_requirement()``) and runs its event loop (``loop(made, outputs)``: the
    requirements' outputs where ROOT reads them, the locations of its own outputs, in the
    structures of ``input()`` and ``output()``; returning the LoopResult)."""

    # branches as plain requirements: law's dynamic yielding of them needs a multiprocessing
    # manager process, which would outlive a killed run
    local_workflow_require_branches = True

    files_per_branch = luigi.IntParameter(
        default=1, description="input files per branch (one output file each; TopCandidates and Skim group them "
        "alike); default: 1",
    )

    # the output of branch i: <output_stem>_<i>.root
    output_stem = None
    # what a finished branch says, formatted with the LoopResult's fields and the files read
    done_message = None

    def dataset_friends(self):
        """Whether tmet's STEP 1 of the dataset writes friend files (docs/engine.md)."""
        return self.dataset_inst.x.top_candidates == "tmet" and self.dataset_inst.x.top_candidates_output == "friend"

    def nanoaod_files(self, made):
        """The branch's NanoAOD files: what GenerateSample wrote (synthetic datasets,
        ``made``), or its files as listed (an empty list is an error naming the dataset)."""
        if self.dataset_inst.x.synthetic:
            return made
        return list(self.branch_data) or dataset_files(self.dataset_inst)

    def create_branch_map(self):
        """{branch: its input files (or synthetic file indices)}. A file list not filled yet
        still gives one branch, whose run says so."""
        files, n = input_files(self.dataset_inst), self.files_per_branch
        return {i: files[i * n:(i + 1) * n] for i in range(max(1, (len(files) + n - 1) // n))}

    def output(self):
        return self.target(f"{self.output_stem}_{self.branch}.root")

    def used_config(self):
        """The config values of the task's analysis module (its ``used_config``) and, for real
        datasets, the branch's input files (a changed file list reruns the branches whose
        files changed)."""
        values = importlib.import_module(self.code_modules[0]).used_config(self.config_inst, self.dataset_inst)
        if not self.dataset_inst.x.synthetic:
            values["input_files"] = list(self.branch_data)
        return values

    @law.decorator.log
    @trusted_run
    def run(self):
        with readable(self.input()) as made:
            result = self.loop(made, law.util.map_struct(location, self.output()))
        for url, what in result.fallbacks():
            if what == "sumw":
                self.publish_message(f"{url} has no Runs sum of generator weights (genEventSumw or genEventSumw_): "
                                     f"{self.dataset} is normalised with the sum of its events' genWeight there")
            else:
                self.publish_message(f"{url} has no Runs sums of {what}: the {what} variations of {self.dataset} "
                                     f"are normalised with the sums over its events there")
        count_events(result.events_in)
        self.publish_message(self.done_message.format(events_in=result.events_in, events_out=result.events_out,
                                                      files=len(self.branch_data)))
