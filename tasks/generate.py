"""GenerateSample: the synthetic NanoAOD files of a synthetic dataset, one branch per file."""

import law
import luigi

from analysis.errors import TmetError
from config.datasets import input_files
from tasks.base import DatasetTask
from tasks.executor import ExecutorTask
from tasks.progress import count_events
from tasks.freshness import trusted_run
from tasks.store import location


class GenerateSample(ExecutorTask, DatasetTask, law.LocalWorkflow):

    # branches as plain requirements: law's dynamic yielding of them needs a multiprocessing
    # manager process, which would outlive a killed run
    local_workflow_require_branches = True

    n_events = luigi.IntParameter(
        default=0,
        description="events per file, e.g. for benchmark samples (data: events per file of the mixture); "
        "default: 0, the dataset's generator settings",
    )

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        if not self.dataset_inst.x.synthetic:
            raise TmetError(
                f"dataset '{self.dataset}' of config '{self.config}' is not synthetic: its files are read "
                f"from its file list, there is nothing to generate",
            )

    def create_branch_map(self):
        return dict(enumerate(input_files(self.dataset_inst)))

    code_modules = ("analysis.physics.generator",)

    def prepare_law_process(self):
        """Also the generator, compiled and loaded, where this process's children run it."""
        from analysis.physics.generator import prepare

        super().prepare_law_process()
        if not self.runs_on_dask():
            prepare()

    def output(self):
        suffix = f"_n{self.n_events}" if self.n_events else ""
        return self.target(f"sample_{self.branch}{suffix}.root")

    def used_config(self):
        from analysis.physics.generator import used_config

        return used_config(self.config_inst, self.dataset_inst)

    @law.decorator.log
    @trusted_run
    def run(self):
        from analysis.physics.generator import generate_file, prepare

        n_events, sumw = self.event_loop(
            generate_file, location(self.output()), self.config_inst, self.dataset_inst, self.branch,
            n_events=self.n_events or None,
            warm_up=lambda directory: prepare(),
        )
        count_events(n_events)
        self.publish_message(f"wrote {n_events} events (sum of genWeight {sumw:.1f})")
