"""TopCandidates: STEP 1, the top-quark candidates of a dataset's NanoAOD scored by the top
tagger, a branch per group of input files (as Skim, which reads them): a full copy of the
preselected events with the candidates added, or a friend file of the candidates per input
file (the dataset's ``top_candidates_output``)."""

from tasks.file_groups import FileGroupTask
from tasks.generate import GenerateSample


class TopCandidates(FileGroupTask):

    code_modules = ("analysis.physics.top_candidates",)
    output_stem = "candidates"

    @property
    def done_message(self):
        if self.dataset_friends():
            return "{events_in} events: their top candidates in friend files of {files} file(s)"
        return "{events_in} -> {events_out} preselected events with their top candidates, from {files} file(s)"

    def workflow_requires(self):
        reqs = super().workflow_requires()
        if self.reads_requirement():
            reqs["sample"] = GenerateSample.req(self)
        return reqs

    def reads_requirement(self):
        """Whether the dataset is synthetic: its branch reads the GenerateSample files."""
        return self.dataset_inst.x.synthetic

    def requires(self):
        if self.reads_requirement():
            return [GenerateSample.req(self, branch=i) for i in self.branch_data]
        return []

    def output(self):
        if self.dataset_friends():  # a friend per input file (a branch without files yet: one, which says so)
            return [self.target(f"friends_{self.branch}_{k}.root") for k in range(max(1, len(self.branch_data)))]
        return super().output()

    def loop(self, made, outputs):
        from analysis.physics.top_candidates import write_top_candidate_friends, write_top_candidates

        paths = self.nanoaod_files(made)
        write = write_top_candidate_friends if self.dataset_friends() else write_top_candidates
        return self.event_loop(write, paths, outputs, self.config_inst, self.dataset_inst,
                               redirectors=self.config_inst.x.redirectors, inputs=paths)
