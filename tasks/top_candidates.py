"""TopCandidates: STEP 1, the top-quark candidates of a dataset's NanoAOD scored by the top
tagger and added to it, a branch per group of input files (as Skim, which reads them)."""

from tasks.file_groups import FileGroupTask
from tasks.generate import GenerateSample


class TopCandidates(FileGroupTask):

    code_modules = ("analysis.physics.top_candidates",)
    output_stem = "candidates"
    done_message = "{events_in} -> {events_out} preselected events with their top candidates, from {files} file(s)"

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

    def loop(self, paths, output_path):
        from analysis.physics.top_candidates import write_top_candidates

        return self.event_loop(write_top_candidates, paths, output_path, self.config_inst, self.dataset_inst,
                               redirectors=self.config_inst.x.redirectors, inputs=paths)
